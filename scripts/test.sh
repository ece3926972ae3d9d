#!/usr/bin/env bash
# The one test command of gemma-rt (README, .ci/run). On a fresh Debian 12 machine it:
#   1. installs the Debian packages (scripts/install-deps.sh) and fetches the tokenizer;
#   2. builds Release, checks that every package CMake found is one install-deps.sh installs
#      (scripts/check-deps.sh), and runs every test (ctest);
#   3. builds again with AddressSanitizer + UndefinedBehaviorSanitizer and runs the tests
#      again (benchmarks are not built there);
#   4. builds the tests that use threads with ThreadSanitizer and runs them;
#   5. builds the libFuzzer targets with clang and runs each for GEMMA_FUZZ_SECONDS (60),
#      GEMMA_JOBS (default: the number of cores) of them side by side;
#   6. cross-compiles the kernels, model and their kernel and golden tests for aarch64
#      (cmake/aarch64-linux-gnu.cmake) and runs them under qemu-aarch64 -cpu max (about
#      3.5 minutes of CPU; one x86-covered sweep is left out there, see that stage).
# It ends with one line "N passed, N failed, N skipped" (test cases, checks and fuzzers;
# a skipped test is not a pass) and exits non-zero when anything failed. On 2 cores the
# whole run takes roughly 35-50 minutes, most of it compiling; set GEMMA_SKIP_SANITIZE=1,
# GEMMA_SKIP_TSAN=1, GEMMA_SKIP_FUZZ=1 or GEMMA_SKIP_ARM=1 to leave a stage out locally.
set -euo pipefail
cd "$(dirname "$0")/.."

jobs="${GEMMA_JOBS:-$(nproc)}"
fuzz_seconds="${GEMMA_FUZZ_SECONDS:-60}"
passed=0
failed=0
skipped=0
failures=()
skips=()
log_dir="$(mktemp -d)"
trap 'rm -rf "$log_dir"' EXIT

stage() { printf '\n==== %s ====\n' "$*"; }

# Runs ctest in build dir $1 (further arguments go to ctest) and adds its counts to the totals.
run_ctest() {
  local dir="$1" name="$2" log="$log_dir/$2.log" rc=0
  shift 2
  ctest --test-dir "$dir" --output-on-failure -j "$jobs" "$@" 2>&1 | tee "$log" || rc=$?
  local summary total bad
  summary="$(grep -E 'tests passed, [0-9]+ tests? failed out of [0-9]+' "$log" | tail -1 || true)"
  if [[ -z "$summary" ]]; then
    failed=$((failed + 1))
    failures+=("$name: ctest did not run")
    return
  fi
  bad="$(sed -E 's/.* ([0-9]+) tests? failed out of ([0-9]+).*/\1/' <<<"$summary")"
  total="$(sed -E 's/.* failed out of ([0-9]+).*/\1/' <<<"$summary")"
  # ctest counts a GTEST_SKIP as passed; it lists it under "did not run" as (Skipped).
  local skip
  skip="$(grep -cE '^[[:space:]]*[0-9]+ - .*\(Skipped\)$' "$log" || true)"
  while IFS= read -r line; do
    [[ -n "$line" ]] && skips+=("$name: $(sed -E 's/^[[:space:]]*[0-9]+ - //' <<<"$line")")
  done < <(grep -E '^[[:space:]]*[0-9]+ - .*\(Skipped\)$' "$log" || true)
  passed=$((passed + total - bad - skip))
  failed=$((failed + bad))
  skipped=$((skipped + skip))
  if [[ "$bad" -ne 0 || "$rc" -ne 0 ]]; then failures+=("$name: $bad of $total tests failed"); fi
}

stage "dependencies"
bash scripts/install-deps.sh
if [[ -f scripts/fetch-tokenizer.sh ]]; then bash scripts/fetch-tokenizer.sh; fi
# The official openai npm client for the server's tests, pinned by package-lock.json.
npm ci --prefix tests/server/js --ignore-scripts --no-audit --no-fund

# Runs a check command; counts it as one passed or failed test.
run_check() {
  local name="$1"
  shift
  if "$@"; then
    passed=$((passed + 1))
  else
    failed=$((failed + 1))
    failures+=("$name")
  fi
}

# The dependency check must itself be able to fail: a list without libsimdjson-dev (which
# only CMake's find_package(simdjson) needs) has to be refused, naming the package.
check_deps_catches_a_missing_package() {
  local without="$log_dir/install-deps-without-simdjson.sh" out
  sed 's/ libsimdjson-dev//' scripts/install-deps.sh >"$without"
  if out="$(GEMMA_INSTALL_DEPS_SCRIPT="$without" bash scripts/check-deps.sh build-ci 2>&1)"; then
    echo "check-deps accepted a list without libsimdjson-dev"
    return 1
  fi
  grep -q "libsimdjson-dev" <<<"$out" || { echo "check-deps did not name libsimdjson-dev: $out"; return 1; }
  echo "check-deps self-test: a list without libsimdjson-dev is refused, naming it"
}

stage "Release build"
cmake -S . -B build-ci -G Ninja -DCMAKE_BUILD_TYPE=Release
run_check "check-deps (Release configuration)" bash scripts/check-deps.sh build-ci
run_check "check-deps self-test" check_deps_catches_a_missing_package
cmake --build build-ci -j "$jobs"
stage "Release tests"
run_ctest build-ci release

if [[ "${GEMMA_SKIP_SANITIZE:-0}" != 1 ]]; then
  stage "ASan + UBSan build"
  cmake -S . -B build-ci-asan -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    -DCMAKE_CXX_FLAGS_RELWITHDEBINFO="-O1 -g1" -DGEMMA_SANITIZE=ON -DGEMMA_BUILD_BENCH=OFF
  cmake --build build-ci-asan -j "$jobs"
  stage "ASan + UBSan tests"
  ASAN_OPTIONS="detect_leaks=1:abort_on_error=1" UBSAN_OPTIONS="print_stacktrace=1" \
    run_ctest build-ci-asan sanitize
fi

if [[ "${GEMMA_SKIP_TSAN:-0}" != 1 ]]; then
  stage "ThreadSanitizer build (tests that use threads)"
  cmake -S . -B build-ci-tsan -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    -DCMAKE_CXX_FLAGS_RELWITHDEBINFO="-O1 -g1" -DGEMMA_TSAN=ON -DGEMMA_BUILD_BENCH=OFF
  cmake --build build-ci-tsan -j "$jobs"
  stage "ThreadSanitizer tests"
  TSAN_OPTIONS="halt_on_error=1:second_deadlock_stack=1" run_ctest build-ci-tsan tsan
fi

if [[ "${GEMMA_SKIP_FUZZ:-0}" != 1 ]]; then
  stage "fuzzers (clang, ${fuzz_seconds} s each)"
  fuzzers=()
  for src in fuzz/*_fuzzer.cc; do fuzzers+=("$(basename "$src" .cc)"); done
  CC=clang CXX=clang++ cmake -S . -B build-ci-fuzz -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    -DGEMMA_BUILD_FUZZERS=ON -DGEMMA_BUILD_TESTS=OFF -DGEMMA_BUILD_BENCH=OFF
  run_check "check-deps (clang fuzz configuration)" bash scripts/check-deps.sh build-ci-fuzz
  cmake --build build-ci-fuzz -j "$jobs" --target "${fuzzers[@]}"
  # Each fuzzer is one process on one core: $jobs of them run side by side, so each still gets
  # its full $fuzz_seconds of a core while the stage takes ceil(N / jobs) x $fuzz_seconds.
  run_fuzzer() {
    local fuzzer="$1" work="$log_dir/corpus-$1" seeds=()
    # New inputs go to a scratch corpus; the seeds in fuzz/corpus/ are only read.
    mkdir -p "$work"
    [[ -d "fuzz/corpus/${fuzzer%_fuzzer}" ]] && seeds+=("fuzz/corpus/${fuzzer%_fuzzer}")
    "build-ci-fuzz/fuzz/$fuzzer" -max_total_time="$fuzz_seconds" -print_final_stats=1 \
      -artifact_prefix="$log_dir/$fuzzer-" "$work" "${seeds[@]}" >"$log_dir/$fuzzer.log" 2>&1
  }
  declare -A fuzz_pids=()
  for fuzzer in "${fuzzers[@]}"; do
    while [[ "$(jobs -rp | wc -l)" -ge "$jobs" ]]; do wait -n || true; done
    run_fuzzer "$fuzzer" &
    fuzz_pids[$fuzzer]=$!
  done
  for fuzzer in "${fuzzers[@]}"; do
    if wait "${fuzz_pids[$fuzzer]}"; then
      passed=$((passed + 1))
      echo "$fuzzer: $(grep -Eo 'stat::number_of_executed_units: *[0-9]+' "$log_dir/$fuzzer.log" |
        grep -Eo '[0-9]+$') runs, no crash"
    else
      failed=$((failed + 1))
      failures+=("$fuzzer crashed")
      tail -40 "$log_dir/$fuzzer.log"
    fi
  done
fi

# check-deps on the cross build must see the arm64 packages as their own (libhwy-dev:arm64 is
# not libhwy-dev, which the x86 build uses) and the emulator: a list without either is refused.
check_deps_catches_a_missing_arm_package() {
  local without="$log_dir/install-deps-without-arm.sh" out pkg
  for pkg in libhwy-dev:arm64 qemu-user; do
    sed "s/ $pkg//" scripts/install-deps.sh >"$without"
    if out="$(GEMMA_INSTALL_DEPS_SCRIPT="$without" bash scripts/check-deps.sh build-ci-arm64 2>&1)"; then
      echo "check-deps accepted a list without $pkg for the aarch64 build"
      return 1
    fi
    grep -q "$pkg" <<<"$out" || { echo "check-deps did not name $pkg: $out"; return 1; }
  done
  echo "check-deps self-test: lists without libhwy-dev:arm64 or qemu-user are refused, naming them"
}

if [[ "${GEMMA_SKIP_ARM:-0}" != 1 ]]; then
  # Only the layers below the engine and their kernel and golden tests (GEMMA_CORE_ONLY): the
  # Arm code paths are in the kernels, compiled for one Highway target (NEON), plus the
  # dot-product kernels of src/kernels/arm. Measured on 2 shared cores (nice 10): the build
  # takes about 100 s of CPU (2 min wall), the tests under qemu about 105 s of CPU (1.5 min).
  stage "aarch64 cross build (g++-aarch64-linux-gnu)"
  cmake -S . -B build-ci-arm64 -G Ninja -DCMAKE_BUILD_TYPE=Release \
    -DCMAKE_TOOLCHAIN_FILE=cmake/aarch64-linux-gnu.cmake -DGEMMA_CORE_ONLY=ON \
    -DGEMMA_BUILD_BENCH=OFF
  run_check "check-deps (aarch64 cross configuration)" bash scripts/check-deps.sh build-ci-arm64
  run_check "check-deps self-test (aarch64)" check_deps_catches_a_missing_arm_package
  cmake --build build-ci-arm64 -j "$jobs"
  stage "aarch64 kernel and golden tests (qemu-aarch64 -cpu max)"
  # One sweep stays on x86, where the same generic code runs: MatVecBatch against MatVec over
  # 1029-row matrices of every type, thread count and row count (row_invariance_test; 254 s
  # under qemu, more than the rest of the stage together). Its awkward-shape twin
  # (MatVecBatchOnAwkwardShapes) runs the Arm kernels' batch path on every type here.
  arm_excluded='MatVecBatchGivesEachRowWhatMatVecGivesItAlone'
  echo "aarch64: not run under emulation (run natively on x86 above): $arm_excluded"
  run_ctest build-ci-arm64 aarch64 -E "$arm_excluded"
  # What ran: the Highway targets the tests were instantiated for, and the Arm kernel variants.
  arm_log="$log_dir/aarch64.log"
  echo "aarch64 Highway targets tested: $(grep -oE 'Test\.[A-Za-z0-9_]+/[A-Z0-9_]+ ' "$arm_log" |
    sed -E 's#.*/##' | sort -u | tr '\n' ' ')"
  if grep -qE 'QuantInt8NeonDotTest\.[A-Za-z]+ .*Passed' "$arm_log"; then
    echo "aarch64 neon_dotprod (sdot) kernels: tested"
  else
    echo "aarch64 neon_dotprod (sdot) kernels: NOT tested"
  fi
fi

stage "summary"
for f in "${skips[@]+"${skips[@]}"}"; do echo "SKIPPED: $f"; done
for f in "${failures[@]+"${failures[@]}"}"; do echo "FAILED: $f"; done
echo "$passed passed, $failed failed, $skipped skipped"
[[ "$failed" -eq 0 ]]
