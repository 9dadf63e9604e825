#!/usr/bin/env bash
# Builds the firmware, runs it in QEMU and checks it against the host, bit for bit.
#
#   scripts/firmware-check.sh [--fixture] [--no-lint] [--no-selftest]
#
# 1. lint: cargo fmt --check and clippy -D warnings for the firmware workspace (the
#    apps and fw-nrf on thumbv7em-none-eabihf, fw-common, fw-host and fw-nrf on the
#    host), their host tests (among them the board pipeline through the simulated
#    OV7675, the nRF52840-DK's display path through mipidsi, and fw-nrf's start-up
#    plans, register addresses against the PAC and the 1200-baud touch);
# 2. builds the apps in release: fw-qemu (run below), fw-nrf52840 and fw-nano33ble
#    (build only; their flash and RAM are printed);
# 3. self-tests: a panic and a HardFault must end QEMU with exit code 1, not hang;
#    kernel check: infer-core's fast (DSP) kernels against its reference kernels on
#    random shapes and values, on the Cortex-M4 (fw-qemu --features kernel-check);
#    the camera wiring correction on a D0/D1-swapped frame, and its instructions
#    (fw-qemu --example wiring-cost);
# 4. runs fw-qemu in qemu-system-arm -M mps2-an386 -cpu cortex-m4 -icount shift=0
#    (QEMU's exit code must be 0), decodes defmt with .tools/bin/defmt-print;
# 5. computes the same frames on the host (fw-host's `expected`: the same preprocess,
#    classify and drawing code) and diffs every frame line: class, int8 scores and the
#    screen's CRC must be equal; then again with every frame shown to the simulated
#    OV7675 and captured by the ov767x driver (`expected --camera`), as the boards do;
#    and the scene path alone (camera::scene) on firmware/frames/scenes.bin:
#    fw-qemu --example scene-cost against `expected --scene` (outcome, box, input CRC);
# 6. prints instructions per inference and per MAC, flash and RAM (arm-none-eabi-size
#    and the stack high-water mark the firmware measures), also as a Markdown table in
#    $FW_REPORT when that is set.
#
# Model: $FW_MODEL, else models/mcu-scene/model.fmq (the default model). --fixture uses a seeded random
# model of the baseline's shape instead (meaningless classes, same parity check).
# Logs and the table go to firmware/target/check/.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)

fixture=0 lint=1 selftest=1
for arg in "$@"; do
  case "$arg" in
    --fixture) fixture=1 ;;
    --no-lint) lint=0 ;;
    --no-selftest) selftest=0 ;;
    -h|--help) sed -n '2,28p' "$0"; exit 0 ;;
    *) echo "firmware-check.sh: unknown argument '$arg'" >&2; exit 2 ;;
  esac
done

say() { printf '[firmware-check] %s\n' "$*" >&2; }
fail() { say "FAIL: $*"; exit 1; }
# run_example NAME: builds fw-qemu's example NAME, runs it in QEMU into $out/NAME.log
# and leaves QEMU's exit code in $code.
run_example() {
  cargo build -q --release -p fw-qemu --example "$1"
  set +e
  QEMU_TIMEOUT=60 ./qemu-run.sh "target/thumbv7em-none-eabihf/release/examples/$1" >"$out/$1.log" 2>&1
  code=$?
  set -e
}

host=x86_64-unknown-linux-gnu
out=$root/firmware/target/check
mkdir -p "$out"
export PATH="$root/.tools/bin:$PATH"
for tool in qemu-system-arm arm-none-eabi-size defmt-print; do
  command -v "$tool" >/dev/null || fail "$tool not found (scripts/setup.sh --test installs it)"
done
export DEFMT_PRINT
DEFMT_PRINT=$(command -v defmt-print)

cd firmware
if [ "$fixture" = 1 ]; then
  FW_MODEL=$out/fixture.fmq
  cargo run -q --release -p fw-host --bin fixture-model --target "$host" -- "$FW_MODEL"
fi
FW_MODEL=${FW_MODEL:-$root/models/mcu-scene/model.fmq}
[ -f "$FW_MODEL" ] || fail "no model at $FW_MODEL (train and export one, set FW_MODEL, or use --fixture)"
FW_MODEL=$(realpath "$FW_MODEL")
export FW_MODEL
frames=$root/firmware/frames/frames.bin
say "model $FW_MODEL"

if [ "$lint" = 1 ]; then
  say "lint and host tests"
  # Only this workspace's members (--all would also reach the root workspace).
  cargo fmt --check
  rustfmt --edition 2024 --check build-support.rs
  cargo clippy -q --release -- -D warnings
  cargo clippy -q -p fw-common -p fw-host -p fw-nrf --target "$host" --all-targets -- -D warnings
  cargo test -q -p fw-common -p fw-host -p fw-nrf --target "$host"
fi

elf=target/thumbv7em-none-eabihf/release/fw-qemu
run_feature() { # run_feature FEATURE SECONDS: fw-qemu built with FEATURE, run in QEMU as
  # $out/FEATURE.elf (its log $out/FEATURE.log, shown); QEMU's exit code in $code
  cargo build -q --release -p fw-qemu --features "$1"
  cp "$elf" "$out/$1.elf"
  set +e
  QEMU_TIMEOUT=$2 ./qemu-run.sh "$out/$1.elf" >"$out/$1.log" 2>&1
  code=$?
  set -e
  cat "$out/$1.log" >&2
}
if [ "$selftest" = 1 ]; then
  for kind in panic hardfault; do
    say "self-test: $kind must exit 1"
    run_feature "selftest-$kind" 20
    [ "$code" = 1 ] || fail "self-test $kind ended with exit code $code, expected 1"
  done
  say "kernel check: fast kernels against the reference kernels, on the Cortex-M4"
  run_feature kernel-check 300
  [ "$code" = 0 ] || fail "kernel check ended with exit code $code (see $out/kernel-check.log)"
  grep -q '^INFO  kernel-check ok' "$out/kernel-check.log" || fail "kernel check printed no result"
  say "wiring correction: a D0/D1-swapped frame corrected on the Cortex-M4, and its cost"
  run_example wiring-cost
  cat "$out/wiring-cost.log" >&2
  [ "$code" = 0 ] || fail "the wiring correction example ended with exit code $code (see $out/wiring-cost.log)"
fi

say "building the apps (release): fw-qemu, fw-nrf52840, fw-nano33ble"
# Apart: the boards' PAC turns on cortex-m-rt's `device` feature (see Cargo.toml).
cargo build -q --release -p fw-qemu
cargo build -q --release -p fw-nrf52840 -p fw-nano33ble
say "running in QEMU"
set +e
QEMU_TIMEOUT=${QEMU_TIMEOUT:-120} ./qemu-run.sh "$elf" >"$out/qemu.log" 2>"$out/qemu.err"
code=$?
set -e
cat "$out/qemu.log"
[ "$code" = 0 ] || { cat "$out/qemu.err" >&2; fail "QEMU exit code $code"; }

say "host reference"
cargo run -q --release -p fw-host --bin expected --target "$host" -- "$frames" "$FW_MODEL" >"$out/expected.txt"
# The same frames the way a board takes them: simulated OV7675, the driver's capture.
cargo run -q --release -p fw-host --bin expected --target "$host" -- --camera "$frames" "$FW_MODEL" >"$out/expected-camera.txt"
sed -nE 's/^(INFO|WARN) +(frame=)/\2/p' "$out/qemu.log" >"$out/target.txt"
n=$(wc -l <"$out/expected.txt")
[ "$n" -gt 0 ] || fail "the host computed no frames"
if ! diff -u "$out/expected.txt" "$out/target.txt" >"$out/parity.diff"; then
  cat "$out/parity.diff" >&2
  fail "firmware and host differ (see $out/parity.diff)"
fi
say "parity: $n frames, class, int8 scores and screen identical on host and target"
grep '^frame=' "$out/expected-camera.txt" >"$out/expected-camera-frames.txt"
if ! diff -u "$out/expected-camera-frames.txt" "$out/target.txt" >"$out/parity-camera.diff"; then
  cat "$out/parity-camera.diff" >&2
  fail "the host pipeline through the simulated camera differs from QEMU (see $out/parity-camera.diff)"
fi
say "parity through the simulated OV7675 and the driver's capture: $n frames identical; the boards' lines:"
sed -n 's/^board //p' "$out/expected-camera.txt" >&2

# The scene path (camera::scene, the apps' preprocessing) alone: host = QEMU on the
# scene frames, and its instructions next to the earlier path's (camera::preprocess).
say "scene path: firmware/frames/scenes.bin in QEMU (fw-qemu --example scene-cost) and on the host"
run_example scene-cost
[ "$code" = 0 ] || { cat "$out/scene-cost.log" >&2; fail "the scene-cost example ended with exit code $code"; }
cargo run -q --release -p fw-host --bin expected --target "$host" -- --scene "$root/firmware/frames/scenes.bin" >"$out/expected-scene.txt"
sed -nE 's/^INFO +(scene frame=)/\1/p' "$out/scene-cost.log" >"$out/target-scene.txt"
[ -s "$out/expected-scene.txt" ] || fail "the host computed no scene frames"
if ! diff -u "$out/expected-scene.txt" "$out/target-scene.txt" >"$out/parity-scene.diff"; then
  cat "$out/parity-scene.diff" >&2
  fail "the scene path differs between host and QEMU (see $out/parity-scene.diff)"
fi
say "scene path: $(wc -l <"$out/expected-scene.txt") frames identical (outcome, box, model input's CRC)"
sed -nE 's/^INFO +(scene-cost mean .*)/\1/p' "$out/scene-cost.log" >&2

# --- figures -----------------------------------------------------------------
field() { # field NAME LINE-PREFIX: the value of NAME= on the first line starting so
  sed -nE "s/^INFO +$2 .*\\<$1=([0-9]+).*/\\1/p" "$out/qemu.log" | head -n1
}
macs=$(field macs summary)
cmin=$(field classify_min summary)
cmax=$(field classify_max summary)
stack=$(field stack_hwm memory)
pre=$(sed -nE 's/^INFO +work .*preprocess=([0-9]+).*/\1/p' "$out/qemu.log" | awk '{s+=$1} END {if (NR) printf "%d", s/NR}')
scene_pre=$(sed -nE 's/^INFO +scene-cost mean over [0-9]+ frames: scene ([0-9]+ \([0-9.]+\)).*/\1/p' "$out/scene-cost.log")
draw=$(sed -nE 's/^INFO +work .*draw=([0-9]+).*/\1/p' "$out/qemu.log" | awk '{s+=$1} END {if (NR) printf "%d", s/NR}')
sizes() { # sizes ELF: flash and static RAM in bytes from the section headers
  arm-none-eabi-size -A "$1" | awk '
    $1 == ".vector_table" || $1 == ".text" || $1 == ".rodata" { flash += $2 }
    $1 == ".data" { flash += $2; ram += $2 }
    $1 == ".bss" || $1 == ".uninit" { ram += $2 }
    $1 == ".text" || $1 == ".vector_table" { code += $2 }
    $1 == ".rodata" { ro = $2 }
    END { printf "%d %d %d %d\n", flash, ram, code, ro }'
}
read -r q_flash q_ram q_code q_ro < <(sizes "$elf")
read -r n_flash n_ram n_code n_ro < <(sizes target/thumbv7em-none-eabihf/release/fw-nrf52840)
read -r b_flash b_ram b_code b_ro < <(sizes target/thumbv7em-none-eabihf/release/fw-nano33ble)
model_bytes=$(stat -c %s "$FW_MODEL")
frames_bytes=$(stat -c %s "$frames")
per_mac=$(awk -v c="$cmax" -v m="$macs" 'BEGIN { printf "%.2f", c / m }')
load=$(field load model)
load_pct=$(awk -v l="$load" -v c="$cmax" 'BEGIN { printf "%.1f", 100 * l / c }')
load_crc=$(field load_crc model-crc)
load_crc_pct=$(awk -v l="$load_crc" -v c="$cmax" 'BEGIN { printf "%.1f", 100 * l / c }')
kib() { awk -v b="$1" 'BEGIN { printf "%.1f KiB", b / 1024 }'; }
report=$out/figures.md
{
  echo "| figure (QEMU mps2-an386, Cortex-M4, \`-icount shift=0\`) | value |"
  echo "| --- | --- |"
  echo "| MACs per inference | $macs |"
  echo "| instructions per inference (classify, min..max over $n frames) | $cmin..$cmax |"
  echo "| instructions per MAC | $per_mac |"
  echo "| instructions at start-up, \`Model::from_bytes_unverified\` (validation; the CRC was checked at build time) | $load ($load_pct % of one inference) |"
  echo "| instructions per \`Model::from_bytes\` (CRC + validation) | $load_crc ($load_crc_pct % of one inference) |"
  echo "| instructions per preprocess (mean, sample frames) | $pre |"
  echo "| instructions per preprocess on scene frames (mean and range, \`firmware/frames/scenes.bin\`) | $scene_pre |"
  echo "| instructions per screen drawing (mean) | $draw |"
  echo "| flash, QEMU app (.vector_table + .text + .rodata + .data) | $q_flash B ($(kib "$q_flash")): code $q_code B, rodata $q_ro B (model $model_bytes B, frames $frames_bytes B) |"
  echo "| flash, nRF52840-DK app (camera, ST7735) | $n_flash B ($(kib "$n_flash")) of 1024 KiB: code $n_code B |"
  echo "| flash, Nano 33 BLE app (camera, USB serial; linked at 0x10000) | $b_flash B ($(kib "$b_flash")) of 960 KiB (1024 KiB less the bootloader's 64): code $b_code B |"
  echo "| RAM, static (.data + .bss + .uninit), QEMU / nRF52840-DK / Nano 33 BLE | $q_ram B / $n_ram B / $b_ram B of 256 KiB |"
  echo "| RAM, stack high-water mark (painted) | $stack B |"
  echo "| RAM, total (static + stack), QEMU | $((q_ram + stack)) B ($(kib $((q_ram + stack)))) of 256 KiB |"
  echo
  echo "| step | kind | MACs | outputs | instructions | per MAC |"
  echo "| ---: | --- | ---: | ---: | ---: | ---: |"
  sed -nE 's/^INFO +layer index=([0-9]+) kind=([a-z0-9+]+) macs=([0-9]+) outputs=([0-9]+) work=([0-9]+).*/\1 \2 \3 \4 \5/p' "$out/qemu.log" |
    awk '{ pm = ($3 > 0) ? sprintf("%.2f", $5 / $3) : "-"; printf "| %d | %s | %d | %d | %d | %s |\n", $1, $2, $3, $4, $5, pm }'
} >"$report"
cat "$report"
if [ -n "${FW_REPORT:-}" ]; then cp "$report" "$FW_REPORT"; fi
say "OK"
