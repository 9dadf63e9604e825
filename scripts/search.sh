#!/usr/bin/env bash
# The small-model search (issue 21): candidates judged on validation data only, never on
# the test set. Every candidate is one `trainer cv --fold 0` run (fold 1 of the 5-fold
# split: 48,000 training and 12,000 validation images, split seed 1, seed 1), one
# libtorch thread, two candidates at a time (the machine has 2 cores; $SEARCH_JOBS
# changes that: stage 2 ran its three candidates at once).
#
#   scripts/search.sh STAGE [OUT]     STAGE: 1 (12 epochs), 2 (30 epochs), 3 (60 epochs),
#                                     4 (issue 29's epoch levers, 12 epochs) or
#                                     5 (issue 31's residual candidates, 12 epochs);
#                                     OUT defaults to docs/results/search
#
# Each candidate writes OUT/<name>/fold-0.json, its command in command.txt and its
# output in log.txt; a candidate whose file exists is kept,
# so an interrupted search resumes. `scripts/search-table.py OUT` then writes the table
# and the Pareto plot. $TRAINER names a trainer binary to use instead of a copy of
# `target/release/trainer` (so that rebuilding during a long search changes nothing).
set -euo pipefail
cd "$(dirname "$0")/.."
stage=${1:?usage: scripts/search.sh STAGE [OUT]}
out=${2:-docs/results/search}

# The `mcu` recipe (the trainer's `recipe`), spelled out for layer strings.
recipe="--batch-norm --optimizer adamw --lr 0.003 --weight-decay 0.05 --schedule onecycle \
--shift 2 --flip --label-smoothing 0.1 --batch-size 128"
# The same without its flips, and with SGD (Nesterov) for its optimizer, for candidates
# that choose their own (the trainer refuses a flag given twice).
recipe_noflip=${recipe/ --flip / }
recipe_sgd=${recipe/--optimizer adamw --lr 0.003 --weight-decay 0.05/--optimizer sgd-nesterov --lr 0.05 --weight-decay 0.0005}
mcu=c16,c16,p,c32,c32,p,c64,c64,p,f,d10
gap=c16,c16,p,c32,c32,p,c64,c64,g,d10

# name | epochs | flags
case "$stage" in
  1) candidates=(
       "mcu-12|12|--model $mcu $recipe"
       "erase-0.25|12|--model $mcu $recipe --erase 0.25"
       "ema-0.999|12|--model $mcu $recipe --ema 0.999"
       "erase-0.25-ema|12|--model $mcu $recipe --erase 0.25 --ema 0.999"
       "gap|12|--model $gap $recipe"
       "erase-0.5|12|--model $mcu $recipe --erase 0.5"
     ) ;;
  2) candidates=(
       "mcu-30|30|--model $mcu $recipe"
       "erase-0.25-30|30|--model $mcu $recipe --erase 0.25"
       "erase-0.25-ema-30|30|--model $mcu $recipe --erase 0.25 --ema 0.999"
     ) ;;
  3) candidates=(
       "mcu-60|60|--model $mcu $recipe"
       "erase-0.25-60|60|--model $mcu $recipe --erase 0.25"
     ) ;;
  # Issue 29's epoch levers, one at a time against mcu-12 (the stage-1 run, repeated).
  4) candidates=(
       "mcu-12|12|--model $mcu $recipe"
       "flip-alternate|12|--model $mcu $recipe_noflip --flip alternate"
       "lookahead-0.5|12|--model $mcu $recipe --lookahead 0.5"
       "bn-momentum-0.4|12|--model $mcu $recipe --bn-momentum 0.4"
       "sgd-nesterov|12|--model $mcu $recipe_sgd"
       "levers-3|12|--model $mcu $recipe_noflip --flip alternate --lookahead 0.5 --bn-momentum 0.4"
     ) ;;
  # Issue 31's residual candidates (rN blocks, a global mean head) at the MCU budget
  # (mcu: 7.34 M MACs): 5.5 M, 7.0 M, and 7.0 M with a flatten head.
  5) candidates=(
       "res-32-64|12|--model c16,p,r32,p,r64,g,d10 $recipe"
       "res-40-64|12|--model c16,p,r40,p,r64,g,d10 $recipe"
       "res-40-64-f|12|--model c16,p,r40,p,r64,p,f,d10 $recipe"
     ) ;;
  *) echo "search.sh: STAGE is 1 to 5, not '$stage'" >&2; exit 2 ;;
esac

if [ -n "${TRAINER:-}" ]; then
  trainer=$TRAINER
else
  cargo build -q --release -p trainer
  trainer=$(mktemp -d)/trainer
  cp target/release/trainer "$trainer"
fi

# Runs the candidates $SEARCH_JOBS at a time (default 2); fails if any of them failed.
jobs=${SEARCH_JOBS:-2}
pids=() failed=0
for c in "${candidates[@]}"; do
  IFS='|' read -r name epochs flags <<<"$c"
  dir="$out/$name"
  if [ -f "$dir/fold-0.json" ]; then
    echo "== $name: kept $dir/fold-0.json" >&2
    continue
  fi
  mkdir -p "$dir"
  command="trainer cv $flags --epochs $epochs --fold 0 --threads 1 --out $dir"
  echo "== $name: $command" >&2
  echo "$command" >"$dir/command.txt"
  # shellcheck disable=SC2086
  "$trainer" cv $flags --epochs "$epochs" --fold 0 --threads 1 --out "$dir" \
    >"$dir/log.txt" 2>&1 &
  pids+=($!)
  if [ "${#pids[@]}" = "$jobs" ]; then
    for p in "${pids[@]}"; do wait "$p" || failed=1; done
    pids=()
  fi
done
for p in "${pids[@]}"; do wait "$p" || failed=1; done
if [ "$failed" = 1 ]; then
  echo "search.sh: a candidate failed; see its log.txt in $out" >&2
  exit 1
fi
