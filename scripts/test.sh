#!/usr/bin/env bash
# Sets up what the tests need (idempotent) and runs every check CI runs.
#
#   scripts/test.sh          every check CI runs, among them a short fuzzing run (every
#                            fuzz target for 30 s on its committed corpus, before the tests)
#   scripts/test.sh --full   the same, with every fuzz target for 5 minutes instead, the
#                            seed's baseline model on the target too, and
#                            the property tests with a fresh random seed (printed) and,
#                            where a test does not set its own count, 2048 cases each
#
# Property tests (proptest) run with a fixed seed, printed below, so that a run repeats
# exactly: PROPTEST_RNG_SEED=<seed> scripts/test.sh reproduces any run, --full's too.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$HOME/.cargo/bin:$PATH"

full=0
for arg in "$@"; do
  case "$arg" in
    --full) full=1 ;;
    -h|--help) sed -n '2,11p' "$0"; exit 0 ;;
    *) echo "test.sh: unknown argument '$arg'" >&2; exit 2 ;;
  esac
done

# Each step is stamped with the time since the start, so a CI log shows where time goes.
step() { printf '\n==> [%d:%02d] %s\n' $((SECONDS / 60)) $((SECONDS % 60)) "$*" >&2; }

# Property tests: the same cases in every run unless --full explores fresh ones. Cases
# that once failed are kept in each crate's proptest-regressions/ and always replayed.
if [ -z "${PROPTEST_RNG_SEED:-}" ]; then
  if [ "$full" = 1 ]; then
    PROPTEST_RNG_SEED=$(od -An -N8 -tu8 /dev/urandom | tr -d ' ')
  else
    PROPTEST_RNG_SEED=2026
  fi
fi
export PROPTEST_RNG_SEED
if [ "$full" = 1 ] && [ -z "${PROPTEST_CASES:-}" ]; then export PROPTEST_CASES=2048; fi
echo "property tests: PROPTEST_RNG_SEED=$PROPTEST_RNG_SEED (rerun with it to repeat them)" >&2

step "setup"
scripts/setup.sh --test

step "format"
cargo fmt --all -- --check

step "clippy"
cargo clippy --workspace --all-targets -- -D warnings

step "infer-core and camera for the Cortex-M4F, with and without features"
cargo build -q -p infer-core -p camera -p ov767x --target thumbv7em-none-eabihf
cargo build -q -p infer-core -p camera -p ov767x --target thumbv7em-none-eabihf --features infer-core/defmt,infer-core/arm-dsp,infer-core/selfcheck,camera/defmt,ov767x/defmt

step "docs"
RUSTDOCFLAGS=-Dwarnings cargo doc -q --workspace --no-deps

step "the user's example: infer-core classifies the committed pictures with the default model"
for picture in docs/pictures/*; do
  cargo run -q -p infer-core --example classify -- models/mcu-scene/model.fmq "$picture"
done

step "generated files are up to date (firmware sample frames)"
cargo run -q -p trainer -- frames
git diff --exit-code -- firmware/frames

# The fuzz targets build mostly on one core (about 200 s of CPU): beside the firmware
# steps, whose QEMU runs leave a core free, instead of before the fuzzing. Its output
# is printed if it fails; it is stopped if the run ends first.
fuzz_build_log=$(mktemp)
scripts/fuzz.sh --build-only >"$fuzz_build_log" 2>&1 &
fuzz_build=$!
trap 'kill "$fuzz_build" 2>/dev/null || true; rm -f "$fuzz_build_log"' EXIT

step "firmware: build, run in QEMU, compare with the host bit for bit"
scripts/firmware-check.sh
# The seed's baseline stays checked on the target too (the default model is mcu-long;
# mcu has the same layers, so its kernels are the ones just checked). In --full only
# since CI neared 30 minutes: its kernels (valid convolution, the wide dense layer) are
# among the QEMU self-check's cases, which run above.
if [ "$full" = 1 ]; then
  FW_MODEL="$PWD/models/baseline/model.fmq" scripts/firmware-check.sh --no-lint --no-selftest
fi

step "firmware on pictures: scripts/run-firmware.sh docs/pictures/* agrees with the host bit for bit"
scripts/run-firmware.sh docs/pictures/*

step "Slurm: a one-node cluster runs cv folds as array tasks and merges; equal to a local run"
scripts/slurm-test.sh

# Before the tests, so that the run closes on the summary of the real test binaries. Two
# targets at a time, one core each; a crash fails the run and its log is printed
# (scripts/fuzz.sh).
fuzz_seconds=30
if [ "$full" = 1 ]; then fuzz_seconds=300; fi
step "fuzzing: the targets (built beside the firmware steps), each for $fuzz_seconds s on its committed corpus"
if ! wait "$fuzz_build"; then
  cat "$fuzz_build_log" >&2
  echo "test.sh: building the fuzz targets failed" >&2
  exit 1
fi
scripts/fuzz.sh --no-build --jobs 2 "$fuzz_seconds"

step "tests"
# Doc tests first, so that the run closes on the summary of the real test binaries.
cargo test -q --workspace --doc
cargo test --workspace --lib --bins --tests
# The workspace run uses infer-core's x86-64 kernels (trainer and the parity tests
# enable `x86-simd`; AVX2 where the CPU has it): check the SSE2 ones and the portable
# ones against the reference as well.
INFER_CORE_NO_AVX2=1 cargo test -q -p infer-core --features x86-simd --lib
cargo test -q -p infer-core --lib
