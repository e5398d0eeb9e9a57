// plm/text/detail/json.hpp - a small, strict JSON reader (RFC 8259) for tokenizer files.
//
// plm reads Hugging Face tokenizer.json files (a few MB, 300k strings) to build
// test vocabularies, and its tests read their corpora as JSON. This parser
// builds a plain tree, never throws, and rejects what it does not understand
// with an error naming the byte offset: bad escapes, lone UTF-16 surrogates,
// raw control characters in strings, invalid UTF-8, trailing garbage, and
// nesting deeper than a fixed limit (no stack overflow on hostile input).
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "plm/core/result.hpp"
#include "plm/text/unicode.hpp"

namespace plm::text::detail {

class json_value {
 public:
  enum class kind { null, boolean, number, string, array, object };

  json_value() = default;

  kind type() const noexcept { return kind_; }
  bool is_null() const noexcept { return kind_ == kind::null; }
  bool is_bool() const noexcept { return kind_ == kind::boolean; }
  bool is_number() const noexcept { return kind_ == kind::number; }
  bool is_string() const noexcept { return kind_ == kind::string; }
  bool is_array() const noexcept { return kind_ == kind::array; }
  bool is_object() const noexcept { return kind_ == kind::object; }

  bool as_bool() const noexcept { return bool_; }
  double as_number() const noexcept { return number_; }
  const std::string& as_string() const noexcept { return string_; }
  const std::vector<json_value>& items() const noexcept { return items_; }
  /// Object members in file order.
  const std::vector<std::pair<std::string, json_value>>& members() const noexcept { return members_; }

  /// Member by key (the first if repeated), or nullptr (also when not an object).
  const json_value* find(std::string_view key) const noexcept {
    for (const auto& m : members_)
      if (m.first == key) return &m.second;
    return nullptr;
  }

  static const char* kind_name(kind k) noexcept {
    switch (k) {
      case kind::null: return "null";
      case kind::boolean: return "boolean";
      case kind::number: return "number";
      case kind::string: return "string";
      case kind::array: return "array";
      case kind::object: return "object";
    }
    return "?";
  }

 private:
  friend class json_parser;
  kind kind_ = kind::null;
  bool bool_ = false;
  double number_ = 0;
  std::string string_;
  std::vector<json_value> items_;
  std::vector<std::pair<std::string, json_value>> members_;
};

class json_parser {
 public:
  static constexpr int max_depth = 128;

  static result<json_value> parse(std::string_view text) {
    json_parser p(text);
    json_value v;
    p.skip_ws();
    PLM_TRY_VOID(p.value(v, 0));
    p.skip_ws();
    if (p.pos_ != text.size()) return p.fail("unexpected data after the JSON value");
    return v;
  }

 private:
  explicit json_parser(std::string_view s) : s_(s) {}

  plm::error fail(const std::string& what) const {
    return make_error(errc::invalid_format, "JSON at byte " + std::to_string(pos_) + ": " + what);
  }

  void skip_ws() noexcept {
    while (pos_ < s_.size()) {
      const char c = s_[pos_];
      if (c != ' ' && c != '\t' && c != '\n' && c != '\r') break;
      ++pos_;
    }
  }

  bool literal(std::string_view word) noexcept {
    if (s_.substr(pos_, word.size()) != word) return false;
    pos_ += word.size();
    return true;
  }

  result<void> value(json_value& v, int depth) {
    if (depth > max_depth) return fail("nesting deeper than " + std::to_string(max_depth) + " levels");
    if (pos_ >= s_.size()) return fail("unexpected end of input, expected a value");
    const char c = s_[pos_];
    if (c == '{') return object(v, depth);
    if (c == '[') return array(v, depth);
    if (c == '"') {
      v.kind_ = json_value::kind::string;
      return string(v.string_);
    }
    if (c == 't' && literal("true")) {
      v.kind_ = json_value::kind::boolean;
      v.bool_ = true;
      return ok();
    }
    if (c == 'f' && literal("false")) {
      v.kind_ = json_value::kind::boolean;
      return ok();
    }
    if (c == 'n' && literal("null")) return ok();
    if (c == '-' || (c >= '0' && c <= '9')) return number(v);
    return fail(std::string("unexpected character '") + c + "'");
  }

  result<void> object(json_value& v, int depth) {
    v.kind_ = json_value::kind::object;
    ++pos_;  // {
    skip_ws();
    if (pos_ < s_.size() && s_[pos_] == '}') {
      ++pos_;
      return ok();
    }
    for (;;) {
      skip_ws();
      if (pos_ >= s_.size() || s_[pos_] != '"') return fail("expected a string key");
      std::string key;
      PLM_TRY_VOID(string(key));
      skip_ws();
      if (pos_ >= s_.size() || s_[pos_] != ':') return fail("expected ':' after an object key");
      ++pos_;
      skip_ws();
      v.members_.emplace_back(std::move(key), json_value());
      PLM_TRY_VOID(value(v.members_.back().second, depth + 1));
      skip_ws();
      if (pos_ < s_.size() && s_[pos_] == ',') {
        ++pos_;
        continue;
      }
      if (pos_ < s_.size() && s_[pos_] == '}') {
        ++pos_;
        return ok();
      }
      return fail("expected ',' or '}' in an object");
    }
  }

  result<void> array(json_value& v, int depth) {
    v.kind_ = json_value::kind::array;
    ++pos_;  // [
    skip_ws();
    if (pos_ < s_.size() && s_[pos_] == ']') {
      ++pos_;
      return ok();
    }
    for (;;) {
      skip_ws();
      v.items_.emplace_back();
      PLM_TRY_VOID(value(v.items_.back(), depth + 1));
      skip_ws();
      if (pos_ < s_.size() && s_[pos_] == ',') {
        ++pos_;
        continue;
      }
      if (pos_ < s_.size() && s_[pos_] == ']') {
        ++pos_;
        return ok();
      }
      return fail("expected ',' or ']' in an array");
    }
  }

  result<void> number(json_value& v) {
    const size_t start = pos_;
    if (s_[pos_] == '-') ++pos_;
    const auto digits = [&] {
      const size_t b = pos_;
      while (pos_ < s_.size() && s_[pos_] >= '0' && s_[pos_] <= '9') ++pos_;
      return pos_ - b;
    };
    const size_t int_start = pos_;
    if (digits() == 0) return fail("expected digits in a number");
    if (s_[int_start] == '0' && pos_ - int_start > 1) return fail("leading zero in a number");
    if (pos_ < s_.size() && s_[pos_] == '.') {
      ++pos_;
      if (digits() == 0) return fail("expected digits after '.'");
    }
    if (pos_ < s_.size() && (s_[pos_] == 'e' || s_[pos_] == 'E')) {
      ++pos_;
      if (pos_ < s_.size() && (s_[pos_] == '+' || s_[pos_] == '-')) ++pos_;
      if (digits() == 0) return fail("expected digits in an exponent");
    }
    const std::string text(s_.substr(start, pos_ - start));
    v.kind_ = json_value::kind::number;
    v.number_ = std::strtod(text.c_str(), nullptr);
    return ok();
  }

  result<uint32_t> hex4() {
    if (s_.size() - pos_ < 4) return fail("truncated \\u escape");
    uint32_t u = 0;
    for (int i = 0; i < 4; ++i) {
      const char c = s_[pos_++];
      u <<= 4;
      if (c >= '0' && c <= '9') u |= uint32_t(c - '0');
      else if (c >= 'a' && c <= 'f') u |= uint32_t(c - 'a' + 10);
      else if (c >= 'A' && c <= 'F') u |= uint32_t(c - 'A' + 10);
      else return fail("bad hex digit in a \\u escape");
    }
    return u;
  }

  result<void> string(std::string& out) {
    ++pos_;  // opening quote
    for (;;) {
      // Copy the plain run in one go: most strings have no escapes.
      size_t run = pos_;
      while (run < s_.size()) {
        const auto c = static_cast<unsigned char>(s_[run]);
        if (c == '"' || c == '\\' || c < 0x20 || c >= 0x80) break;
        ++run;
      }
      out.append(s_.data() + pos_, run - pos_);
      pos_ = run;
      if (pos_ >= s_.size()) return fail("unterminated string");
      const auto c = static_cast<unsigned char>(s_[pos_]);
      if (c == '"') {
        ++pos_;
        return ok();
      }
      if (c < 0x20) return fail("raw control character in a string");
      if (c >= 0x80) {
        const utf8_unit u = decode_utf8(s_, pos_);
        if (!u.valid) return fail("invalid UTF-8 in a string");
        out.append(s_.data() + pos_, u.len);
        pos_ += u.len;
        continue;
      }
      // Backslash escape.
      if (++pos_ >= s_.size()) return fail("unterminated escape");
      const char e = s_[pos_++];
      switch (e) {
        case '"': out += '"'; break;
        case '\\': out += '\\'; break;
        case '/': out += '/'; break;
        case 'b': out += '\b'; break;
        case 'f': out += '\f'; break;
        case 'n': out += '\n'; break;
        case 'r': out += '\r'; break;
        case 't': out += '\t'; break;
        case 'u': {
          PLM_TRY(uint32_t u, hex4());
          if (u >= 0xDC00 && u <= 0xDFFF) return fail("lone low surrogate in a \\u escape");
          if (u >= 0xD800 && u <= 0xDBFF) {
            if (s_.substr(pos_, 2) != "\\u") return fail("high surrogate not followed by a low surrogate");
            pos_ += 2;
            PLM_TRY(uint32_t lo, hex4());
            if (lo < 0xDC00 || lo > 0xDFFF) return fail("high surrogate not followed by a low surrogate");
            u = 0x10000 + ((u - 0xD800) << 10) + (lo - 0xDC00);
          }
          append_utf8(out, u);
          break;
        }
        default: return fail(std::string("unknown escape '\\") + e + "'");
      }
    }
  }

  std::string_view s_;
  size_t pos_ = 0;
};

/// Parses a complete JSON document.
inline result<json_value> parse_json(std::string_view text) { return json_parser::parse(text); }

}  // namespace plm::text::detail
