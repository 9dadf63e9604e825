#!/usr/bin/env bash
# Proves that `trainer fit` trains on an NVIDIA GPU when the machine has one.
#
#   scripts/gpu-check.sh [IMAGES]     (default: all 60,000 training images)
#
# 1. Stops at once (exit 2, nothing changed) unless `nvidia-smi -L` lists a GPU.
# 2. Sets up: scripts/setup.sh installs the CUDA build of torch 2.13.0 into .venv and
#    links .libtorch to it when nvidia-smi works. A CPU-only .libtorch from an earlier
#    set-up (no libtorch_cuda.so) is moved to .cache/libtorch-cpu first, so that
#    setup.sh installs the CUDA one.
# 3. Builds the trainer in its own target folder (target/gpu: a build against the
#    CPU-only libtorch would be reused otherwise); trainer/build_libtorch.rs links
#    libtorch_cuda.so with --no-as-needed, without which libtorch sees no device.
# 4. Trains one epoch of the `mcu` recipe (`trainer fit --model mcu --epochs 1`, no int8
#    export, 1,000 test images) while nvidia-smi is sampled every half second.
# 5. Prints the GPU's name, the device the trainer reported (its `device:` line and
#    fit.json's `device`), the GPU memory its process held (or, where nvidia-smi cannot
#    see the process, the rise of the GPU's used memory), the peak utilisation, and the
#    epoch's time; fails unless the trainer trained on Cuda and GPU memory was used.
set -euo pipefail
cd "$(dirname "$0")/.."
images=${1:-}
fail() { echo "gpu-check: $*" >&2; exit 1; }

if ! command -v nvidia-smi >/dev/null 2>&1; then
  echo "gpu-check: no nvidia-smi on this machine (no NVIDIA driver): nothing to check" >&2
  exit 2
fi
if ! gpus=$(nvidia-smi -L 2>&1) || ! grep -q '^GPU ' <<<"$gpus"; then
  echo "gpu-check: nvidia-smi lists no GPU: nothing to check ($gpus)" >&2
  exit 2
fi
name=$(nvidia-smi --query-gpu=name --format=csv,noheader -i 0)
echo "gpu-check: GPU 0: $name"

# --- set up the CUDA libtorch ------------------------------------------------
if [ -e .libtorch/lib/libtorch_cpu.so ] && [ ! -e .libtorch/lib/libtorch_cuda.so ]; then
  mkdir -p .cache
  rm -rf .cache/libtorch-cpu
  echo "gpu-check: moving the CPU-only .libtorch to .cache/libtorch-cpu" >&2
  if [ -L .libtorch ]; then rm .libtorch; else mv .libtorch .cache/libtorch-cpu; fi
fi
scripts/setup.sh
[ -e .libtorch/lib/libtorch_cuda.so ] || fail "setup.sh left no libtorch_cuda.so in .libtorch/lib"

# --- build ---------------------------------------------------------------------
export CARGO_TARGET_DIR=target/gpu
cargo build -q --release -p trainer
trainer=$CARGO_TARGET_DIR/release/trainer

# --- one epoch, with nvidia-smi watching -----------------------------------------
out=$(mktemp -d)
trap 'rm -rf "$out"; [ -n "${watch:-}" ] && kill "$watch" 2>/dev/null || true' EXIT
base=$(nvidia-smi --query-gpu=memory.used --format=csv,noheader,nounits -i 0 | tr -d ' ')
(
  while :; do
    echo "gpu $(nvidia-smi --query-gpu=memory.used,utilization.gpu --format=csv,noheader,nounits -i 0 | tr -d ' ')"
    nvidia-smi --query-compute-apps=pid,used_memory --format=csv,noheader,nounits 2>/dev/null |
      tr -d ' ' | sed 's/^/app /'
    sleep 0.5
  done
) >"$out/smi" 2>/dev/null &
watch=$!
limit=()
[ -n "$images" ] && limit=(--limit "$images")
start=$(date +%s.%N)
"$trainer" fit --model mcu --epochs 1 --no-export --test-limit 1000 "${limit[@]}" \
  --models "$out/models" 2>"$out/stderr" &
pid=$!
echo "gpu-check: training one epoch (trainer pid $pid)"
wait "$pid" || { tail -n 20 "$out/stderr" >&2; fail "trainer fit failed"; }
wall=$(echo "$(date +%s.%N) $start" | awk '{ printf "%.1f", $1 - $2 }')
kill "$watch" 2>/dev/null || true
watch=

said=$(grep -m1 '^device:' "$out/stderr" || true)
recorded=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["device"])' "$out/models/mcu/fit.json")
epoch=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["history"][0]["train_seconds"])' "$out/models/mcu/fit.json")
accuracy=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["test_accuracy"])' "$out/models/mcu/fit.json")
own=$(awk -v p="$pid" '$1 == "app" { split($2, f, ","); if (f[1] == p && f[2] > m) m = f[2] } END { print m + 0 }' "$out/smi")
peak=$(awk '$1 == "gpu" { split($2, f, ","); if (f[1] > m) m = f[1] } END { print m + 0 }' "$out/smi")
util=$(awk '$1 == "gpu" { split($2, f, ","); if (f[2] > m) m = f[2] } END { print m + 0 }' "$out/smi")
rise=$((peak - base))

echo "gpu-check: the trainer said:        $said"
echo "gpu-check: fit.json device:         $recorded"
if [ "$own" -gt 0 ]; then
  echo "gpu-check: GPU memory of its process: $own MiB (peak, nvidia-smi)"
else
  echo "gpu-check: its process is not visible to nvidia-smi here (PID namespace?); GPU memory used rose by $rise MiB while it ran (from $base MiB)"
fi
echo "gpu-check: peak GPU utilisation:     $util %"
echo "gpu-check: one epoch:                $epoch s (train_seconds; the whole run $wall s wall), test accuracy $accuracy on 1,000 images"
case "$recorded" in
  Cuda*) ;;
  *) fail "the trainer trained on $recorded, not on the GPU (is libtorch_cuda.so linked? see shared/notes/libtorch.md)" ;;
esac
if [ "$own" -le 0 ] && [ "$rise" -le 0 ]; then
  fail "no GPU memory was seen in use while the trainer ran"
fi
echo "gpu-check: OK: the epoch ran on $name"
