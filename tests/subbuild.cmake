# subbuild.cmake - ctest driver: build the test programs in a second configuration and run them there.
#
#   cmake -DPLM_SOURCE_DIR=... -DPLM_WORK_DIR=... -DPLM_WHAT="aarch64 under qemu"
#         -DPLM_CONFIGURE_ARGS="-DA=1|-DB=2" [-DPLM_TEST_REGEX=^test_] [-DPLM_JOBS=2]
#         [-DPLM_BUILD_ALL=ON] -P subbuild.cmake
#
# Some configurations cannot share the main build tree: a cross build for
# aarch64 (NEON kernels, run under qemu-user by the toolchain's emulator) or a
# sanitizer build. This configures PLM_WORK_DIR with PLM_CONFIGURE_ARGS
# ('|'-separated), builds the test programs (tests/test_*.cpp) whose names
# match PLM_TEST_REGEX (default: all of them) and runs exactly those programs
# with ctest there (not the CMake-driven packaging checks, which are no test
# programs). PLM_BUILD_ALL=ON builds the whole tree instead (library header
# checks, every test, and the examples when the configure arguments turn them
# on). The tree is kept between runs, so re-running rebuilds only what changed.
cmake_minimum_required(VERSION 3.16)
include("${CMAKE_CURRENT_LIST_DIR}/script_steps.cmake")
if(NOT PLM_TEST_REGEX)
  set(PLM_TEST_REGEX "^test_")
endif()
foreach(v PLM_SOURCE_DIR PLM_WORK_DIR PLM_WHAT)
  if(NOT DEFINED ${v} OR "${${v}}" STREQUAL "")
    message(FATAL_ERROR "subbuild.cmake: ${v} is not set")
  endif()
endforeach()
if(NOT PLM_JOBS)
  set(PLM_JOBS 2)
endif()
string(REPLACE "|" ";" configure_args "${PLM_CONFIGURE_ARGS}")

# The sub-build must not register sub-builds of its own.
run_step("configure ${PLM_WHAT}" "${CMAKE_COMMAND}" -S "${PLM_SOURCE_DIR}" -B "${PLM_WORK_DIR}"
  -DPLM_BUILD_BENCHMARKS=OFF -DPLM_BUILD_EXAMPLES=OFF -DPLM_INSTALL=OFF -DPLM_TEST_SUBBUILDS=OFF ${configure_args})

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
message(STATUS "${PLM_WHAT}: ${targets_text}")

string(TIMESTAMP t0 "%s")
if(PLM_BUILD_ALL)
  run_step("build ${PLM_WHAT}" "${CMAKE_COMMAND}" --build "${PLM_WORK_DIR}" -j ${PLM_JOBS})
else()
  run_step("build ${PLM_WHAT}" "${CMAKE_COMMAND}" --build "${PLM_WORK_DIR}" --target ${targets} -j ${PLM_JOBS})
endif()
string(TIMESTAMP t1 "%s")
list(LENGTH targets n_targets)
string(REPLACE ";" "|" names "${targets}")
# Exactly the programs built above; ctest's own summary line counts them, so a
# test that was silently not run shows as a missing one.
# The output is echoed as it comes (a sub-build killed by its timeout still
# shows how far it got) and kept for that check.
set(echo "")
if(NOT CMAKE_VERSION VERSION_LESS 3.18)
  set(echo ECHO_OUTPUT_VARIABLE ECHO_ERROR_VARIABLE)
endif()
execute_process(COMMAND "${CMAKE_CTEST_COMMAND}" -R "^(${names})$" --output-on-failure -j ${PLM_JOBS}
                WORKING_DIRECTORY "${PLM_WORK_DIR}" RESULT_VARIABLE rc OUTPUT_VARIABLE ctest_out ERROR_VARIABLE ctest_out
                ${echo})
if(NOT echo)
  message("${ctest_out}")
endif()
if(rc EQUAL 0 AND NOT ctest_out MATCHES "100% tests passed, 0 tests failed out of ${n_targets}\n")
  message(FATAL_ERROR "${PLM_WHAT}: ctest did not run all ${n_targets} test programs")
endif()
string(TIMESTAMP t2 "%s")
math(EXPR build_s "${t1} - ${t0}")
math(EXPR test_s "${t2} - ${t1}")
# Timings in the log: the sub-builds dominate CI time, keep an eye on them.
message(STATUS "${PLM_WHAT}: ${n_targets} test programs; build ${build_s} s, tests ${test_s} s (-j ${PLM_JOBS})")
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "${PLM_WHAT}: tests failed (ctest exit ${rc}); build tree: ${PLM_WORK_DIR}")
endif()
message(STATUS "${PLM_WHAT}: tests passed")
