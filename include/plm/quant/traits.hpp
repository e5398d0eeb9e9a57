// plm/quant/traits.hpp - one table of what plm can do with each stored type.
//
// Code that handles "any weight type" (the GGUF loader's validation, the
// quantize tool, the kernels' generic fallback) looks a type up here instead of
// switching on it, so adding a type is one row. Storage facts (block size and
// bytes) repeat core/dtype.hpp for convenience; the conversion entry points and
// the activation pairing are what this file adds.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>

#include "plm/core/dtype.hpp"
#include "plm/core/result.hpp"
#include "plm/quant/blocks.hpp"
#include "plm/quant/dequantize.hpp"
#include "plm/quant/quantize.hpp"

namespace plm::quant {

/// n elements (a multiple of the block size) of the type at src -> f32.
using to_float_fn = void (*)(const void* src, float* dst, int64_t n) noexcept;
/// Checked f32 -> type (see quantize_row).
using from_float_fn = result<void> (*)(const float* src, void* dst, int64_t n);
/// Unchecked f32 -> type (the quantize_row_*_ref functions): for activations.
using from_float_unchecked_fn = void (*)(const float* src, void* dst, int64_t n) noexcept;

struct type_traits {
  dtype type;
  int64_t block_size;       ///< elements per block
  size_t block_bytes;       ///< bytes per block
  bool is_quantized;        ///< block type with scales (not f32/f16/bf16)
  to_float_fn to_float;
  from_float_fn from_float;                   ///< nullptr if plm cannot write the type
  from_float_unchecked_fn from_float_unchecked;  ///< nullptr if plm cannot write the type
  /// The activation type ggml's CPU backend pairs with this weight type in a
  /// dot product (ggml-cpu.c type_traits_cpu[].vec_dot_type): q8_0 for
  /// q4_0/q5_0/q8_0, q8_1 for q4_1/q5_1, q8_K for the k-quants, the type itself
  /// for f32/f16/bf16. plm's kernels use f32 activations for f16/bf16 weights.
  dtype vec_dot_type;
};

namespace detail {

template <class Block, void (*F)(const Block*, float*, int64_t) noexcept>
void to_float_thunk(const void* src, float* dst, int64_t n) noexcept {
  F(static_cast<const Block*>(src), dst, n);
}
template <class Block, void (*F)(const float*, Block*, int64_t) noexcept>
void from_float_thunk(const float* src, void* dst, int64_t n) noexcept {
  F(src, static_cast<Block*>(dst), n);
}
template <dtype T>
result<void> from_float_checked(const float* src, void* dst, int64_t n) {
  return quantize_row(T, src, dst, n);
}
inline void copy_f32_typed(const float* src, float* dst, int64_t n) noexcept {
  if (n > 0) std::memmove(dst, src, static_cast<size_t>(n) * sizeof(float));
}

#define PLM_QUANT_TRAITS_ROW(T, Block, quantized, deq, q_ref, vdt)                                     \
  type_traits {                                                                                        \
    dtype::T, block_size(dtype::T), block_bytes(dtype::T), quantized, &to_float_thunk<Block, deq>,     \
        &from_float_checked<dtype::T>, &from_float_thunk<Block, q_ref>, dtype::vdt                     \
  }

inline constexpr type_traits traits_table[] = {
    PLM_QUANT_TRAITS_ROW(f32, float, false, dequantize_row_f32, copy_f32_typed, f32),
    PLM_QUANT_TRAITS_ROW(f16, uint16_t, false, dequantize_row_f16, quantize_row_f16, f16),
    PLM_QUANT_TRAITS_ROW(bf16, uint16_t, false, dequantize_row_bf16, quantize_row_bf16, bf16),
    PLM_QUANT_TRAITS_ROW(q4_0, block_q4_0, true, dequantize_row_q4_0, quantize_row_q4_0_ref, q8_0),
    PLM_QUANT_TRAITS_ROW(q4_1, block_q4_1, true, dequantize_row_q4_1, quantize_row_q4_1_ref, q8_1),
    PLM_QUANT_TRAITS_ROW(q5_0, block_q5_0, true, dequantize_row_q5_0, quantize_row_q5_0_ref, q8_0),
    PLM_QUANT_TRAITS_ROW(q5_1, block_q5_1, true, dequantize_row_q5_1, quantize_row_q5_1_ref, q8_1),
    PLM_QUANT_TRAITS_ROW(q8_0, block_q8_0, true, dequantize_row_q8_0, quantize_row_q8_0_ref, q8_0),
    PLM_QUANT_TRAITS_ROW(q8_1, block_q8_1, true, dequantize_row_q8_1, quantize_row_q8_1_ref, q8_1),
    PLM_QUANT_TRAITS_ROW(q2_k, block_q2_k, true, dequantize_row_q2_k, quantize_row_q2_k_ref, q8_k),
    PLM_QUANT_TRAITS_ROW(q3_k, block_q3_k, true, dequantize_row_q3_k, quantize_row_q3_k_ref, q8_k),
    PLM_QUANT_TRAITS_ROW(q4_k, block_q4_k, true, dequantize_row_q4_k, quantize_row_q4_k_ref, q8_k),
    PLM_QUANT_TRAITS_ROW(q5_k, block_q5_k, true, dequantize_row_q5_k, quantize_row_q5_k_ref, q8_k),
    PLM_QUANT_TRAITS_ROW(q6_k, block_q6_k, true, dequantize_row_q6_k, quantize_row_q6_k_ref, q8_k),
    PLM_QUANT_TRAITS_ROW(q8_k, block_q8_k, true, dequantize_row_q8_k, quantize_row_q8_k_ref, q8_k),
};

#undef PLM_QUANT_TRAITS_ROW

}  // namespace detail

/// Traits of t, or nullptr for types plm cannot convert (i8, i16, i32, i64, f64).
inline const type_traits* traits(dtype t) noexcept {
  for (const auto& tt : detail::traits_table)
    if (tt.type == t) return &tt;
  return nullptr;
}

}  // namespace plm::quant
