// tests/fuzz/harness_chat.hpp - fuzz harness for chat formatting.
//
// Input: byte 0 holds flags (bit 0: add_generation_prompt; bits 1-2: template
// = 0/3 the first '\0'-separated part of the input, 1 empty, 2 plm's ChatML
// Jinja text); the remaining '\0'-separated parts are role, content, role,
// content, ... apply_chat_template must return a prompt or an error, and which
// one is fixed by the documented rules: a template that is neither empty nor
// contains "<|im_start|>" is unsupported; otherwise a role that is empty or
// holds '\r', '\n' or '<' is invalid_argument; otherwise the prompt is exactly
// the ChatML text (built here from the format, not by the library). The prompt
// then tokenizes (specials parsed) into exactly one special token per
// occurrence of a special text and decodes back to itself.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "fuzz/harness_common.hpp"
#include "fuzz/harness_tokenizer.hpp"
#include "plm/text/chat.hpp"

namespace plm_fuzz {

inline outcome check_chat(const uint8_t* data, size_t size) {
  outcome out;
  if (size == 0) return out;
  const uint8_t flags = data[0];
  const bool add_generation_prompt = flags & 1;
  const int template_mode = (flags >> 1) & 3;
  std::vector<std::string> parts;
  {
    std::string cur;
    for (size_t i = 1; i < size; ++i) {
      if (data[i] == 0) {
        parts.push_back(cur);
        cur.clear();
      } else {
        cur.push_back(static_cast<char>(data[i]));
      }
    }
    parts.push_back(cur);
  }
  size_t next = 0;
  std::string tmpl;
  if (template_mode == 0 || template_mode == 3) tmpl = parts[next++];
  else if (template_mode == 2) tmpl = plm::text::chatml_template;
  std::vector<plm::text::chat_message> messages;
  for (; next < parts.size() && messages.size() < 256; next += 2)
    messages.push_back({parts[next], next + 1 < parts.size() ? parts[next + 1] : std::string()});

  const bool chatml = tmpl.empty() || tmpl.find("<|im_start|>") != std::string::npos;
  bool roles_ok = true;
  for (const auto& m : messages)
    roles_ok = roles_ok && !m.role.empty() && m.role.find_first_of("\r\n<") == std::string::npos;

  const auto r = plm::text::apply_chat_template(tmpl, messages, add_generation_prompt);
  if (!chatml) {
    PLM_FUZZ_CHECK(!r.has_value() && r.error().kind() == plm::errc::unsupported,
                   "non-ChatML template was not refused as unsupported");
    return out;
  }
  if (!roles_ok) {
    PLM_FUZZ_CHECK(!r.has_value() && r.error().kind() == plm::errc::invalid_argument,
                   "bad role was not refused as invalid_argument");
    return out;
  }
  PLM_FUZZ_CHECK(r.has_value(), "valid conversation refused: " + r.error().message());
  std::string want;
  for (const auto& m : messages) want += "<|im_start|>" + m.role + "\n" + m.content + "<|im_end|>\n";
  if (add_generation_prompt) want += "<|im_start|>assistant\n";
  PLM_FUZZ_CHECK(*r == want, "ChatML prompt differs from the format");

  PLM_FUZZ_CHECK(fixed_tokenizer() != nullptr, "the default byte vocabulary does not build");
  const plm::text::tokenizer& tok = *fixed_tokenizer();
  const auto via_tok = tok.apply_chat_template(messages, add_generation_prompt);  // the vocabulary's ChatML template
  PLM_FUZZ_CHECK(via_tok.has_value() && *via_tok == want, "tokenizer::apply_chat_template differs");
  const auto ids = tok.encode(want, true);
  PLM_FUZZ_CHECK(ids.has_value(), "encode of the prompt failed");
  for (const char* special : plm::text::special_token_texts) {
    const int32_t sid = tok.vocab().find(special);
    PLM_FUZZ_CHECK(static_cast<size_t>(std::count(ids->begin(), ids->end(), sid)) ==
                       detail::count_occurrences(want, special),
                   std::string("prompt has a wrong number of ") + special + " tokens");
  }
  const auto back = tok.decode(*ids);
  PLM_FUZZ_CHECK(back.has_value() && *back == want, "decode(encode(prompt)) != prompt");
  out.accepted = true;
  return out;
}

}  // namespace plm_fuzz
