// tests/fuzz/fuzz_tokenizer_vocab.cpp - libFuzzer target: tokenizer built from a mutated GGUF vocabulary, then encode/decode of fixed texts.
// The harness is shared with tests/test_fuzz_regressions.cpp (see fuzz/harness_tokenizer.hpp).
#include "fuzz/harness_tokenizer.hpp"
#include "fuzz/fuzz_main.hpp"

PLM_FUZZ_TARGET(tokenizer_vocab, plm_fuzz::check_tokenizer_vocab)
// Structure-aware mutations of parseable GGUF inputs (gguf_mutator.hpp), byte mutations otherwise.
PLM_FUZZ_GGUF_MUTATOR()
