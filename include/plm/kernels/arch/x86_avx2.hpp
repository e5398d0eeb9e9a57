// plm/kernels/arch/x86_avx2.hpp - x86 row dot products (AVX2 + FMA + F16C;
// AVX-512 VNNI / AVX-VNNI instructions substituted where the target has them).
//
// Only compiled when the compiler targets AVX2, FMA and F16C (e.g. -mavx2 -mfma
// -mf16c, -march=haswell or later): plm never selects an ISA at run time, so a
// binary runs on exactly the machines its flags allow. The integer kernels
// compute the same per-block int32 sums as plm::kernels::ref (u8 x s8 products
// in int16 pairs stay below 2^15: weights are at most 63 (q6_K) or |128|
// (q8_0, via the sign trick) and activations in [-127, 127]); only the f32
// accumulation over blocks is ordered differently (in 8 lanes).
#pragma once

#if defined(__AVX2__) && defined(__FMA__) && defined(__F16C__)
#define PLM_DETAIL_X86_AVX2 1

#include <immintrin.h>

#include <cstdint>
#include <cstring>

#include "plm/quant/blocks.hpp"
#include "plm/quant/half.hpp"

// 256-bit VNNI: from AVX-512 (with VL) or from AVX-VNNI (Alder Lake and later).
#if defined(__AVX512VNNI__) && defined(__AVX512VL__)
#define PLM_DETAIL_X86_VNNI 1
#define PLM_DETAIL_DPBUSD(acc, u, s) _mm256_dpbusd_epi32(acc, u, s)
#define PLM_DETAIL_DPWSSD(acc, a, b) _mm256_dpwssd_epi32(acc, a, b)
#elif defined(__AVXVNNI__)
#define PLM_DETAIL_X86_VNNI 1
#define PLM_DETAIL_DPBUSD(acc, u, s) _mm256_dpbusd_avx_epi32(acc, u, s)
#define PLM_DETAIL_DPWSSD(acc, a, b) _mm256_dpwssd_avx_epi32(acc, a, b)
#else
#define PLM_DETAIL_X86_VNNI 0
#endif

namespace plm::kernels::arch::x86 {

inline float hsum(__m256 v) noexcept {
  __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  s = _mm_add_ss(s, _mm_movehdup_ps(s));
  return _mm_cvtss_f32(s);
}

/// acc + sums of 4 adjacent u8 x s8 products (8 int32 lanes). Exact for u <= 128.
inline __m256i dot_u8s8(__m256i acc, __m256i u, __m256i s) noexcept {
#if PLM_DETAIL_X86_VNNI
  return PLM_DETAIL_DPBUSD(acc, u, s);
#else
  return _mm256_add_epi32(acc, _mm256_madd_epi16(_mm256_maddubs_epi16(u, s), _mm256_set1_epi16(1)));
#endif
}
/// acc + pairwise int16 products summed to int32.
inline __m256i dot_i16(__m256i acc, __m256i a, __m256i b) noexcept {
#if PLM_DETAIL_X86_VNNI
  return PLM_DETAIL_DPWSSD(acc, a, b);
#else
  return _mm256_add_epi32(acc, _mm256_madd_epi16(a, b));
#endif
}
/// s8 x s8 via |x| (as u8) times y with x's sign: exact, since y is never -128.
inline __m256i dot_s8s8(__m256i acc, __m256i x, __m256i y) noexcept {
  return dot_u8s8(acc, _mm256_sign_epi8(x, x), _mm256_sign_epi8(y, x));
}
/// 16 packed bytes -> 32 nibbles: low nibbles in bytes 0..15, high in 16..31 (q4_0 / q4_1 / q5 order).
inline __m256i nibbles_32(const uint8_t* p) noexcept {
  const __m128i b = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p));
  const __m128i m = _mm_set1_epi8(0x0f);
  return _mm256_set_m128i(_mm_and_si128(_mm_srli_epi16(b, 4), m), _mm_and_si128(b, m));
}
inline __m256i load32(const void* p) noexcept { return _mm256_loadu_si256(static_cast<const __m256i*>(p)); }
/// Prefetches the cache lines of the block `ahead` bytes past p (a block of `bytes`
/// bytes): the k-quant kernels do enough work per byte that, with only the
/// hardware prefetcher, their arithmetic and the DRAM reads did not overlap.
inline void prefetch_ahead(const void* p, size_t bytes, size_t ahead = 8192) noexcept {
  for (size_t o = 0; o < bytes; o += 64) _mm_prefetch(static_cast<const char*>(p) + ahead + o, _MM_HINT_T0);
}

// --- float weights ----------------------------------------------------------

/// Four-accumulator f32 dot where load8(i) yields weights i..i+7 as f32 and at(i) one weight.
template <class Load8, class At>
inline float dot_float_row(int64_t n, const float* x, Load8 load8, At at, const uint8_t* w = nullptr,
                           size_t w_elem = 0) noexcept {
  __m256 s0 = _mm256_setzero_ps(), s1 = s0, s2 = s0, s3 = s0;
  int64_t i = 0;
  for (; i + 32 <= n; i += 32) {
    // 16-bit weights: 64 bytes per step; keep the DRAM stream ~4 KiB ahead of the
    // arithmetic (the hardware prefetcher alone left compute and memory serialized).
    if (w) _mm_prefetch(reinterpret_cast<const char*>(w + static_cast<size_t>(i) * w_elem + 4096), _MM_HINT_T0);
    s0 = _mm256_fmadd_ps(load8(i), _mm256_loadu_ps(x + i), s0);
    s1 = _mm256_fmadd_ps(load8(i + 8), _mm256_loadu_ps(x + i + 8), s1);
    s2 = _mm256_fmadd_ps(load8(i + 16), _mm256_loadu_ps(x + i + 16), s2);
    s3 = _mm256_fmadd_ps(load8(i + 24), _mm256_loadu_ps(x + i + 24), s3);
  }
  for (; i + 8 <= n; i += 8) s0 = _mm256_fmadd_ps(load8(i), _mm256_loadu_ps(x + i), s0);
  float s = hsum(_mm256_add_ps(_mm256_add_ps(s0, s1), _mm256_add_ps(s2, s3)));
  for (; i < n; ++i) s += at(i) * x[i];
  return s;
}

inline float vec_dot_f16(int64_t n, const void* w, const void* a) noexcept {
  const uint16_t* wh = static_cast<const uint16_t*>(w);
  return dot_float_row(
      n, static_cast<const float*>(a),
      [&](int64_t i) { return _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(wh + i))); },
      [&](int64_t i) { return fp16_to_fp32(wh[i]); }, static_cast<const uint8_t*>(w), 2);
}

inline float vec_dot_bf16(int64_t n, const void* w, const void* a) noexcept {
  const uint16_t* wh = static_cast<const uint16_t*>(w);
  return dot_float_row(
      n, static_cast<const float*>(a),
      [&](int64_t i) {  // bf16 is the top half of an f32
        const __m128i h = _mm_loadu_si128(reinterpret_cast<const __m128i*>(wh + i));
        return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(h), 16));
      },
      [&](int64_t i) { return bf16_to_fp32(wh[i]); }, static_cast<const uint8_t*>(w), 2);
}

/// int16 words [s_j x 8 | s_(j+1) x 8] from 16 int8 scales duplicated in both
/// 128-bit lanes (sign-extended: each word is (s << 8 | s) >> 8, arithmetic).
inline __m256i scale_pair_words(__m256i sc8x2, int j) noexcept {
  const __m256i idx = _mm256_set_m128i(_mm_set1_epi8(static_cast<char>(j + 1)), _mm_set1_epi8(static_cast<char>(j)));
  return _mm256_srai_epi16(_mm256_shuffle_epi8(sc8x2, idx), 8);
}

// --- multi-token kernels -------------------------------------------------------
// A kernel K provides `template <int NT> static void run(n, w, a, stride, out,
// ostride)`: the dots of one weight row with NT prepared activations (token t
// at a + t * stride, result at out[t * ostride]). Weight unpacking is shared by
// the NT tokens; each token's arithmetic is the same sequence whatever NT is,
// so matmul (NT up to 4) equals matvec (NT = 1) bit for bit.

template <class A>
inline const A* act(const void* a, size_t stride, int t) noexcept {
  return reinterpret_cast<const A*>(static_cast<const uint8_t*>(a) + static_cast<size_t>(t) * stride);
}

/// Row dot of one token through kernel K.
template <class K>
inline float single(int64_t n, const void* w, const void* a) noexcept {
  float r;
  K::template run<1>(n, w, a, 0, &r, 1);
  return r;
}
/// count tokens through kernel K, up to K::max_tokens at a time.
template <class K>
inline void multi(int64_t n, const void* w, const void* a, size_t stride, int count, float* out,
                  int64_t ostride) noexcept {
  for (; count >= K::max_tokens; count -= K::max_tokens) {
    K::template run<K::max_tokens>(n, w, a, stride, out, ostride);
    a = static_cast<const uint8_t*>(a) + static_cast<size_t>(K::max_tokens) * stride;
    out += K::max_tokens * ostride;
  }
  switch (count) {
    case 3: K::template run<3>(n, w, a, stride, out, ostride); break;
    case 2: K::template run<2>(n, w, a, stride, out, ostride); break;
    case 1: K::template run<1>(n, w, a, stride, out, ostride); break;
    default: break;
  }
}

// --- 32-element blocks x q8_0 -------------------------------------------------

/// Blocks of 32 with q8_0 activations; W::block_int(x_block, unpacked, y_qs) gives 8
/// int32 lanes, W::unpack(x_block) the weight quants shared by the tokens.
template <class W>
struct kernel_32 {
  static constexpr int max_tokens = 4;
  template <int NT>
  static void run(int64_t n, const void* w, const void* a, size_t stride, float* out, int64_t ostride) noexcept {
    const auto* x = static_cast<const typename W::block*>(w);
    const quant::block_q8_0* y[NT];
    for (int t = 0; t < NT; ++t) y[t] = act<quant::block_q8_0>(a, stride, t);
    __m256 acc[NT];
    for (int t = 0; t < NT; ++t) acc[t] = _mm256_setzero_ps();
    for (int64_t b = 0; b < n / quant::qk32; ++b) {
      if (b % 2 == 0) prefetch_ahead(x + b, 64);
      const __m256i q = W::unpack(x[b]);
      const float dx = fp16_to_fp32(x[b].d);
      for (int t = 0; t < NT; ++t) {
        const __m256i p = dot_s8s8(_mm256_setzero_si256(), q, load32(y[t][b].qs));
        acc[t] = _mm256_fmadd_ps(_mm256_set1_ps(dx * fp16_to_fp32(y[t][b].d)), _mm256_cvtepi32_ps(p), acc[t]);
      }
    }
    for (int t = 0; t < NT; ++t) out[t * ostride] = hsum(acc[t]);
  }
};
struct w_q8_0 {
  using block = quant::block_q8_0;
  static __m256i unpack(const block& x) noexcept { return load32(x.qs); }
};
struct w_q4_0 {
  using block = quant::block_q4_0;
  static __m256i unpack(const block& x) noexcept { return _mm256_sub_epi8(nibbles_32(x.qs), _mm256_set1_epi8(8)); }
};
using kernel_q8_0 = kernel_32<w_q8_0>;
using kernel_q4_0 = kernel_32<w_q4_0>;
inline float vec_dot_q8_0_q8_0(int64_t n, const void* w, const void* a) noexcept { return single<kernel_q8_0>(n, w, a); }
inline float vec_dot_q4_0_q8_0(int64_t n, const void* w, const void* a) noexcept { return single<kernel_q4_0>(n, w, a); }

// --- k-quants x q8_K ------------------------------------------------------------

/// q4_K and q5_K: W::quants(x_block, c, lo, hi) yields chunk c's 32 + 32 unsigned quants.
template <class W>
struct kernel_k4 {
  static constexpr int max_tokens = 4;
  template <int NT>
  static void run(int64_t n, const void* w, const void* a, size_t stride, float* out, int64_t ostride) noexcept {
    const auto* x = static_cast<const typename W::block*>(w);
    const quant::block_q8_k* y[NT];
    for (int t = 0; t < NT; ++t) y[t] = act<quant::block_q8_k>(a, stride, t);
    __m256 acc[NT];
    for (int t = 0; t < NT; ++t) acc[t] = _mm256_setzero_ps();
    for (int64_t b = 0; b < n / quant::qk_k; ++b) {
      prefetch_ahead(x + b, sizeof(x[b]));
      uint32_t w4[4];
      quant::unpack_scales_mins_k4_words(x[b].scales, w4);
      uint8_t sc[8];  // byte reads of single word stores forward fine
      std::memcpy(sc, w4, 8);
      __m256i isum[NT];
      for (int t = 0; t < NT; ++t) isum[t] = _mm256_setzero_si256();
      for (int c = 0; c < 4; ++c) {
        __m256i lo, hi;
        W::quants(x[b], c, lo, hi);
        const __m256i slo = _mm256_set1_epi16(sc[2 * c]), shi = _mm256_set1_epi16(sc[2 * c + 1]);
        for (int t = 0; t < NT; ++t) {
          isum[t] = dot_i16(isum[t], _mm256_maddubs_epi16(lo, load32(y[t][b].qs + 64 * c)), slo);
          isum[t] = dot_i16(isum[t], _mm256_maddubs_epi16(hi, load32(y[t][b].qs + 64 * c + 32)), shi);
        }
      }
      // mins: sum_j m_j (bsum_2j + bsum_2j+1) via one madd against [m0 m0 m1 m1 ...].
      const __m128i m8 = _mm_set_epi32(0, 0, static_cast<int>(w4[3]), static_cast<int>(w4[2]));
      const __m256i m16 = _mm256_cvtepu8_epi16(_mm_unpacklo_epi8(m8, m8));
      const float dx = fp16_to_fp32(x[b].d), mx = fp16_to_fp32(x[b].dmin);
      for (int t = 0; t < NT; ++t) {
        const __m256i msum = _mm256_madd_epi16(load32(y[t][b].bsums), m16);
        acc[t] = _mm256_fmadd_ps(_mm256_set1_ps(dx * y[t][b].d), _mm256_cvtepi32_ps(isum[t]), acc[t]);
        acc[t] = _mm256_fnmadd_ps(_mm256_set1_ps(mx * y[t][b].d), _mm256_cvtepi32_ps(msum), acc[t]);
      }
    }
    for (int t = 0; t < NT; ++t) out[t * ostride] = hsum(acc[t]);
  }
};
struct w_q4_k {
  using block = quant::block_q4_k;
  static void quants(const block& x, int c, __m256i& lo, __m256i& hi) noexcept {
    const __m256i m4 = _mm256_set1_epi8(0x0f);
    const __m256i q = load32(x.qs + 32 * c);
    lo = _mm256_and_si256(q, m4);
    hi = _mm256_and_si256(_mm256_srli_epi16(q, 4), m4);
  }
};
struct w_q5_k {
  using block = quant::block_q5_k;
  static void quants(const block& x, int c, __m256i& lo, __m256i& hi) noexcept {
    const __m256i m4 = _mm256_set1_epi8(0x0f), one = _mm256_set1_epi8(1);
    const __m256i q = load32(x.qs + 32 * c);
    const __m256i h = load32(x.qh);
    // Bit s of each qh byte -> bit 4 (16-bit shifts are fine: the mask keeps one bit per byte).
    const __m256i hlo = _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(h, 2 * c), one), 4);
    const __m256i hhi = _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(h, 2 * c + 1), one), 4);
    lo = _mm256_or_si256(_mm256_and_si256(q, m4), hlo);
    hi = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(q, 4), m4), hhi);
  }
};
using kernel_q4_k = kernel_k4<w_q4_k>;
using kernel_q5_k = kernel_k4<w_q5_k>;
inline float vec_dot_q4_k_q8_k(int64_t n, const void* w, const void* a) noexcept { return single<kernel_q4_k>(n, w, a); }
inline float vec_dot_q5_k_q8_k(int64_t n, const void* w, const void* a) noexcept { return single<kernel_q5_k>(n, w, a); }

/// q6_K: 6-bit quants unpacked once per block half, shared by the tokens.
struct kernel_q6_k {
  static constexpr int max_tokens = 4;
  template <int NT>
  static void run(int64_t n, const void* w, const void* a, size_t stride, float* out, int64_t ostride) noexcept {
    const auto* x = static_cast<const quant::block_q6_k*>(w);
    const quant::block_q8_k* y[NT];
    for (int t = 0; t < NT; ++t) y[t] = act<quant::block_q8_k>(a, stride, t);
    const __m256i m4 = _mm256_set1_epi8(0x0f), m2 = _mm256_set1_epi8(0x30);
    __m256 acc[NT];
    for (int t = 0; t < NT; ++t) acc[t] = _mm256_setzero_ps();
    for (int64_t b = 0; b < n / quant::qk_k; ++b) {
      prefetch_ahead(x + b, sizeof(x[b]));
      const __m128i sc8 = _mm_loadu_si128(reinterpret_cast<const __m128i*>(x[b].scales));
      const __m256i sc8x2 = _mm256_broadcastsi128_si256(sc8);
      __m256i isum[NT];
      for (int t = 0; t < NT; ++t) isum[t] = _mm256_setzero_si256();
      for (int h = 0; h < 2; ++h) {
        const __m256i ql0 = load32(x[b].ql + 64 * h), ql1 = load32(x[b].ql + 64 * h + 32);
        const __m256i qh = load32(x[b].qh + 32 * h);
        // Groups k = 0..3 of 32 elements: low/high nibbles of ql0/ql1 with qh bits 2k..2k+1 as bits 4..5.
        const __m256i q[4] = {
            _mm256_or_si256(_mm256_and_si256(ql0, m4), _mm256_and_si256(_mm256_slli_epi16(qh, 4), m2)),
            _mm256_or_si256(_mm256_and_si256(ql1, m4), _mm256_and_si256(_mm256_slli_epi16(qh, 2), m2)),
            _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(ql0, 4), m4), _mm256_and_si256(qh, m2)),
            _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(ql1, 4), m4),
                            _mm256_and_si256(_mm256_srli_epi16(qh, 2), m2)),
        };
        for (int k = 0; k < 4; ++k) {
          // int16 lanes 0..7 belong to sub-block 8h+2k, lanes 8..15 to 8h+2k+1.
          const __m256i scv = scale_pair_words(sc8x2, 8 * h + 2 * k);
          for (int t = 0; t < NT; ++t)
            isum[t] = dot_i16(isum[t], _mm256_maddubs_epi16(q[k], load32(y[t][b].qs + 128 * h + 32 * k)), scv);
        }
      }
      // The -32 offset of every quant: sum_j sc_j * 32 * bsum_j, one madd per token.
      const __m256i sc16 = _mm256_cvtepi8_epi16(sc8);
      const float dx = fp16_to_fp32(x[b].d);
      for (int t = 0; t < NT; ++t) {
        const __m256i offs = _mm256_madd_epi16(load32(y[t][b].bsums), sc16);
        const __m256i is = _mm256_sub_epi32(isum[t], _mm256_slli_epi32(offs, 5));
        acc[t] = _mm256_fmadd_ps(_mm256_set1_ps(dx * y[t][b].d), _mm256_cvtepi32_ps(is), acc[t]);
      }
    }
    for (int t = 0; t < NT; ++t) out[t * ostride] = hsum(acc[t]);
  }
};
inline float vec_dot_q6_k_q8_k(int64_t n, const void* w, const void* a) noexcept { return single<kernel_q6_k>(n, w, a); }

/// q2_K and q3_K: 16 sub-blocks of 16; quants(b, h, s) yields the 32 unsigned
/// quants of elements 128h + 32s + 0..31 (sub-blocks 8h+2s, 8h+2s+1), scales8(b)
/// the 16 signed 8-bit sub-block scales. Returns sum_b d_b * sum_j sc_j sum q y
/// minus sum_b dmin_b * sum_j (mins_j or offsets) * bsum_j as computed by `minus`.
template <class Quants, class Scales, class Minus>
inline float vec_dot_k16(int64_t n, const quant::block_q8_k* y, Quants quants, Scales scales8, Minus minus) noexcept {
  __m256 acc = _mm256_setzero_ps();
  for (int64_t b = 0; b < n / quant::qk_k; ++b) {
    const __m128i sc8 = scales8(b);
    const __m256i sc8x2 = _mm256_broadcastsi128_si256(sc8);
    __m256i isum = _mm256_setzero_si256();
    for (int h = 0; h < 2; ++h)
      for (int s = 0; s < 4; ++s) {
        const __m256i p = _mm256_maddubs_epi16(quants(b, h, s), load32(y[b].qs + 128 * h + 32 * s));
        isum = dot_i16(isum, p, scale_pair_words(sc8x2, 8 * h + 2 * s));
      }
    acc = minus(b, sc8, isum, acc);
  }
  return hsum(acc);
}

inline float vec_dot_q2_k_q8_k(int64_t n, const void* w, const void* a) noexcept {
  const auto* x = static_cast<const quant::block_q2_k*>(w);
  const auto* y = static_cast<const quant::block_q8_k*>(a);
  const __m256i m2 = _mm256_set1_epi8(3);
  const __m128i m4 = _mm_set1_epi8(0x0f);
  return vec_dot_k16(
      n, y,
      [&](int64_t b, int h, int s) {  // bits 2s..2s+1 of qs[32h + l]
        return _mm256_and_si256(_mm256_srli_epi16(load32(x[b].qs + 32 * h), 2 * s), m2);
      },
      [&](int64_t b) {  // low nibbles: scales 0..15
        return _mm_and_si128(_mm_loadu_si128(reinterpret_cast<const __m128i*>(x[b].scales)), m4);
      },
      [&](int64_t b, __m128i, __m256i isum, __m256 acc) {
        // mins (high nibbles) times bsums: one madd.
        const __m128i mins = _mm_and_si128(_mm_srli_epi16(_mm_loadu_si128(reinterpret_cast<const __m128i*>(x[b].scales)), 4), m4);
        const __m256i msum = _mm256_madd_epi16(load32(y[b].bsums), _mm256_cvtepu8_epi16(mins));
        acc = _mm256_fmadd_ps(_mm256_set1_ps(fp16_to_fp32(x[b].d) * y[b].d), _mm256_cvtepi32_ps(isum), acc);
        return _mm256_fnmadd_ps(_mm256_set1_ps(fp16_to_fp32(x[b].dmin) * y[b].d), _mm256_cvtepi32_ps(msum), acc);
      });
}

inline float vec_dot_q3_k_q8_k(int64_t n, const void* w, const void* a) noexcept {
  const auto* x = static_cast<const quant::block_q3_k*>(w);
  const auto* y = static_cast<const quant::block_q8_k*>(a);
  const __m256i m2 = _mm256_set1_epi8(3), one = _mm256_set1_epi8(1);
  return vec_dot_k16(
      n, y,
      [&](int64_t b, int h, int s) {
        // q3 + 4 = low 2 bits | high bit << 2, in [0, 7]; the -4 is applied through bsums.
        const __m256i lo = _mm256_and_si256(_mm256_srli_epi16(load32(x[b].qs + 32 * h), 2 * s), m2);
        const __m256i hb = _mm256_and_si256(_mm256_srli_epi16(load32(x[b].hmask), 4 * h + s), one);
        return _mm256_or_si256(lo, _mm256_slli_epi16(hb, 2));
      },
      [&](int64_t b) {  // 6-bit scales - 32, as bytes
        uint32_t u[3];
        std::memcpy(u, x[b].scales, 12);
        const uint32_t lo4 = 0x0f0f0f0fu, lo2 = 0x03030303u;
        const __m128i s6 = _mm_set_epi32(static_cast<int>(((u[1] >> 4) & lo4) | (((u[2] >> 6) & lo2) << 4)),
                                         static_cast<int>(((u[0] >> 4) & lo4) | (((u[2] >> 4) & lo2) << 4)),
                                         static_cast<int>((u[1] & lo4) | (((u[2] >> 2) & lo2) << 4)),
                                         static_cast<int>((u[0] & lo4) | ((u[2] & lo2) << 4)));
        return _mm_sub_epi8(s6, _mm_set1_epi8(32));
      },
      [&](int64_t b, __m128i sc8, __m256i isum, __m256 acc) {
        // The -4 offset: 4 * sum_j s_j * bsum_j.
        const __m256i offs = _mm256_madd_epi16(load32(y[b].bsums), _mm256_cvtepi8_epi16(sc8));
        isum = _mm256_sub_epi32(isum, _mm256_slli_epi32(offs, 2));
        return _mm256_fmadd_ps(_mm256_set1_ps(fp16_to_fp32(x[b].d) * y[b].d), _mm256_cvtepi32_ps(isum), acc);
      });
}

}  // namespace plm::kernels::arch::x86

#undef PLM_DETAIL_DPBUSD
#undef PLM_DETAIL_DPWSSD

#else
#define PLM_DETAIL_X86_AVX2 0
#define PLM_DETAIL_X86_VNNI 0
#endif
