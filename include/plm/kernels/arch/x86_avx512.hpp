// plm/kernels/arch/x86_avx512.hpp - 512-bit row dot products for AVX-512 BW +
// VNNI targets (Cascade Lake, Ice Lake, Sapphire Rapids, Zen 4; -march=... or
// PLM_ISA=avx512-vnni).
//
// On those targets the 256-bit kernels of x86_avx2.hpp already use VNNI
// (VPDPBUSD / VPDPWSSD in their AVX512VL forms). A 512-bit kernel is kept only
// where it measured faster on Sapphire Rapids (one core, cache-resident rows,
// 2048-wide): q6_K 23.5 vs 20.4 GB/s. For q8_0 (18.2 vs 22.0), q4_0 (7.9 vs
// 10.0) and q4_K (15.8 vs 18.7) pairing two 34-byte blocks or two nibble halves
// in one zmm costs more lane-crossing inserts and permutes (port 5) than the
// wider multiplies save, so those stay 256-bit. Same exact integer block sums
// as plm::kernels::ref; f32 accumulation in 16 lanes.
#pragma once

#if defined(__AVX512F__) && defined(__AVX512BW__) && defined(__AVX512VNNI__) && defined(__AVX512VL__) && \
    defined(__AVX2__) && defined(__FMA__) && defined(__F16C__)
#define PLM_DETAIL_X86_AVX512 1

#include <immintrin.h>

#include <cmath>
#include <cstdint>
#include <cstring>

#include "plm/kernels/arch/x86_avx2.hpp"
#include "plm/quant/blocks.hpp"
#include "plm/quant/half.hpp"

// GCC 12 warns about the _mm512_undefined_* placeholders inside its own
// intrinsics once they are inlined (GCC PR 105593, fixed in GCC 13).
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC diagnostic ignored "-Wuninitialized"
#endif

namespace plm::kernels::arch::x86_512 {

inline __m512i load64(const void* p) noexcept { return _mm512_loadu_si512(p); }

/// q6_K, one zmm per pair of 32-element groups; NT tokens share the unpacking
/// (see the multi-token notes in x86_avx2.hpp).
struct kernel_q6_k {
  static constexpr int max_tokens = 4;
  template <int NT>
  static void run(int64_t n, const void* w, const void* a, size_t stride, float* out, int64_t ostride) noexcept {
    const auto* x = static_cast<const quant::block_q6_k*>(w);
    const quant::block_q8_k* y[NT];
    for (int t = 0; t < NT; ++t) y[t] = x86::act<quant::block_q8_k>(a, stride, t);
    const __m512i m4 = _mm512_set1_epi8(0x0f), m2 = _mm512_set1_epi8(0x30);
    // Word w of the product of groups (k, k+1) belongs to sub-block 2k + w/8 (of its half).
    const __m512i pick_lo = _mm512_set_epi16(3, 3, 3, 3, 3, 3, 3, 3, 2, 2, 2, 2, 2, 2, 2, 2,  //
                                             1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0);
    const __m512i four = _mm512_set1_epi16(4);
    __m512 acc[NT];
    for (int t = 0; t < NT; ++t) acc[t] = _mm512_setzero_ps();
    for (int64_t b = 0; b < n / quant::qk_k; ++b) {
      x86::prefetch_ahead(x + b, sizeof(x[b]));
      const __m128i sc8 = _mm_loadu_si128(reinterpret_cast<const __m128i*>(x[b].scales));
      const __m256i sc16 = _mm256_cvtepi8_epi16(sc8);
      const __m512i scz = _mm512_zextsi256_si512(sc16);
      __m512i isum[NT];
      for (int t = 0; t < NT; ++t) isum[t] = _mm512_setzero_si512();
      for (int h = 0; h < 2; ++h) {
        // [ql0 | ql1]: groups (0, 2) in low/high nibbles of ql0, (1, 3) in those of ql1.
        const __m512i ql = load64(x[b].ql + 64 * h);
        const __m256i qh = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(x[b].qh + 32 * h));
        // Groups 0|1: low nibbles with qh bits (0..1 | 2..3) at bits 4..5; groups 2|3: high nibbles, bits (4..5 | 6..7).
        const __m512i h01 =
            _mm512_inserti64x4(_mm512_zextsi256_si512(_mm256_slli_epi16(qh, 4)), _mm256_slli_epi16(qh, 2), 1);
        const __m512i h23 = _mm512_inserti64x4(_mm512_zextsi256_si512(qh), _mm256_srli_epi16(qh, 2), 1);
        const __m512i q01 = _mm512_or_si512(_mm512_and_si512(ql, m4), _mm512_and_si512(h01, m2));
        const __m512i q23 =
            _mm512_or_si512(_mm512_and_si512(_mm512_srli_epi16(ql, 4), m4), _mm512_and_si512(h23, m2));
        const __m512i pk01 = _mm512_add_epi16(pick_lo, _mm512_set1_epi16(static_cast<short>(8 * h)));
        const __m512i s01 = _mm512_permutexvar_epi16(pk01, scz);
        const __m512i s23 = _mm512_permutexvar_epi16(_mm512_add_epi16(pk01, four), scz);
        for (int t = 0; t < NT; ++t) {
          isum[t] = _mm512_dpwssd_epi32(isum[t], _mm512_maddubs_epi16(q01, load64(y[t][b].qs + 128 * h)), s01);
          isum[t] = _mm512_dpwssd_epi32(isum[t], _mm512_maddubs_epi16(q23, load64(y[t][b].qs + 128 * h + 64)), s23);
        }
      }
      const float dx = fp16_to_fp32(x[b].d);
      for (int t = 0; t < NT; ++t) {
        // The -32 offset: 32 * sum_j sc_j * bsum_j, in the low 8 lanes.
        const __m256i offs =
            _mm256_madd_epi16(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(y[t][b].bsums)), sc16);
        const __m512i is = _mm512_sub_epi32(isum[t], _mm512_zextsi256_si512(_mm256_slli_epi32(offs, 5)));
        acc[t] = _mm512_fmadd_ps(_mm512_set1_ps(dx * y[t][b].d), _mm512_cvtepi32_ps(is), acc[t]);
      }
    }
    for (int t = 0; t < NT; ++t) out[t * ostride] = _mm512_reduce_add_ps(acc[t]);
  }
};
inline float vec_dot_q6_k_q8_k(int64_t n, const void* w, const void* a) noexcept {
  return x86::single<kernel_q6_k>(n, w, a);
}

/// f16 / bf16 rows, 64 weights (128 bytes) per step in four zmm accumulators
/// per token, the DRAM stream prefetched 4 KiB ahead. Twice the 256-bit
/// kernel's conversions per instruction, so the arithmetic hides under the
/// memory reads (bench_matvec 2048x8192 f16 from DRAM, one core: 10.2 -> 14.2
/// GB/s). NT tokens (prefill) share each converted weight vector; a token's
/// arithmetic is the same for any NT (x86.hpp's multi-token contract).
template <class Cvt>
struct kernel_half {
  static constexpr int max_tokens = 4;
  template <int NT>
  static void run(int64_t n, const void* wv, const void* a, size_t stride, float* out, int64_t ostride) noexcept {
    const auto* w = static_cast<const uint16_t*>(wv);
    const float* x[NT];
    for (int t = 0; t < NT; ++t) x[t] = x86::act<float>(a, stride, t);
    __m512 s[NT][4];
    for (int t = 0; t < NT; ++t) s[t][0] = s[t][1] = s[t][2] = s[t][3] = _mm512_setzero_ps();
    int64_t i = 0;
    for (; i + 64 <= n; i += 64) {
      _mm_prefetch(reinterpret_cast<const char*>(w + i) + 4096, _MM_HINT_T0);
      _mm_prefetch(reinterpret_cast<const char*>(w + i) + 4096 + 64, _MM_HINT_T0);
      const __m512 w0 = Cvt::load16(w + i), w1 = Cvt::load16(w + i + 16), w2 = Cvt::load16(w + i + 32),
                   w3 = Cvt::load16(w + i + 48);
      for (int t = 0; t < NT; ++t) {
        s[t][0] = _mm512_fmadd_ps(w0, _mm512_loadu_ps(x[t] + i), s[t][0]);
        s[t][1] = _mm512_fmadd_ps(w1, _mm512_loadu_ps(x[t] + i + 16), s[t][1]);
        s[t][2] = _mm512_fmadd_ps(w2, _mm512_loadu_ps(x[t] + i + 32), s[t][2]);
        s[t][3] = _mm512_fmadd_ps(w3, _mm512_loadu_ps(x[t] + i + 48), s[t][3]);
      }
    }
    for (; i + 16 <= n; i += 16) {
      const __m512 w0 = Cvt::load16(w + i);
      for (int t = 0; t < NT; ++t) s[t][0] = _mm512_fmadd_ps(w0, _mm512_loadu_ps(x[t] + i), s[t][0]);
    }
    for (int t = 0; t < NT; ++t) {
      float r = _mm512_reduce_add_ps(_mm512_add_ps(_mm512_add_ps(s[t][0], s[t][1]), _mm512_add_ps(s[t][2], s[t][3])));
      for (int64_t k = i; k < n; ++k) r += Cvt::at(w[k]) * x[t][k];
      out[t * ostride] = r;
    }
  }
};
struct cvt_f16 {
  static __m512 load16(const uint16_t* p) noexcept {
    return _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(p)));
  }
  static float at(uint16_t h) noexcept { return fp16_to_fp32(h); }
};
struct cvt_bf16 {
  static __m512 load16(const uint16_t* p) noexcept {  // bf16 is the top half of an f32
    const __m256i h = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p));
    return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(h), 16));
  }
  static float at(uint16_t h) noexcept { return bf16_to_fp32(h); }
};
using kernel_f16 = kernel_half<cvt_f16>;
using kernel_bf16 = kernel_half<cvt_bf16>;
inline float vec_dot_f16(int64_t n, const void* w, const void* a) noexcept { return x86::single<kernel_f16>(n, w, a); }
inline float vec_dot_bf16(int64_t n, const void* w, const void* a) noexcept { return x86::single<kernel_bf16>(n, w, a); }

/// q8_0 activation blocks plus the f32 scale / -128 * sum extras (matvec_ref.hpp),
/// bit for bit what ref::prepare_activation writes: the same amax, d = amax / 127,
/// the same guarded reciprocal, the same products x * id, and the reference's
/// round-half-away-from-zero (truncate, then step by the exact fraction).
inline void quantize_q8_0_activation(const float* x, int64_t n, quant::block_q8_0* blocks, float* d_out,
                                     int32_t* minus128_sum_out) noexcept {
  const __m512 lo = _mm512_set1_ps(-127.f), hi = _mm512_set1_ps(127.f), half = _mm512_set1_ps(0.5f);
  const __m512 mhalf = _mm512_set1_ps(-0.5f);
  const __m512i one = _mm512_set1_epi32(1);
  for (int64_t b = 0; b < n / quant::qk32; ++b, x += quant::qk32) {
    const __m512 x0 = _mm512_loadu_ps(x), x1 = _mm512_loadu_ps(x + 16);
    // |x| with NaN lanes dropped, as the scalar comparison skips them
    const __m512 a0 = _mm512_abs_ps(x0), a1 = _mm512_abs_ps(x1);
    const __m512 m0 = _mm512_maskz_mov_ps(_mm512_cmp_ps_mask(a0, a0, _CMP_ORD_Q), a0);
    const __m512 m1 = _mm512_maskz_mov_ps(_mm512_cmp_ps_mask(a1, a1, _CMP_ORD_Q), a1);
    const float amax = _mm512_reduce_max_ps(_mm512_max_ps(m0, m1));
    const float d = amax / 127;
    const float id = (d != 0 && std::isfinite(1.0f / d)) ? 1.0f / d : 0.0f;
    const uint16_t dh = fp32_to_fp16(d);
    blocks[b].d = dh;
    d_out[b] = fp16_to_fp32(dh);
    const __m512 vid = _mm512_set1_ps(id);
    __m512i q[2];
    for (int h = 0; h < 2; ++h) {
      __m512 v = _mm512_mul_ps(h ? x1 : x0, vid);
      v = _mm512_max_ps(v, lo);  // NaN -> -127 (the second operand), as the reference
      v = _mm512_min_ps(v, hi);
      const __m512i t = _mm512_cvttps_epi32(v);
      const __m512 frac = _mm512_sub_ps(v, _mm512_cvtepi32_ps(t));
      __m512i r = _mm512_mask_add_epi32(t, _mm512_cmp_ps_mask(frac, half, _CMP_GE_OQ), t, one);
      r = _mm512_mask_sub_epi32(r, _mm512_cmp_ps_mask(frac, mhalf, _CMP_LE_OQ), r, one);
      q[h] = r;
      _mm_storeu_si128(reinterpret_cast<__m128i*>(blocks[b].qs + 16 * h), _mm512_cvtepi32_epi8(r));
    }
    minus128_sum_out[b] = -128 * _mm512_reduce_add_epi32(_mm512_add_epi32(q[0], q[1]));
  }
}

/// q8_K activation blocks, bit for bit what quant::quantize_row_q8_k_ref writes:
/// max = the first value of largest magnitude (NaN skipped), iscale = -127 / max,
/// q = round-to-nearest-even of iscale * x after the reference's clamp to
/// +-4194303 (NaN -> the lower bound), then to [-127, 127]; d = 1 / iscale.
inline void quantize_q8_k_activation(const float* x, int64_t n, quant::block_q8_k* y) noexcept {
  const __m512 lo = _mm512_set1_ps(-4194303.f), hi = _mm512_set1_ps(4194303.f);
  const __m512i qlo = _mm512_set1_epi32(-127), qhi = _mm512_set1_epi32(127);
  for (int64_t b = 0; b < n / quant::qk_k; ++b, x += quant::qk_k) {
    __m512 m = _mm512_setzero_ps();
    for (int v = 0; v < 16; ++v) {
      const __m512 a = _mm512_abs_ps(_mm512_loadu_ps(x + 16 * v));
      m = _mm512_max_ps(_mm512_maskz_mov_ps(_mm512_cmp_ps_mask(a, a, _CMP_ORD_Q), a), m);
    }
    const float amax = _mm512_reduce_max_ps(m);
    float max = 0.0f;
    if (amax > 0.0f) {
      const __m512 va = _mm512_set1_ps(amax);
      for (int v = 0; v < 16; ++v) {
        const __mmask16 k = _mm512_cmp_ps_mask(_mm512_abs_ps(_mm512_loadu_ps(x + 16 * v)), va, _CMP_EQ_OQ);
        if (k) {
          max = x[16 * v + __builtin_ctz(static_cast<unsigned>(k))];
          break;
        }
      }
    }
    if (!(max != 0)) {
      std::memset(&y[b], 0, sizeof(quant::block_q8_k));
      continue;
    }
    const float iscale = -127.f / max;
    const __m512 vs = _mm512_set1_ps(iscale);
    for (int v = 0; v < 16; ++v) {
      __m512 p = _mm512_mul_ps(vs, _mm512_loadu_ps(x + 16 * v));
      p = _mm512_min_ps(_mm512_max_ps(p, lo), hi);  // NaN -> lo (max_ps returns its second operand)
      __m512i q = _mm512_cvt_roundps_epi32(p, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
      q = _mm512_min_epi32(_mm512_max_epi32(q, qlo), qhi);
      _mm_storeu_si128(reinterpret_cast<__m128i*>(y[b].qs + 16 * v), _mm512_cvtepi32_epi8(q));
      y[b].bsums[v] = static_cast<int16_t>(_mm512_reduce_add_epi32(q));
    }
    y[b].d = 1 / iscale;
  }
}

}  // namespace plm::kernels::arch::x86_512

#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic pop
#endif

#else
#define PLM_DETAIL_X86_AVX512 0
#endif
