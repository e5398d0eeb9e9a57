// plm/text/vocab.hpp - a validated, indexed byte-level BPE vocabulary.
//
// Built once from the GGUF arrays (or a vocab_spec) and read-only afterwards,
// so one vocab can serve many threads. Everything encode/decode touches per
// token lives in flat arrays: token texts and decoded pieces in two blobs, a
// text->id open-addressing table, and a (left id, right id) -> (rank, merged id)
// table for the BPE merges, plus a dense 256x256 table for the byte-byte pairs
// that every word starts with.
//
// Validation (each failure is an error naming the token/merge and what was
// expected): token/type counts agree, types are llama.cpp's 0..6, every byte
// has its byte-level token, every merge is "left right" with both halves and
// their concatenation in the vocabulary, special ids are in range.
#pragma once

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <string>
#include <string_view>
#include <vector>

#include "plm/core/result.hpp"
#include "plm/text/unicode.hpp"
#include "plm/text/vocab_spec.hpp"

namespace plm::text {

namespace detail {

// 64-bit string hash, 8 bytes per step; quality is ample for an open-addressing
// table of token texts (short, distinct strings).
inline uint64_t hash_bytes(const char* p, size_t n) noexcept {
  uint64_t h = 0x9E3779B97F4A7C15ull ^ (n * 0xC2B2AE3D27D4EB4Full);
  while (n >= 8) {
    uint64_t w;
    std::memcpy(&w, p, 8);
    h = (h ^ w) * 0x100000001B3ull;
    h ^= h >> 29;
    p += 8;
    n -= 8;
  }
  uint64_t w = 0;
  std::memcpy(&w, p, n);
  h = (h ^ w ^ (uint64_t(n) << 56)) * 0x9FB21C651E98DF25ull;
  h ^= h >> 32;
  h *= 0xD6E8FEB86659FD93ull;
  h ^= h >> 32;
  return h;
}

// Read hint for a table slot that is about to be probed.
inline void prefetch(const void* p) noexcept {
#if defined(__GNUC__) || defined(__clang__)
  __builtin_prefetch(p);
#else
  (void)p;
#endif
}

inline uint64_t hash_pair(uint64_t key) noexcept {
  key *= 0x9E3779B97F4A7C15ull;
  return key ^ (key >> 31);
}

// token_text_to_bytes writing to out (room for text.size() bytes); returns the
// byte count, or size_t(-1) if text is not a byte-level spelling.
inline size_t token_text_to_bytes_into(std::string_view text, char* out) noexcept {
  size_t n = 0;
  for (size_t i = 0; i < text.size();) {
    const auto c = static_cast<unsigned char>(text[i]);
    if (c >= 0x21 && c <= 0x7E) {  // printable ASCII stands for itself
      out[n++] = static_cast<char>(c);
      ++i;
      continue;
    }
    const utf8_unit u = decode_utf8(text, i);
    const int b = u.valid ? cpt_to_byte(u.cpt) : -1;
    if (b < 0) return size_t(-1);
    out[n++] = static_cast<char>(b);
    i += u.len;
  }
  return n;
}

inline size_t table_capacity(size_t n) noexcept {
  size_t cap = 16;
  while (cap * 3 < n * 5) cap *= 2;  // load factor <= 0.6
  return cap;
}

// Result of looking up an adjacent pair: rank -1 = no merge.
struct merge_info {
  int32_t rank;
  int32_t id;
};

// One slot of the merge table: key and value share a cache line.
struct merge_slot {
  uint64_t key;  // left << 32 | right; ~0 = empty
  merge_info info;
};

}  // namespace detail

/// Read-only vocabulary. Build with vocab::build(); copyable and movable.
class vocab {
 public:
  /// Validates and indexes a vocabulary. `Strings` is any random-access
  /// container of things convertible to std::string_view. types may be empty
  /// (all normal). bos/eos/pad: -1 = none.
  template <class Tokens, class Merges>
  static result<vocab> build(const Tokens& tokens, const std::vector<int32_t>& types, const Merges& merges,
                             int32_t bos_id, int32_t eos_id, int32_t pad_id);

  int32_t size() const noexcept { return n_tokens_; }
  int32_t n_merges() const noexcept { return n_merges_; }

  /// The token's text as stored (byte-level spelling for normal tokens).
  std::string_view text(int32_t id) const noexcept {
    if (id < 0 || id >= n_tokens_) return {};
    return std::string_view(text_blob_.data() + text_off_[id], text_off_[id + 1] - text_off_[id]);
  }
  /// The bytes the token stands for when rendered (empty for unused/byte/undefined tokens).
  std::string_view piece(int32_t id) const noexcept {
    if (id < 0 || id >= n_tokens_) return {};
    return std::string_view(piece_blob_.data() + piece_off_[id], piece_off_[id + 1] - piece_off_[id]);
  }
  token_type type(int32_t id) const noexcept {
    if (id < 0 || id >= n_tokens_) return token_type::undefined;
    return static_cast<token_type>(types_[id]);
  }
  /// Id of the token with this exact text, or -1 (duplicates: the last one wins, as in llama.cpp).
  int32_t find(std::string_view text) const noexcept {
    return find_hashed(text, detail::hash_bytes(text.data(), text.size()));
  }
  /// Token id of a single raw byte.
  int32_t byte_token(uint8_t b) const noexcept { return byte_ids_[b]; }

  /// The merge of adjacent tokens (left, right), or rank -1.
  detail::merge_info merge(int32_t left, int32_t right) const noexcept {
    const uint64_t key = (uint64_t(uint32_t(left)) << 32) | uint32_t(right);
    const size_t mask = merges_.size() - 1;
    for (size_t i = detail::hash_pair(key) & mask;; i = (i + 1) & mask) {
      const detail::merge_slot& slot = merges_[i];
      if (slot.key == key) return slot.info;
      if (slot.key == empty_key) return {-1, -1};
    }
  }
  /// The merge of two adjacent raw bytes (a dense table: the first BPE step of every word).
  detail::merge_info merge_bytes(uint8_t left, uint8_t right) const noexcept {
    return byte_pairs_[size_t(left) * 256 + right];
  }

  /// Tokens matched in text before BPE (control, user_defined, unknown with
  /// non-empty text), longest text first, then lowest id: llama.cpp's order.
  const std::vector<int32_t>& special_tokens() const noexcept { return specials_; }
  /// End-of-generation tokens: eos, plus tokens named <|im_end|>, <|endoftext|>
  /// and other known end-of-turn texts (llama.cpp's rule), ascending.
  const std::vector<int32_t>& eog_tokens() const noexcept { return eog_; }
  bool is_eog(int32_t id) const noexcept { return std::binary_search(eog_.begin(), eog_.end(), id); }

  int32_t bos_id() const noexcept { return bos_id_; }
  int32_t eos_id() const noexcept { return eos_id_; }
  int32_t pad_id() const noexcept { return pad_id_; }

 private:
  static constexpr uint64_t empty_key = ~uint64_t(0);

  vocab() = default;
  void insert_text(int32_t id, uint64_t h);

  // Slots hold (32 hash bits << 32 | id): most probes of the wrong token are
  // rejected on the tag without touching the text blob.
  static constexpr uint64_t empty_slot = ~uint64_t(0);
  static uint64_t slot_of(uint64_t h, int32_t id) noexcept { return (h >> 32 << 32) | uint32_t(id); }
  int32_t find_hashed(std::string_view text, uint64_t h) const noexcept {
    const size_t mask = text_table_.size() - 1;
    const uint64_t tag = h >> 32;
    for (size_t i = h & mask;; i = (i + 1) & mask) {
      const uint64_t slot = text_table_[i];
      if (slot == empty_slot) return -1;
      if ((slot >> 32) == tag) {
        const auto id = static_cast<int32_t>(uint32_t(slot));
        if (this->text(id) == text) return id;
      }
    }
  }

  int32_t n_tokens_ = 0;
  int32_t n_merges_ = 0;
  std::string text_blob_;                 // all token texts back to back
  std::vector<uint32_t> text_off_;        // [n_tokens + 1]
  std::string piece_blob_;                // all rendered pieces back to back
  std::vector<uint32_t> piece_off_;       // [n_tokens + 1]
  std::vector<int8_t> types_;             // [n_tokens]
  std::vector<uint64_t> text_table_;      // [pow2] slot_of(hash, id), empty_slot = empty
  std::vector<detail::merge_slot> merges_;      // [pow2] open addressing by hash_pair(key)
  std::vector<detail::merge_info> byte_pairs_;  // [256 * 256] by (left byte, right byte)
  int32_t byte_ids_[256] = {};
  std::vector<int32_t> specials_;
  std::vector<int32_t> eog_;
  int32_t bos_id_ = -1, eos_id_ = -1, pad_id_ = -1;
};

// ---------------------------------------------------------------------------

inline void vocab::insert_text(int32_t id, uint64_t h) {
  const std::string_view t = text(id);
  const size_t mask = text_table_.size() - 1;
  for (size_t i = h & mask;; i = (i + 1) & mask) {
    const uint64_t slot = text_table_[i];
    if (slot == empty_slot || ((slot >> 32) == (h >> 32) && text(static_cast<int32_t>(uint32_t(slot))) == t)) {
      text_table_[i] = slot_of(h, id);  // a duplicate text: the later id replaces the earlier
      return;
    }
  }
}

template <class Tokens, class Merges>
result<vocab> vocab::build(const Tokens& tokens, const std::vector<int32_t>& types, const Merges& merges,
                           int32_t bos_id, int32_t eos_id, int32_t pad_id) {
  const size_t n = tokens.size();
  if (n == 0) return make_error(errc::invalid_format, "vocabulary has no tokens");
  if (n > (size_t(1) << 30)) {
    return make_error(errc::invalid_format, "vocabulary has " + std::to_string(n) + " tokens, more than 2^30");
  }
  if (!types.empty() && types.size() != n) {
    return make_error(errc::invalid_format, "token_type has " + std::to_string(types.size()) +
                                                " entries, expected one per token (" + std::to_string(n) + ")");
  }
  if (merges.size() >= (size_t(1) << 31)) return make_error(errc::invalid_format, "too many merges");

  vocab v;
  v.n_tokens_ = static_cast<int32_t>(n);
  v.types_.resize(n, static_cast<int8_t>(token_type::normal));
  for (size_t i = 0; i < types.size(); ++i) {
    if (types[i] < 0 || types[i] > 6) {
      return make_error(errc::invalid_format, "token " + std::to_string(i) + " has token_type " +
                                                  std::to_string(types[i]) + ", expected 0..6");
    }
    v.types_[i] = static_cast<int8_t>(types[i]);
  }

  size_t total = 0;
  for (size_t i = 0; i < n; ++i) total += std::string_view(tokens[i]).size();
  if (total >= 0xFFFFFFFFull) return make_error(errc::invalid_format, "token texts exceed 4 GiB");
  v.text_blob_.reserve(total);
  v.text_off_.resize(n + 1);
  for (size_t i = 0; i < n; ++i) {
    v.text_off_[i] = static_cast<uint32_t>(v.text_blob_.size());
    v.text_blob_.append(std::string_view(tokens[i]));
  }
  v.text_off_[n] = static_cast<uint32_t>(v.text_blob_.size());

  v.text_table_.assign(detail::table_capacity(n), empty_slot);
  {
    // Hash a block, prefetch its slots, then insert: the random accesses overlap.
    constexpr size_t block = 32;
    uint64_t hashes[block];
    const size_t mask = v.text_table_.size() - 1;
    for (size_t base = 0; base < n; base += block) {
      const size_t count = std::min(block, n - base);
      for (size_t k = 0; k < count; ++k) {
        const std::string_view t = v.text(static_cast<int32_t>(base + k));
        hashes[k] = detail::hash_bytes(t.data(), t.size());
        detail::prefetch(&v.text_table_[hashes[k] & mask]);
      }
      for (size_t k = 0; k < count; ++k) v.insert_text(static_cast<int32_t>(base + k), hashes[k]);
    }
  }

  // End-of-generation texts: llama.cpp adds these to its EOG set and forces them
  // to be control tokens whatever the file says.
  static constexpr const char* eog_texts[] = {"<|im_end|>", "<|endoftext|>", "<|eot_id|>", "<|eom_id|>",
                                              "<|end|>",    "<end_of_turn>", "<EOT>"};
  for (const char* t : eog_texts) {
    const int32_t id = v.find(t);
    if (id >= 0) {
      v.types_[id] = static_cast<int8_t>(token_type::control);
      v.eog_.push_back(id);
    }
  }

  // Rendered pieces. Control/user-defined/unknown tokens render as their text;
  // normal ones as the bytes their byte-level spelling stands for (a text that
  // is not byte-level renders verbatim); unused/byte/undefined render as
  // nothing, as llama.cpp does for byte-level vocabularies.
  // A piece is never longer than its text, so the blob can be sized up front
  // and written through a pointer.
  v.piece_blob_.resize(total);
  v.piece_off_.resize(n + 1);
  size_t used = 0;
  for (size_t i = 0; i < n; ++i) {
    v.piece_off_[i] = static_cast<uint32_t>(used);
    const std::string_view t = v.text(static_cast<int32_t>(i));
    char* out = &v.piece_blob_[0] + used;
    switch (static_cast<token_type>(v.types_[i])) {
      case token_type::control:
      case token_type::user_defined:
      case token_type::unknown:
        std::memcpy(out, t.data(), t.size());
        used += t.size();
        break;
      case token_type::normal: {
        const size_t len = detail::token_text_to_bytes_into(t, out);
        if (len == size_t(-1)) {
          std::memcpy(out, t.data(), t.size());
          used += t.size();
        } else {
          used += len;
        }
        break;
      }
      default: break;
    }
  }
  v.piece_blob_.resize(used);
  v.piece_blob_.shrink_to_fit();
  v.piece_off_[n] = static_cast<uint32_t>(used);

  std::string one;
  for (int b = 0; b < 256; ++b) {
    one.clear();
    append_utf8(one, byte_to_cpt(static_cast<uint8_t>(b)));
    const int32_t id = v.find(one);
    if (id < 0) {
      char hex[8];
      std::snprintf(hex, sizeof hex, "0x%02X", b);
      return make_error(errc::missing, std::string("vocabulary has no token for byte ") + hex + " ('" + one +
                                           "'); a byte-level BPE vocabulary needs all 256 byte tokens");
    }
    v.byte_ids_[b] = id;
  }

  // Merges: resolve "left right" to ids now, so encoding never touches strings.
  // Blocks of merges are hashed first and their table slots prefetched, so the
  // lookups (random accesses into megabytes) overlap instead of queueing.
  v.n_merges_ = static_cast<int32_t>(merges.size());
  v.merges_.assign(detail::table_capacity(merges.size()), detail::merge_slot{empty_key, {-1, -1}});
  std::string joined;
  int32_t guess = -1;
  constexpr size_t block = 32;
  struct parsed {
    std::string_view l, r;
    uint64_t hl, hr;
    uint64_t key;
    int32_t id;
  } part[block];
  const size_t merge_mask = v.merges_.size() - 1;
  const size_t text_mask = v.text_table_.size() - 1;
  for (size_t base = 0; base < merges.size(); base += block) {
    const size_t count = std::min(block, merges.size() - base);
    for (size_t k = 0; k < count; ++k) {
      const std::string_view m(merges[base + k]);
      const size_t sp = m.size() > 1 ? m.find(' ', 1) : std::string_view::npos;
      if (sp == std::string_view::npos || sp + 1 >= m.size()) {
        return make_error(errc::invalid_format, "merge " + std::to_string(base + k) + " '" + std::string(m) +
                                                    "' is not two tokens separated by a space");
      }
      parsed& p = part[k];
      p.l = m.substr(0, sp);
      p.r = m.substr(sp + 1);
      p.hl = detail::hash_bytes(p.l.data(), p.l.size());
      p.hr = detail::hash_bytes(p.r.data(), p.r.size());
      detail::prefetch(&v.text_table_[p.hl & text_mask]);
      detail::prefetch(&v.text_table_[p.hr & text_mask]);
    }
    for (size_t k = 0; k < count; ++k) {
      const size_t r = base + k;
      parsed& p = part[k];
      const int32_t li = v.find_hashed(p.l, p.hl), ri = v.find_hashed(p.r, p.hr);
      if (li < 0 || ri < 0) {
        return make_error(errc::missing, "merge " + std::to_string(r) + " '" + std::string(merges[r]) +
                                             "' names '" + std::string(li < 0 ? p.l : p.r) + "', which is not a token");
      }
      joined.assign(p.l);
      joined.append(p.r);
      // Vocabularies trained by BPE list merged tokens in merge order, so the
      // token after the previous merge's result is usually this one: check it
      // before hashing.
      int32_t id = guess + 1;
      if (id <= 0 || id >= v.n_tokens_ || v.text(id) != joined) id = v.find(joined);
      guess = id;
      if (id < 0) {
        return make_error(errc::missing, "merge " + std::to_string(r) + " '" + std::string(merges[r]) +
                                             "' makes '" + joined + "', which is not a token");
      }
      p.key = (uint64_t(uint32_t(li)) << 32) | uint32_t(ri);
      p.id = id;
      detail::prefetch(&v.merges_[detail::hash_pair(p.key) & merge_mask]);
    }
    for (size_t k = 0; k < count; ++k) {
      const parsed& p = part[k];
      for (size_t i = detail::hash_pair(p.key) & merge_mask;; i = (i + 1) & merge_mask) {
        detail::merge_slot& slot = v.merges_[i];
        if (slot.key == p.key) break;  // a repeated merge keeps its first (best) rank
        if (slot.key == empty_key) {
          slot = {p.key, {static_cast<int32_t>(base + k), p.id}};
          break;
        }
      }
    }
  }
  v.byte_pairs_.resize(256 * 256);
  for (int a = 0; a < 256; ++a)
    for (int b = 0; b < 256; ++b) v.byte_pairs_[size_t(a) * 256 + b] = v.merge(v.byte_ids_[a], v.byte_ids_[b]);

  const auto check_id = [&](int32_t id, const char* what) -> result<void> {
    if (id < -1 || id >= v.n_tokens_) {
      return make_error(errc::out_of_range, std::string(what) + " token id " + std::to_string(id) +
                                                " is outside the vocabulary [0, " + std::to_string(n) + ")");
    }
    return ok();
  };
  PLM_TRY_VOID(check_id(bos_id, "bos"));
  PLM_TRY_VOID(check_id(eos_id, "eos"));
  PLM_TRY_VOID(check_id(pad_id, "padding"));
  v.bos_id_ = bos_id;
  v.eos_id_ = eos_id;
  v.pad_id_ = pad_id;
  if (eos_id >= 0) v.eog_.push_back(eos_id);
  std::sort(v.eog_.begin(), v.eog_.end());
  v.eog_.erase(std::unique(v.eog_.begin(), v.eog_.end()), v.eog_.end());

  for (int32_t i = 0; i < v.n_tokens_; ++i) {
    const auto t = static_cast<token_type>(v.types_[i]);
    if ((t == token_type::control || t == token_type::user_defined || t == token_type::unknown) &&
        !v.text(i).empty()) {
      v.specials_.push_back(i);
    }
  }
  std::stable_sort(v.specials_.begin(), v.specials_.end(),
                   [&](int32_t a, int32_t b) { return v.text(a).size() > v.text(b).size(); });
  return v;
}

}  // namespace plm::text
