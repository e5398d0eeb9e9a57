// tests/fuzz/fuzz_tokenizer_encode.cpp - libFuzzer target: arbitrary bytes through a fixed vocabulary: encode/decode round trip, streaming decode.
// The harness is shared with tests/test_fuzz_regressions.cpp (see fuzz/harness_tokenizer.hpp).
#include "fuzz/harness_tokenizer.hpp"
#include "fuzz/fuzz_main.hpp"

PLM_FUZZ_TARGET(tokenizer_encode, plm_fuzz::check_tokenizer_encode)
