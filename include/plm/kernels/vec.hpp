// plm/kernels/vec.hpp - small f32 vector primitives (dot, axpy, scale, add, f16 rows).
//
// The float building blocks of the attention, norm and sparse-FFN kernels.
// Each has a plain scalar reference (namespace ref) and an xsimd version with
// several accumulators and an explicit scalar tail. Results of the SIMD and the
// scalar versions differ only by summation order; every caller that needs
// thread-count independence gets it by always running one call per output on
// one thread, never by splitting a reduction.
#pragma once

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>

#include <xsimd/xsimd.hpp>

#include "plm/quant/half.hpp"

#if defined(__F16C__) && defined(__AVX__)
#include <immintrin.h>
#define PLM_DETAIL_VEC_F16C 1
#elif defined(__aarch64__) && defined(__ARM_NEON)
#include <arm_neon.h>
#define PLM_DETAIL_VEC_NEON_F16 1
#endif

namespace plm::kernels {

namespace detail {
#ifndef XSIMD_NO_SUPPORTED_ARCHITECTURE
#define PLM_DETAIL_KERNELS_SIMD 1
using fbatch = xsimd::batch<float>;
inline constexpr int64_t fwidth = static_cast<int64_t>(fbatch::size);
// a·b + c rounded once. xsimd 8's fma has no AVX-512 kernel: its generic a·b + c
// is fused only where the compiler contracts it (GCC at -O2 and up, not at -O1),
// so kernels that promise the bits of an fma chain call this instead.
inline fbatch fmadd(const fbatch& a, const fbatch& b, const fbatch& c) noexcept {
#if defined(__AVX512F__)
  if constexpr (fbatch::size == 16) return fbatch(_mm512_fmadd_ps(a, b, c));
  else return xsimd::fma(a, b, c);
#else
  return xsimd::fma(a, b, c);
#endif
}
#else
#define PLM_DETAIL_KERNELS_SIMD 0
#endif

inline float half_bits_to_float(uint16_t h) noexcept { return plm::fp16_to_fp32(h); }
inline uint16_t float_to_half_bits(float f) noexcept { return plm::fp32_to_fp16(f); }
inline float bf16_bits_to_float(uint16_t h) noexcept { return plm::bf16_to_fp32(h); }
}  // namespace detail

/// Scalar references: the definition of each primitive.
namespace ref {
inline float dot(const float* a, const float* b, int64_t n) noexcept {
  float s = 0.0f;
  for (int64_t i = 0; i < n; ++i) s += a[i] * b[i];
  return s;
}
inline void axpy(float a, const float* x, float* y, int64_t n) noexcept {
  for (int64_t i = 0; i < n; ++i) y[i] += a * x[i];
}
inline void scale(float* x, float s, int64_t n) noexcept {
  for (int64_t i = 0; i < n; ++i) x[i] *= s;
}
inline void add(const float* x, float* y, int64_t n) noexcept {
  for (int64_t i = 0; i < n; ++i) y[i] += x[i];
}
}  // namespace ref

/// Σ a[i]·b[i] in f32 (four SIMD accumulators, then a fixed-order reduction).
inline float dot(const float* a, const float* b, int64_t n) noexcept {
#if PLM_DETAIL_KERNELS_SIMD
  using detail::fbatch;
  constexpr int64_t w = detail::fwidth;
  fbatch s0(0.0f), s1(0.0f), s2(0.0f), s3(0.0f);
  int64_t i = 0;
  for (; i < n - n % (4 * w); i += 4 * w) {
    s0 = detail::fmadd(fbatch::load_unaligned(a + i), fbatch::load_unaligned(b + i), s0);
    s1 = detail::fmadd(fbatch::load_unaligned(a + i + w), fbatch::load_unaligned(b + i + w), s1);
    s2 = detail::fmadd(fbatch::load_unaligned(a + i + 2 * w), fbatch::load_unaligned(b + i + 2 * w), s2);
    s3 = detail::fmadd(fbatch::load_unaligned(a + i + 3 * w), fbatch::load_unaligned(b + i + 3 * w), s3);
  }
  for (; i < n - n % w; i += w) s0 = detail::fmadd(fbatch::load_unaligned(a + i), fbatch::load_unaligned(b + i), s0);
  float s = xsimd::hadd((s0 + s1) + (s2 + s3));
  for (; i < n; ++i) s += a[i] * b[i];
  return s;
#else
  return ref::dot(a, b, n);
#endif
}

/// y += a·x.
inline void axpy(float a, const float* x, float* y, int64_t n) noexcept {
#if PLM_DETAIL_KERNELS_SIMD
  using detail::fbatch;
  constexpr int64_t w = detail::fwidth;
  const fbatch va(a);
  int64_t i = 0;
  for (; i < n - n % (2 * w); i += 2 * w) {
    detail::fmadd(va, fbatch::load_unaligned(x + i), fbatch::load_unaligned(y + i)).store_unaligned(y + i);
    detail::fmadd(va, fbatch::load_unaligned(x + i + w), fbatch::load_unaligned(y + i + w)).store_unaligned(y + i + w);
  }
  for (; i < n - n % w; i += w) detail::fmadd(va, fbatch::load_unaligned(x + i), fbatch::load_unaligned(y + i)).store_unaligned(y + i);
  for (; i < n; ++i) y[i] += a * x[i];
#else
  ref::axpy(a, x, y, n);
#endif
}

/// x *= s.
inline void scale(float* x, float s, int64_t n) noexcept {
#if PLM_DETAIL_KERNELS_SIMD
  using detail::fbatch;
  constexpr int64_t w = detail::fwidth;
  const fbatch vs(s);
  int64_t i = 0;
  for (; i < n - n % w; i += w) (fbatch::load_unaligned(x + i) * vs).store_unaligned(x + i);
  for (; i < n; ++i) x[i] *= s;
#else
  ref::scale(x, s, n);
#endif
}

/// y += x (the residual add).
inline void add(const float* x, float* y, int64_t n) noexcept {
#if PLM_DETAIL_KERNELS_SIMD
  using detail::fbatch;
  constexpr int64_t w = detail::fwidth;
  int64_t i = 0;
  for (; i < n - n % w; i += w) (fbatch::load_unaligned(y + i) + fbatch::load_unaligned(x + i)).store_unaligned(y + i);
  for (; i < n; ++i) y[i] += x[i];
#else
  ref::add(x, y, n);
#endif
}

/// f16 bits -> f32 for n values (exact). Used to read f16 cache rows and weights.
/// xsimd 8 has no f16 batches, so the hardware conversions (F16C, AArch64 fcvtl)
/// are used directly when compiled in; they are exact, like the scalar path.
inline void f16_to_f32(const uint16_t* src, float* dst, int64_t n) noexcept {
  int64_t i = 0;
#if defined(PLM_DETAIL_VEC_F16C)
  for (; i < n - n % 8; i += 8)
    _mm256_storeu_ps(dst + i, _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(src + i))));
#elif defined(PLM_DETAIL_VEC_NEON_F16)
  for (; i < n - n % 4; i += 4) vst1q_f32(dst + i, vcvt_f32_f16(vreinterpret_f16_u16(vld1_u16(src + i))));
#endif
  for (; i < n; ++i) dst[i] = detail::half_bits_to_float(src[i]);
}
/// f32 -> f16 bits, round to nearest even.
inline void f32_to_f16(const float* src, uint16_t* dst, int64_t n) noexcept {
  int64_t i = 0;
#if defined(PLM_DETAIL_VEC_F16C)
  for (; i < n - n % 8; i += 8)
    _mm_storeu_si128(reinterpret_cast<__m128i*>(dst + i), _mm256_cvtps_ph(_mm256_loadu_ps(src + i), _MM_FROUND_TO_NEAREST_INT));
#elif defined(PLM_DETAIL_VEC_NEON_F16)
  for (; i < n - n % 4; i += 4) vst1_u16(dst + i, vreinterpret_u16_f16(vcvt_f16_f32(vld1q_f32(src + i))));
#endif
  for (; i < n; ++i) dst[i] = detail::float_to_half_bits(src[i]);
}

/// Y[t·ldy + c] = Σ_{j<k} X[t·ldx + j] · R[j·ldr + c] for tokens t < nt and
/// columns c < m (Y overwritten): nt rows of coefficients times k rows of R.
/// Register-blocked (4 tokens x 4 vectors of columns) so each R chunk is loaded
/// once per 4 tokens. Per (t, c) the terms are added in j order, one fused
/// multiply-add each, starting from 0: the result does not depend on nt, on the
/// blocking or on the SIMD width (scalar columns use std::fma likewise).
inline void coeff_rows_product(const float* X, int64_t ldx, int64_t nt, const float* R, int64_t ldr, int64_t k,
                               int64_t m, float* Y, int64_t ldy) noexcept {
  int64_t c = 0;
#if PLM_DETAIL_KERNELS_SIMD
  using detail::fbatch;
  constexpr int64_t w = detail::fwidth;
  for (; c + 4 * w <= m; c += 4 * w) {
    for (int64_t t0 = 0; t0 < nt; t0 += 4) {
      const int64_t tb = nt - t0 < 4 ? nt - t0 : 4;
      fbatch acc[4][4];
      for (auto& row : acc)
        for (auto& v : row) v = fbatch(0.0f);
      for (int64_t j = 0; j < k; ++j) {
        const float* r = R + j * ldr + c;
        const fbatch r0 = fbatch::load_unaligned(r), r1 = fbatch::load_unaligned(r + w),
                     r2 = fbatch::load_unaligned(r + 2 * w), r3 = fbatch::load_unaligned(r + 3 * w);
        for (int64_t t = 0; t < tb; ++t) {
          const fbatch xv(X[(t0 + t) * ldx + j]);
          acc[t][0] = detail::fmadd(xv, r0, acc[t][0]);
          acc[t][1] = detail::fmadd(xv, r1, acc[t][1]);
          acc[t][2] = detail::fmadd(xv, r2, acc[t][2]);
          acc[t][3] = detail::fmadd(xv, r3, acc[t][3]);
        }
      }
      for (int64_t t = 0; t < tb; ++t)
        for (int64_t v = 0; v < 4; ++v) acc[t][v].store_unaligned(Y + (t0 + t) * ldy + c + v * w);
    }
  }
#endif
  for (; c < m; ++c)
    for (int64_t t = 0; t < nt; ++t) {
      float s = 0.0f;
      for (int64_t j = 0; j < k; ++j) s = std::fma(X[t * ldx + j], R[j * ldr + c], s);
      Y[t * ldy + c] = s;
    }
}

}  // namespace plm::kernels
