// tests/fuzz/fuzz_gguf.cpp - libFuzzer target: GGUF reader (file::from_memory + every accessor) on arbitrary bytes.
// The harness is shared with tests/test_fuzz_regressions.cpp (see fuzz/harness_gguf.hpp).
#include "fuzz/harness_gguf.hpp"
#include "fuzz/fuzz_main.hpp"

PLM_FUZZ_TARGET(gguf, plm_fuzz::check_gguf)
