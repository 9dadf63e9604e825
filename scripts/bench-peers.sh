#!/usr/bin/env bash
# One training epoch of the seed's baseline in the trainer, in PyTorch and in Keras 3 /
# TensorFlow, timed in the same run, alternating, and the ratios.
#
#   scripts/bench-peers.sh [ROUNDS] [THREADS]     (defaults: 3 rounds, 2 threads)
#   scripts/bench-peers.sh --protocol [ROUNDS]    the whole 5-fold x 10-epoch protocol
#                                                 (default: 1 round, about 12 minutes)
#   scripts/bench-peers.sh --to-accuracy NEW [REF] [ROUNDS] [THREADS]
#                                                 time to a model: NEW's whole fit against
#                                                 REF's (default mcu-long), from one epoch of
#                                                 each timed in the same run in fp32 (2 rounds, 2
#                                                 threads), with their test accuracies
#   scripts/bench-peers.sh --recipe mcu [ROUNDS] [THREADS]
#                                                 one epoch of `trainer fit`'s default recipe,
#                                                 fp32 and bf16, against PyTorch fp32 and
#                                                 autocast bf16 (defaults: 2 rounds, 2 threads)
#
# Each round times, in turn: `trainer cv --fold 0 --epochs 1` (the epoch's train_seconds
# from its record), scripts/peers/epoch.py torch, and scripts/peers/epoch.py keras: the
# same model, initialisation, optimizer, batch size and 48,000 images (a fold's training
# share). With --protocol, each round times the whole protocol instead: `trainer cv`
# with its defaults (5 folds x 10 epochs, `--jobs` chosen for the machine) against
# scripts/peers/protocol.py (Keras 3 with every core), both wall time from start to
# result, data loading included (CV_OUT=DIR keeps the last round's cv folder there).
# With --recipe mcu, each round times one epoch of the `mcu` recipe on all 60,000 images
# (batch norm, AdamW, one-cycle, shifts + flips, label smoothing, batch 128): `trainer fit
# --epochs 1 --precision fp32|bf16` (the epoch's train_seconds from fit.json, every step
# counted) against scripts/peers/mcu_epoch.py [--bf16] (PyTorch written for speed, fp32 or
# under CPU autocast bf16; its 10 warm-up steps untimed). On a CPU without bf16 kernels
# the bf16 columns are slow emulations, not a result.
# The best of the rounds is compared. The peers live in a git-ignored virtualenv, .peers/
# (`pip install torch==2.13.0 tensorflow-cpu`, about 7 GB, made on first use).
# Run it on a quiet machine: anything else running makes the timings meaningless.
set -euo pipefail
cd "$(dirname "$0")/.."
protocol=0
recipe=

# fit_epoch TRAINER OUT MODEL THREADS FILE [FLAG...]: one epoch of `trainer fit` of MODEL
# into OUT/models (no export, 100 test images), its train_seconds appended to FILE.
fit_epoch() {
  local trainer=$1 out=$2 model=$3 threads=$4 file=$5
  shift 5
  rm -rf "$out/models"
  "$trainer" fit --model "$model" --epochs 1 --threads "$threads" --no-export \
    --test-limit 100 --models "$out/models" "$@" >/dev/null 2>&1
  python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["history"][0]["train_seconds"])' \
    "$out/models/$model/fit.json" >>"$file"
}
if [ "${1:-}" = --to-accuracy ]; then
  # Time to a model: one epoch of each model's own recipe, alternating, best of the
  # rounds, times its recipe's epochs (from its committed models/<name>/fit.json), and
  # the test accuracy that fit reached (models/<name>/eval.json).
  new=${2:?--to-accuracy needs a model name}; ref=${3:-mcu-long}
  rounds=${4:-2}; threads=${5:-2}
  cargo build -q --release -p trainer
  out=$(mktemp -d)
  trap 'rm -rf "$out"' EXIT
  for r in $(seq "$rounds"); do
    for m in "$new" "$ref"; do
      # Both recipes in fp32, the precision the committed fits were made in.
      fit_epoch target/release/trainer "$out" "$m" "$threads" "$out/$m" --precision fp32
    done
    printf 'round %d: %s %.2f s, %s %.2f s per epoch (%s)\n' "$r" "$new" "$(tail -n1 "$out/$new")" \
      "$ref" "$(tail -n1 "$out/$ref")" "$(uptime | sed 's/.*load/load/')"
  done
  python3 - "$out" "$new" "$ref" "$threads" <<'PY'
import json, sys
out, new, ref, threads = sys.argv[1:]
rows = {}
for m in (new, ref):
    epoch = min(float(l) for l in open(f"{out}/{m}"))
    fit = json.load(open(f"models/{m}/fit.json"))
    ev = json.load(open(f"models/{m}/eval.json"))
    epochs = fit["config"]["epochs"]
    rows[m] = epoch * epochs
    print(f"  {m}: {epochs} epochs x {epoch:.2f} s = {epoch * epochs:.0f} s of training "
          f"({threads} threads); test accuracy float {100 * ev['float']['accuracy']:.2f} %, "
          f"int8 {100 * ev['int8']['accuracy']:.2f} % (models/{m})")
print(f"  ratio {new}/{ref}: {rows[new] / rows[ref]:.3f} (issue 29: <= 1/6 = 0.167, floor 1/3)")
PY
  exit 0
fi
if [ "${1:-}" = --protocol ]; then protocol=1; shift; fi
if [ "${1:-}" = --recipe ]; then
  recipe=${2:?--recipe needs a name (mcu)}; shift 2
  [ "$recipe" = mcu ] || { echo "bench-peers: --recipe knows only mcu" >&2; exit 2; }
fi
default_rounds=3
if [ "$protocol" = 1 ]; then default_rounds=1; elif [ -n "$recipe" ]; then default_rounds=2; fi
rounds=${1:-$default_rounds}
threads=${2:-2}
venv=.peers
if [ -n "$recipe" ]; then
  # PyTorch alone is enough here.
  if [ ! -x "$venv/bin/python" ] || ! "$venv/bin/python" -c 'import torch, numpy' 2>/dev/null; then
    echo "bench-peers: installing PyTorch 2.13.0 into $venv/" >&2
    python3 -m venv "$venv"
    "$venv/bin/pip" install -q torch==2.13.0 numpy
  fi
elif [ ! -x "$venv/bin/python" ] || ! "$venv/bin/python" -c 'import torch, keras' 2>/dev/null; then
  echo "bench-peers: installing PyTorch 2.13.0 and TensorFlow (CPU) into $venv/" >&2
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q torch==2.13.0 tensorflow-cpu
fi
cargo build -q --release -p trainer
trainer=target/release/trainer
data=${FASHION_MNIST_DIR:-/usr/share/datasets/fashion-mnist}
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT

best() { sort -g | head -n1; }
now() { date +%s.%N; }

if [ -n "$recipe" ]; then
  # Each round: the trainer in fp32 and in bf16 (--precision), then PyTorch in fp32 and
  # under CPU autocast bf16 (its fastest setting on a CPU with bf16 kernels).
  for f in trainer-fp32 trainer-bf16 torch-fp32 torch-bf16; do : >"$out/$f"; done
  for r in $(seq "$rounds"); do
    for precision in fp32 bf16; do
      fit_epoch "$trainer" "$out" mcu "$threads" "$out/trainer-$precision" \
        --precision "$precision" --data "$data"
    done
    for precision in fp32 bf16; do
      flag=; [ "$precision" = bf16 ] && flag=--bf16
      # shellcheck disable=SC2086
      "$venv/bin/python" scripts/peers/mcu_epoch.py "$data" "$threads" $flag | tee -a "$out/torch.json" |
        python3 -c 'import json,sys; print(json.loads(sys.stdin.read())["seconds"])' >>"$out/torch-$precision"
    done
    printf 'round %d: trainer fit fp32 %.2f s, bf16 %.2f s; PyTorch fp32 %.2f s, bf16 %.2f s (%s)\n' "$r" \
      "$(tail -n1 "$out/trainer-fp32")" "$(tail -n1 "$out/trainer-bf16")" \
      "$(tail -n1 "$out/torch-fp32")" "$(tail -n1 "$out/torch-bf16")" "$(uptime | sed 's/.*load/load/')"
  done
  tf=$(best <"$out/trainer-fp32"); tb=$(best <"$out/trainer-bf16")
  pf=$(best <"$out/torch-fp32"); pb=$(best <"$out/torch-bf16")
  version=$(python3 -c 'import json,sys; print(json.loads(open(sys.argv[1]).readline())["version"])' "$out/torch.json")
  echo "one epoch, mcu recipe, 60,000 images, batch 128, $threads threads, best of $rounds (PyTorch $version):"
  printf '  trainer fit fp32 %.2f s, bf16 %.2f s; PyTorch fp32 %.2f s, autocast bf16 %.2f s\n' \
    "$tf" "$tb" "$pf" "$pb"
  awk -v tf="$tf" -v tb="$tb" -v pf="$pf" -v pb="$pb" 'BEGIN {
    printf "  ratio trainer fp32 / PyTorch fp32 %.2f\n", tf / pf
    printf "  ratio trainer bf16 / PyTorch fp32 %.2f (issue 29: <= 0.5)\n", tb / pf
    printf "  ratio trainer bf16 / PyTorch bf16 %.2f (issue 29: <= 1.0)\n", tb / pb }'
  exit 0
fi
if [ "$protocol" = 1 ]; then
  : >"$out/trainer" ; : >"$out/keras"
  for r in $(seq "$rounds"); do
    rm -rf "$out/cv"
    t0=$(now)
    "$trainer" cv --model baseline --out "$out/cv" --data "$data" >/dev/null 2>&1
    echo "$(now) $t0" | awk '{ print $1 - $2 }' >>"$out/trainer"
    mean=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["mean"])' "$out/cv/cv.json")
    "$venv/bin/python" scripts/peers/protocol.py "$data" | tee -a "$out/keras.json" |
      python3 -c 'import json,sys; print(json.loads(sys.stdin.read())["seconds"])' >>"$out/keras"
    if [ -n "${CV_OUT:-}" ]; then rm -rf "$CV_OUT" && cp -r "$out/cv" "$CV_OUT"; fi
    printf 'round %d: trainer cv %.1f s (mean validation accuracy %s), Keras %.1f s\n' "$r" \
      "$(tail -n1 "$out/trainer")" "$mean" "$(tail -n1 "$out/keras")"
    tail -n1 "$out/keras.json"
  done
  t=$(best <"$out/trainer"); k=$(best <"$out/keras")
  echo "whole protocol, baseline, 5 folds x 10 epochs, best of $rounds:"
  printf '  trainer cv %.1f s, Keras %.1f s\n' "$t" "$k"
  awk -v t="$t" -v k="$k" 'BEGIN { printf "  ratio trainer/Keras %.2f\n", t / k }'
  exit 0
fi
: >"$out/trainer" ; : >"$out/torch" ; : >"$out/keras"
for r in $(seq "$rounds"); do
  rm -rf "$out/cv"
  "$trainer" cv --model baseline --epochs 1 --fold 0 --threads "$threads" --out "$out/cv" \
    --data "$data" >/dev/null 2>&1
  python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["result"]["history"][0]["train_seconds"])' \
    "$out/cv/fold-0.json" >>"$out/trainer"
  for fw in torch keras; do
    "$venv/bin/python" scripts/peers/epoch.py "$fw" "$data" "$threads" | tee -a "$out/$fw.json" |
      python3 -c 'import json,sys; print(json.loads(sys.stdin.read())["seconds"])' >>"$out/$fw"
  done
  printf 'round %d: trainer %.2f s, PyTorch %.2f s, Keras %.2f s\n' "$r" \
    "$(tail -n1 "$out/trainer")" "$(tail -n1 "$out/torch")" "$(tail -n1 "$out/keras")"
done
t=$(best <"$out/trainer"); p=$(best <"$out/torch"); k=$(best <"$out/keras")
versions=$(python3 -c 'import json,sys; print(", ".join(json.loads(l)["framework"] + " " + json.loads(l)["version"] for l in [open(f).readline() for f in sys.argv[1:]]))' "$out/torch.json" "$out/keras.json")
echo "one epoch, baseline, 48,000 images, batch 32, $threads threads, best of $rounds ($versions):"
printf '  trainer %.2f s, PyTorch %.2f s, Keras %.2f s\n' "$t" "$p" "$k"
awk -v t="$t" -v p="$p" -v k="$k" 'BEGIN { printf "  ratio trainer/PyTorch %.2f, trainer/Keras %.2f\n", t / p, t / k }'
