// tests/fuzz/harness_tokenizer.hpp - fuzz harnesses for the BPE tokenizer.
//
// check_tokenizer_encode: one fixed vocabulary (plm's default byte-level BPE
// vocabulary, built once) and arbitrary input bytes. The tokenizer promises
// decode(encode(s)) == s for every byte string, so any mismatch is a bug; the
// streaming decoder fed token by token must produce exactly decode()'s bytes
// and never end its output inside a UTF-8 sequence that could still complete;
// the qwen2 split must cover the text; the allocation-free and the heap BPE
// paths must agree on every word.
//
// check_tokenizer_vocab: a GGUF file whose tokenizer.ggml.* keys are arbitrary
// (mutated from a small real vocabulary). from_gguf must reject it or build a
// tokenizer that encodes and decodes fixed texts without reading out of
// bounds, producing only ids inside the vocabulary. Round trips are not
// promised for arbitrary vocabularies (a byte token may be marked unused), but
// streaming decode == decode is.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "fuzz/harness_common.hpp"
#include "plm/gguf/reader.hpp"
#include "plm/text/bpe.hpp"
#include "plm/text/pretokenize.hpp"
#include "plm/text/tokenizer.hpp"
#include "plm/text/vocab_builder.hpp"

namespace plm_fuzz {

namespace detail {

// Whether the k bytes at t start a well-formed UTF-8 sequence (Unicode Table
// 3-7) longer than k that the bytes `after` them continue validly (or
// complete): a character that is split at t + k. Written from the table,
// independently of text::decoder::complete_prefix.
inline bool split_inside_character(const unsigned char* t, size_t k, std::string_view after) {
  const unsigned b0 = t[0];
  size_t len = 0;
  unsigned lo1 = 0x80, hi1 = 0xBF;
  if (b0 >= 0xC2 && b0 <= 0xDF) len = 2;
  else if (b0 == 0xE0) len = 3, lo1 = 0xA0;
  else if ((b0 >= 0xE1 && b0 <= 0xEC) || b0 == 0xEE || b0 == 0xEF) len = 3;
  else if (b0 == 0xED) len = 3, hi1 = 0x9F;
  else if (b0 == 0xF0) len = 4, lo1 = 0x90;
  else if (b0 >= 0xF1 && b0 <= 0xF3) len = 4;
  else if (b0 == 0xF4) len = 4, hi1 = 0x8F;
  if (len <= k) return false;  // not a lead byte, or its sequence ends inside the k bytes
  for (size_t j = 1; j < len; ++j) {
    unsigned c;
    if (j < k) c = t[j];
    else if (j - k < after.size()) c = static_cast<unsigned char>(after[j - k]);
    else return true;  // not seen yet: could still complete
    const unsigned lo = j == 1 ? lo1 : 0x80, hi = j == 1 ? hi1 : 0xBF;
    if (c < lo || c > hi) return false;
  }
  return true;
}

// True if `emitted` stops inside a character that the bytes seen after it
// (`held`) do not rule out: the decoder returned part of a character it should
// have held back. A tail that the held bytes contradict may be emitted.
inline bool splits_character(std::string_view emitted, std::string_view held) {
  for (size_t k = 1; k <= 3 && k <= emitted.size(); ++k) {
    const auto* t = reinterpret_cast<const unsigned char*>(emitted.data()) + (emitted.size() - k);
    if (split_inside_character(t, k, held)) return true;
  }
  return false;
}

// Streams ids through text::decoder; the concatenation of what it returns plus
// flush() must be `expected`, and no output may stop inside a character that
// the bytes seen so far do not rule out.
inline std::string check_streaming(const plm::text::tokenizer& tok, const std::vector<int32_t>& ids,
                                   bool render_special, const std::string& expected) {
  plm::text::decoder dec(tok, render_special);
  std::string streamed, seen;
  for (const int32_t id : ids) {
    tok.append_piece(seen, id, render_special);
    const std::string_view piece = dec.feed(id);
    streamed.append(piece.data(), piece.size());
    if (seen.compare(0, streamed.size(), streamed) != 0 || streamed.size() > seen.size())
      return "streaming decoder output is not a prefix of the bytes fed";
    if (dec.pending() != seen.size() - streamed.size()) return "decoder pending() disagrees with what it returned";
    const std::string_view held = std::string_view(seen).substr(streamed.size());
    if (!piece.empty() && splits_character(streamed, held))
      return "streaming decoder emitted part of a UTF-8 character after " + std::to_string(streamed.size()) + " bytes";
    // What it holds must be exactly one unfinished character: nothing else is held back.
    if (!held.empty() &&
        (held.size() > 3 || !split_inside_character(reinterpret_cast<const unsigned char*>(held.data()), held.size(), {})))
      return "streaming decoder holds back " + std::to_string(held.size()) + " bytes that are no unfinished character";
  }
  const std::string_view rest = dec.flush();
  streamed.append(rest.data(), rest.size());
  if (dec.pending() != 0) return "decoder holds bytes after flush()";
  if (streamed != expected)
    return "streamed decode (" + std::to_string(streamed.size()) + " bytes) != decode (" +
           std::to_string(expected.size()) + " bytes)";
  return {};
}

// The qwen2 split must cut the text into consecutive non-empty words covering all of it.
inline std::string check_split(std::string_view text, std::vector<std::string_view>& words) {
  size_t next = 0;
  std::string err;
  words.clear();
  plm::text::split_qwen2(text, [&](size_t b, size_t e) {
    if (!err.empty()) return;
    if (b != next || e <= b || e > text.size()) {
      err = "split_qwen2 emitted [" + std::to_string(b) + ", " + std::to_string(e) + ") after " + std::to_string(next);
      return;
    }
    words.push_back(text.substr(b, e - b));
    next = e;
  });
  if (err.empty() && next != text.size())
    err = "split_qwen2 covered " + std::to_string(next) + " of " + std::to_string(text.size()) + " bytes";
  return err;
}

// The stack path (words up to bpe_small_word bytes) and the heap path must merge identically.
inline std::string check_bpe_paths(const plm::text::vocab& v, std::string_view word) {
  if (word.size() < 2 || word.size() > plm::text::bpe_small_word) return {};
  std::vector<int32_t> a, b;
  auto sink_a = [&](int32_t id) { a.push_back(id); };
  auto sink_b = [&](int32_t id) { b.push_back(id); };
  plm::text::detail::bpe_small(v, word, sink_a);
  plm::text::detail::bpe_large(v, word, sink_b);
  if (a != b)
    return "bpe_small and bpe_large disagree on a " + std::to_string(word.size()) + "-byte word (" +
           std::to_string(a.size()) + " vs " + std::to_string(b.size()) + " tokens)";
  return {};
}

// check_split on text, then check_bpe_paths on each of its words.
inline std::string check_words(const plm::text::vocab& v, std::string_view text) {
  std::vector<std::string_view> words;
  std::string err = check_split(text, words);
  for (size_t i = 0; i < words.size() && err.empty(); ++i) err = check_bpe_paths(v, words[i]);
  return err;
}

// Non-overlapping occurrences of `needle`, left to right. The three ChatML
// specials have '<' only as their first byte, so no two occurrences of them
// can overlap: each must become exactly one special token.
inline size_t count_occurrences(std::string_view text, std::string_view needle) {
  size_t n = 0;
  for (size_t p = text.find(needle); p != std::string_view::npos; p = text.find(needle, p + needle.size())) ++n;
  return n;
}

}  // namespace detail

/// plm's default byte-level vocabulary (256 bytes + 253 merges + 3 ChatML
/// specials), built once; nullptr if it cannot be built (then every input fails).
inline const plm::text::tokenizer* fixed_tokenizer() {
  static const std::optional<plm::text::tokenizer> tok = []() -> std::optional<plm::text::tokenizer> {
    auto t = plm::text::tokenizer::from_spec(plm::text::default_byte_vocab());
    if (!t) return std::nullopt;
    return std::move(t).value();
  }();
  return tok ? &*tok : nullptr;
}

inline outcome check_tokenizer_encode(const uint8_t* data, size_t size) {
  outcome out;
  PLM_FUZZ_CHECK(fixed_tokenizer() != nullptr, "the default byte vocabulary does not build");
  const plm::text::tokenizer& tok = *fixed_tokenizer();
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  const std::string text_s(text);

  const std::string words_err = detail::check_words(tok.vocab(), text);
  PLM_FUZZ_CHECK(words_err.empty(), words_err);

  for (const bool parse_special : {false, true}) {
    const std::string mode = parse_special ? " (parse_special)" : " (plain)";
    auto ids = tok.encode(text, parse_special, false);
    PLM_FUZZ_CHECK(ids.has_value(), "encode failed" + mode);
    for (const int32_t id : *ids) {
      PLM_FUZZ_CHECK(id >= 0 && id < tok.n_vocab(), "encode produced id " + std::to_string(id) + mode);
      if (!parse_special)
        PLM_FUZZ_CHECK(tok.type(id) != plm::text::token_type::control, "control token without parse_special");
    }
    const auto dec = tok.decode(*ids);
    PLM_FUZZ_CHECK(dec.has_value(), "decode of encode's ids failed" + mode);
    PLM_FUZZ_CHECK(*dec == text_s, "decode(encode(s)) != s" + mode);
    if (!parse_special) {
      const auto hidden = tok.decode(*ids, false);
      PLM_FUZZ_CHECK(hidden.has_value() && *hidden == text_s, "decode without specials != s (plain)");
    }
    const std::string stream_err = detail::check_streaming(tok, *ids, true, *dec);
    PLM_FUZZ_CHECK(stream_err.empty(), stream_err + mode);
    for (const char* special : plm::text::special_token_texts) {
      const int32_t sid = tok.vocab().find(special);
      const size_t want = parse_special ? detail::count_occurrences(text, special) : 0;
      PLM_FUZZ_CHECK(static_cast<size_t>(std::count(ids->begin(), ids->end(), sid)) == want,
                     std::string("number of ") + special + " tokens is not its number of occurrences" + mode);
    }

    auto with_bos = tok.encode(text, parse_special, true);
    PLM_FUZZ_CHECK(with_bos.has_value() && with_bos->size() == ids->size() + 1 && (*with_bos)[0] == tok.bos_id() &&
                       std::equal(ids->begin(), ids->end(), with_bos->begin() + 1),
                   "encode with BOS is not BOS + encode" + mode);
    std::vector<int32_t> buf(ids->size() + 1, -7);
    const auto n = tok.encode_to(text, buf.data(), ids->size(), parse_special, false);
    PLM_FUZZ_CHECK(n.has_value() && *n == ids->size() && std::equal(ids->begin(), ids->end(), buf.begin()) &&
                       buf[ids->size()] == -7,
                   "encode_to with an exact buffer differs from encode" + mode);
    if (!ids->empty()) {
      const auto small = tok.encode_to(text, buf.data(), ids->size() - 1, parse_special, false);
      PLM_FUZZ_CHECK(!small.has_value() && small.error().kind() == plm::errc::out_of_memory && buf[ids->size()] == -7,
                     "encode_to into a short buffer did not fail cleanly" + mode);
    }
  }
  out.accepted = true;
  return out;
}

/// Texts every fuzzed vocabulary encodes: ASCII, specials, CJK, emoji, invalid
/// UTF-8, a word longer than bpe_small_word (heap path), digits and whitespace runs.
inline const std::vector<std::string>& vocab_probe_texts() {
  static const std::vector<std::string> texts = {
      "Hello world! The robot sorted 412 screws, didn't it?\n\n  tabs\tand   spaces ",
      "<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\n<|endoftext|>",
      "\xe4\xbd\xa0\xe5\xa5\xbd\xef\xbc\x8c\xe4\xb8\x96\xe7\x95\x8c \xf0\x9f\x98\x80\xf0\x9f\xa4\x96 caf\xc3\xa9",
      std::string("bad \xff\xfe \xc3 \xe2\x82 \xf0\x9f\x98 \xed\xa0\x80 end") + std::string(1, '\0') + "nul",
      std::string(300, 'a') + std::string(200, '7') + "the the the " + std::string(150, '\xe4'),
  };
  return texts;
}

inline outcome check_tokenizer_vocab(const uint8_t* data, size_t size) {
  outcome out;
  auto f = plm::gguf::file::from_memory(data, size);
  if (!f) return out;
  auto made = plm::text::tokenizer::from_gguf(*f);
  if (!made) {
    PLM_FUZZ_CHECK(!made.error().message().empty(), "rejection without a message");
    return out;
  }
  const plm::text::tokenizer& tok = *made;
  const int32_t n = tok.n_vocab();
  PLM_FUZZ_CHECK(n > 0, "empty vocabulary accepted");
  for (const int32_t id : {tok.bos_id(), tok.eos_id(), tok.pad_id()})
    PLM_FUZZ_CHECK(id >= -1 && id < n, "special id " + std::to_string(id) + " outside the vocabulary");
  for (int32_t id = 0; id < n; ++id) {
    const std::string_view p = tok.piece(id), t = tok.token_text(id);
    touch(p.data(), p.size());
    touch(t.data(), t.size());
    (void)tok.type(id);
    (void)tok.is_eog(id);
  }
  PLM_FUZZ_CHECK(tok.piece(-1).empty() && tok.piece(n).empty(), "piece of an out-of-range id is not empty");
  for (int b = 0; b < 256; ++b) {
    const int32_t id = tok.vocab().byte_token(static_cast<uint8_t>(b));
    PLM_FUZZ_CHECK(id >= 0 && id < n, "byte token outside the vocabulary");
  }
  for (const int32_t id : tok.vocab().special_tokens()) PLM_FUZZ_CHECK(id >= 0 && id < n, "special token id");
  for (const int32_t id : tok.vocab().eog_tokens()) PLM_FUZZ_CHECK(id >= 0 && id < n, "end-of-generation id");

  // Every special text once, so that the partition over specials runs at its full depth.
  std::string all_specials;
  for (const int32_t id : tok.vocab().special_tokens()) {
    if (all_specials.size() > 65536) break;
    all_specials += tok.token_text(id);
    all_specials += ' ';
  }
  std::vector<std::string> texts = vocab_probe_texts();
  texts.push_back(all_specials);
  for (const std::string& text : texts) {
    const std::string words_err = detail::check_words(tok.vocab(), text);
    PLM_FUZZ_CHECK(words_err.empty(), words_err);
    for (const bool parse_special : {false, true}) {
      auto ids = tok.encode(text, parse_special);
      PLM_FUZZ_CHECK(ids.has_value(), "encode failed");
      for (const int32_t id : *ids) PLM_FUZZ_CHECK(id >= 0 && id < n, "encode produced id " + std::to_string(id));
      for (const bool render : {true, false}) {
        const auto dec = tok.decode(*ids, render);
        PLM_FUZZ_CHECK(dec.has_value(), "decode of encode's ids failed");
        const std::string stream_err = detail::check_streaming(tok, *ids, render, *dec);
        PLM_FUZZ_CHECK(stream_err.empty(), stream_err);
      }
    }
  }
  const std::vector<plm::text::chat_message> chat = {{"system", "be brief"}, {"user", "hi <|im_end|>"}};
  const auto prompt = tok.apply_chat_template(chat, true);
  if (prompt.has_value()) {
    const auto ids = tok.encode(*prompt, true);
    PLM_FUZZ_CHECK(ids.has_value(), "encode of a chat prompt failed");
  } else {
    PLM_FUZZ_CHECK(prompt.error().kind() == plm::errc::unsupported, "chat template error of kind " +
                                                                        std::string(plm::to_string(prompt.error().kind())));
  }
  out.accepted = true;
  return out;
}

}  // namespace plm_fuzz
