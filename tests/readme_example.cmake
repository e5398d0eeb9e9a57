# readme_example.cmake - ctest driver: the C++ sketch in README.md must compile.
#
#   cmake -DPLM_README=... -DPLM_OUT=... -DPLM_CXX_COMPILER=... -DPLM_INCLUDE_DIR=<plm>/include
#         -DPLM_XSIMD_INCLUDE_DIR=... -P readme_example.cmake
#
# Extracts the first ```cpp block of the README and compiles it (syntax only,
# no exceptions, no RTTI) against the source tree, so the front-page API
# example cannot drift from the real API.
cmake_minimum_required(VERSION 3.16)
file(READ "${PLM_README}" readme)
string(FIND "${readme}" "```cpp\n" begin)
if(begin LESS 0)
  message(FATAL_ERROR "no ```cpp block in ${PLM_README}")
endif()
math(EXPR begin "${begin} + 7")
string(SUBSTRING "${readme}" ${begin} -1 rest)
string(FIND "${rest}" "```" end)
if(end LESS 0)
  message(FATAL_ERROR "unterminated ```cpp block in ${PLM_README}")
endif()
string(SUBSTRING "${rest}" 0 ${end} code)
file(WRITE "${PLM_OUT}" "${code}")
set(includes "-I${PLM_INCLUDE_DIR}")
# Naming a default system directory with -isystem breaks libstdc++'s #include_next.
if(PLM_XSIMD_INCLUDE_DIR AND NOT PLM_XSIMD_INCLUDE_DIR MATCHES "^/usr(/local)?/include/?$")
  list(APPEND includes -isystem "${PLM_XSIMD_INCLUDE_DIR}")
endif()
execute_process(COMMAND "${PLM_CXX_COMPILER}" -std=c++17 -fsyntax-only -fno-exceptions -fno-rtti -Wall -Wextra
                        ${includes} "${PLM_OUT}"
                RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "README.md's example (${PLM_OUT}) does not compile:\n${out}${err}")
endif()
if(NOT err STREQUAL "")
  message(FATAL_ERROR "README.md's example (${PLM_OUT}) compiles with warnings:\n${err}")
endif()
message(STATUS "README.md example compiles")
