// Chat formatting: ChatML output (the exact bytes llama.cpp's ChatML formatter
// writes), template detection from the GGUF, refusal of other templates, and
// how a formatted prompt tokenizes (special tokens as single control ids).
#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "plm/gguf/reader.hpp"
#include "plm/gguf/writer.hpp"
#include "plm/text/chat.hpp"
#include "plm/text/tokenizer.hpp"
#include "plm/text/vocab_builder.hpp"

using plm::errc;
using plm::text::chat_message;

namespace {

bool contains(const std::string& s, const std::string& sub) { return s.find(sub) != std::string::npos; }

const std::vector<chat_message> conversation = {
    {"system", "You are a helpful assistant."},
    {"user", "Sort these screws."},
    {"assistant", "Done: 412 screws."},
    {"user", "Thanks!\nBye."},
};

}  // namespace

TEST_CASE("ChatML formatting, with and without the generation prompt") {
  auto with = plm::text::format_chatml(conversation, true);
  REQUIRE(with.has_value());
  CHECK(*with ==
        "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n"
        "<|im_start|>user\nSort these screws.<|im_end|>\n"
        "<|im_start|>assistant\nDone: 412 screws.<|im_end|>\n"
        "<|im_start|>user\nThanks!\nBye.<|im_end|>\n"
        "<|im_start|>assistant\n");
  auto without = plm::text::format_chatml({{"user", "hi"}}, false);
  REQUIRE(without.has_value());
  CHECK(*without == "<|im_start|>user\nhi<|im_end|>\n");
  CHECK(plm::text::format_chatml({}, true).value() == "<|im_start|>assistant\n");
  CHECK(plm::text::format_chatml({{"user", ""}}, false).value() == "<|im_start|>user\n<|im_end|>\n");
}

TEST_CASE("roles must fit on the header line") {
  for (const char* role : {"", "us\ner", "<|im_start|>"}) {
    auto r = plm::text::format_chatml({{role, "x"}}, false);
    REQUIRE_FALSE(r.has_value());
    CHECK(r.error().kind() == errc::invalid_argument);
  }
  CHECK(plm::text::format_chatml({{"tool", "{}"}}, false).has_value());
}

TEST_CASE("templates: ChatML ones are rendered, others refused with the template named") {
  const std::string qwen_like =
      "{%- if messages[0]['role'] == 'system' %}{{- '<|im_start|>system\\n' + messages[0]['content'] + "
      "'<|im_end|>\\n' }}{%- endif %}";
  CHECK(plm::text::is_chatml_template(plm::text::chatml_template));
  CHECK(plm::text::is_chatml_template(qwen_like));
  CHECK(plm::text::apply_chat_template(qwen_like, conversation, true).value() ==
        plm::text::format_chatml(conversation, true).value());
  // No template at all: ChatML, llama.cpp's default.
  CHECK(plm::text::apply_chat_template("", conversation, false).value() ==
        plm::text::format_chatml(conversation, false).value());

  const std::string llama3 =
      "{% for message in messages %}{{ '<|start_header_id|>' + message['role'] + '<|end_header_id|>\\n\\n' + "
      "message['content'] + '<|eot_id|>' }}{% endfor %}";
  auto r = plm::text::apply_chat_template(llama3, conversation, true);
  REQUIRE_FALSE(r.has_value());
  CHECK(r.error().kind() == errc::unsupported);
  CHECK(contains(r.error().message(), "not ChatML"));
  CHECK(contains(r.error().message(), "<|start_header_id|>"));  // names the template it refused
}

TEST_CASE("tokenizer::apply_chat_template uses the GGUF's template") {
  plm::gguf::writer w;
  REQUIRE(plm::text::write_vocab(w, plm::text::default_byte_vocab(), 512).has_value());
  auto bytes = w.write_memory().value();
  auto f = plm::gguf::file::from_memory(bytes.data(), bytes.size());
  REQUIRE(f.has_value());
  auto tok = plm::text::tokenizer::from_gguf(*f);
  REQUIRE(tok.has_value());
  auto prompt = tok->apply_chat_template({{"user", "Hello"}}, true);
  REQUIRE(prompt.has_value());
  CHECK(*prompt == "<|im_start|>user\nHello<|im_end|>\n<|im_start|>assistant\n");

  // The prompt's markers become single control tokens; the text between them is ordinary BPE.
  const int32_t start = tok->vocab().find("<|im_start|>"), end = tok->vocab().find("<|im_end|>");
  const auto ids = tok->encode(*prompt).value();
  CHECK(ids.front() == start);
  int n_start = 0, n_end = 0;
  for (const int32_t id : ids) {
    n_start += id == start;
    n_end += id == end;
  }
  CHECK(n_start == 2);
  CHECK(n_end == 1);
  CHECK(tok->decode(ids).value() == *prompt);

  // A GGUF with another template: the error reaches the caller.
  w.set_string("tokenizer.chat_template", "{{ bos_token }}{% for m in messages %}[INST] {{ m.content }} [/INST]{% endfor %}");
  auto bytes2 = w.write_memory().value();
  auto f2 = plm::gguf::file::from_memory(bytes2.data(), bytes2.size());
  REQUIRE(f2.has_value());
  auto tok2 = plm::text::tokenizer::from_gguf(*f2);
  REQUIRE(tok2.has_value());
  auto refused = tok2->apply_chat_template({{"user", "Hello"}}, true);
  REQUIRE_FALSE(refused.has_value());
  CHECK(contains(refused.error().message(), "[INST]"));
}
