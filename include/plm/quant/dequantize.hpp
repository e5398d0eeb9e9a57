// plm/quant/dequantize.hpp - rows of any stored type -> f32.
//
// Results are bit-identical to ggml's dequantize_row_* for every input: each
// output is one f32 product of exactly representable factors (f16 scale x small
// integer), at most followed by one subtraction, so neither evaluation order
// nor FMA contraction can change a bit. These are the reference the matvec
// kernels and the tests are checked against; they are not tuned for speed
// (embedding rows and tests use them, matvec has its own kernels), except that
// the absorbed MLA query dequantizes attn_kv_b's W_UK rows on every decode
// step: q8_0, q4_0, and the types whose scalar loop GCC does not vectorize
// well (q4_1, q2_K, q3_K, q5_K, q6_K: 2-11x slower, bench_kernels_plm
// wuk_rows), take AVX2 paths with the same products, so the same bits (see
// detail::widen16_u8).
#pragma once

#include <cstdint>
#include <cstring>

#include "plm/core/dtype.hpp"
#include "plm/quant/blocks.hpp"
#include "plm/quant/half.hpp"

#if defined(__F16C__) && defined(__AVX__)
#include <immintrin.h>
#endif

namespace plm::quant {

#if defined(__AVX2__) && defined(__F16C__)
namespace detail {
// y[0..16) = f32(16 bytes of v) * d + a, unsigned or signed bytes. Where the
// scalar loop computes q * d - m, a = -m: x + (-m) and x - m round the same,
// and q * d is exact for every block type (small integer times a scale of at
// most 19 significant bits), so mul-then-add rounds once whether or not the
// compiler fuses either form.
inline void widen16_u8(__m128i v, __m256 d, __m256 a, float* y) noexcept {
  _mm256_storeu_ps(y, _mm256_add_ps(_mm256_mul_ps(_mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(v)), d), a));
  _mm256_storeu_ps(y + 8, _mm256_add_ps(_mm256_mul_ps(_mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(_mm_srli_si128(v, 8))), d), a));
}
inline void widen16_i8(__m128i v, __m256 d, float* y) noexcept {
  _mm256_storeu_ps(y, _mm256_mul_ps(_mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(v)), d));
  _mm256_storeu_ps(y + 8, _mm256_mul_ps(_mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(_mm_srli_si128(v, 8))), d));
}
inline __m128i low_half(__m256i v) noexcept { return _mm256_castsi256_si128(v); }
inline __m128i high_half(__m256i v) noexcept { return _mm256_extracti128_si256(v, 1); }
// (v >> k) & mask per byte: the 16-bit shift's bits from the neighbour byte are masked off.
inline __m256i bits_at(__m256i v, int k, __m256i mask) noexcept { return _mm256_and_si256(_mm256_srli_epi16(v, k), mask); }
}  // namespace detail
#endif

// Per-type functions. n is the number of elements and must be a multiple of
// the type's block size (the blocks are n / block_size consecutive structs).

inline void dequantize_row_f32(const float* x, float* y, int64_t n) noexcept {
  if (n > 0) std::memmove(y, x, static_cast<size_t>(n) * sizeof(float));
}

inline void dequantize_row_f16(const uint16_t* x, float* y, int64_t n) noexcept {
  int64_t i = 0;
#if defined(__F16C__) && defined(__AVX__)
  for (; i + 8 <= n; i += 8) {
    const __m128i h = _mm_loadu_si128(reinterpret_cast<const __m128i*>(x + i));
    _mm256_storeu_ps(y + i, _mm256_cvtph_ps(h));
  }
#endif
  for (; i < n; ++i) y[i] = fp16_to_fp32(x[i]);
}

inline void dequantize_row_bf16(const uint16_t* x, float* y, int64_t n) noexcept {
  for (int64_t i = 0; i < n; ++i) y[i] = bf16_to_fp32(x[i]);
}

inline void dequantize_row_q4_0(const block_q4_0* x, float* y, int64_t n) noexcept {
#if defined(__AVX2__) && defined(__F16C__)
  const __m128i m4 = _mm_set1_epi8(0x0f), eight = _mm_set1_epi8(8);
  for (int64_t b = 0; b < n / qk32; ++b, y += qk32) {
    const __m256 d = _mm256_set1_ps(fp16_to_fp32(x[b].d));
    const __m128i q = _mm_loadu_si128(reinterpret_cast<const __m128i*>(x[b].qs));
    detail::widen16_i8(_mm_sub_epi8(_mm_and_si128(q, m4), eight), d, y);                           // elements 0..15
    detail::widen16_i8(_mm_sub_epi8(_mm_and_si128(_mm_srli_epi16(q, 4), m4), eight), d, y + 16);  // elements 16..31
  }
#else
  for (int64_t b = 0; b < n / qk32; ++b, y += qk32) {
    const float d = fp16_to_fp32(x[b].d);
    for (int j = 0; j < 16; ++j) {
      y[j] = static_cast<float>((x[b].qs[j] & 0xf) - 8) * d;
      y[j + 16] = static_cast<float>((x[b].qs[j] >> 4) - 8) * d;
    }
  }
#endif
}

inline void dequantize_row_q4_1(const block_q4_1* x, float* y, int64_t n) noexcept {
#if defined(__AVX2__) && defined(__F16C__)
  // GCC does not vectorize the scalar loop (4x slower).
  const __m128i m4 = _mm_set1_epi8(0x0f);
  for (int64_t b = 0; b < n / qk32; ++b, y += qk32) {
    const __m256 d = _mm256_set1_ps(fp16_to_fp32(x[b].d)), m = _mm256_set1_ps(fp16_to_fp32(x[b].m));
    const __m128i q = _mm_loadu_si128(reinterpret_cast<const __m128i*>(x[b].qs));
    detail::widen16_u8(_mm_and_si128(q, m4), d, m, y);
    detail::widen16_u8(_mm_and_si128(_mm_srli_epi16(q, 4), m4), d, m, y + 16);
  }
#else
  for (int64_t b = 0; b < n / qk32; ++b, y += qk32) {
    const float d = fp16_to_fp32(x[b].d);
    const float m = fp16_to_fp32(x[b].m);
    for (int j = 0; j < 16; ++j) {
      y[j] = static_cast<float>(x[b].qs[j] & 0xf) * d + m;
      y[j + 16] = static_cast<float>(x[b].qs[j] >> 4) * d + m;
    }
  }
#endif
}

namespace detail {
inline uint32_t load_u32_le(const uint8_t* p) noexcept {
  return static_cast<uint32_t>(p[0]) | static_cast<uint32_t>(p[1]) << 8 | static_cast<uint32_t>(p[2]) << 16 |
         static_cast<uint32_t>(p[3]) << 24;
}
}  // namespace detail

inline void dequantize_row_q5_0(const block_q5_0* x, float* y, int64_t n) noexcept {
  for (int64_t b = 0; b < n / qk32; ++b, y += qk32) {
    const float d = fp16_to_fp32(x[b].d);
    const uint32_t qh = detail::load_u32_le(x[b].qh);
    for (int j = 0; j < 16; ++j) {
      const int lo = (x[b].qs[j] & 0xf) | static_cast<int>(((qh >> j) & 1u) << 4);
      const int hi = (x[b].qs[j] >> 4) | static_cast<int>(((qh >> (j + 16)) & 1u) << 4);
      y[j] = static_cast<float>(lo - 16) * d;
      y[j + 16] = static_cast<float>(hi - 16) * d;
    }
  }
}

inline void dequantize_row_q5_1(const block_q5_1* x, float* y, int64_t n) noexcept {
  for (int64_t b = 0; b < n / qk32; ++b, y += qk32) {
    const float d = fp16_to_fp32(x[b].d);
    const float m = fp16_to_fp32(x[b].m);
    const uint32_t qh = detail::load_u32_le(x[b].qh);
    for (int j = 0; j < 16; ++j) {
      const int lo = (x[b].qs[j] & 0xf) | static_cast<int>(((qh >> j) & 1u) << 4);
      const int hi = (x[b].qs[j] >> 4) | static_cast<int>(((qh >> (j + 16)) & 1u) << 4);
      y[j] = static_cast<float>(lo) * d + m;
      y[j + 16] = static_cast<float>(hi) * d + m;
    }
  }
}

inline void dequantize_row_q8_0(const block_q8_0* x, float* y, int64_t n) noexcept {
#if defined(__AVX2__) && defined(__F16C__)
  for (int64_t b = 0; b < n / qk32; ++b, y += qk32) {
    const __m256 d = _mm256_set1_ps(fp16_to_fp32(x[b].d));
    for (int k = 0; k < 2; ++k)
      detail::widen16_i8(_mm_loadu_si128(reinterpret_cast<const __m128i*>(x[b].qs + 16 * k)), d, y + 16 * k);
  }
#else
  for (int64_t b = 0; b < n / qk32; ++b, y += qk32) {
    const float d = fp16_to_fp32(x[b].d);
    for (int j = 0; j < qk32; ++j) y[j] = static_cast<float>(x[b].qs[j]) * d;
  }
#endif
}

inline void dequantize_row_q8_1(const block_q8_1* x, float* y, int64_t n) noexcept {
  for (int64_t b = 0; b < n / qk32; ++b, y += qk32) {
    const float d = fp16_to_fp32(x[b].d);
    for (int j = 0; j < qk32; ++j) y[j] = static_cast<float>(x[b].qs[j]) * d;
  }
}

inline void dequantize_row_q2_k(const block_q2_k* x, float* y, int64_t n) noexcept {
#if defined(__AVX2__) && defined(__F16C__)
  const __m256i m2 = _mm256_set1_epi8(3);
  for (int64_t b = 0; b < n / qk_k; ++b) {
    const float d = fp16_to_fp32(x[b].d);
    const float dmin = fp16_to_fp32(x[b].dmin);
    // The 16 scales and mins first: GCC 12 at -O3 dropped whole calls of a
    // version that read them between the stores (test_matvec's exact dots
    // caught it; -O2 and clang were right).
    float dl[16], ml[16];
    for (int j = 0; j < 16; ++j) {
      dl[j] = d * static_cast<float>(x[b].scales[j] & 0xf);
      ml[j] = -(dmin * static_cast<float>(x[b].scales[j] >> 4));
    }
    float* yb = y + b * qk_k;
    for (int h = 0; h < 2; ++h) {
      const __m256i q = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(x[b].qs + 32 * h));
      for (int s = 0; s < 4; ++s) {
        const __m256i v = detail::bits_at(q, 2 * s, m2);
        const int j = 8 * h + 2 * s;
        detail::widen16_u8(detail::low_half(v), _mm256_set1_ps(dl[j]), _mm256_set1_ps(ml[j]), yb + 16 * j);
        detail::widen16_u8(detail::high_half(v), _mm256_set1_ps(dl[j + 1]), _mm256_set1_ps(ml[j + 1]), yb + 16 * j + 16);
      }
    }
  }
#else
  for (int64_t b = 0; b < n / qk_k; ++b) {
    const float d = fp16_to_fp32(x[b].d);
    const float dmin = fp16_to_fp32(x[b].dmin);
    // Element e = 128*h + 32*s + l: bits 2s..2s+1 of qs[32h + l]; sub-block e / 16.
    for (int h = 0; h < 2; ++h) {
      const uint8_t* q = x[b].qs + 32 * h;
      for (int s = 0; s < 4; ++s) {
        for (int half = 0; half < 2; ++half) {
          const uint8_t sc = x[b].scales[8 * h + 2 * s + half];
          const float dl = d * static_cast<float>(sc & 0xf);
          const float ml = dmin * static_cast<float>(sc >> 4);
          for (int l = 0; l < 16; ++l) *y++ = dl * static_cast<float>((q[16 * half + l] >> (2 * s)) & 3) - ml;
        }
      }
    }
  }
#endif
}

inline void dequantize_row_q3_k(const block_q3_k* x, float* y, int64_t n) noexcept {
#if defined(__AVX2__) && defined(__F16C__)
  const __m256i m2 = _mm256_set1_epi8(3), m1 = _mm256_set1_epi8(1), four = _mm256_set1_epi8(4);
  for (int64_t b = 0; b < n / qk_k; ++b) {
    const float d = fp16_to_fp32(x[b].d);
    const __m256i hm = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(x[b].hmask));
    for (int h = 0; h < 2; ++h) {
      const __m256i q = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(x[b].qs + 32 * h));
      for (int s = 0; s < 4; ++s) {
        const __m256i hb = detail::bits_at(hm, 4 * h + s, m1);  // lo - (hb ? 0 : 4) = (lo | hb << 2) - 4
        const __m256i v = _mm256_sub_epi8(_mm256_or_si256(detail::bits_at(q, 2 * s, m2), _mm256_slli_epi16(hb, 2)), four);
        for (int half = 0; half < 2; ++half) {
          const float dl = d * static_cast<float>(unpack_scale_q3_k(8 * h + 2 * s + half, x[b].scales) - 32);
          detail::widen16_i8(half ? detail::high_half(v) : detail::low_half(v), _mm256_set1_ps(dl),
                             y + b * qk_k + 128 * h + 32 * s + 16 * half);
        }
      }
    }
  }
#else
  for (int64_t b = 0; b < n / qk_k; ++b) {
    const float d = fp16_to_fp32(x[b].d);
    // Element e = 128*h + 32*s + l: low bits 2s.. of qs[32h + l], high bit (4h + s) of hmask[l].
    for (int h = 0; h < 2; ++h) {
      const uint8_t* q = x[b].qs + 32 * h;
      for (int s = 0; s < 4; ++s) {
        for (int half = 0; half < 2; ++half) {
          const float dl = d * static_cast<float>(unpack_scale_q3_k(8 * h + 2 * s + half, x[b].scales) - 32);
          for (int l = 16 * half; l < 16 * half + 16; ++l) {
            const int lo = (q[l] >> (2 * s)) & 3;
            const int hb = (x[b].hmask[l] >> (4 * h + s)) & 1;
            *y++ = dl * static_cast<float>(lo - (hb ? 0 : 4));
          }
        }
      }
    }
  }
#endif
}

namespace detail {
// Scale and min of the two sub-blocks (2c, 2c+1) of 64-element chunk c of a q4_K / q5_K block.
inline void chunk_scales_k4(const uint8_t* scales, int c, float d, float dmin, float& d1, float& m1, float& d2,
                            float& m2) noexcept {
  uint8_t sc, m;
  unpack_scale_min_k4(2 * c, scales, sc, m);
  d1 = d * static_cast<float>(sc);
  m1 = dmin * static_cast<float>(m);
  unpack_scale_min_k4(2 * c + 1, scales, sc, m);
  d2 = d * static_cast<float>(sc);
  m2 = dmin * static_cast<float>(m);
}
}  // namespace detail

inline void dequantize_row_q4_k(const block_q4_k* x, float* y, int64_t n) noexcept {
  for (int64_t b = 0; b < n / qk_k; ++b) {
    const float d = fp16_to_fp32(x[b].d);
    const float dmin = fp16_to_fp32(x[b].dmin);
    // 64-element chunk c: low nibbles of qs[32c..] are sub-block 2c, high nibbles 2c+1.
    for (int c = 0; c < 4; ++c) {
      const uint8_t* q = x[b].qs + 32 * c;
      float d1, m1, d2, m2;
      detail::chunk_scales_k4(x[b].scales, c, d, dmin, d1, m1, d2, m2);
      for (int l = 0; l < 32; ++l) *y++ = d1 * static_cast<float>(q[l] & 0xf) - m1;
      for (int l = 0; l < 32; ++l) *y++ = d2 * static_cast<float>(q[l] >> 4) - m2;
    }
  }
}

inline void dequantize_row_q5_k(const block_q5_k* x, float* y, int64_t n) noexcept {
#if defined(__AVX2__) && defined(__F16C__)
  const __m256i m4 = _mm256_set1_epi8(0x0f), m1 = _mm256_set1_epi8(1);
  for (int64_t b = 0; b < n / qk_k; ++b) {
    const float d = fp16_to_fp32(x[b].d);
    const float dmin = fp16_to_fp32(x[b].dmin);
    const __m256i qh = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(x[b].qh));
    for (int c = 0; c < 4; ++c) {
      float* out = y + b * qk_k + 64 * c;
      float d1, m1s, d2, m2s;
      detail::chunk_scales_k4(x[b].scales, c, d, dmin, d1, m1s, d2, m2s);
      const __m256i q = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(x[b].qs + 32 * c));
      const __m256i lo = _mm256_or_si256(detail::bits_at(q, 0, m4), _mm256_slli_epi16(detail::bits_at(qh, 2 * c, m1), 4));
      const __m256i hi = _mm256_or_si256(detail::bits_at(q, 4, m4), _mm256_slli_epi16(detail::bits_at(qh, 2 * c + 1, m1), 4));
      const __m256 vd1 = _mm256_set1_ps(d1), vm1 = _mm256_set1_ps(-m1s), vd2 = _mm256_set1_ps(d2), vm2 = _mm256_set1_ps(-m2s);
      detail::widen16_u8(detail::low_half(lo), vd1, vm1, out);
      detail::widen16_u8(detail::high_half(lo), vd1, vm1, out + 16);
      detail::widen16_u8(detail::low_half(hi), vd2, vm2, out + 32);
      detail::widen16_u8(detail::high_half(hi), vd2, vm2, out + 48);
    }
  }
#else
  for (int64_t b = 0; b < n / qk_k; ++b) {
    const float d = fp16_to_fp32(x[b].d);
    const float dmin = fp16_to_fp32(x[b].dmin);
    const uint8_t* qh = x[b].qh;
    // As q4_K; the fifth bit of element l of chunk c is bit 2c (low) / 2c+1 (high) of qh[l].
    for (int c = 0; c < 4; ++c) {
      const uint8_t* q = x[b].qs + 32 * c;
      float d1, m1, d2, m2;
      detail::chunk_scales_k4(x[b].scales, c, d, dmin, d1, m1, d2, m2);
      for (int l = 0; l < 32; ++l)
        *y++ = d1 * static_cast<float>((q[l] & 0xf) | (((qh[l] >> (2 * c)) & 1) << 4)) - m1;
      for (int l = 0; l < 32; ++l)
        *y++ = d2 * static_cast<float>((q[l] >> 4) | (((qh[l] >> (2 * c + 1)) & 1) << 4)) - m2;
    }
  }
#endif
}

inline void dequantize_row_q6_k(const block_q6_k* x, float* y, int64_t n) noexcept {
#if defined(__AVX2__) && defined(__F16C__)
  // (d * scale) * q with one rounding, as the scalar loop.
  const __m256i m4 = _mm256_set1_epi8(0x0f), m2 = _mm256_set1_epi8(3), off = _mm256_set1_epi8(32);
  for (int64_t b = 0; b < n / qk_k; ++b, y += qk_k) {
    const float d = fp16_to_fp32(x[b].d);
    for (int h = 0; h < 2; ++h) {
      const __m256i qh = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(x[b].qh + 32 * h));
      for (int k = 0; k < 4; ++k) {
        const __m256i lq = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(x[b].ql + 64 * h + 32 * (k & 1)));
        const __m256i lo = detail::bits_at(lq, k < 2 ? 0 : 4, m4);
        const __m256i q = _mm256_sub_epi8(_mm256_or_si256(lo, _mm256_slli_epi16(detail::bits_at(qh, 2 * k, m2), 4)), off);
        const int e0 = 128 * h + 32 * k;
        for (int half = 0; half < 2; ++half) {  // sub-blocks of 16: one scale each
          const __m256 ds = _mm256_set1_ps(d * static_cast<float>(x[b].scales[e0 / 16 + half]));
          detail::widen16_i8(half ? detail::high_half(q) : detail::low_half(q), ds, y + e0 + 16 * half);
        }
      }
    }
  }
#else
  for (int64_t b = 0; b < n / qk_k; ++b, y += qk_k) {
    const float d = fp16_to_fp32(x[b].d);
    // Element e = 128*h + 32*k + l: low nibble (k < 2) or high nibble (k >= 2) of
    // ql[64h + 32*(k & 1) + l], top two bits at bit 2k of qh[32h + l]; scale e / 16.
    for (int h = 0; h < 2; ++h) {
      const uint8_t* ql = x[b].ql + 64 * h;
      const uint8_t* qh = x[b].qh + 32 * h;
      for (int k = 0; k < 4; ++k) {
        for (int l = 0; l < 32; ++l) {
          const int e = 128 * h + 32 * k + l;
          const uint8_t lq = ql[32 * (k & 1) + l];
          const int lo = k < 2 ? (lq & 0xf) : (lq >> 4);
          const int q = (lo | (((qh[l] >> (2 * k)) & 3) << 4)) - 32;
          // (d * scale) first, as ggml: both products are exact, so the order is moot anyway.
          y[e] = d * static_cast<float>(x[b].scales[e / 16]) * static_cast<float>(q);
        }
      }
    }
  }
#endif
}

inline void dequantize_row_q8_k(const block_q8_k* x, float* y, int64_t n) noexcept {
  for (int64_t b = 0; b < n / qk_k; ++b, y += qk_k) {
    for (int j = 0; j < qk_k; ++j) y[j] = x[b].d * static_cast<float>(x[b].qs[j]);
  }
}

/// True if dequantize_row handles `t`.
constexpr bool can_dequantize(dtype t) noexcept {
  switch (t) {
    case dtype::f32: case dtype::f16: case dtype::bf16:
    case dtype::q4_0: case dtype::q4_1: case dtype::q5_0: case dtype::q5_1:
    case dtype::q8_0: case dtype::q8_1:
    case dtype::q2_k: case dtype::q3_k: case dtype::q4_k: case dtype::q5_k: case dtype::q6_k: case dtype::q8_k:
      return true;
    default:
      return false;
  }
}

/// Converts n elements of type t at src to f32. Returns false (writing nothing)
/// if t cannot be dequantized, n < 0, or n is not a multiple of t's block size.
inline bool dequantize_row(dtype t, const void* src, float* dst, int64_t n) noexcept {
  if (!can_dequantize(t) || n < 0 || n % block_size(t) != 0) return false;
  switch (t) {
    case dtype::f32: dequantize_row_f32(static_cast<const float*>(src), dst, n); break;
    case dtype::f16: dequantize_row_f16(static_cast<const uint16_t*>(src), dst, n); break;
    case dtype::bf16: dequantize_row_bf16(static_cast<const uint16_t*>(src), dst, n); break;
    case dtype::q4_0: dequantize_row_q4_0(static_cast<const block_q4_0*>(src), dst, n); break;
    case dtype::q4_1: dequantize_row_q4_1(static_cast<const block_q4_1*>(src), dst, n); break;
    case dtype::q5_0: dequantize_row_q5_0(static_cast<const block_q5_0*>(src), dst, n); break;
    case dtype::q5_1: dequantize_row_q5_1(static_cast<const block_q5_1*>(src), dst, n); break;
    case dtype::q8_0: dequantize_row_q8_0(static_cast<const block_q8_0*>(src), dst, n); break;
    case dtype::q8_1: dequantize_row_q8_1(static_cast<const block_q8_1*>(src), dst, n); break;
    case dtype::q2_k: dequantize_row_q2_k(static_cast<const block_q2_k*>(src), dst, n); break;
    case dtype::q3_k: dequantize_row_q3_k(static_cast<const block_q3_k*>(src), dst, n); break;
    case dtype::q4_k: dequantize_row_q4_k(static_cast<const block_q4_k*>(src), dst, n); break;
    case dtype::q5_k: dequantize_row_q5_k(static_cast<const block_q5_k*>(src), dst, n); break;
    case dtype::q6_k: dequantize_row_q6_k(static_cast<const block_q6_k*>(src), dst, n); break;
    case dtype::q8_k: dequantize_row_q8_k(static_cast<const block_q8_k*>(src), dst, n); break;
    default: return false;
  }
  return true;
}

}  // namespace plm::quant
