// plm/text/vocab_spec.hpp - a byte-level BPE vocabulary as plain data.
//
// The in-memory twin of the tokenizer.ggml.* GGUF keys: what the GGUF writer
// stores, what vocab_builder.hpp produces (a small trained vocabulary for test
// models, or one read from a Hugging Face tokenizer.json), and what
// tokenizer::from_spec() accepts without a GGUF file in between.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace plm::text {

/// Token kinds, with llama.cpp's numeric values (GGUF tokenizer.ggml.token_type).
enum class token_type : int32_t {
  undefined = 0,
  normal = 1,        ///< ordinary BPE token; its text is a byte-level string
  unknown = 2,
  control = 3,       ///< <|im_start|> etc.: matched in text only when parsing specials, hidden on request
  user_defined = 4,  ///< always matched in text, always rendered
  unused = 5,        ///< padding ([PAD151700]); never produced by encode, rendered as nothing
  byte = 6,          ///< sentencepiece <0x..> byte token (not used by byte-level BPE; rendered as nothing)
};

/// One vocabulary, exactly as stored in a GGUF.
struct vocab_spec {
  std::vector<std::string> tokens;   ///< [n_tokens] byte-level strings (GPT-2 byte->unicode), specials verbatim
  std::vector<int32_t> token_types;  ///< [n_tokens] token_type values; empty = all normal
  std::vector<std::string> merges;   ///< "left right" in rank order (rank 0 first)
  int32_t bos_id = -1;               ///< -1: none
  int32_t eos_id = -1;
  int32_t pad_id = -1;
  bool add_bos = false;
  std::string chat_template;         ///< Jinja text; plm understands ChatML ones
  std::string pre = "qwen2";         ///< pre-tokenizer name (tokenizer.ggml.pre)
};

}  // namespace plm::text
