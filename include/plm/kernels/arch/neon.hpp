// plm/kernels/arch/neon.hpp - AArch64 NEON row dot products (SDOT when the
// target has the dot-product extension: __ARM_FEATURE_DOTPROD, armv8.2-a+dotprod,
// e.g. Cortex-A76 in the Raspberry Pi 5, Cortex-A78AE in Jetson Orin).
//
// Only compiled for AArch64 with NEON. Without SDOT the int8 dot products use
// widening multiplies (vmull_s8) and pairwise accumulation, exact for the same
// ranges. As on x86, every integer block sum equals plm::kernels::ref's; only
// the f32 accumulation over blocks is ordered differently (4 lanes).
#pragma once

#if defined(__aarch64__) && defined(__ARM_NEON)
#define PLM_DETAIL_NEON 1

#include <arm_neon.h>

#include <cstdint>
#include <cstring>

#include "plm/quant/blocks.hpp"
#include "plm/quant/half.hpp"

namespace plm::kernels::arch::neon {

/// acc + sums of 4 adjacent int8 products per int32 lane (exact).
inline int32x4_t dot_s8(int32x4_t acc, int8x16_t a, int8x16_t b) noexcept {
#if defined(__ARM_FEATURE_DOTPROD)
  return vdotq_s32(acc, a, b);
#else
  // |a*b| <= 128*127 fits int16; pairs are summed into int32 lanes.
  const int16x8_t lo = vmull_s8(vget_low_s8(a), vget_low_s8(b));
  const int16x8_t hi = vmull_high_s8(a, b);
  return vpadalq_s16(vpadalq_s16(acc, lo), hi);
#endif
}
inline int8x16_t load_s8(const int8_t* p) noexcept { return vld1q_s8(p); }

// --- float weights ----------------------------------------------------------

/// Four-accumulator f32 dot where load4(i) yields weights i..i+3 as f32 and at(i) one weight.
template <class Load4, class At>
inline float dot_float_row(int64_t n, const float* x, Load4 load4, At at) noexcept {
  float32x4_t s0 = vdupq_n_f32(0), s1 = s0, s2 = s0, s3 = s0;
  int64_t i = 0;
  for (; i + 16 <= n; i += 16) {
    s0 = vfmaq_f32(s0, load4(i), vld1q_f32(x + i));
    s1 = vfmaq_f32(s1, load4(i + 4), vld1q_f32(x + i + 4));
    s2 = vfmaq_f32(s2, load4(i + 8), vld1q_f32(x + i + 8));
    s3 = vfmaq_f32(s3, load4(i + 12), vld1q_f32(x + i + 12));
  }
  for (; i + 4 <= n; i += 4) s0 = vfmaq_f32(s0, load4(i), vld1q_f32(x + i));
  float s = vaddvq_f32(vaddq_f32(vaddq_f32(s0, s1), vaddq_f32(s2, s3)));
  for (; i < n; ++i) s += at(i) * x[i];
  return s;
}

inline float vec_dot_f16(int64_t n, const void* w, const void* a) noexcept {
  const uint16_t* wh = static_cast<const uint16_t*>(w);
  return dot_float_row(
      n, static_cast<const float*>(a),
      [&](int64_t i) { return vcvt_f32_f16(vreinterpret_f16_u16(vld1_u16(wh + i))); },
      [&](int64_t i) { return fp16_to_fp32(wh[i]); });
}
inline float vec_dot_bf16(int64_t n, const void* w, const void* a) noexcept {
  const uint16_t* wh = static_cast<const uint16_t*>(w);
  return dot_float_row(
      n, static_cast<const float*>(a),
      [&](int64_t i) { return vreinterpretq_f32_u32(vshll_n_u16(vld1_u16(wh + i), 16)); },
      [&](int64_t i) { return bf16_to_fp32(wh[i]); });
}

// --- 32-element blocks x q8_0 -------------------------------------------------

template <class WBlock, class IntDot>
inline float sum_blocks_32(int64_t n, const WBlock* x, const quant::block_q8_0* y, IntDot block_int) noexcept {
  float32x4_t acc0 = vdupq_n_f32(0), acc1 = acc0;
  const int64_t nb = n / quant::qk32;
  int64_t b = 0;
  for (; b + 2 <= nb; b += 2) {
    acc0 = vmlaq_n_f32(acc0, vcvtq_f32_s32(block_int(b)), fp16_to_fp32(x[b].d) * fp16_to_fp32(y[b].d));
    acc1 = vmlaq_n_f32(acc1, vcvtq_f32_s32(block_int(b + 1)), fp16_to_fp32(x[b + 1].d) * fp16_to_fp32(y[b + 1].d));
  }
  if (b < nb) acc0 = vmlaq_n_f32(acc0, vcvtq_f32_s32(block_int(b)), fp16_to_fp32(x[b].d) * fp16_to_fp32(y[b].d));
  return vaddvq_f32(vaddq_f32(acc0, acc1));
}

inline float vec_dot_q8_0_q8_0(int64_t n, const void* w, const void* a) noexcept {
  const auto* x = static_cast<const quant::block_q8_0*>(w);
  const auto* y = static_cast<const quant::block_q8_0*>(a);
  return sum_blocks_32(n, x, y, [&](int64_t b) {
    const int32x4_t p = dot_s8(vdupq_n_s32(0), load_s8(x[b].qs), load_s8(y[b].qs));
    return dot_s8(p, load_s8(x[b].qs + 16), load_s8(y[b].qs + 16));
  });
}

inline float vec_dot_q4_0_q8_0(int64_t n, const void* w, const void* a) noexcept {
  const auto* x = static_cast<const quant::block_q4_0*>(w);
  const auto* y = static_cast<const quant::block_q8_0*>(a);
  const uint8x16_t m4 = vdupq_n_u8(0x0f);
  const int8x16_t eight = vdupq_n_s8(8);
  return sum_blocks_32(n, x, y, [&](int64_t b) {
    const uint8x16_t q = vld1q_u8(x[b].qs);
    const int8x16_t lo = vsubq_s8(vreinterpretq_s8_u8(vandq_u8(q, m4)), eight);  // elements 0..15
    const int8x16_t hi = vsubq_s8(vreinterpretq_s8_u8(vshrq_n_u8(q, 4)), eight);  // elements 16..31
    return dot_s8(dot_s8(vdupq_n_s32(0), lo, load_s8(y[b].qs)), hi, load_s8(y[b].qs + 16));
  });
}

// --- k-quants x q8_K ------------------------------------------------------------

/// sum_j m_j (bsum_2j + bsum_2j+1) for the 8 mins of a q4_K / q5_K block.
inline int32_t mins_dot_bsums(uint8x8_t mins8, const int16_t* bsums) noexcept {
  const int16x8_t pairs = vpaddq_s16(vld1q_s16(bsums), vld1q_s16(bsums + 8));  // |pair| <= 2*16*127
  const int16x8_t m = vreinterpretq_s16_u16(vmovl_u8(mins8));
  const int32x4_t p = vmull_s16(vget_low_s16(pairs), vget_low_s16(m));
  return vaddvq_s32(vmlal_high_s16(p, pairs, m));
}

/// q4_K / q5_K: quants(b, c, lo[2], hi[2]) gives chunk c's 32 low and 32 high quants (as 2 x 16).
template <class Block, class Quants>
inline float vec_dot_k4(int64_t n, const Block* x, const quant::block_q8_k* y, Quants quants) noexcept {
  float s = 0;
  for (int64_t b = 0; b < n / quant::qk_k; ++b) {
    uint32_t w4[4];
    quant::unpack_scales_mins_k4_words(x[b].scales, w4);
    const uint8x16_t scm = vreinterpretq_u8_u32(vld1q_u32(w4));
    uint8_t sc_m[8];
    std::memcpy(sc_m, w4, 8);
    const int32_t msum = mins_dot_bsums(vget_high_u8(scm), y[b].bsums);
    int32x4_t acc = vdupq_n_s32(0);  // sub-block sums times their scales, 4 lanes
    for (int c = 0; c < 4; ++c) {
      int8x16_t lo[2], hi[2];
      quants(b, c, lo, hi);
      const int8_t* q8 = y[b].qs + 64 * c;
      const int32x4_t plo = dot_s8(dot_s8(vdupq_n_s32(0), lo[0], load_s8(q8)), lo[1], load_s8(q8 + 16));
      const int32x4_t phi = dot_s8(dot_s8(vdupq_n_s32(0), hi[0], load_s8(q8 + 32)), hi[1], load_s8(q8 + 48));
      acc = vmlaq_n_s32(acc, plo, sc_m[2 * c]);
      acc = vmlaq_n_s32(acc, phi, sc_m[2 * c + 1]);
    }
    const int32_t isum = vaddvq_s32(acc);
    s += fp16_to_fp32(x[b].d) * y[b].d * static_cast<float>(isum) -
         fp16_to_fp32(x[b].dmin) * y[b].d * static_cast<float>(msum);
  }
  return s;
}

inline float vec_dot_q4_k_q8_k(int64_t n, const void* w, const void* a) noexcept {
  const auto* x = static_cast<const quant::block_q4_k*>(w);
  const auto* y = static_cast<const quant::block_q8_k*>(a);
  const uint8x16_t m4 = vdupq_n_u8(0x0f);
  return vec_dot_k4(n, x, y, [&](int64_t b, int c, int8x16_t* lo, int8x16_t* hi) {
    for (int k = 0; k < 2; ++k) {
      const uint8x16_t q = vld1q_u8(x[b].qs + 32 * c + 16 * k);
      lo[k] = vreinterpretq_s8_u8(vandq_u8(q, m4));
      hi[k] = vreinterpretq_s8_u8(vshrq_n_u8(q, 4));
    }
  });
}

inline float vec_dot_q5_k_q8_k(int64_t n, const void* w, const void* a) noexcept {
  const auto* x = static_cast<const quant::block_q5_k*>(w);
  const auto* y = static_cast<const quant::block_q8_k*>(a);
  const uint8x16_t m4 = vdupq_n_u8(0x0f), bit4 = vdupq_n_u8(0x10);
  return vec_dot_k4(n, x, y, [&](int64_t b, int c, int8x16_t* lo, int8x16_t* hi) {
    for (int k = 0; k < 2; ++k) {
      const uint8x16_t q = vld1q_u8(x[b].qs + 32 * c + 16 * k);
      const uint8x16_t h = vld1q_u8(x[b].qh + 16 * k);
      // Bit 2c (low) / 2c+1 (high) of each qh byte moved to bit 4.
      const uint8x16_t hl = vandq_u8(vshlq_u8(h, vdupq_n_s8(static_cast<int8_t>(4 - 2 * c))), bit4);
      const uint8x16_t hh = vandq_u8(vshlq_u8(h, vdupq_n_s8(static_cast<int8_t>(3 - 2 * c))), bit4);
      lo[k] = vreinterpretq_s8_u8(vorrq_u8(vandq_u8(q, m4), hl));
      hi[k] = vreinterpretq_s8_u8(vorrq_u8(vshrq_n_u8(q, 4), hh));
    }
  });
}

/// sum_j sc_j * bsum_j over the 16 sub-blocks of a q8_K block (sc as int16).
inline int32_t scales_dot_bsums(int8x16_t sc, const int16_t* bsums) noexcept {
  const int16x8_t lo = vmovl_s8(vget_low_s8(sc)), hi = vmovl_high_s8(sc);
  int32x4_t p = vmull_s16(vget_low_s16(lo), vld1_s16(bsums));
  p = vmlal_high_s16(p, lo, vld1q_s16(bsums));
  p = vmlal_s16(p, vget_low_s16(hi), vld1_s16(bsums + 8));
  return vaddvq_s32(vmlal_high_s16(p, hi, vld1q_s16(bsums + 8)));
}

inline float vec_dot_q6_k_q8_k(int64_t n, const void* w, const void* a) noexcept {
  const auto* x = static_cast<const quant::block_q6_k*>(w);
  const auto* y = static_cast<const quant::block_q8_k*>(a);
  const uint8x16_t m4 = vdupq_n_u8(0x0f), m2 = vdupq_n_u8(0x30);
  float s = 0;
  for (int64_t b = 0; b < n / quant::qk_k; ++b) {
    // The -32 offset of every quant: 32 * sum_j sc_j * bsum_j.
    const int32_t off = scales_dot_bsums(vld1q_s8(x[b].scales), y[b].bsums);
    int32x4_t acc = vdupq_n_s32(0);
    for (int h = 0; h < 2; ++h) {
      for (int half = 0; half < 2; ++half) {  // elements l = 16*half .. 16*half+15 of each group
        const uint8x16_t ql0 = vld1q_u8(x[b].ql + 64 * h + 16 * half);
        const uint8x16_t ql1 = vld1q_u8(x[b].ql + 64 * h + 32 + 16 * half);
        const uint8x16_t qh = vld1q_u8(x[b].qh + 32 * h + 16 * half);
        const uint8x16_t q[4] = {
            vorrq_u8(vandq_u8(ql0, m4), vandq_u8(vshlq_n_u8(qh, 4), m2)),
            vorrq_u8(vandq_u8(ql1, m4), vandq_u8(vshlq_n_u8(qh, 2), m2)),
            vorrq_u8(vshrq_n_u8(ql0, 4), vandq_u8(qh, m2)),
            vorrq_u8(vshrq_n_u8(ql1, 4), vandq_u8(vshrq_n_u8(qh, 2), m2)),
        };
        for (int k = 0; k < 4; ++k) {
          // 16 elements = exactly sub-block 8h + 2k + half.
          const int32x4_t p = dot_s8(vdupq_n_s32(0), vreinterpretq_s8_u8(q[k]), load_s8(y[b].qs + 128 * h + 32 * k + 16 * half));
          acc = vmlaq_n_s32(acc, p, x[b].scales[8 * h + 2 * k + half]);
        }
      }
    }
    const int32_t isum = vaddvq_s32(acc) - 32 * off;
    s += fp16_to_fp32(x[b].d) * y[b].d * static_cast<float>(isum);
  }
  return s;
}

/// q2_K and q3_K: quants(b, h, s, half) yields the 16 unsigned quants of
/// elements 128h + 32s + 16half + 0..15, which form exactly sub-block 8h+2s+half.
template <class Quants>
inline int32_t scaled_sum_k16(const int8_t* sc, const int8_t* q8, Quants quants) noexcept {
  int32x4_t acc = vdupq_n_s32(0);
  for (int h = 0; h < 2; ++h)
    for (int s = 0; s < 4; ++s)
      for (int half = 0; half < 2; ++half) {
        const int32x4_t p = dot_s8(vdupq_n_s32(0), vreinterpretq_s8_u8(quants(h, s, half)),
                                   load_s8(q8 + 128 * h + 32 * s + 16 * half));
        acc = vmlaq_n_s32(acc, p, sc[8 * h + 2 * s + half]);
      }
  return vaddvq_s32(acc);
}

inline float vec_dot_q2_k_q8_k(int64_t n, const void* w, const void* a) noexcept {
  const auto* x = static_cast<const quant::block_q2_k*>(w);
  const auto* y = static_cast<const quant::block_q8_k*>(a);
  const uint8x16_t m2 = vdupq_n_u8(3), m4 = vdupq_n_u8(0x0f);
  float sum = 0;
  for (int64_t b = 0; b < n / quant::qk_k; ++b) {
    const uint8x16_t sc = vld1q_u8(x[b].scales);
    int8_t scales[16];
    vst1q_s8(scales, vreinterpretq_s8_u8(vandq_u8(sc, m4)));
    const int32_t msum = scales_dot_bsums(vreinterpretq_s8_u8(vshrq_n_u8(sc, 4)), y[b].bsums);
    const int32_t isum = scaled_sum_k16(scales, y[b].qs, [&](int h, int s, int half) {
      return vandq_u8(vshlq_u8(vld1q_u8(x[b].qs + 32 * h + 16 * half), vdupq_n_s8(static_cast<int8_t>(-2 * s))), m2);
    });
    sum += fp16_to_fp32(x[b].d) * y[b].d * static_cast<float>(isum) -
           fp16_to_fp32(x[b].dmin) * y[b].d * static_cast<float>(msum);
  }
  return sum;
}

inline float vec_dot_q3_k_q8_k(int64_t n, const void* w, const void* a) noexcept {
  const auto* x = static_cast<const quant::block_q3_k*>(w);
  const auto* y = static_cast<const quant::block_q8_k*>(a);
  const uint8x16_t m2 = vdupq_n_u8(3), one = vdupq_n_u8(1);
  float sum = 0;
  for (int64_t b = 0; b < n / quant::qk_k; ++b) {
    int8_t scales[16];
    for (int j = 0; j < 16; ++j) scales[j] = static_cast<int8_t>(quant::unpack_scale_q3_k(j, x[b].scales) - 32);
    // q3 + 4 = low 2 bits | high bit << 2 in [0, 7]; the -4 comes back through bsums.
    const int32_t offs = scales_dot_bsums(vld1q_s8(scales), y[b].bsums);
    const int32_t isum = scaled_sum_k16(scales, y[b].qs, [&](int h, int s, int half) {
      const uint8x16_t lo = vandq_u8(vshlq_u8(vld1q_u8(x[b].qs + 32 * h + 16 * half), vdupq_n_s8(static_cast<int8_t>(-2 * s))), m2);
      const uint8x16_t hb = vandq_u8(vshlq_u8(vld1q_u8(x[b].hmask + 16 * half), vdupq_n_s8(static_cast<int8_t>(-(4 * h + s)))), one);
      return vorrq_u8(lo, vshlq_n_u8(hb, 2));
    });
    sum += fp16_to_fp32(x[b].d) * y[b].d * static_cast<float>(isum - 4 * offs);
  }
  return sum;
}

}  // namespace plm::kernels::arch::neon

#else
#define PLM_DETAIL_NEON 0
#endif
