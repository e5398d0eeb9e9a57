// plm/text/tokenizer.hpp - PLM's byte-level BPE tokenizer: encode, decode, chat.
//
// Encoding follows llama.cpp for tokenizer.ggml.model = "gpt2", pre = "qwen2":
//  1. special tokens are cut out of the text first: user-defined tokens always,
//     control/unknown tokens only when parse_special is on; longer texts claim
//     their occurrences before shorter ones (llama.cpp's partition order);
//  2. the remaining text is split by the qwen2 pre-tokenizer (pretokenize.hpp);
//  3. each word is BPE-merged from its bytes (bpe.hpp).
// No normalisation is applied (llama.cpp applies none; Hugging Face's
// tokenizer.json adds NFC, so decomposed accents can tokenize differently
// there). Invalid UTF-8 is encoded byte by byte, so for every byte string s,
// decode(encode(s)) == s.
//
// A tokenizer is immutable after construction; encode/decode are const and
// thread-safe. Words up to bpe_small_word bytes are merged without allocating.
#pragma once

#include <cstddef>
#include <cstdint>
#include <climits>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "plm/core/result.hpp"
#include "plm/gguf/reader.hpp"
#include "plm/text/bpe.hpp"
#include "plm/text/chat.hpp"
#include "plm/text/pretokenize.hpp"
#include "plm/text/vocab.hpp"
#include "plm/text/vocab_spec.hpp"

namespace plm::text {

class tokenizer {
 public:
  /// Builds a tokenizer from plain vocabulary data (what the GGUF keys hold).
  static result<tokenizer> from_spec(const vocab_spec& spec) {
    PLM_TRY_VOID(check_pre(spec.pre));
    PLM_TRY(text::vocab v, vocab::build(spec.tokens, spec.token_types, spec.merges, spec.bos_id, spec.eos_id,
                                        spec.pad_id));
    return tokenizer(std::move(v), spec.add_bos, spec.chat_template);
  }

  /// Reads and validates the tokenizer.ggml.* keys of a GGUF file: model must
  /// be "gpt2", pre "qwen2"; tokens (string array), token_type (i32 array,
  /// optional), merges (string array), bos/eos/padding ids (u32 or i32,
  /// optional), add_bos_token (bool, optional, default false), chat_template
  /// (string, optional). Every error says which key and what was expected.
  static result<tokenizer> from_gguf(const gguf::file& f) {
    auto r = load_gguf(f);
    if (!r) return std::move(r).error().with_context("GGUF tokenizer");
    return r;
  }

  /// Only the qwen2 pre-tokenizer is implemented; anything else is refused
  /// rather than silently tokenized with the wrong split.
  static result<void> check_pre(std::string_view pre) {
    if (pre == "qwen2") return ok();
    return make_error(errc::unsupported, "tokenizer pre-tokenizer '" + std::string(pre) +
                                             "' is not supported; plm implements 'qwen2' (PLM, Qwen2)");
  }

  const text::vocab& vocab() const noexcept { return vocab_; }
  int32_t n_vocab() const noexcept { return vocab_.size(); }
  int32_t bos_id() const noexcept { return vocab_.bos_id(); }
  int32_t eos_id() const noexcept { return vocab_.eos_id(); }
  int32_t pad_id() const noexcept { return vocab_.pad_id(); }
  /// Whether encode() prepends BOS by default (tokenizer.ggml.add_bos_token; false for PLM).
  bool add_bos() const noexcept { return add_bos_; }
  bool is_eog(int32_t id) const noexcept { return vocab_.is_eog(id); }
  /// Rendered bytes of a token (control tokens: their text). Empty for bad ids.
  std::string_view piece(int32_t id) const noexcept { return vocab_.piece(id); }
  /// Stored text of a token (byte-level spelling).
  std::string_view token_text(int32_t id) const noexcept { return vocab_.text(id); }
  token_type type(int32_t id) const noexcept { return vocab_.type(id); }
  /// tokenizer.chat_template from the file ("" if absent).
  const std::string& chat_template() const noexcept { return chat_template_; }

  /// Calls sink(int32_t id) for each token of text. Never fails.
  template <class Sink>
  void encode_each(std::string_view text, bool parse_special, bool add_bos, Sink&& sink) const {
    if (add_bos && vocab_.bos_id() >= 0) sink(vocab_.bos_id());
    // Only specials that occur somewhere take part: usually none, so plain text
    // goes straight to the splitter.
    int32_t present[max_present];
    size_t n_present = 0;
    std::vector<int32_t> many;  // used only if more than max_present specials occur
    for (const int32_t id : vocab_.special_tokens()) {
      if (!parse_special && vocab_.type(id) != token_type::user_defined) continue;
      if (text.find(vocab_.text(id)) == std::string_view::npos) continue;
      if (n_present < max_present) {
        present[n_present++] = id;
      } else {
        if (many.empty()) many.assign(present, present + n_present);
        many.push_back(id);
      }
    }
    const int32_t* list = many.empty() ? present : many.data();
    const size_t count = many.empty() ? n_present : many.size();
    partition(text, list, count, sink);
  }

  /// Token ids of text, with BOS if the vocabulary asks for it.
  result<std::vector<int32_t>> encode(std::string_view text, bool parse_special = true) const {
    return encode(text, parse_special, add_bos_);
  }
  result<std::vector<int32_t>> encode(std::string_view text, bool parse_special, bool add_bos) const {
    std::vector<int32_t> out;
    PLM_TRY_VOID(encode_append(text, out, parse_special, add_bos));
    return out;
  }
  /// Appends the ids of text to out (reuse out to avoid allocating).
  result<void> encode_append(std::string_view text, std::vector<int32_t>& out, bool parse_special,
                             bool add_bos) const {
    out.reserve(out.size() + text.size() / 3 + 2);
    encode_each(text, parse_special, add_bos, [&](int32_t id) { out.push_back(id); });
    return ok();
  }
  /// Writes the ids into out[0, capacity) and returns their number; if they do
  /// not fit, an out_of_memory error says how many are needed. Does not
  /// allocate (unless a word is longer than bpe_small_word bytes or more than
  /// 16 distinct special tokens occur).
  result<size_t> encode_to(std::string_view text, int32_t* out, size_t capacity, bool parse_special,
                           bool add_bos) const {
    size_t n = 0;
    encode_each(text, parse_special, add_bos, [&](int32_t id) {
      if (n < capacity) out[n] = id;
      ++n;
    });
    if (n > capacity) {
      return make_error(errc::out_of_memory, "text needs " + std::to_string(n) + " tokens, the buffer holds " +
                                                 std::to_string(capacity));
    }
    return n;
  }

  /// Bytes of a token sequence. render_special = false hides control tokens.
  result<std::string> decode(const int32_t* ids, size_t n, bool render_special = true) const {
    std::string out;
    for (size_t i = 0; i < n; ++i) {
      if (ids[i] < 0 || ids[i] >= vocab_.size()) {
        return make_error(errc::out_of_range, "token id " + std::to_string(ids[i]) + " at position " +
                                                  std::to_string(i) + " is outside the vocabulary [0, " +
                                                  std::to_string(vocab_.size()) + ")");
      }
      append_piece(out, ids[i], render_special);
    }
    return out;
  }
  result<std::string> decode(const std::vector<int32_t>& ids, bool render_special = true) const {
    return decode(ids.data(), ids.size(), render_special);
  }
  /// Appends token id's rendering (nothing for an out-of-range id or a hidden control token).
  void append_piece(std::string& out, int32_t id, bool render_special) const {
    if (!render_special) {
      const token_type t = vocab_.type(id);
      if (t == token_type::control || t == token_type::unknown) return;
    }
    out.append(vocab_.piece(id));
  }

  /// Formats a conversation with this model's chat template (ChatML only; see chat.hpp).
  result<std::string> apply_chat_template(const std::vector<chat_message>& messages,
                                          bool add_generation_prompt) const {
    return text::apply_chat_template(chat_template_, messages, add_generation_prompt);
  }

 private:
  static constexpr size_t max_present = 16;

  static result<tokenizer> load_gguf(const gguf::file& f) {
    PLM_TRY(const std::string_view model, f.get<std::string_view>("tokenizer.ggml.model"));
    if (model != "gpt2") {
      return make_error(errc::unsupported, "tokenizer.ggml.model is '" + std::string(model) +
                                               "'; plm supports byte-level BPE ('gpt2')");
    }
    PLM_TRY(const std::string_view pre, f.get<std::string_view>("tokenizer.ggml.pre"));
    PLM_TRY_VOID(check_pre(pre));
    PLM_TRY(const std::vector<std::string_view> tokens, f.get_string_array("tokenizer.ggml.tokens"));
    std::vector<int32_t> types;
    if (f.has("tokenizer.ggml.token_type")) {
      PLM_TRY(types, f.get_array<int32_t>("tokenizer.ggml.token_type"));
    }
    PLM_TRY(const std::vector<std::string_view> merges, f.get_string_array("tokenizer.ggml.merges"));
    PLM_TRY(const int32_t bos, read_id(f, "tokenizer.ggml.bos_token_id"));
    PLM_TRY(const int32_t eos, read_id(f, "tokenizer.ggml.eos_token_id"));
    PLM_TRY(const int32_t pad, read_id(f, "tokenizer.ggml.padding_token_id"));
    PLM_TRY(const bool add_bos, f.get_or<bool>("tokenizer.ggml.add_bos_token", false));
    PLM_TRY(const std::string_view tmpl, f.get_or<std::string_view>("tokenizer.chat_template", std::string_view()));
    PLM_TRY(text::vocab v, vocab::build(tokens, types, merges, bos, eos, pad));
    return tokenizer(std::move(v), add_bos, std::string(tmpl));
  }

  // Special token ids are u32 in llama.cpp's files; i32 is accepted too. Absent = -1.
  static result<int32_t> read_id(const gguf::file& f, std::string_view key) {
    if (!f.has(key)) return int32_t(-1);
    PLM_TRY(const gguf::value_type t, f.type_of(key));
    int64_t id;
    if (t == gguf::value_type::i32) {
      PLM_TRY(const int32_t v, f.get<int32_t>(key));
      id = v;
    } else {
      PLM_TRY(const uint32_t v, f.get<uint32_t>(key));
      id = v;
    }
    if (id < 0 || id > INT32_MAX) {
      return make_error(errc::out_of_range, std::string(key) + " is " + std::to_string(id) + ", not a token id");
    }
    return static_cast<int32_t>(id);
  }

  tokenizer(text::vocab v, bool add_bos, std::string chat_template)
      : vocab_(std::move(v)), add_bos_(add_bos), chat_template_(std::move(chat_template)) {}

  // One gap of the text being cut by specials[level]: the search for that
  // special resumes at pos; `pending` is the special found just before the
  // gap's child (the piece in front of it), emitted once the child is done.
  struct gap_frame {
    std::string_view text;
    size_t level;
    size_t pos;
    int32_t pending;  // -1: none
  };

  template <class Sink>
  void encode_plain(std::string_view text, Sink& sink) const {
    split_qwen2(text, [&](size_t b, size_t e) { bpe_word(vocab_, text.substr(b, e - b), sink); });
  }

  // Cuts the occurrences of specials[0] out of text (left to right, no
  // overlaps), hands the gaps to the remaining specials, and BPE-encodes what
  // no special claims. A loop over an explicit stack, not recursion: the
  // depth is the number of specials present, which a vocabulary with many
  // control tokens makes as large as it likes (recursing, some 1,500 of them
  // overflowed a 256 KiB thread stack). Levels grow by one from the bottom of
  // the stack up, so at most count + 1 frames live at once: up to max_present
  // specials fit on the C++ stack and need no heap.
  template <class Sink>
  void partition(std::string_view text, const int32_t* specials, size_t count, Sink& sink) const {
    if (text.empty()) return;
    if (count == 0) {
      encode_plain(text, sink);
      return;
    }
    gap_frame fixed[max_present + 1];
    std::vector<gap_frame> grown;  // [count + 1] when more than max_present specials occur
    gap_frame* stack = fixed;
    if (count > max_present) {
      grown.resize(count + 1);
      stack = grown.data();
    }
    size_t depth = 0;
    stack[depth++] = gap_frame{text, 0, 0, -1};
    while (depth > 0) {
      gap_frame& f = stack[depth - 1];
      if (f.pending >= 0) {
        sink(f.pending);
        f.pending = -1;
      }
      if (f.level == count) {
        encode_plain(f.text, sink);
        --depth;
        continue;
      }
      const std::string_view s = vocab_.text(specials[f.level]);  // non-empty: vocab::special_tokens()
      const size_t hit = f.text.find(s, f.pos);
      const size_t end = hit == std::string_view::npos ? f.text.size() : hit;
      const std::string_view gap = f.text.substr(f.pos, end - f.pos);
      const size_t level = f.level + 1;
      if (hit == std::string_view::npos) {
        --depth;  // the tail gap takes this frame's place
      } else {
        f.pos = hit + s.size();
        f.pending = specials[f.level];
      }
      if (!gap.empty()) stack[depth++] = gap_frame{gap, level, 0, -1};
    }
  }

  text::vocab vocab_;
  bool add_bos_ = false;
  std::string chat_template_;
};

/// Streaming detokenizer: turns generated ids into text that is safe to show
/// at once. It holds back a trailing incomplete UTF-8 sequence (a character
/// split across tokens) until it completes, so it never emits part of a valid
/// character; bytes that cannot become valid UTF-8 are passed through as they
/// are, never dropped. flush() returns whatever is still held at the end.
/// Allocation-free per token once its buffers have grown to the longest piece.
class decoder {
 public:
  explicit decoder(const tokenizer& tok, bool render_special = true) : tok_(&tok), render_special_(render_special) {
    pending_.reserve(64);
    out_.reserve(64);
  }

  /// Text completed by this token; valid until the next call. Out-of-range ids add nothing.
  std::string_view feed(int32_t id) {
    tok_->append_piece(pending_, id, render_special_);
    const size_t cut = complete_prefix(pending_);
    out_.assign(pending_, 0, cut);
    pending_.erase(0, cut);
    return out_;
  }
  /// Everything still held (an incomplete sequence at the end of the stream).
  std::string_view flush() {
    out_.swap(pending_);
    pending_.clear();
    return out_;
  }
  /// Drops held bytes, for a new stream.
  void reset() {
    pending_.clear();
    out_.clear();
  }
  /// Bytes currently held back.
  size_t pending() const noexcept { return pending_.size(); }

  /// Length of the longest prefix of s that does not end inside a UTF-8
  /// sequence that could still be completed by more bytes.
  static size_t complete_prefix(std::string_view s) noexcept {
    const size_t n = s.size();
    // Find the last lead byte among the final 3 bytes (a longer incomplete tail is impossible).
    size_t p = n;
    for (size_t k = 1; k <= 3 && k <= n; ++k) {
      const auto b = static_cast<unsigned char>(s[n - k]);
      if ((b & 0xC0) != 0x80) {
        p = n - k;
        break;
      }
    }
    if (p == n) return n;
    const auto b0 = static_cast<unsigned char>(s[p]);
    size_t need;
    if (b0 >= 0xC2 && b0 <= 0xDF) need = 2;
    else if (b0 >= 0xE0 && b0 <= 0xEF) need = 3;
    else if (b0 >= 0xF0 && b0 <= 0xF4) need = 4;
    else return n;  // ASCII or a byte that never starts a valid sequence
    const size_t have = n - p;
    if (have >= need) return n;
    if (have >= 2) {
      // The second byte narrows the valid range for some leads (no overlongs,
      // surrogates or code points above U+10FFFF can complete).
      const auto b1 = static_cast<unsigned char>(s[p + 1]);
      if ((b0 == 0xE0 && b1 < 0xA0) || (b0 == 0xED && b1 > 0x9F) || (b0 == 0xF0 && b1 < 0x90) ||
          (b0 == 0xF4 && b1 > 0x8F)) {
        return n;
      }
    }
    return p;
  }

 private:
  const tokenizer* tok_;
  bool render_special_;
  std::string pending_;  // bytes rendered but not yet returned
  std::string out_;      // what the last call returned
};

}  // namespace plm::text
