# script_steps.cmake - helper for the ctest driver scripts (cmake -P ...).
#
# run_step(<what> <command> [args...]): runs the command; on failure stops the
# script with its output (so ctest --output-on-failure shows why), otherwise
# logs "<what>: ok" and leaves the command's stdout in `step_output`.
function(run_step what)
  execute_process(COMMAND ${ARGN} RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "${what} failed (${rc}):\n${out}\n${err}")
  endif()
  message(STATUS "${what}: ok")
  set(step_output "${out}" PARENT_SCOPE)
endfunction()
