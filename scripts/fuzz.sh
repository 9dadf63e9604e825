#!/usr/bin/env bash
# Builds the fuzz targets (libFuzzer through cargo-fuzz, on the pinned stable toolchain)
# and runs each one on its committed corpus, one target after the other.
#
#   scripts/fuzz.sh [SECONDS] [TARGET...]   each target for SECONDS (default 30), all
#                                           targets unless some are named
#   scripts/fuzz.sh --runs N [TARGET...]    each target for N executions instead
#   scripts/fuzz.sh --cpu-seconds N [TARGET...]  each target until it has used N seconds
#                                           of CPU time (then stopped with SIGINT): an
#                                           hour of fuzzing even on a busy machine
#                                           (never pause a fuzzer with SIGSTOP: its
#                                           wall-clock -timeout then reports a false hang)
#   scripts/fuzz.sh --merge [TARGET...]     no fuzzing: minimise fuzz/corpus-seed/<t>
#                                           together with fuzz/corpus/<t> (what earlier
#                                           runs found) back into fuzz/corpus-seed/<t>
#   --no-build                              use the targets as last built
#
# New inputs go to fuzz/corpus/<target> (git-ignored), crashes to
# fuzz/artifacts/<target>/, the full libFuzzer log to fuzz/artifacts/<target>/log.
# Prints one line of figures per target; exits 1 if any target crashed. Needs
# cargo-fuzz: `scripts/setup.sh --fuzz` installs it into .tools/.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PWD/.tools/bin:$HOME/.cargo/bin:$PATH"
all_targets=(from_bytes_classify idx image_input camera_frame)

seconds=30 runs="" cpu_seconds="" merge=0 build=1 targets=()
while [ $# -gt 0 ]; do
  case "$1" in
    --runs) runs="${2:?--runs needs a number}"; shift ;;
    --cpu-seconds) cpu_seconds="${2:?--cpu-seconds needs a number}"; shift ;;
    --merge) merge=1 ;;
    --no-build) build=0 ;;
    -h|--help) sed -n '2,21p' "$0"; exit 0 ;;
    [0-9]*) seconds="$1" ;;
    *)
      if printf '%s\n' "${all_targets[@]}" | grep -qx -- "$1"; then
        targets+=("$1")
      else
        echo "fuzz.sh: unknown argument or target '$1' (targets: ${all_targets[*]})" >&2
        exit 2
      fi ;;
  esac
  shift
done
[ "${#targets[@]}" -gt 0 ] || targets=("${all_targets[@]}")

if ! cargo fuzz --version >/dev/null 2>&1; then
  echo "fuzz.sh: cargo-fuzz is missing; run scripts/setup.sh --fuzz" >&2
  exit 2
fi

# libFuzzer's runtime is C++ and cargo-fuzz passes `-Z` flags to rustc: RUSTC_BOOTSTRAP
# lets the pinned stable compiler accept them. No sanitizer: ASan needs nightly's
# -Zbuild-std to be useful and makes runs several times slower; out-of-bounds accesses
# in safe Rust panic anyway, and debug assertions catch integer overflow.
if [ "$build" = 1 ]; then
  echo "==> building the fuzz targets" >&2
  RUSTC_BOOTSTRAP=1 cargo fuzz build --fuzz-dir fuzz --sanitizer none --debug-assertions
fi
bin=fuzz/target/x86_64-unknown-linux-gnu/release

if [ "$merge" = 1 ]; then
  for t in "${targets[@]}"; do
    mkdir -p "fuzz/corpus/$t"
    # The seeds (seed-*, written by fuzz/examples/seeds.rs) stay; libFuzzer adds to them
    # the fewest inputs of the old corpus and of fuzz/corpus/<t> that cover the rest.
    tmp=$(mktemp -d "fuzz/corpus-seed/.$t.XXXXXX")
    cp "fuzz/corpus-seed/$t"/seed-* "$tmp/"
    "$bin/$t" -merge=1 "$tmp" "fuzz/corpus-seed/$t" "fuzz/corpus/$t" >"fuzz/corpus/$t.merge.log" 2>&1 \
      || { cat "fuzz/corpus/$t.merge.log" >&2; rm -rf "$tmp"; exit 1; }
    rm -rf "fuzz/corpus-seed/$t"
    mv "$tmp" "fuzz/corpus-seed/$t"
    printf '%-20s corpus %d files, %d bytes\n' "$t" \
      "$(find "fuzz/corpus-seed/$t" -type f | wc -l)" \
      "$(cat "fuzz/corpus-seed/$t"/* | wc -c)"
  done
  exit 0
fi

if [ -n "$runs" ]; then
  limit=(-runs="$runs")
elif [ -n "$cpu_seconds" ]; then
  limit=()
else
  limit=(-max_total_time="$seconds")
fi
# CPU seconds (user + system) used so far by process $1, from /proc/$1/stat.
cpu_used() {
  awk -v tck="$(getconf CLK_TCK)" '{ sub(/^.*\) /, ""); print int(($12 + $13) / tck) }' \
    "/proc/$1/stat" 2>/dev/null || echo 0
}
failed=0
for t in "${targets[@]}"; do
  mkdir -p "fuzz/corpus/$t" "fuzz/artifacts/$t"
  log="fuzz/artifacts/$t/log"
  start=$(date +%s)
  status=0
  "$bin/$t" "${limit[@]}" -print_final_stats=1 -timeout=60 \
    -artifact_prefix="fuzz/artifacts/$t/" "fuzz/corpus/$t" "fuzz/corpus-seed/$t" \
    >"$log" 2>&1 &
  pid=$! budget_spent=0
  if [ -n "$cpu_seconds" ]; then
    while kill -0 "$pid" 2>/dev/null; do
      if [ "$(cpu_used "$pid")" -ge "$cpu_seconds" ]; then
        budget_spent=1
        kill -INT "$pid" 2>/dev/null || true
        break
      fi
      sleep 2
    done
  fi
  wait "$pid" || status=$?
  wall=$(( $(date +%s) - start ))
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
  rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -1)
  cov=$(grep -o 'cov: [0-9]* ft: [0-9]*' "$log" | tail -1)
  if [ "$status" = 0 ]; then
    verdict="no crash"
  elif [ "$budget_spent" = 1 ] && grep -q 'libFuzzer: run interrupted' "$log"; then
    verdict="no crash in $cpu_seconds CPU seconds"
  elif grep -q 'libFuzzer: run interrupted' "$log"; then
    verdict="interrupted, no crash"; failed=1
  else
    verdict="CRASH (status $status, see $log)"; failed=1
  fi
  printf '%-20s %12s execs %8s/s %4ss  %s  %s\n' "$t" "${execs:-?}" "${rate:-?}" "$wall" \
    "${cov:-cov: ?}" "$verdict"
done
exit "$failed"
