// tests/fuzz/harness_all.hpp - every fuzz harness by target name.
//
// For replaying inputs outside libFuzzer (tests/test_fuzz_regressions.cpp):
// the name is the directory name under tests/fuzz/regressions/ and the suffix
// of the fuzz_<name> program.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

#include "fuzz/harness_chat.hpp"
#include "fuzz/harness_common.hpp"
#include "fuzz/harness_gguf.hpp"
#include "fuzz/harness_model.hpp"
#include "fuzz/harness_tokenizer.hpp"

namespace plm_fuzz {

/// Runs target `name`'s harness on one input; a failure for an unknown name.
inline outcome run_target(const std::string& name, const uint8_t* data, size_t size) {
  if (name == "gguf") return check_gguf(data, size);
  if (name == "model_load") return check_model_load(data, size);
  if (name == "tokenizer_vocab") return check_tokenizer_vocab(data, size);
  if (name == "tokenizer_encode") return check_tokenizer_encode(data, size);
  if (name == "chat") return check_chat(data, size);
  outcome out;
  out.failure = "unknown fuzz target '" + name + "'";
  return out;
}

}  // namespace plm_fuzz
