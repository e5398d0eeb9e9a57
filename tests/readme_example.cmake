# readme_example.cmake - ctest driver: every C++ block in README.md must compile.
#
#   cmake -DPLM_README=... -DPLM_OUT_DIR=... -DPLM_CXX_COMPILER=... -DPLM_INCLUDE_DIR=<plm>/include
#         -DPLM_XSIMD_INCLUDE_DIR=... -P readme_example.cmake
#
# Extracts each ```cpp block of the README into its own file and compiles it
# (syntax only, no exceptions, no RTTI, warnings are errors) against the source
# tree, so the front-page API examples cannot drift from the real API.
cmake_minimum_required(VERSION 3.16)
file(READ "${PLM_README}" rest)
set(includes "-I${PLM_INCLUDE_DIR}")
# Naming a default system directory with -isystem breaks libstdc++'s #include_next.
if(PLM_XSIMD_INCLUDE_DIR AND NOT PLM_XSIMD_INCLUDE_DIR MATCHES "^/usr(/local)?/include/?$")
  list(APPEND includes -isystem "${PLM_XSIMD_INCLUDE_DIR}")
endif()
file(MAKE_DIRECTORY "${PLM_OUT_DIR}")
set(n 0)
while(TRUE)
  string(FIND "${rest}" "```cpp\n" begin)
  if(begin LESS 0)
    break()
  endif()
  math(EXPR begin "${begin} + 7")
  string(SUBSTRING "${rest}" ${begin} -1 rest)
  string(FIND "${rest}" "```" end)
  if(end LESS 0)
    message(FATAL_ERROR "unterminated ```cpp block in ${PLM_README}")
  endif()
  string(SUBSTRING "${rest}" 0 ${end} code)
  math(EXPR end "${end} + 3")
  string(SUBSTRING "${rest}" ${end} -1 rest)
  math(EXPR n "${n} + 1")
  set(out "${PLM_OUT_DIR}/readme_example_${n}.cpp")
  file(WRITE "${out}" "${code}")
  execute_process(COMMAND "${PLM_CXX_COMPILER}" -std=c++17 -fsyntax-only -fno-exceptions -fno-rtti -Wall -Wextra
                          -Werror ${includes} "${out}"
                  RESULT_VARIABLE rc OUTPUT_VARIABLE o ERROR_VARIABLE e)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "README.md's C++ block ${n} (${out}) does not compile:\n${o}${e}")
  endif()
endwhile()
if(n EQUAL 0)
  message(FATAL_ERROR "no ```cpp block in ${PLM_README}")
endif()
message(STATUS "README.md: ${n} C++ blocks compile")
