# Cross-compile for 64-bit ARM Linux (Raspberry Pi 4/5, Jetson) from x86-64
# Debian/Ubuntu, and run the results under qemu-user:
#   apt-get install g++-aarch64-linux-gnu qemu-user
#   cmake -S . -B build-aarch64 -DCMAKE_TOOLCHAIN_FILE=cmake/toolchains/aarch64-linux-gnu.cmake \
#         -DPLM_ISA=neon-dotprod -DPLM_BUILD_BENCHMARKS=OFF
#   cmake --build build-aarch64 && ctest --test-dir build-aarch64   # ctest runs each test through qemu
# Plain NEON on a Raspberry Pi 4 core: -DPLM_ISA=neon -DPLM_QEMU_CPU=cortex-a72.
# Override PLM_CROSS_PREFIX for another triplet (e.g. aarch64-none-linux-gnu-).
set(CMAKE_SYSTEM_NAME Linux)
set(CMAKE_SYSTEM_PROCESSOR aarch64)

set(PLM_CROSS_PREFIX "aarch64-linux-gnu-" CACHE STRING "Prefix of the cross tools")
set(PLM_CROSS_SYSROOT "/usr/aarch64-linux-gnu" CACHE PATH "Target runtime libraries (for qemu -L)")
set(CMAKE_C_COMPILER "${PLM_CROSS_PREFIX}gcc")
set(CMAKE_CXX_COMPILER "${PLM_CROSS_PREFIX}g++")

# ctest (and add_custom_command) run target programs through qemu, emulating
# PLM_QEMU_CPU: qemu faults (SIGILL) on any instruction that CPU lacks, so
# -DPLM_ISA=neon -DPLM_QEMU_CPU=cortex-a72 (Raspberry Pi 4, armv8.0) proves the
# plain-NEON build executes nothing newer, e.g. no SDOT. Default: the QEMU_CPU
# environment variable at configure time, else "max" (every feature qemu has).
if(DEFINED ENV{QEMU_CPU} AND NOT "$ENV{QEMU_CPU}" STREQUAL "")
  set(plm_qemu_cpu_default "$ENV{QEMU_CPU}")
else()
  set(plm_qemu_cpu_default "max")
endif()
set(PLM_QEMU_CPU "${plm_qemu_cpu_default}" CACHE STRING "CPU qemu-aarch64 emulates when running tests (-cpu)")
find_program(PLM_QEMU_AARCH64 NAMES qemu-aarch64 qemu-aarch64-static)
if(PLM_QEMU_AARCH64)
  set(CMAKE_CROSSCOMPILING_EMULATOR "${PLM_QEMU_AARCH64};-cpu;${PLM_QEMU_CPU};-L;${PLM_CROSS_SYSROOT}")
endif()

# Libraries must be the target's; header-only dependencies (xsimd, doctest and
# its arch-independent CMake config) may come from the build machine.
set(CMAKE_FIND_ROOT_PATH "${PLM_CROSS_SYSROOT}")
set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)
set(CMAKE_FIND_ROOT_PATH_MODE_LIBRARY ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_INCLUDE BOTH)
set(CMAKE_FIND_ROOT_PATH_MODE_PACKAGE BOTH)

# GCC 12's aarch64 vectorizer crashes (ICE in vect_transform_reduction) on some
# fmax reductions at -O3, e.g. in tests/test_quant_quantize.cpp. -O2 avoids it;
# plm's hot loops are explicit SIMD and do not rely on -O3 auto-vectorization.
set(CMAKE_CXX_FLAGS_RELEASE "-O2 -DNDEBUG" CACHE STRING "Flags used by the CXX compiler during RELEASE builds.")
