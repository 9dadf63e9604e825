#!/usr/bin/env bash
# The "better models" sweep: every variant of the seed study and its extensions,
# cross-validated with the same folds, seed and epochs, then compared with `baseline`.
#
#   scripts/sweep.sh [EPOCHS] [OUT]      (defaults: 3 epochs, docs/results/sweep)
#
# Each variant is a `trainer cv` run into OUT/<variant>/ (cv.json, curves.png, box.png);
# a variant whose cv.json already exists is kept, so an interrupted sweep resumes.
# At the end `trainer compare` writes OUT/compare.txt and OUT/compare.json.
# Extra arguments for every run (for example --jobs 2, --threads 1, or --limit N for
# a quick try) go in $SWEEP_ARGS; $TRAINER names a trainer binary to use instead of
# `cargo run --release` (so that rebuilding during a long sweep changes nothing).
set -euo pipefail
cd "$(dirname "$0")/.."
epochs=${1:-3}
out=${2:-docs/results/sweep}
mkdir -p "$out"
if [ -n "${TRAINER:-}" ]; then
  trainer=("$TRAINER")
else
  trainer=(cargo run -q --release -p trainer --)
fi

# name | flags (each on top of the seed's protocol)
variants=(
  "baseline|--model baseline"
  "padded|--model padded"
  "wide|--model wide"
  "deep|--model deep"
  "dense2|--model dense2"
  "dropout-0.3|--dropout 0.3"
  "weight-decay-5e-4|--weight-decay 0.0005"
  "early-stopping|--patience 2"
  "lr-0.001|--lr 0.001"
  "lr-0.0001|--lr 0.0001"
  "batch-norm|--batch-norm"
  "augment|--shift 2 --flip"
  "adamw|--optimizer adamw --lr 0.001"
  "cosine|--schedule cosine"
  "label-smoothing|--label-smoothing 0.1"
  "mcu|--model mcu"
)

runs=()
for v in "${variants[@]}"; do
  name=${v%%|*}
  flags=${v#*|}
  dir="$out/$name"
  runs+=("$dir")
  if [ -f "$dir/cv.json" ]; then
    echo "== $name: kept $dir/cv.json" >&2
    continue
  fi
  echo "== $name: trainer cv $flags --epochs $epochs" >&2
  # shellcheck disable=SC2086
  "${trainer[@]}" cv $flags --epochs "$epochs" --out "$dir" ${SWEEP_ARGS:-}
done
"${trainer[@]}" compare "${runs[@]}" --plot "$out/box.png" | tee "$out/compare.txt"
"${trainer[@]}" compare "${runs[@]}" --json >"$out/compare.json.tmp"
mv "$out/compare.json.tmp" "$out/compare.json"
