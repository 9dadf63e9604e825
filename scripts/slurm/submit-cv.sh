#!/usr/bin/env bash
# Submits a cross-validation run to Slurm: a job array with one task per fold of every
# repeat (cv-fold.sbatch, SLURM_ARRAY_TASK_ID -> --repeat and --fold) and a merge job
# (cv-merge.sbatch) that runs only after every fold succeeded (--dependency=afterok).
#
#   scripts/slurm/submit-cv.sh [OPTIONS] [--] CV-ARGS...
#
#   --trainer PATH     trainer binary (default: target/release/trainer of this repository)
#   --cpus N           cores per fold task (sbatch --cpus-per-task), also passed to the
#                      trainer as --threads N unless CV-ARGS has --threads (default 1)
#   --max-parallel M   run at most M folds at once (array throttle, --array=0-K%M)
#   --wait             wait for the merge job and exit with its status
#
# CV-ARGS are `trainer cv` arguments and must include --out DIR (on a file system the
# nodes share; a relative DIR is taken from the current folder); --folds defaults to 5,
# --repeats to 1 (with --repeats R the array has R x folds tasks, repeat-major).
# sbatch reads its usual SBATCH_* variables (SBATCH_PARTITION, SBATCH_ACCOUNT,
# SBATCH_TIMELIMIT, ...), so site settings need no option here. Logs go to DIR/logs/.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)

die() { echo "submit-cv.sh: $*" >&2; exit 2; }

trainer="$repo/target/release/trainer"
cpus=1
max_parallel=""
wait=0
while [ "$#" -gt 0 ]; do
  case "$1" in
    --trainer) [ "$#" -ge 2 ] || die "--trainer needs a path"; trainer=$2; shift 2 ;;
    --cpus) [ "$#" -ge 2 ] || die "--cpus needs a number"; cpus=$2; shift 2 ;;
    --max-parallel) [ "$#" -ge 2 ] || die "--max-parallel needs a number"; max_parallel=$2; shift 2 ;;
    --wait) wait=1; shift ;;
    -h|--help) sed -n '2,18p' "$0"; exit 0 ;;
    --) shift; break ;;
    *) break ;;
  esac
done
cv_args=("$@")
if [ "${cv_args[0]:-}" = cv ]; then cv_args=("${cv_args[@]:1}"); fi

number() { [[ "$1" =~ ^[1-9][0-9]*$ ]]; }
number "$cpus" || die "--cpus must be a positive number (got '$cpus')"
[ -z "$max_parallel" ] || number "$max_parallel" || die "--max-parallel must be a positive number"
[ -x "$trainer" ] || die "no trainer binary at $trainer (build it with 'cargo build --release -p trainer' or pass --trainer)"
trainer=$(cd "$(dirname "$trainer")" && pwd)/$(basename "$trainer")

[ "${cv_args[0]:-}" != merge ] || die "give the arguments of 'trainer cv', not of 'cv merge'"
# Read --folds, --repeats and --out from the cv arguments; refuse what each task sets itself.
folds=5
repeats=1
out=""
has_threads=0
for ((i = 0; i < ${#cv_args[@]}; i++)); do
  arg=${cv_args[i]}
  next=${cv_args[i + 1]:-}
  case "$arg" in
    --folds) folds=$next ;;
    --folds=*) folds=${arg#--folds=} ;;
    --repeats) repeats=$next ;;
    --repeats=*) repeats=${arg#--repeats=} ;;
    --out) out=$next ;;
    --out=*) out=${arg#--out=} ;;
    --threads|--threads=*) has_threads=1 ;;
    --fold|--fold=*|--repeat|--repeat=*|--jobs|--jobs=*) die "$arg is set per task; leave it out" ;;
  esac
done
number "$folds" && [ "$folds" -ge 2 ] || die "--folds must be a number of at least 2 (got '$folds')"
number "$repeats" || die "--repeats must be a positive number (got '$repeats')"
[ -n "$out" ] || die "the cv arguments need --out DIR (a folder every node can reach)"
[ "$has_threads" = 1 ] || cv_args+=(--threads "$cpus")
mkdir -p "$out/logs"

tasks=$((folds * repeats))
array_spec="0-$((tasks - 1))${max_parallel:+%$max_parallel}"
# cv-fold.sbatch turns its task number into (repeat, fold) with these (sbatch exports them).
export CV_FOLDS=$folds CV_REPEATS=$repeats
array_job=$(sbatch --parsable --array="$array_spec" --cpus-per-task="$cpus" \
  --chdir="$PWD" --output="$out/logs/fold-%a.log" \
  "$here/cv-fold.sbatch" "$trainer" "${cv_args[@]}")
array_job=${array_job%%;*}
echo "submitted $tasks folds ($repeats x $folds) as array job $array_job (--array=$array_spec, $cpus cpus each)"

merge_opts=(--parsable --dependency="afterok:$array_job" --kill-on-invalid-dep=yes
  --cpus-per-task=1 --chdir="$PWD" --output="$out/logs/merge.log")
if [ "$wait" = 1 ]; then
  echo "waiting for the merge job (after job $array_job); logs in $out/logs/"
  stamp="$out/logs/.submitted"
  touch "$stamp"
  status=0
  merge_job=$(sbatch --wait "${merge_opts[@]}" "$here/cv-merge.sbatch" "$trainer" "$out") || status=$?
  merge_job=${merge_job%%;*}
  # sbatch --wait exits 0 for a job cancelled before it started (a fold failed, so
  # afterok can never hold): success is a cv.json written by this merge.
  if [ "$status" != 0 ] || [ ! "$out/cv.json" -nt "$stamp" ]; then
    state=$(scontrol show job -o "${merge_job:-0}" 2>/dev/null | grep -o 'JobState=[A-Z_]*' || true)
    echo "submit-cv.sh: merge job ${merge_job:-?} did not succeed (${state:-state unknown}, status $status): a fold failed or the merge did; see $out/logs/" >&2
    exit 1
  fi
  echo "merge job $merge_job done: $out/cv.json"
else
  merge_job=$(sbatch "${merge_opts[@]}" "$here/cv-merge.sbatch" "$trainer" "$out")
  merge_job=${merge_job%%;*}
  echo "submitted the merge as job $merge_job (runs after every fold succeeded): $out/cv.json"
fi
