#!/bin/sh
# tests/fuzz/build.sh [BUILD_DIR] - configure and build plm's fuzz targets with clang.
#   BUILD_DIR defaults to build-fuzz at the repository root. Environment:
#   CXX (default clang++), JOBS (default 2), FUZZ_CMAKE_ARGS (extra configure
#   arguments, e.g. -DPLM_FUZZ_RECOVER=alignment).
set -eu
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
build=${1:-$root/build-fuzz}
cxx=${CXX:-clang++}
jobs=${JOBS:-2}
if [ ! -f "$build/CMakeCache.txt" ] || [ -n "${FUZZ_CMAKE_ARGS:-}" ]; then
  # shellcheck disable=SC2086
  cmake -S "$here" -B "$build" -DCMAKE_CXX_COMPILER="$cxx" ${FUZZ_CMAKE_ARGS:-} >/dev/null
fi
cmake --build "$build" -j "$jobs"
