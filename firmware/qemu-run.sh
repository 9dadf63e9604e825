#!/usr/bin/env bash
# Cargo runner for the QEMU app: runs the ELF in QEMU (mps2-an386, Cortex-M4F) with
# semihosting and instruction counting, and decodes the defmt output with defmt-print.
# Exit code: QEMU's (0 success, 1 failure), or 124 on timeout.
#   QEMU_TIMEOUT  seconds before giving up (default 120)
set -euo pipefail
elf=${1:?usage: qemu-run.sh APP.elf}
here=$(cd "$(dirname "$0")" && pwd)
defmt_print=${DEFMT_PRINT:-$here/../.tools/bin/defmt-print}
[ -x "$defmt_print" ] || defmt_print=$(command -v defmt-print) || {
  echo "qemu-run.sh: defmt-print not found (scripts/setup.sh --test installs it)" >&2
  exit 2
}
timeout "${QEMU_TIMEOUT:-120}" qemu-system-arm -M mps2-an386 -cpu cortex-m4 -nographic \
  -icount shift=0 -semihosting-config enable=on,target=native -kernel "$elf" </dev/null \
  | "$defmt_print" --log-format '{L} {s}' -e "$elf"
