// tests/fuzz/fuzz_model_load.cpp - libFuzzer target: model loading and one prefill/decode step on mutated tiny PLM models.
// The harness is shared with tests/test_fuzz_regressions.cpp (see fuzz/harness_model.hpp).
#include "fuzz/harness_model.hpp"
#include "fuzz/fuzz_main.hpp"

PLM_FUZZ_TARGET(model_load, plm_fuzz::check_model_load)
// Structure-aware mutations of parseable GGUF inputs (gguf_mutator.hpp), byte mutations otherwise.
PLM_FUZZ_GGUF_MUTATOR()
