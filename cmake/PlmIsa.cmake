# PlmIsa.cmake - compiler flags for the PLM_ISA choices.
#
# plm never adds -march=native behind the user's back: the instruction set is
# picked explicitly. These flags apply to plm's own programs (tests, benches,
# examples) through the plm_dev target; projects that consume plm::plm choose
# their own flags (the headers select kernels from the predefined macros such
# as __AVX2__, __AVX512F__, __ARM_NEON, __ARM_FEATURE_DOTPROD).
#
#   generic       no -m flags: the compiler's default target (x86-64 baseline /
#                 SSE2, or the aarch64 default, which includes NEON)
#   avx2          x86-64 with AVX2 + FMA + F16C + BMI2 (Haswell, Zen 1 and later)
#   avx512        avx2 + AVX-512 F/BW/DQ/VL (Skylake-SP baseline)
#   avx512-vnni   avx512 + VNNI + BF16 (Cooper Lake, Sapphire Rapids, Zen 4)
#   native        everything the build machine has (-march=native / -mcpu=native);
#                 the binaries may not run elsewhere
#   neon          aarch64 baseline (armv8-a, NEON) - e.g. Raspberry Pi 4
#   neon-dotprod  armv8.2-a + fp16 + dotprod (Cortex-A55/A76/A78: Pi 5, Jetson Orin)

set(PLM_ISA_VALUES generic avx2 avx512 avx512-vnni native neon neon-dotprod)

# plm_isa_flags(<isa> <out_var>): flags for <isa>; FATAL_ERROR when the choice
# does not fit the target processor or the compiler rejects the flags.
function(plm_isa_flags isa out_var)
  if(NOT isa IN_LIST PLM_ISA_VALUES)
    string(REPLACE ";" ", " values "${PLM_ISA_VALUES}")
    message(FATAL_ERROR "PLM_ISA=${isa} is not a known choice; expected one of: ${values}")
  endif()
  string(TOLOWER "${CMAKE_SYSTEM_PROCESSOR}" proc)
  set(is_x86 OFF)
  set(is_arm64 OFF)
  set(is_arm32 OFF)
  if(proc MATCHES "^(x86_64|amd64|i[3-6]86|x86)$")
    set(is_x86 ON)
  elseif(proc MATCHES "^(aarch64|arm64)")
    set(is_arm64 ON)
  elseif(proc MATCHES "^arm")
    set(is_arm32 ON)
  endif()

  set(flags "")
  if(isa STREQUAL "generic")
    set(flags "")
  elseif(isa MATCHES "^avx")
    if(NOT is_x86)
      message(FATAL_ERROR "PLM_ISA=${isa} needs an x86 target, but CMAKE_SYSTEM_PROCESSOR is ${CMAKE_SYSTEM_PROCESSOR}")
    endif()
    set(flags -mavx2 -mfma -mf16c -mbmi2)
    if(isa MATCHES "^avx512")
      list(APPEND flags -mavx512f -mavx512bw -mavx512dq -mavx512vl)
    endif()
    if(isa STREQUAL "avx512-vnni")
      list(APPEND flags -mavx512vnni -mavx512bf16)
    endif()
  elseif(isa STREQUAL "native")
    if(is_x86)
      set(flags -march=native)
    else()
      set(flags -mcpu=native)
    endif()
  elseif(isa MATCHES "^neon")
    if(is_arm64)
      if(isa STREQUAL "neon")
        set(flags -march=armv8-a)
      else()
        set(flags -march=armv8.2-a+fp16+dotprod)
      endif()
    elseif(is_arm32 AND isa STREQUAL "neon")
      set(flags -mfpu=neon-vfpv4)
    else()
      message(FATAL_ERROR "PLM_ISA=${isa} needs an aarch64 target (or 32-bit ARM for plain neon), "
                          "but CMAKE_SYSTEM_PROCESSOR is ${CMAKE_SYSTEM_PROCESSOR}")
    endif()
  endif()

  if(flags)
    include(CheckCXXSourceCompiles)
    string(REPLACE ";" " " flags_str "${flags}")
    string(MAKE_C_IDENTIFIER "PLM_ISA_OK_${isa}_${flags_str}" check_var)
    set(CMAKE_REQUIRED_FLAGS "${flags_str}")
    check_cxx_source_compiles("int main() { return 0; }" ${check_var})
    unset(CMAKE_REQUIRED_FLAGS)
    if(NOT ${check_var})
      message(FATAL_ERROR "PLM_ISA=${isa}: the compiler ${CMAKE_CXX_COMPILER} rejects '${flags_str}'")
    endif()
  endif()
  set(${out_var} "${flags}" PARENT_SCOPE)
endfunction()
