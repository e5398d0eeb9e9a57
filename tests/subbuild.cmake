# cross_aarch64.cmake - ctest driver: cross-compile tests for aarch64 and run them under qemu-user.
#
#   cmake -DPLM_SOURCE_DIR=... -DPLM_WORK_DIR=... -DPLM_ISA=neon-dotprod -DPLM_TEST_REGEX=... [-DPLM_JOBS=2]
#         -P cross_aarch64.cmake
#
# The NEON kernels cannot run on the x86 build machine, so this configures a
# second build tree with cmake/toolchains/aarch64-linux-gnu.cmake, builds the
# tests whose names match PLM_TEST_REGEX, and runs them through ctest there
# (the toolchain makes ctest start each program under qemu-aarch64). The build
# tree is kept between runs, so re-running only rebuilds what changed.
cmake_minimum_required(VERSION 3.16)
foreach(v PLM_SOURCE_DIR PLM_WORK_DIR PLM_ISA PLM_TEST_REGEX)
  if(NOT DEFINED ${v} OR "${${v}}" STREQUAL "")
    message(FATAL_ERROR "cross_aarch64.cmake: ${v} is not set")
  endif()
endforeach()
if(NOT PLM_JOBS)
  set(PLM_JOBS 2)
endif()

include("${CMAKE_CURRENT_LIST_DIR}/script_steps.cmake")

run_step("configure aarch64 (${PLM_ISA})" "${CMAKE_COMMAND}" -S "${PLM_SOURCE_DIR}" -B "${PLM_WORK_DIR}"
  "-DCMAKE_TOOLCHAIN_FILE=${PLM_SOURCE_DIR}/cmake/toolchains/aarch64-linux-gnu.cmake"
  -DCMAKE_BUILD_TYPE=Release -DPLM_ISA=${PLM_ISA} -DPLM_BUILD_BENCHMARKS=OFF -DPLM_BUILD_EXAMPLES=OFF
  -DPLM_INSTALL=OFF -DPLM_TEST_CROSS_AARCH64=OFF)

file(GLOB sources RELATIVE "${PLM_SOURCE_DIR}/tests" "${PLM_SOURCE_DIR}/tests/test_*.cpp")
set(targets "")
foreach(s IN LISTS sources)
  string(REGEX REPLACE "\\.cpp$" "" name "${s}")
  if(name MATCHES "${PLM_TEST_REGEX}")
    list(APPEND targets ${name})
  endif()
endforeach()
if(NOT targets)
  message(FATAL_ERROR "no test matches '${PLM_TEST_REGEX}'")
endif()
string(REPLACE ";" " " targets_text "${targets}")
message(STATUS "aarch64 tests: ${targets_text}")

run_step("build for aarch64" "${CMAKE_COMMAND}" --build "${PLM_WORK_DIR}" --target ${targets} -j ${PLM_JOBS})
execute_process(COMMAND "${CMAKE_CTEST_COMMAND}" -R "${PLM_TEST_REGEX}" --output-on-failure
                WORKING_DIRECTORY "${PLM_WORK_DIR}" RESULT_VARIABLE rc)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "aarch64 tests failed under qemu (ctest exit ${rc}); build tree: ${PLM_WORK_DIR}")
endif()
message(STATUS "aarch64 tests passed under qemu")
