// plm/text/unicode.hpp - UTF-8 decoding, code point classes and the GPT-2 byte<->unicode map.
//
// The byte-level BPE tokenizer works on raw bytes, but its pre-tokenizer splits
// text by Unicode classes, and the vocabulary stores tokens as "byte-level"
// strings in which every byte is spelled as one printable code point (GPT-2's
// bytes_to_unicode). This header provides those three pieces, allocation-free.
//
// Invalid UTF-8 is never repaired or dropped: decode_utf8() reports it as a
// one-byte "invalid" unit so callers can carry the raw byte through. Strictness:
// overlong forms, UTF-16 surrogates (U+D800..DFFF) and values above U+10FFFF are
// invalid (llama.cpp accepts some of these; it also rewrites every invalid byte
// to U+FFFD, which changes the text, while plm keeps the bytes).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "plm/text/unicode_tables.hpp"

namespace plm::text {

/// One decoded unit of a UTF-8 string.
struct utf8_unit {
  uint32_t cpt;    ///< code point; 0xFFFD for an invalid byte
  uint32_t len;    ///< bytes consumed (1..4)
  bool valid;      ///< false: the single byte at this position is not valid UTF-8
};

/// Decodes the unit starting at s[pos] (pos < s.size()).
inline utf8_unit decode_utf8(std::string_view s, size_t pos) noexcept {
  const auto* p = reinterpret_cast<const unsigned char*>(s.data()) + pos;
  const size_t left = s.size() - pos;
  const uint32_t b0 = p[0];
  if (b0 < 0x80) return {b0, 1, true};
  const utf8_unit bad{0xFFFD, 1, false};
  uint32_t need;
  uint32_t cpt;
  uint32_t min;
  if ((b0 & 0xE0) == 0xC0) { need = 2; cpt = b0 & 0x1F; min = 0x80; }
  else if ((b0 & 0xF0) == 0xE0) { need = 3; cpt = b0 & 0x0F; min = 0x800; }
  else if ((b0 & 0xF8) == 0xF0) { need = 4; cpt = b0 & 0x07; min = 0x10000; }
  else return bad;
  if (left < need) return bad;
  for (uint32_t i = 1; i < need; ++i) {
    const uint32_t b = p[i];
    if ((b & 0xC0) != 0x80) return bad;
    cpt = (cpt << 6) | (b & 0x3F);
  }
  if (cpt < min || cpt > 0x10FFFF || (cpt >= 0xD800 && cpt <= 0xDFFF)) return bad;
  return {cpt, need, true};
}

/// Appends the UTF-8 encoding of a code point (cpt <= 0x10FFFF, not a surrogate).
inline void append_utf8(std::string& out, uint32_t cpt) {
  if (cpt < 0x80) {
    out.push_back(static_cast<char>(cpt));
  } else if (cpt < 0x800) {
    out.push_back(static_cast<char>(0xC0 | (cpt >> 6)));
    out.push_back(static_cast<char>(0x80 | (cpt & 0x3F)));
  } else if (cpt < 0x10000) {
    out.push_back(static_cast<char>(0xE0 | (cpt >> 12)));
    out.push_back(static_cast<char>(0x80 | ((cpt >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (cpt & 0x3F)));
  } else {
    out.push_back(static_cast<char>(0xF0 | (cpt >> 18)));
    out.push_back(static_cast<char>(0x80 | ((cpt >> 12) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | ((cpt >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (cpt & 0x3F)));
  }
}

/// True if s is entirely valid UTF-8 (by decode_utf8's strict rules).
inline bool is_valid_utf8(std::string_view s) noexcept {
  for (size_t i = 0; i < s.size();) {
    const utf8_unit u = decode_utf8(s, i);
    if (!u.valid) return false;
    i += u.len;
  }
  return true;
}

/// Class bits of a code point: detail::cpt_letter | cpt_number | cpt_whitespace, or 0.
inline uint8_t cpt_flags(uint32_t cpt) noexcept {
  using namespace detail;
  if (cpt < 0x80) {
    // ASCII dominates real text: answer it without the search.
    if (cpt >= 'a' && cpt <= 'z') return cpt_letter;
    if (cpt >= 'A' && cpt <= 'Z') return cpt_letter;
    if (cpt >= '0' && cpt <= '9') return cpt_number;
    if (cpt == ' ' || (cpt >= 0x09 && cpt <= 0x0D)) return cpt_whitespace;
    return 0;
  }
  uint32_t lo = 0, hi = cpt_range_count;  // first range with last >= cpt
  while (lo < hi) {
    const uint32_t mid = (lo + hi) / 2;
    if (cpt_ranges[mid].last < cpt) lo = mid + 1;
    else hi = mid;
  }
  if (lo < cpt_range_count && cpt_ranges[lo].first <= cpt) return cpt_ranges[lo].flags;
  return 0;
}

inline bool is_letter(uint32_t cpt) noexcept { return (cpt_flags(cpt) & detail::cpt_letter) != 0; }
inline bool is_number(uint32_t cpt) noexcept { return (cpt_flags(cpt) & detail::cpt_number) != 0; }
inline bool is_whitespace(uint32_t cpt) noexcept { return (cpt_flags(cpt) & detail::cpt_whitespace) != 0; }

/// GPT-2's bytes_to_unicode: every byte gets one printable code point. Bytes
/// 0x21..0x7E, 0xA1..0xAC and 0xAE..0xFF stand for themselves; the other 68
/// bytes (controls, space, 0x7F..0xA0, 0xAD) take U+0100.. in byte order. This
/// order is also the order of the 256 byte tokens at the start of the GPT-2 and
/// Qwen vocabularies ("!" = 0, ..., "Ġ" (space) = 220).
inline uint32_t byte_to_cpt(uint8_t b) noexcept {
  if ((b >= 0x21 && b <= 0x7E) || (b >= 0xA1 && b <= 0xAC) || b >= 0xAE) return b;
  // Rank of b among the 68 remapped bytes.
  uint32_t n;
  if (b <= 0x20) n = b;                 // 0x00..0x20 -> 0..32
  else if (b <= 0xA0) n = 33 + (b - 0x7F);  // 0x7F..0xA0 -> 33..66
  else n = 67;                          // 0xAD
  return 0x100 + n;
}

/// Inverse of byte_to_cpt; returns -1 for a code point that stands for no byte.
inline int cpt_to_byte(uint32_t cpt) noexcept {
  if ((cpt >= 0x21 && cpt <= 0x7E) || (cpt >= 0xA1 && cpt <= 0xAC) || (cpt >= 0xAE && cpt <= 0xFF))
    return static_cast<int>(cpt);
  if (cpt < 0x100 || cpt > 0x100 + 67) return -1;
  const uint32_t n = cpt - 0x100;
  if (n <= 32) return static_cast<int>(n);
  if (n <= 66) return static_cast<int>(0x7F + (n - 33));
  return 0xAD;
}

/// Position of byte b's token among the 256 byte tokens in GPT-2 order
/// (the order byte_to_cpt's comment describes): '!' -> 0, ' ' -> 220.
inline uint32_t gpt2_byte_rank(uint8_t b) noexcept {
  if (b >= 0x21 && b <= 0x7E) return b - 0x21;             // 0..93
  if (b >= 0xA1 && b <= 0xAC) return 94 + (b - 0xA1);      // 94..105
  if (b >= 0xAE) return 106 + (b - 0xAE);                  // 106..187
  return 188 + (byte_to_cpt(b) - 0x100);                   // 188..255
}

/// Spells raw bytes as a byte-level token string (each byte -> its code point).
inline std::string bytes_to_token_text(std::string_view bytes) {
  std::string out;
  out.reserve(bytes.size() * 2);
  for (const char c : bytes) append_utf8(out, byte_to_cpt(static_cast<uint8_t>(c)));
  return out;
}

/// Reverses bytes_to_token_text. Returns false (out unspecified) when the text
/// holds a code point that stands for no byte, i.e. it is not a byte-level string.
inline bool token_text_to_bytes(std::string_view text, std::string& out) {
  out.clear();
  for (size_t i = 0; i < text.size();) {
    const auto c = static_cast<unsigned char>(text[i]);
    if (c >= 0x21 && c <= 0x7E) {  // printable ASCII stands for itself
      out.push_back(static_cast<char>(c));
      ++i;
      continue;
    }
    const utf8_unit u = decode_utf8(text, i);
    if (!u.valid) return false;
    const int b = cpt_to_byte(u.cpt);
    if (b < 0) return false;
    out.push_back(static_cast<char>(b));
    i += u.len;
  }
  return true;
}

}  // namespace plm::text
