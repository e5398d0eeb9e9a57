// plm/kernels/rows_combination.hpp - y = Σ_j x[j] · (row r0 + j of W), read
// straight from the quantized blocks.
//
// The absorbed MLA query of a decode step is such a sum: q̃_h = Σ_j q_nope_h[j]
// · (W_UK row j of head h), 128 rows of attn_kv_b per head. Dequantizing the
// rows into an f32 buffer first (256 KB per head for PLM) and multiplying that
// back costs a write and a read of L2 per weight; here each block is widened in
// registers and used at once. The arithmetic is that of quant::dequantize_row
// (one exact f32 product of the block scale and the quant) followed by
// coeff_rows_product with one token (one fma per row, in row order, from 0):
// the same bits, whichever path runs.
#pragma once

#include <cstddef>
#include <cstdint>
#include <type_traits>

#include "plm/core/dtype.hpp"
#include "plm/core/tensor.hpp"
#include "plm/quant/blocks.hpp"
#include "plm/quant/half.hpp"

#if defined(__AVX512F__) && defined(__AVX512BW__)
#include <immintrin.h>
#define PLM_DETAIL_ROWS_COMB_AVX512 1
#else
#define PLM_DETAIL_ROWS_COMB_AVX512 0
#endif

namespace plm::kernels {

/// Whether weight_rows_combination has a kernel for rows of type t in this
/// build (q8_0 and q4_0 on AVX-512); elsewhere callers dequantize the rows and
/// use coeff_rows_product, which gives the same bits.
constexpr bool has_rows_combination(dtype t) noexcept {
  return PLM_DETAIL_ROWS_COMB_AVX512 && (t == dtype::q8_0 || t == dtype::q4_0);
}

#if PLM_DETAIL_ROWS_COMB_AVX512
namespace detail {
template <bool Q4>
using rows_block = std::conditional_t<Q4, quant::block_q4_0, quant::block_q8_0>;

// NB consecutive blocks (32·NB columns) of k rows, `stride` bytes apart, into
// 2·NB vector accumulators; then stored to y.
template <bool Q4, int NB>
inline void rows_combination_blocks(const uint8_t* p, size_t stride, int64_t k, const float* x, float* y) noexcept {
  constexpr size_t bb = sizeof(rows_block<Q4>);
  __m512 acc[2 * NB];
  for (auto& a : acc) a = _mm512_setzero_ps();
  const __m128i m4 = _mm_set1_epi8(0x0f), eight = _mm_set1_epi8(8);
  for (int64_t j = 0; j < k; ++j, p += stride) {
    // the part of row j + 8 this pass reads (the rows are read once, from DRAM)
    if (j + 8 < k)
      for (size_t o = 0; o < NB * bb; o += 64) _mm_prefetch(reinterpret_cast<const char*>(p + 8 * stride + o), _MM_HINT_T0);
    const __m512 xv = _mm512_set1_ps(x[j]);
    const auto* blk = reinterpret_cast<const rows_block<Q4>*>(p);
    for (int b = 0; b < NB; ++b) {
      const __m512 d = _mm512_set1_ps(fp16_to_fp32(blk[b].d));
      __m128i lo, hi;  // quants 0..15 and 16..31 as int8
      if constexpr (Q4) {
        const __m128i q = _mm_loadu_si128(reinterpret_cast<const __m128i*>(blk[b].qs));
        lo = _mm_sub_epi8(_mm_and_si128(q, m4), eight);
        hi = _mm_sub_epi8(_mm_and_si128(_mm_srli_epi16(q, 4), m4), eight);
      } else {
        lo = _mm_loadu_si128(reinterpret_cast<const __m128i*>(blk[b].qs));
        hi = _mm_loadu_si128(reinterpret_cast<const __m128i*>(blk[b].qs + 16));
      }
      const __m512 w0 = _mm512_mul_ps(_mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(lo)), d);
      const __m512 w1 = _mm512_mul_ps(_mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(hi)), d);
      acc[2 * b] = _mm512_fmadd_ps(xv, w0, acc[2 * b]);
      acc[2 * b + 1] = _mm512_fmadd_ps(xv, w1, acc[2 * b + 1]);
    }
  }
  for (int i = 0; i < 2 * NB; ++i) _mm512_storeu_ps(y + 16 * i, acc[i]);
}

template <bool Q4>
inline void rows_combination(const tensor_view& W, int64_t r0, int64_t k, const float* x, float* y) noexcept {
  constexpr size_t bb = sizeof(rows_block<Q4>);
  const int64_t nb = W.ne[0] / 32;
  const uint8_t* p = W.row(r0);
  int64_t b = 0;
  // 8 blocks (16 accumulators) at a time: each row's 256 columns in one pass
  for (; b + 8 <= nb; b += 8) rows_combination_blocks<Q4, 8>(p + static_cast<size_t>(b) * bb, W.nb[1], k, x, y + 32 * b);
  for (; b < nb; ++b) rows_combination_blocks<Q4, 1>(p + static_cast<size_t>(b) * bb, W.nb[1], k, x, y + 32 * b);
}
}  // namespace detail
#endif

/// y[c] = Σ_{j<k} x[j] · w_j[c] for the ne[0] columns of rows w_j = r0 + j of W
/// (row layout, a type with has_rows_combination). Bit-identical to
/// dequantizing the rows and coeff_rows_product(x, ·, 1, rows, ne[0], k, ne[0], y, ·).
/// Returns false (y untouched) for a type or layout it has no kernel for.
inline bool weight_rows_combination(const tensor_view& W, int64_t r0, int64_t k, const float* x, float* y) noexcept {
  if (!has_rows_combination(W.type) || W.layout != tensor_layout::rows) return false;
#if PLM_DETAIL_ROWS_COMB_AVX512
  if (W.type == dtype::q4_0) detail::rows_combination<true>(W, r0, k, x, y);
  else detail::rows_combination<false>(W, r0, k, x, y);
  return true;
#else
  (void)r0, (void)k, (void)x, (void)y;
  return false;
#endif
}

}  // namespace plm::kernels

#undef PLM_DETAIL_ROWS_COMB_AVX512
