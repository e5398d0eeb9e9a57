// plm/text/chat.hpp - chat formatting for ChatML models (PLM-Instruct, Qwen).
//
// GGUF files carry a Jinja chat template. plm does not embed a Jinja engine:
// like llama.cpp's template detection, any template that contains
// "<|im_start|>" is taken to be ChatML and rendered by a fixed formatter:
//   <|im_start|>{role}\n{content}<|im_end|>\n ... [<|im_start|>assistant\n]
// Any other template is refused with an error that quotes its beginning, rather
// than producing a prompt the model was not trained on. No default system
// prompt is inserted (llama.cpp's ChatML formatter inserts none either).
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "plm/core/result.hpp"

namespace plm::text {

/// One chat turn. Roles are free-form words (system, user, assistant, tool, ...).
struct chat_message {
  std::string role;
  std::string content;
};

/// A Jinja ChatML template, written into GGUFs made by plm's vocab builder.
inline constexpr const char* chatml_template =
    "{% for message in messages %}{{'<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + "
    "'\\n'}}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}";

/// True if the template is (taken to be) ChatML.
inline bool is_chatml_template(std::string_view tmpl) noexcept {
  return tmpl.find("<|im_start|>") != std::string_view::npos;
}

/// Formats messages as ChatML. Roles must be non-empty and free of newlines and '<'
/// (they sit inside the header line).
inline result<std::string> format_chatml(const std::vector<chat_message>& messages, bool add_generation_prompt) {
  std::string out;
  size_t need = add_generation_prompt ? 32 : 0;
  for (const auto& m : messages) need += m.role.size() + m.content.size() + 24;
  out.reserve(need);
  for (size_t i = 0; i < messages.size(); ++i) {
    const chat_message& m = messages[i];
    if (m.role.empty() || m.role.find_first_of("\r\n<") != std::string::npos) {
      return make_error(errc::invalid_argument, "chat message " + std::to_string(i) + " has role '" + m.role +
                                                    "'; expected a non-empty word such as system, user or assistant");
    }
    out += "<|im_start|>";
    out += m.role;
    out += '\n';
    out += m.content;
    out += "<|im_end|>\n";
  }
  if (add_generation_prompt) out += "<|im_start|>assistant\n";
  return out;
}

/// Renders messages with a model's template: ChatML templates (and an empty
/// template, the llama.cpp default) use format_chatml(); others are an error.
inline result<std::string> apply_chat_template(std::string_view tmpl, const std::vector<chat_message>& messages,
                                               bool add_generation_prompt) {
  if (tmpl.empty() || is_chatml_template(tmpl)) return format_chatml(messages, add_generation_prompt);
  std::string head(tmpl.substr(0, 120));
  for (char& c : head)
    if (c == '\n') c = ' ';
  return make_error(errc::unsupported, "chat template is not ChatML (it has no '<|im_start|>'), and plm renders only "
                                       "ChatML; the template begins: \"" + head +
                                           (tmpl.size() > 120 ? "...\"" : "\""));
}

}  // namespace plm::text
