#!/usr/bin/env bash
# Runs the firmware in QEMU on your own pictures and checks it against the host.
#
#   scripts/run-firmware.sh [--out DIR] PICTURE...
#
# 1. `trainer frames --pictures PICTURE... --out DIR`: each picture (PNG, JPEG, BMP,
#    GIF, PNM; any size, colour or grey) is fitted into a 160x120 grayscale frame, as the
#    firmware's camera delivers (DIR/frames.bin, DIR/frames.txt);
# 2. builds the QEMU app with those frames in flash (FW_FRAMES=DIR/frames.bin) and runs
#    it in qemu-system-arm -M mps2-an386 -cpu cortex-m4 (log: DIR/qemu.log);
# 3. the host computes the same frames with the same code (fw-host's `expected`: preprocessing with the automatic style decision, int8 classification,
#    drawing) and writes each screen as DIR/screenK.png (2x) and .pgm;
# 4. prints, per picture, what the microcontroller answered next to the host's answer,
#    and fails unless every line (style, class, int8 scores or "no garment found", and
#    the CRC of the drawn screen) is identical.
#
# DIR defaults to firmware/target/pictures. Model: $FW_MODEL, else models/mcu-scene/model.fmq.
# Trainer: $TRAINER (a binary), else `cargo run -q -p trainer --`. Needs what
# scripts/firmware-check.sh needs (scripts/setup.sh --test installs it).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)

out=$root/firmware/target/pictures
pictures=()
while [ $# -gt 0 ]; do
  case "$1" in
    --out) out=${2:?--out needs a folder}; shift 2 ;;
    -h|--help) sed -n '2,22p' "$0"; exit 0 ;;
    --) shift; pictures+=("$@"); break ;;
    -*) echo "run-firmware.sh: unknown argument '$1'" >&2; exit 2 ;;
    *) pictures+=("$1"); shift ;;
  esac
done
[ ${#pictures[@]} -gt 0 ] || { echo "usage: scripts/run-firmware.sh [--out DIR] PICTURE..." >&2; exit 2; }

say() { printf '[run-firmware] %s\n' "$*" >&2; }
fail() { say "FAIL: $*"; exit 1; }

host=x86_64-unknown-linux-gnu
export PATH="$root/.tools/bin:$PATH"
for tool in qemu-system-arm defmt-print; do
  command -v "$tool" >/dev/null || fail "$tool not found (scripts/setup.sh --test installs it)"
done
export DEFMT_PRINT
DEFMT_PRINT=$(command -v defmt-print)
FW_MODEL=$(realpath "${FW_MODEL:-$root/models/mcu-scene/model.fmq}")
[ -f "$FW_MODEL" ] || fail "no model at $FW_MODEL"
export FW_MODEL

mkdir -p "$out"
out=$(realpath "$out")
abs=()
for p in "${pictures[@]}"; do
  [ -f "$p" ] || fail "$p: no such file"
  abs+=("$(realpath "$p")")
done

say "converting ${#abs[@]} pictures into 160x120 frames"
if [ -n "${TRAINER:-}" ]; then
  "$TRAINER" frames --out "$out" --pictures "${abs[@]}" >/dev/null
else
  cargo run -q -p trainer -- frames --out "$out" --pictures "${abs[@]}" >/dev/null
fi

cd firmware
say "building the QEMU app with these frames in flash"
FW_FRAMES=$out/frames.bin cargo build -q --release -p fw-qemu
elf=$out/fw-qemu.elf
cp target/thumbv7em-none-eabihf/release/fw-qemu "$elf"
say "running in QEMU"
set +e
QEMU_TIMEOUT=${QEMU_TIMEOUT:-120} ./qemu-run.sh "$elf" >"$out/qemu.log" 2>"$out/qemu.err"
code=$?
set -e
[ "$code" = 0 ] || { cat "$out/qemu.log" "$out/qemu.err" >&2; fail "QEMU exit code $code"; }

say "host reference and screens"
cargo run -q --release -p fw-host --bin expected --target "$host" -- \
  "$out/frames.bin" "$FW_MODEL" "$out" >"$out/expected.txt"
sed -nE 's/^(INFO|WARN) +(frame=)/\2/p' "$out/qemu.log" >"$out/target.txt"

# "frame=K label=L mode=M class=C name=N scores=[..] screen=X" -> "N (class C, M)";
# "frame=K ... mode=M no garment found reason=R ..." -> "no garment found (M)".
answer() {
  sed -nE -e "s/^frame=$1 .* mode=([a-z-]+) class=([0-9]+) name=(.*) scores=.*/\3 (class \2, \1)/p" \
    -e "s/^frame=$1 .* mode=([a-z-]+) no garment found .*/no garment found (\1)/p" \
    -e "s/^frame=$1 .* error=([a-z-]+) .*/error: \1/p" "$2"
}
printf '%-40s  %-32s  %-32s  %s\n' picture firmware host same >&2
status=0
for k in "${!abs[@]}"; do
  fw=$(answer "$k" "$out/target.txt")
  ho=$(answer "$k" "$out/expected.txt")
  fw_line=$(grep -E "^frame=$k " "$out/target.txt" || true)
  ho_line=$(grep -E "^frame=$k " "$out/expected.txt" || true)
  same=yes
  if [ -z "$fw_line" ] || [ "$fw_line" != "$ho_line" ]; then same=NO; status=1; fi
  printf '%-40s  %-32s  %-32s  %s\n' "${pictures[$k]}" "${fw:-?}" "${ho:-?}" "$same"
done
if [ "$status" != 0 ]; then
  diff -u "$out/expected.txt" "$out/target.txt" >&2 || true
  fail "firmware and host differ"
fi
[ "$(wc -l <"$out/target.txt")" = "${#abs[@]}" ] || fail "the firmware answered $(wc -l <"$out/target.txt") of ${#abs[@]} pictures"
say "OK: firmware and host agree bit for bit (class, int8 scores, screen CRC); screens in $out/screen*.png"
