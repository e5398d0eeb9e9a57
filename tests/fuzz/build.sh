#!/bin/sh
# tests/fuzz/build.sh [BUILD_DIR] - configure and build plm's fuzz targets with clang.
#   BUILD_DIR defaults to build-fuzz at the repository root; CXX (default clang++)
#   and JOBS (default 2) may be set in the environment.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
build=${1:-$root/build-fuzz}
cxx=${CXX:-clang++}
jobs=${JOBS:-2}
if [ ! -f "$build/CMakeCache.txt" ]; then
  cmake -S "$here" -B "$build" -DCMAKE_CXX_COMPILER="$cxx" >/dev/null
fi
cmake --build "$build" -j "$jobs"
