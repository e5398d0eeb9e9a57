#!/usr/bin/env bash
# cmake/scripts/test.sh - build everything in a fresh directory and run all tests.
#
#   cmake/scripts/test.sh
#
# Installs missing Debian packages first (as root; otherwise prints the
# apt-get line and stops), configures build/test from scratch, builds every
# target (library header checks, tests, examples, benchmarks), runs ctest with
# --output-on-failure and prints the summary. Exits non-zero on any failure.
# ctest includes the sub-builds of tests/CMakeLists.txt (each a second
# configuration built with one job, two at a time under ctest -j2):
# test_sanitize (ASan+UBSan), test_isa_generic (SSE2 baseline), test_firmware
# (-fno-exceptions -fno-rtti, AVX2: library, all tests, all examples),
# test_cross_aarch64 (neon-dotprod, qemu -cpu max) and test_cross_aarch64_neon
# (plain NEON, qemu -cpu cortex-a72). -DPLM_TEST_SUBBUILDS=OFF in CMAKE_ARGS
# skips them.
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
# tokenizer (tests/tokenizer); the aarch64 cross build runs under qemu-user.
plm_ensure_packages $PLM_BASE_PACKAGES nodejs=node npm=npm g++-aarch64-linux-gnu=aarch64-linux-gnu-g++ qemu-user=qemu-aarch64

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
grep -E "tests passed|tests failed|Total Test time" "$log" || true
if [ "$status" -ne 0 ]; then
  sed -n '/The following tests FAILED/,$p' "$log"
  echo "FAILED (ctest exit status $status)"
  exit "$status"
fi
echo "OK"
