#!/usr/bin/env bash
# One idempotent setup for this project on a Debian machine.
#
#   scripts/setup.sh          dataset + libtorch (enough for `cargo run -p trainer`)
#   scripts/setup.sh --test   also what the test suite needs: the Cortex-M target,
#                             QEMU, the ARM binutils, defmt-print, and Slurm + munge + jq
#                             for scripts/slurm-test.sh
#   scripts/setup.sh --fuzz   also what scripts/fuzz.sh needs: a C++ compiler (g++) for
#                             libFuzzer's runtime; --test includes it (test.sh fuzzes)
#
# libtorch for tch 0.26 must be PyTorch 2.13.0. On a machine without a working
# `nvidia-smi` a CPU-only libtorch directory is unpacked from the PyPI wheels into
# `.libtorch/` (see ../shared/notes/libtorch.md); with a GPU the full `torch` wheel
# goes into `.venv/` and `.libtorch` is a link to it. `.cargo/config.toml` points
# LIBTORCH at `.libtorch`, so plain `cargo build` / `cargo test` work afterwards.
# Running it a second time does nothing.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$HOME/.cargo/bin:$PATH"
root=$(pwd)

want_test=0 want_fuzz=0
for arg in "$@"; do
  case "$arg" in
    --test) want_test=1 ;;
    --fuzz) want_fuzz=1 ;;
    -h|--help) sed -n '2,16p' "$0"; exit 0 ;;
    *) echo "setup.sh: unknown argument '$arg'" >&2; exit 2 ;;
  esac
done

log() { printf '[setup] %s\n' "$*" >&2; }

# --- Debian packages ---------------------------------------------------------
packages=(dataset-fashion-mnist fonts-dejavu-core)
if [ "$want_test" = 1 ]; then
  packages+=(qemu-system-arm binutils-arm-none-eabi slurm-wlm munge jq)
  want_fuzz=1
fi
# libfuzzer-sys compiles libFuzzer (C++) in its build script.
if [ "$want_fuzz" = 1 ]; then packages+=(g++); fi
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ "${#missing[@]}" -gt 0 ]; then
  sudo=""; [ "$(id -u)" = 0 ] || sudo="sudo"
  log "installing Debian packages: ${missing[*]}"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}" >/dev/null
fi

# --- libtorch (PyTorch 2.13.0, the version tch 0.26 needs) -------------------
torch_version=2.13.0
if [ ! -e .libtorch/lib/libtorch_cpu.so ]; then
  if command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi -L >/dev/null 2>&1; then
    log "GPU found: installing torch==$torch_version with CUDA into .venv"
    [ -x .venv/bin/pip ] || python3 -m venv .venv
    .venv/bin/pip install -q "torch==$torch_version"
    site=$(.venv/bin/python -c 'import torch, os; print(os.path.dirname(torch.__file__))')
    rm -rf .libtorch
    ln -s "$site" .libtorch
  else
    log "no GPU: unpacking a CPU-only libtorch $torch_version from the PyPI wheels into .libtorch"
    wheels="$root/.cache/wheels"
    mkdir -p "$wheels"
    python3 -m pip download -q --no-deps -d "$wheels" \
      "torch==$torch_version" nvidia-cuda-runtime==13.0.96 nvidia-cuda-cupti==13.0.85
    tmp=$(mktemp -d "$root/.libtorch.tmp.XXXXXX")
    trap 'rm -rf "$tmp"' EXIT
    python3 - "$wheels" "$tmp" <<'PY'
import pathlib, shutil, sys, zipfile
wheels, out = pathlib.Path(sys.argv[1]), pathlib.Path(sys.argv[2])
(out / "lib").mkdir(parents=True)
keep_lib = {"libc10.so", "libtorch_cpu.so", "libtorch.so", "libgomp.so.1"}
keep_cuda = {"libcudart.so.13", "libcupti.so.13"}
for wheel in sorted(wheels.glob("*.whl")):
    with zipfile.ZipFile(wheel) as z:
        for name in z.namelist():
            parts = name.split("/")
            if name.startswith("torch/include/") and not name.endswith("/"):
                dest = out / "include" / "/".join(parts[2:])
            elif name.startswith("torch/lib/") and parts[-1] in keep_lib:
                dest = out / "lib" / parts[-1]
            elif parts[-1] in keep_cuda and "/lib/" in name:
                dest = out / "lib" / parts[-1]
            else:
                continue
            dest.parent.mkdir(parents=True, exist_ok=True)
            with z.open(name) as src, open(dest, "wb") as dst:
                shutil.copyfileobj(src, dst)
for need in keep_lib | keep_cuda:
    if not (out / "lib" / need).exists():
        sys.exit(f"setup: {need} was not found in the wheels")
PY
    rm -rf .libtorch
    mv "$tmp" .libtorch
    trap - EXIT
  fi
fi

# --- what the tests need -----------------------------------------------------
if [ "$want_test" = 1 ]; then
  if ! rustup target list --installed | grep -qx thumbv7em-none-eabihf; then
    log "adding the Rust target thumbv7em-none-eabihf"
    rustup target add thumbv7em-none-eabihf
  fi
  if [ ! -x .tools/bin/defmt-print ]; then
    log "installing defmt-print into .tools (a few minutes, once)"
    cargo install -q --locked --root .tools defmt-print --version 1.2.0
  fi
fi
log "ready"
