// plm/core/dtype.hpp - element/block types as numbered in GGUF (ggml_type ids).
//
// Only the storage facts live here (block size in elements, bytes per block,
// name), so the GGUF reader can validate tensor sizes without knowing how to
// dequantize. Conversions live in plm/quant/.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

namespace plm {

/// ggml_type ids (gguf-py constants.py). Values are part of the file format.
enum class dtype : uint32_t {
  f32 = 0,
  f16 = 1,
  q4_0 = 2,
  q4_1 = 3,
  q5_0 = 6,
  q5_1 = 7,
  q8_0 = 8,
  q8_1 = 9,
  q2_k = 10,
  q3_k = 11,
  q4_k = 12,
  q5_k = 13,
  q6_k = 14,
  q8_k = 15,
  i8 = 24,
  i16 = 25,
  i32 = 26,
  i64 = 27,
  f64 = 28,
  bf16 = 30,
};

/// Storage facts of one dtype.
struct dtype_info {
  dtype type;
  std::string_view name;  ///< lower-case ggml name: "q4_K", "f16", ...
  uint32_t block_size;    ///< elements per block (1 for plain types)
  uint32_t block_bytes;   ///< bytes per block
};

namespace detail {
// Table of every dtype plm can store, read or write. Types ggml defines but
// plm cannot handle (iq*, tq*, q4_0_4_4, ...) are absent on purpose: a file
// using them is rejected by name, never misread.
inline constexpr dtype_info dtype_table[] = {
    {dtype::f32, "f32", 1, 4},       {dtype::f16, "f16", 1, 2},
    {dtype::q4_0, "q4_0", 32, 18},   {dtype::q4_1, "q4_1", 32, 20},
    {dtype::q5_0, "q5_0", 32, 22},   {dtype::q5_1, "q5_1", 32, 24},
    {dtype::q8_0, "q8_0", 32, 34},   {dtype::q8_1, "q8_1", 32, 36},
    {dtype::q2_k, "q2_K", 256, 84},  {dtype::q3_k, "q3_K", 256, 110},
    {dtype::q4_k, "q4_K", 256, 144}, {dtype::q5_k, "q5_K", 256, 176},
    {dtype::q6_k, "q6_K", 256, 210}, {dtype::q8_k, "q8_K", 256, 292},
    {dtype::i8, "i8", 1, 1},         {dtype::i16, "i16", 1, 2},
    {dtype::i32, "i32", 1, 4},       {dtype::i64, "i64", 1, 8},
    {dtype::f64, "f64", 1, 8},       {dtype::bf16, "bf16", 1, 2},
};
}  // namespace detail

/// Facts for `t`, or nullptr when plm does not know the type id.
constexpr const dtype_info* find_dtype(uint32_t id) noexcept {
  for (const auto& d : detail::dtype_table)
    if (static_cast<uint32_t>(d.type) == id) return &d;
  return nullptr;
}
constexpr const dtype_info& info(dtype t) noexcept { return *find_dtype(static_cast<uint32_t>(t)); }
constexpr uint32_t block_size(dtype t) noexcept { return info(t).block_size; }
constexpr uint32_t block_bytes(dtype t) noexcept { return info(t).block_bytes; }
constexpr std::string_view name(dtype t) noexcept { return info(t).name; }

/// Parses a ggml type name case-insensitively ("Q4_K", "q8_0", "bf16"); false if unknown.
constexpr bool parse_dtype(std::string_view s, dtype& out) noexcept {
  for (const auto& d : detail::dtype_table) {
    if (d.name.size() != s.size()) continue;
    bool same = true;
    for (size_t i = 0; i < s.size() && same; ++i) {
      char a = s[i], b = d.name[i];
      if (a >= 'A' && a <= 'Z') a = static_cast<char>(a - 'A' + 'a');
      if (b >= 'A' && b <= 'Z') b = static_cast<char>(b - 'A' + 'a');
      same = a == b;
    }
    if (same) {
      out = d.type;
      return true;
    }
  }
  return false;
}

static_assert(block_bytes(dtype::q4_k) == 144 && block_size(dtype::q6_k) == 256, "dtype table");

}  // namespace plm
