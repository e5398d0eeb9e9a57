# run_consumer.cmake - ctest driver: builds tests/consumer against plm.
#
#   cmake -DPLM_MODE=find_package|add_subdirectory -DPLM_SOURCE_DIR=... -DPLM_WORK_DIR=...
#         -DPLM_CONSUMER_SOURCE_DIR=... -DPLM_EXPECTED_VERSION=... [-DPLM_BUILD_DIR=<plm build>]
#         [-DPLM_CXX_COMPILER=...] [-DPLM_GENERATOR=...] [-DPLM_PKG_CONFIG=...] -P run_consumer.cmake
#
# find_package: installs plm's build tree into <work>/prefix with cmake --install,
# then configures the consumer with CMAKE_PREFIX_PATH=<work>/prefix; if
# pkg-config is available it also compiles main.cpp with `pkg-config --cflags
# --libs plm`. add_subdirectory: configures the consumer with plm's source tree.
# Every step must succeed and the program must print "plm <version>".
cmake_minimum_required(VERSION 3.16)

foreach(v PLM_MODE PLM_WORK_DIR PLM_CONSUMER_SOURCE_DIR PLM_EXPECTED_VERSION)
  if(NOT DEFINED ${v} OR "${${v}}" STREQUAL "")
    message(FATAL_ERROR "run_consumer.cmake: ${v} is not set")
  endif()
endforeach()

include("${CMAKE_CURRENT_LIST_DIR}/../script_steps.cmake")

file(REMOVE_RECURSE "${PLM_WORK_DIR}")
file(MAKE_DIRECTORY "${PLM_WORK_DIR}")

set(configure_args -S "${PLM_CONSUMER_SOURCE_DIR}" -B "${PLM_WORK_DIR}/build"
  -DPLM_MODE=${PLM_MODE} -DPLM_EXPECTED_VERSION=${PLM_EXPECTED_VERSION} -DCMAKE_BUILD_TYPE=Release)
if(PLM_CXX_COMPILER)
  list(APPEND configure_args -DCMAKE_CXX_COMPILER=${PLM_CXX_COMPILER})
endif()
if(PLM_GENERATOR)
  list(APPEND configure_args -G "${PLM_GENERATOR}")
endif()

if(PLM_MODE STREQUAL "find_package")
  if(NOT PLM_BUILD_DIR)
    message(FATAL_ERROR "run_consumer.cmake: find_package mode needs PLM_BUILD_DIR")
  endif()
  set(prefix "${PLM_WORK_DIR}/prefix")
  run_step("cmake --install" "${CMAKE_COMMAND}" --install "${PLM_BUILD_DIR}" --prefix "${prefix}")
  foreach(f include/plm/plm.hpp include/plm/version.hpp share/cmake/plm/plmConfig.cmake
            share/cmake/plm/plmConfigVersion.cmake share/cmake/plm/plmTargets.cmake share/pkgconfig/plm.pc)
    if(NOT EXISTS "${prefix}/${f}")
      message(FATAL_ERROR "installed tree lacks ${f}")
    endif()
  endforeach()
  # Nothing that belongs to the build (tests, objects) may leak into the package.
  file(GLOB_RECURSE installed RELATIVE "${prefix}" "${prefix}/*")
  foreach(f IN LISTS installed)
    if(NOT f MATCHES "^(include/plm/.*\\.(hpp|h)|share/cmake/plm/[^/]+\\.cmake|share/pkgconfig/plm\\.pc)$")
      message(FATAL_ERROR "unexpected installed file: ${f}")
    endif()
  endforeach()
  list(APPEND configure_args -DCMAKE_PREFIX_PATH=${prefix} -DCMAKE_FIND_USE_PACKAGE_REGISTRY=OFF)
  # A different major version must not be accepted (SameMajorVersion).
  file(MAKE_DIRECTORY "${PLM_WORK_DIR}/major")
  file(WRITE "${PLM_WORK_DIR}/major/CMakeLists.txt"
    "cmake_minimum_required(VERSION 3.16)\nproject(major LANGUAGES CXX)\nfind_package(plm 999 QUIET)\n"
    "if(plm_FOUND)\n  message(FATAL_ERROR \"plm 999 accepted\")\nendif()\n")
  run_step("find_package(plm 999) rejected" "${CMAKE_COMMAND}" -S "${PLM_WORK_DIR}/major" -B "${PLM_WORK_DIR}/major/build"
    -DCMAKE_PREFIX_PATH=${prefix})
else()
  if(NOT PLM_SOURCE_DIR)
    message(FATAL_ERROR "run_consumer.cmake: add_subdirectory mode needs PLM_SOURCE_DIR")
  endif()
  list(APPEND configure_args -DPLM_SOURCE_DIR=${PLM_SOURCE_DIR})
endif()

run_step("configure consumer (${PLM_MODE})" "${CMAKE_COMMAND}" ${configure_args})
run_step("build consumer" "${CMAKE_COMMAND}" --build "${PLM_WORK_DIR}/build")
find_program(consumer_exe consumer PATHS "${PLM_WORK_DIR}/build" "${PLM_WORK_DIR}/build/Release" NO_DEFAULT_PATH)
if(NOT consumer_exe)
  message(FATAL_ERROR "consumer executable not found under ${PLM_WORK_DIR}/build")
endif()
run_step("run consumer" "${consumer_exe}")
if(NOT step_output STREQUAL "plm ${PLM_EXPECTED_VERSION}\n")
  message(FATAL_ERROR "consumer printed '${step_output}', expected 'plm ${PLM_EXPECTED_VERSION}'")
endif()

if(PLM_MODE STREQUAL "find_package" AND PLM_PKG_CONFIG)
  set(ENV{PKG_CONFIG_PATH} "${prefix}/share/pkgconfig")
  run_step("pkg-config --cflags --libs plm" "${PLM_PKG_CONFIG}" --cflags --libs plm)
  string(STRIP "${step_output}" pc_flags)
  separate_arguments(pc_flags UNIX_COMMAND "${pc_flags}")
  set(cxx "${PLM_CXX_COMPILER}")
  if(NOT cxx)
    set(cxx c++)
  endif()
  run_step("compile with pkg-config flags" "${cxx}" -std=c++17 -fno-exceptions
    "-DPLM_EXPECTED_VERSION=\"${PLM_EXPECTED_VERSION}\"" ${pc_flags}
    "${PLM_CONSUMER_SOURCE_DIR}/main.cpp" -o "${PLM_WORK_DIR}/consumer_pc")
  run_step("run pkg-config consumer" "${PLM_WORK_DIR}/consumer_pc")
  if(NOT step_output STREQUAL "plm ${PLM_EXPECTED_VERSION}\n")
    message(FATAL_ERROR "pkg-config consumer printed '${step_output}'")
  endif()
endif()
message(STATUS "consumer (${PLM_MODE}) ok: plm ${PLM_EXPECTED_VERSION}")
