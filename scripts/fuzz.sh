#!/usr/bin/env bash
# Builds the fuzz targets (libFuzzer, instrumented by the pinned stable rustc; no
# cargo-fuzz needed) and runs each one on its committed corpus.
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
#   --jobs N                                run up to N targets at the same time (default
#                                           1; one core each)
#   --no-build                              use the targets as last built
#   --build-only                            build the targets, run nothing
#
# New inputs go to fuzz/corpus/<target> (git-ignored), crashes to
# fuzz/artifacts/<target>/, the full libFuzzer log to fuzz/artifacts/<target>/log; the
# end of the log of every target that failed is printed. Prints one line of figures per
# target; exits 1 if any target crashed. Needs a C++ compiler (libFuzzer's runtime is
# built from source by the libfuzzer-sys crate).
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$HOME/.cargo/bin:$PATH"
all_targets=(from_bytes_classify idx image_input camera_frame)

seconds=30 runs="" cpu_seconds="" merge=0 build=1 run=1 jobs=1 targets=()
while [ $# -gt 0 ]; do
  case "$1" in
    --runs) runs="${2:?--runs needs a number}"; shift ;;
    --cpu-seconds) cpu_seconds="${2:?--cpu-seconds needs a number}"; shift ;;
    --jobs) jobs="${2:?--jobs needs a number}"; shift ;;
    --merge) merge=1 ;;
    --no-build) build=0 ;;
    --build-only) run=0 ;;
    -h|--help) sed -n '2,25p' "$0"; exit 0 ;;
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

# The build is what `cargo fuzz build --sanitizer none --debug-assertions` (cargo-fuzz
# 0.13.2) does, written out, so that nothing has to be installed first (see
# fuzz/README.md): rustc's SanitizerCoverage pass with the options libFuzzer reads
# (8-bit edge counters, the PC table, comparison tracing), `--cfg fuzzing`, no branch
# folding (more distinct edges), the stack depth (Linux), debug assertions (and with
# them overflow checks, which rustc turns on whenever debug assertions are: an overflow
# is a crash), one codegen unit (the coverage pass otherwise keeps ThinLTO from inlining
# across units). All of these are stable rustc options. `--target` keeps the flags away
# from build scripts and proc macros, as cargo-fuzz does, and puts the binaries where
# cargo-fuzz would: fuzz/target/<host triple>/release. The rustc command lines are
# cargo-fuzz's, flag for flag and in its order (compared by logging both builds' rustc
# calls through RUSTC_WRAPPER), so `cargo fuzz` by hand can share fuzz/target.
triple=$(rustc -vV | sed -n 's/^host: //p')
bin="fuzz/target/$triple/release"
fuzz_rustflags=(
  -Cpasses=sancov-module
  -Cllvm-args=-sanitizer-coverage-level=4
  -Cllvm-args=-sanitizer-coverage-inline-8bit-counters
  -Cllvm-args=-sanitizer-coverage-pc-table
  -Cllvm-args=-sanitizer-coverage-trace-compares
  --cfg fuzzing
  -Cllvm-args=-simplifycfg-branch-fold-threshold=0
  -Cllvm-args=-sanitizer-coverage-stack-depth
  -Cdebug-assertions
  -Ccodegen-units=1
)
if [ "$build" = 1 ]; then
  # Only the targets: the seeds writer (src/bin/seeds.rs) is a plain program and does not
  # link libFuzzer, so it cannot take the coverage instrumentation.
  echo "==> building the fuzz targets" >&2
  RUSTFLAGS="${fuzz_rustflags[*]} ${RUSTFLAGS:-}" \
    cargo build --manifest-path fuzz/Cargo.toml --release --target "$triple" \
      $(printf -- '--bin %s ' "${all_targets[@]}")
fi
[ "$run" = 1 ] || exit 0
for t in "${targets[@]}"; do
  if [ ! -x "$bin/$t" ]; then
    echo "fuzz.sh: $bin/$t is missing; run scripts/fuzz.sh --build-only" >&2
    exit 2
  fi
done

if [ "$merge" = 1 ]; then
  for t in "${targets[@]}"; do
    mkdir -p "fuzz/corpus/$t"
    # The seeds (seed-*, written by fuzz/src/bin/seeds.rs) stay; libFuzzer adds to them
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
# Runs target $1 to its limit; writes its line of figures to fuzz/artifacts/$1/summary
# and returns 1 if it failed.
fuzz_one() {
  local t=$1 log="fuzz/artifacts/$1/log" start status=0 pid budget_spent=0 cpu=""
  mkdir -p "fuzz/corpus/$t" "fuzz/artifacts/$t"
  start=$(date +%s)
  "$bin/$t" "${limit[@]}" -print_final_stats=1 -timeout=60 \
    -artifact_prefix="fuzz/artifacts/$t/" "fuzz/corpus/$t" "fuzz/corpus-seed/$t" \
    >"$log" 2>&1 &
  pid=$!
  if [ -n "$cpu_seconds" ]; then
    while kill -0 "$pid" 2>/dev/null; do
      cpu=$(cpu_used "$pid")
      if [ "$cpu" -ge "$cpu_seconds" ]; then
        budget_spent=1
        kill -INT "$pid" 2>/dev/null || true
        break
      fi
      sleep 2
    done
  fi
  wait "$pid" || status=$?
  local wall=$(( $(date +%s) - start )) execs rate cov verdict failed=0
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
  rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -1)
  cov=$(grep -o 'cov: [0-9]* ft: [0-9]*' "$log" | tail -1 || true)
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
    "${cov:-cov: ?}" "$verdict" >"fuzz/artifacts/$t/summary"
  return "$failed"
}

failed=() running=0
for t in "${targets[@]}"; do
  rm -f "fuzz/artifacts/$t/summary" "fuzz/artifacts/$t/failed"
  if [ "$running" -ge "$jobs" ]; then
    wait -n || true
    running=$((running - 1))
  fi
  { fuzz_one "$t" || touch "fuzz/artifacts/$t/failed"; } &
  running=$((running + 1))
done
wait
for t in "${targets[@]}"; do
  cat "fuzz/artifacts/$t/summary" 2>/dev/null || printf '%-20s no figures (see fuzz/artifacts/%s/log)\n' "$t" "$t"
  if [ -e "fuzz/artifacts/$t/failed" ] || [ ! -e "fuzz/artifacts/$t/summary" ]; then
    failed+=("$t")
  fi
done
# The end of each failed target's log: the panic message and backtrace, libFuzzer's
# report, the input's file (and the input in base64 if it is short), the final stats.
for t in "${failed[@]}"; do
  log="fuzz/artifacts/$t/log"
  printf '\n---- %s: the end of %s ----\n' "$t" "$log" >&2
  report=$(grep -n -m1 -E 'panicked at|^==[0-9]+== ?ERROR|ERROR: libFuzzer' "$log" \
    | cut -d: -f1 || true)
  if [ -n "$report" ]; then
    tail -n +"$report" "$log" | head -n 200 >&2
  else
    tail -n 60 "$log" >&2
  fi
done
[ "${#failed[@]}" = 0 ]
