#!/usr/bin/env bash
# One training epoch of the seed's baseline in the trainer, in PyTorch and in Keras 3 /
# TensorFlow, timed in the same run, alternating, and the ratios.
#
#   scripts/bench-peers.sh [ROUNDS] [THREADS]     (defaults: 3 rounds, 2 threads)
#   scripts/bench-peers.sh --protocol [ROUNDS]    the whole 5-fold x 10-epoch protocol
#                                                 (default: 1 round, about 12 minutes)
#   scripts/bench-peers.sh --recipe mcu [ROUNDS] [THREADS]
#                                                 one epoch of `trainer fit`'s default recipe
#                                                 (defaults: 2 rounds, 2 threads)
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
# --epochs 1` (the epoch's train_seconds from fit.json, every step counted) against
# scripts/peers/mcu_epoch.py (PyTorch written for speed; its 10 warm-up steps untimed).
# The best of the rounds is compared. The peers live in a git-ignored virtualenv, .peers/
# (`pip install torch==2.13.0 tensorflow-cpu`, about 7 GB, made on first use).
# Run it on a quiet machine: anything else running makes the timings meaningless.
set -euo pipefail
cd "$(dirname "$0")/.."
protocol=0
recipe=
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
  : >"$out/trainer" ; : >"$out/torch"
  for r in $(seq "$rounds"); do
    rm -rf "$out/models"
    "$trainer" fit --model mcu --epochs 1 --threads "$threads" --no-export --test-limit 100 \
      --models "$out/models" --data "$data" >/dev/null 2>&1
    python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["history"][0]["train_seconds"])' \
      "$out/models/mcu/fit.json" >>"$out/trainer"
    "$venv/bin/python" scripts/peers/mcu_epoch.py "$data" "$threads" | tee -a "$out/torch.json" |
      python3 -c 'import json,sys; print(json.loads(sys.stdin.read())["seconds"])' >>"$out/torch"
    printf 'round %d: trainer fit %.2f s, PyTorch %.2f s (%s)\n' "$r" \
      "$(tail -n1 "$out/trainer")" "$(tail -n1 "$out/torch")" "$(uptime | sed 's/.*load/load/')"
  done
  t=$(best <"$out/trainer"); p=$(best <"$out/torch")
  version=$(python3 -c 'import json,sys; print(json.loads(open(sys.argv[1]).readline())["version"])' "$out/torch.json")
  echo "one epoch, mcu recipe, 60,000 images, batch 128, $threads threads, best of $rounds (PyTorch $version):"
  printf '  trainer fit %.2f s, PyTorch %.2f s\n' "$t" "$p"
  awk -v t="$t" -v p="$p" 'BEGIN { printf "  ratio trainer/PyTorch %.2f\n", t / p }'
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
