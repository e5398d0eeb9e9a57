// tests/fuzz/fuzz_chat.cpp - libFuzzer target: apply_chat_template on arbitrary messages and templates, then tokenization of the prompt.
// The harness is shared with tests/test_fuzz_regressions.cpp (see fuzz/harness_chat.hpp).
#include "fuzz/harness_chat.hpp"
#include "fuzz/fuzz_main.hpp"

PLM_FUZZ_TARGET(chat, plm_fuzz::check_chat)
