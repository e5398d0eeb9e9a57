#!/usr/bin/env bash
# cmake/scripts/test.sh - build everything in a fresh directory and run all tests.
#
#   cmake/scripts/test.sh
#
# Installs missing Debian packages first (as root; otherwise prints the
# apt-get line and stops), configures build/test from scratch, builds every
# target (library header checks, tests, examples, benchmarks), runs ctest with
# --output-on-failure and prints the summary. Exits non-zero on any failure.
# ctest includes the sub-builds of tests/CMakeLists.txt, each a second
# configuration that builds and runs the whole suite (every tests/test_*.cpp)
# with one job, two at a time under ctest -j2, longest first:
# test_sanitize (ASan+UBSan), test_isa_generic (x86-64 SSE2 baseline),
# test_isa_avx2_firmware (AVX2+FMA, -fno-exceptions -fno-rtti: library, all
# tests, all examples), test_cross_aarch64 (neon-dotprod, qemu -cpu max),
# test_cross_aarch64_neon (plain NEON, qemu -cpu cortex-a72), and
# test_fuzz_bounded (tests/fuzz/run.sh: each libFuzzer target for
# PLM_FUZZ_SECONDS, default 60, then the regression replay). About 25 minutes
# on 2 cores. -DPLM_TEST_SUBBUILDS=OFF in CMAKE_ARGS skips them.
# Environment: BUILD_DIR (default build/test), JOBS (default nproc),
# PLM_ISA (default native: test the SIMD paths this machine can run; see
# README "Build options"), CMAKE_ARGS (extra configure arguments).
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=common.sh
source "$here/common.sh"
root=$(plm_root_dir)

build_dir=${BUILD_DIR:-$root/build/test}
jobs=${JOBS:-$(plm_jobs)}
isa=${PLM_ISA:-native}

# The tokenizer conformance goldens come from an independent JavaScript
# tokenizer (tests/tokenizer); the aarch64 cross build runs under qemu-user;
# the fuzz targets need clang and its libFuzzer/sanitizer runtimes.
plm_ensure_packages $PLM_BASE_PACKAGES nodejs=node npm=npm g++-aarch64-linux-gnu=aarch64-linux-gnu-g++ qemu-user=qemu-aarch64 \
  clang libclang-rt-14-dev

case "$build_dir" in
  "" | "/" | "$root") echo "refusing to use BUILD_DIR=$build_dir" >&2; exit 2 ;;
esac
rm -rf "$build_dir"

echo "== configure ($build_dir, PLM_ISA=$isa)"
# shellcheck disable=SC2086  # CMAKE_ARGS is a list of arguments
cmake -S "$root" -B "$build_dir" -DCMAKE_BUILD_TYPE=Release -DPLM_ISA="$isa" ${CMAKE_ARGS:-}
echo "== build (-j$jobs)"
cmake --build "$build_dir" -j "$jobs"
echo "== test"
log="$build_dir/ctest.log"
set +e
(cd "$build_dir" && ctest --output-on-failure -j "$jobs") 2>&1 | tee "$log"
status=${PIPESTATUS[0]}
set -e
echo
echo "== summary"
# Each sub-build logs its build and test time (tests/subbuild.cmake); the fuzz
# test its per-target statistics. ctest keeps every test's output here.
for last in "$build_dir"/Testing/Temporary/LastTest*.log; do
  [ -f "$last" ] || continue
  grep -hE -- "-- .*test programs; build [0-9]+ s, tests [0-9]+ s" "$last" | sed 's/^-- /sub-build: /' || true
  sed -n '/^target  *execs  *exec\/s/,/^replay ok: chat\|^REPLAY FAILED/p' "$last" | sed 's/^/fuzz: /' || true
done
grep -E "^ *[0-9]+/[0-9]+ Test +#[0-9]+: test_(sanitize|isa_|firmware|cross_|fuzz_bounded)" "$log" || true
grep -E "tests passed|tests failed|Total Test time" "$log" || true
echo "test.sh: $SECONDS s in all (configure, build, tests)"
if [ "$status" -ne 0 ]; then
  sed -n '/The following tests FAILED/,$p' "$log"
  echo "FAILED (ctest exit status $status)"
  exit "$status"
fi
echo "OK"
