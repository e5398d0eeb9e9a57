// plm/text/pretokenize.hpp - the qwen2 pre-tokenizer split, written out by hand.
//
// Qwen2 (and PLM, which uses its vocabulary) splits text into "words" with
//   (?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}
//   | ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+
// before BPE runs on each word. plm does not use a regex engine (std::regex is
// slow, recursive and has no \p{..}); split_qwen2() walks the text once and, at
// each position, tries the alternatives in the regex's order, reproducing
// leftmost-first alternation and the backtracking of the whitespace rules.
//
// Classes: \p{L} = General_Category L*, \p{N} = N*, \s = White_Space (tables in
// unicode_tables.hpp). The contractions are ASCII-only case-insensitive, as in
// llama.cpp's rewrite of the pattern ('[sS]|'[tT]|'[rR][eE]|...). Invalid UTF-8
// bytes count as one code point each of no class (llama.cpp sees U+FFFD there,
// which has no class either), so they split like punctuation and are kept.
// No normalisation (NFC or other) is applied: llama.cpp applies none.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

#include "plm/text/unicode.hpp"

namespace plm::text {

namespace detail {

// One code point (or invalid byte) with the facts the split rules ask about.
struct split_unit {
  uint32_t cpt;
  uint32_t len;
  uint8_t flags;  // cpt_letter | cpt_number | cpt_whitespace, 0 = other
};

inline split_unit split_unit_at(std::string_view s, size_t pos) noexcept {
  const auto b = static_cast<unsigned char>(s[pos]);
  if (b < 0x80) return {b, 1, cpt_flags(b)};
  const utf8_unit u = decode_utf8(s, pos);
  return {u.cpt, u.len, u.valid ? cpt_flags(u.cpt) : uint8_t(0)};
}

inline bool is_cr_or_lf(uint32_t c) noexcept { return c == '\r' || c == '\n'; }

inline char ascii_lower(char c) noexcept { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c; }

// End of the run of units from pos whose class has any bit of `flags`
// (flags == 0: units with no class).
inline size_t scan_class(std::string_view s, size_t pos, uint8_t flags) noexcept {
  while (pos < s.size()) {
    const split_unit u = split_unit_at(s, pos);
    const bool in = flags ? (u.flags & flags) != 0 : u.flags == 0;
    if (!in) break;
    pos += u.len;
  }
  return pos;
}

}  // namespace detail

/// Calls emit(begin, end) for each word of `text` (byte offsets, in order,
/// covering the text without gaps; every word is non-empty).
template <class Emit>
void split_qwen2(std::string_view text, Emit&& emit) {
  using namespace detail;
  const size_t n = text.size();
  size_t pos = 0;
  while (pos < n) {
    const split_unit u = split_unit_at(text, pos);

    // (?i:'s|'t|'re|'ve|'m|'ll|'d)
    if (u.cpt == '\'' && pos + 1 < n) {
      const char c1 = ascii_lower(text[pos + 1]);
      if (c1 == 's' || c1 == 't' || c1 == 'm' || c1 == 'd') {
        emit(pos, pos + 2);
        pos += 2;
        continue;
      }
      if (pos + 2 < n) {
        const char c2 = ascii_lower(text[pos + 2]);
        if ((c1 == 'r' && c2 == 'e') || (c1 == 'v' && c2 == 'e') || (c1 == 'l' && c2 == 'l')) {
          emit(pos, pos + 3);
          pos += 3;
          continue;
        }
      }
    }

    // [^\r\n\p{L}\p{N}]?\p{L}+
    if (u.flags & cpt_letter) {
      const size_t end = scan_class(text, pos + u.len, cpt_letter);
      emit(pos, end);
      pos = end;
      continue;
    }
    if (!(u.flags & (cpt_letter | cpt_number)) && !is_cr_or_lf(u.cpt) && pos + u.len < n) {
      const split_unit v = split_unit_at(text, pos + u.len);
      if (v.flags & cpt_letter) {
        const size_t end = scan_class(text, pos + u.len + v.len, cpt_letter);
        emit(pos, end);
        pos = end;
        continue;
      }
    }

    // \p{N}
    if (u.flags & cpt_number) {
      emit(pos, pos + u.len);
      pos += u.len;
      continue;
    }

    // " ?[^\s\p{L}\p{N}]+[\r\n]*"
    size_t run = n;  // start of the [^\s\p{L}\p{N}]+ run, n = no match
    if (u.flags == 0) {
      run = pos;
    } else if (u.cpt == ' ' && pos + 1 < n && split_unit_at(text, pos + 1).flags == 0) {
      run = pos + 1;
    }
    if (run != n) {
      size_t end = scan_class(text, run, 0);
      while (end < n && is_cr_or_lf(static_cast<unsigned char>(text[end]))) ++end;
      emit(pos, end);
      pos = end;
      continue;
    }

    // u is whitespace here. One pass over the whitespace run gives what the
    // three remaining alternatives need: its end, its last \r|\n, its last unit.
    size_t end = pos;
    size_t last_unit = pos;
    size_t last_newline = n;  // n = none
    size_t units = 0;
    while (end < n) {
      const split_unit w = split_unit_at(text, end);
      if (!(w.flags & cpt_whitespace)) break;
      if (is_cr_or_lf(w.cpt)) last_newline = end;
      last_unit = end;
      end += w.len;
      ++units;
    }
    if (last_newline != n) {
      // \s*[\r\n]+ : greedy \s* backs off to the last newline of the run.
      emit(pos, last_newline + 1);
      pos = last_newline + 1;
    } else if (end == n || units == 1) {
      // \s+(?!\S) at the end of the text, or \s+ for a single unit before \S.
      emit(pos, end);
      pos = end;
    } else {
      // \s+(?!\S) : leave the last whitespace unit to prefix the next word.
      emit(pos, last_unit);
      pos = last_unit;
    }
  }
}

}  // namespace plm::text
