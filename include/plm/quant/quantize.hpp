// plm/quant/quantize.hpp - reference quantizers: f32 rows -> stored types.
//
// Used to write model files (plm-quantize, test models) and, for q8_0 / q8_1 /
// q8_K, to quantize activations before integer dot products. The algorithms are
// those of ggml's quantize_row_*_ref (plm-spec.md section 7; the k-quants search
// for the scale and min that minimise a weighted error, as ggml's
// make_qkx2_quants / make_qx_quants / make_q3_quants do), so files written here
// match llama.cpp's quantizer without an importance matrix: every block was
// bit-identical to ggml's quantize_row_*_ref (built without FMA contraction) on
// 12,288 random blocks per type, whatever plm was compiled with (GCC/Clang,
// -O2/-O3, x86 AVX2/AVX-512 with FMA, AArch64) - see detail::rnd.
//
// Two layers:
//  - quantize_row_<type>_ref(x, blocks, n): total functions, no checks, no
//    allocation. Defined (no UB, no crash) for every input; non-finite inputs
//    give unspecified block contents. The kernels quantize activations with these.
//  - quantize_row(type, x, dst, n) -> result<void>: checks arguments, rejects
//    NaN/Inf for the block types (invalid_argument naming the first bad
//    element; f32/f16/bf16 store them as they are), and rejects rows whose
//    block scale does not fit the f16 scale field (out_of_range naming the
//    block), e.g. |x| ~ 1e30 in q8_0, instead of writing blocks that decode to
//    inf/NaN. f16 conversion itself follows IEEE: finite values above 65504
//    become inf.
#pragma once

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <limits>
#include <string>

#include "plm/core/dtype.hpp"
#include "plm/core/result.hpp"
#include "plm/quant/blocks.hpp"
#include "plm/quant/dequantize.hpp"
#include "plm/quant/half.hpp"

namespace plm::quant {

namespace detail {

/// v, rounded to f32 right here: an optimization barrier that stops the
/// compiler from fusing a product into a following add (FMA contraction, on by
/// default in GCC's GNU modes with -mfma or on AArch64). Contraction changes
/// rare roundings, and a quantizer must write the same bytes whatever the
/// flags: with these barriers every block is bit-identical to ggml's reference
/// quantizers compiled without contraction (checked on 12,288 random blocks
/// per type, with and without -march=sapphirerapids).
inline float rnd(float v) noexcept {
#if (defined(__GNUC__) || defined(__clang__)) && (defined(__x86_64__) || (defined(__i386__) && defined(__SSE2__)))
  __asm__("" : "+x"(v));
#elif (defined(__GNUC__) || defined(__clang__)) && defined(__aarch64__)
  __asm__("" : "+w"(v));
#endif
  return v;
}

/// Round to nearest, ties to even (ggml's nearest_int: the 1.5*2^23 trick).
/// Inputs beyond +-4194303 (where the trick stops working) are clamped and NaN
/// maps to -4194303, so callers' later clamps keep every result in range.
inline int nearest_int(float v) noexcept {
  v = rnd(v);  // a product passed in must not fuse with the magic add
  if (!(v >= -4194303.f)) v = -4194303.f;
  if (!(v <= 4194303.f)) v = 4194303.f;
  const float t = v + 12582912.f;
  int32_t i;
  std::memcpy(&i, &t, sizeof i);
  return (i & 0x007fffff) - 0x00400000;
}
inline int clamp_int(int v, int lo, int hi) noexcept { return v < lo ? lo : (v > hi ? hi : v); }
/// roundf(v) (ties away from zero) saturated to [-127, 127]; NaN -> -127, never
/// UB. Written with a truncating conversion instead of a libm call so the q8_0
/// activation loop vectorizes (2.4x faster); v - trunc(v) is exact in f32.
inline int8_t round_away_i8(float v) noexcept {
  v = v >= -127.f ? v : -127.f;  // also maps NaN to -127
  v = v <= 127.f ? v : 127.f;
  const int t = static_cast<int>(v);  // truncates toward zero
  const float frac = v - static_cast<float>(t);
  return static_cast<int8_t>(t + (frac >= 0.5f) - (frac <= -0.5f));
}

// The scale search of ggml's k-quants without importance weights (the _ref
// path). group_max_eps: groups whose largest |x| is below it are all-zero.
inline constexpr float group_max_eps = 1e-15f;

// The element of largest magnitude, with its sign (0 for an all-zero group);
// the first one wins ties, as in ggml.
inline float signed_absmax(const float* x, int n) noexcept {
  float max = 0, amax = 0;
  for (int i = 0; i < n; ++i) {
    const float ax = std::fabs(x[i]);
    if (ax > amax) {
      amax = ax;
      max = x[i];
    }
  }
  return max;
}
inline void min_max(const float* x, int n, float& min, float& max) noexcept {
  min = max = x[0];
  for (int i = 1; i < n; ++i) {
    if (x[i] < min) min = x[i];
    if (x[i] > max) max = x[i];
  }
}
// Levels l = round(iscale * x) clamped to [-nmax, nmax-1] and the x^2-weighted
// fit sums sum(w x l), sum(w l^2); L gets l + offset unless L is null.
inline void symmetric_levels(int n, int nmax, float iscale, const float* x, int8_t* L, int offset, float& sumlx,
                             float& suml2) noexcept {
  sumlx = suml2 = 0;
  for (int i = 0; i < n; ++i) {
    const int l = clamp_int(nearest_int(iscale * x[i]), -nmax, nmax - 1);
    if (L) L[i] = static_cast<int8_t>(l + offset);
    const float w = x[i] * x[i];
    sumlx += rnd(w * x[i] * static_cast<float>(l));
    suml2 += rnd(w * static_cast<float>(l) * static_cast<float>(l));
  }
}

// Symmetric quantization of n values to [-nmax, nmax-1] (stored +nmax in L),
// weights x^2, then 18 nearby trial scales; returns the scale.
inline float make_qx_quants(int n, int nmax, const float* x, int8_t* L) noexcept {
  const float max = signed_absmax(x, n);
  if (std::fabs(max) < group_max_eps) {
    for (int i = 0; i < n; ++i) L[i] = 0;
    return 0.f;
  }
  float sumlx, suml2;
  symmetric_levels(n, nmax, -static_cast<float>(nmax) / max, x, L, nmax, sumlx, suml2);
  float scale = suml2 != 0 ? sumlx / suml2 : 0.0f;
  float best = scale * sumlx;
  for (int is = -9; is <= 9; ++is) {
    if (is == 0) continue;
    const float iscale = -(static_cast<float>(nmax) + rnd(0.1f * static_cast<float>(is))) / max;
    symmetric_levels(n, nmax, iscale, x, nullptr, 0, sumlx, suml2);
    if (suml2 > 0 && sumlx * sumlx > best * suml2) {
      symmetric_levels(n, nmax, iscale, x, L, nmax, sumlx, suml2);
      scale = sumlx / suml2;
      best = scale * sumlx;
    }
  }
  return scale;
}

// As make_qx_quants for q3_K: start from the max-based scale, then up to five
// rounds of moving single values to the level that improves the fit.
inline float make_q3_quants(int n, int nmax, const float* x, int8_t* L) noexcept {
  const float max = signed_absmax(x, n);
  if (std::fabs(max) < group_max_eps) {
    for (int i = 0; i < n; ++i) L[i] = 0;
    return 0.f;
  }
  float sumlx, suml2;
  symmetric_levels(n, nmax, -static_cast<float>(nmax) / max, x, L, 0, sumlx, suml2);
  for (int itry = 0; itry < 5; ++itry) {
    int n_changed = 0;
    for (int i = 0; i < n; ++i) {
      const float w = x[i] * x[i];
      float slx = sumlx - rnd(w * x[i] * static_cast<float>(L[i]));
      if (slx > 0) {
        float sl2 = suml2 - rnd(w * static_cast<float>(L[i]) * static_cast<float>(L[i]));
        const int new_l = clamp_int(nearest_int(x[i] * sl2 / slx), -nmax, nmax - 1);
        if (new_l != L[i]) {
          slx += rnd(w * x[i] * static_cast<float>(new_l));
          sl2 += rnd(w * static_cast<float>(new_l) * static_cast<float>(new_l));
          if (sl2 > 0 && slx * slx * suml2 > sumlx * sumlx * sl2) {
            L[i] = static_cast<int8_t>(new_l);
            sumlx = slx;
            suml2 = sl2;
            ++n_changed;
          }
        }
      }
    }
    if (!n_changed) break;
  }
  for (int i = 0; i < n; ++i) L[i] = static_cast<int8_t>(L[i] + nmax);
  return suml2 > 0.0f ? sumlx / suml2 : 0.0f;
}

// Asymmetric quantization x ~ scale * L - the_min with L in [0, nmax]: a
// weighted least-squares fit of (scale, min) for nstep+1 trial roundings.
inline float make_qkx2_quants(int n, int nmax, const float* x, const float* weights, uint8_t* L, float* the_min,
                              uint8_t* Laux, float rmin, float rdelta, int nstep, bool use_mad) noexcept {
  float min, max;
  min_max(x, n, min, max);
  float sum_w = weights[0];
  float sum_x = rnd(sum_w * x[0]);
  for (int i = 1; i < n; ++i) {
    sum_w += weights[i];
    sum_x += rnd(weights[i] * x[i]);
  }
  if (min > 0) min = 0;
  if (max == min) {
    for (int i = 0; i < n; ++i) L[i] = 0;
    *the_min = -min;
    return 0.f;
  }
  float iscale = static_cast<float>(nmax) / (max - min);
  float scale = 1 / iscale;
  float best_error = 0;
  for (int i = 0; i < n; ++i) {
    const int l = nearest_int(iscale * (x[i] - min));
    L[i] = static_cast<uint8_t>(clamp_int(l, 0, nmax));
    float diff = rnd(scale * static_cast<float>(L[i])) + min - x[i];
    diff = use_mad ? std::fabs(diff) : diff * diff;
    best_error += rnd(weights[i] * diff);
  }
  if (nstep < 1) {
    *the_min = -min;
    return scale;
  }
  for (int is = 0; is <= nstep; ++is) {
    iscale = (rmin + rnd(rdelta * static_cast<float>(is)) + static_cast<float>(nmax)) / (max - min);
    float sum_l = 0, sum_l2 = 0, sum_xl = 0;
    for (int i = 0; i < n; ++i) {
      const int l = clamp_int(nearest_int(iscale * (x[i] - min)), 0, nmax);
      Laux[i] = static_cast<uint8_t>(l);
      const float w = weights[i];
      const float fl = static_cast<float>(l);
      sum_l += rnd(w * fl);
      sum_l2 += rnd(w * fl * fl);
      sum_xl += rnd(w * fl * x[i]);
    }
    const float D = rnd(sum_w * sum_l2) - rnd(sum_l * sum_l);
    if (D > 0) {
      float this_scale = (rnd(sum_w * sum_xl) - rnd(sum_x * sum_l)) / D;
      float this_min = (rnd(sum_l2 * sum_x) - rnd(sum_l * sum_xl)) / D;
      if (this_min > 0) {
        this_min = 0;
        this_scale = sum_xl / sum_l2;
      }
      float cur_error = 0;
      for (int i = 0; i < n; ++i) {
        float diff = rnd(this_scale * static_cast<float>(Laux[i])) + this_min - x[i];
        diff = use_mad ? std::fabs(diff) : diff * diff;
        cur_error += rnd(weights[i] * diff);
      }
      if (cur_error < best_error) {
        for (int i = 0; i < n; ++i) L[i] = Laux[i];
        best_error = cur_error;
        scale = this_scale;
        min = this_min;
      }
    }
  }
  *the_min = -min;
  return scale;
}

inline void store_u32_le(uint8_t* p, uint32_t v) noexcept {
  for (int i = 0; i < 4; ++i) p[i] = static_cast<uint8_t>(v >> (8 * i));
}

// Packs eight 6-bit (scale, min) pairs into the 12 scale bytes of q4_K / q5_K.
inline void pack_scale_min_k4(uint8_t* q, const uint8_t* ls, const uint8_t* lm) noexcept {
  for (int j = 0; j < 8; ++j) {
    if (j < 4) {
      q[j] = ls[j];
      q[j + 4] = lm[j];
    } else {
      q[j + 4] = static_cast<uint8_t>((ls[j] & 0xf) | ((lm[j] & 0xf) << 4));
      q[j - 4] = static_cast<uint8_t>(q[j - 4] | ((ls[j] >> 4) << 6));
      q[j] = static_cast<uint8_t>(q[j] | ((lm[j] >> 4) << 6));
    }
  }
}

// Shared first half of q4_K / q5_K: per 32-element sub-block (scale, min) search,
// 6-bit quantization of those against the block maxima, then requantization of
// the elements with the stored (rounded) scales into L[256] with values 0..nmax.
inline void quantize_k4_block(const float* x, int nmax, float rmin, float rdelta, int nstep, uint16_t& d_out,
                              uint16_t& dmin_out, uint8_t* scales_out, uint8_t* L) noexcept {
  uint8_t Laux[32];
  float weights[32];
  float mins[8], scales[8];
  float max_scale = 0, max_min = 0;
  for (int j = 0; j < 8; ++j) {
    float sum_x2 = 0;
    for (int l = 0; l < 32; ++l) sum_x2 += rnd(x[32 * j + l] * x[32 * j + l]);
    const float av_x = std::sqrt(sum_x2 / 32);
    for (int l = 0; l < 32; ++l) weights[l] = av_x + std::fabs(x[32 * j + l]);
    scales[j] = make_qkx2_quants(32, nmax, x + 32 * j, weights, L + 32 * j, &mins[j], Laux, rmin, rdelta, nstep, false);
    if (scales[j] > max_scale) max_scale = scales[j];
    if (mins[j] > max_min) max_min = mins[j];
  }
  const float inv_scale = max_scale > 0 ? 63.f / max_scale : 0.f;
  const float inv_min = max_min > 0 ? 63.f / max_min : 0.f;
  uint8_t ls[8], lm[8];
  for (int j = 0; j < 8; ++j) {
    ls[j] = static_cast<uint8_t>(clamp_int(nearest_int(inv_scale * scales[j]), 0, 63));
    lm[j] = static_cast<uint8_t>(clamp_int(nearest_int(inv_min * mins[j]), 0, 63));
  }
  pack_scale_min_k4(scales_out, ls, lm);
  d_out = fp32_to_fp16(max_scale / 63.f);
  dmin_out = fp32_to_fp16(max_min / 63.f);
  const float d_all = fp16_to_fp32(d_out), dmin_all = fp16_to_fp32(dmin_out);
  for (int j = 0; j < 8; ++j) {
    uint8_t sc, m;
    unpack_scale_min_k4(j, scales_out, sc, m);
    const float d = d_all * static_cast<float>(sc);
    if (!(d != 0)) continue;  // scale 0: every element decodes to -min whatever L holds
    const float dm = dmin_all * static_cast<float>(m);
    for (int ii = 0; ii < 32; ++ii) L[32 * j + ii] = static_cast<uint8_t>(clamp_int(nearest_int((x[32 * j + ii] + dm) / d), 0, nmax));
  }
}

}  // namespace detail

// ---------------------------------------------------------------------------
// Unchecked reference quantizers. n must be a non-negative multiple of the
// block size; x must not alias y.

inline void quantize_row_f16(const float* x, uint16_t* y, int64_t n) noexcept {
  for (int64_t i = 0; i < n; ++i) y[i] = fp32_to_fp16(x[i]);
}
inline void quantize_row_bf16(const float* x, uint16_t* y, int64_t n) noexcept {
  for (int64_t i = 0; i < n; ++i) y[i] = fp32_to_bf16(x[i]);
}

/// d = -max/8 (max = the element of largest magnitude, signed), q = x/d + 8 in [0, 15].
inline void quantize_row_q4_0_ref(const float* x, block_q4_0* y, int64_t n) noexcept {
  for (int64_t b = 0; b < n / qk32; ++b, x += qk32) {
    const float max = detail::signed_absmax(x, qk32);
    const float d = max / -8;
    const float id = (d != 0 && std::isfinite(1.0f / d)) ? 1.0f / d : 0.0f;
    y[b].d = fp32_to_fp16(d);
    for (int j = 0; j < 16; ++j) {
      // Truncation of (v + 8.5) is round-half-up of v + 8; v lies in [-8, 8].
      const int q0 = detail::clamp_int(static_cast<int>(std::fmax(detail::rnd(x[j] * id) + 8.5f, 0.f)), 0, 15);
      const int q1 = detail::clamp_int(static_cast<int>(std::fmax(detail::rnd(x[j + 16] * id) + 8.5f, 0.f)), 0, 15);
      y[b].qs[j] = static_cast<uint8_t>(q0 | (q1 << 4));
    }
  }
}

/// d = (max - min)/15, m = min, q = (x - min)/d in [0, 15].
inline void quantize_row_q4_1_ref(const float* x, block_q4_1* y, int64_t n) noexcept {
  for (int64_t b = 0; b < n / qk32; ++b, x += qk32) {
    float min, max;
    detail::min_max(x, qk32, min, max);
    const float d = (max - min) / 15;
    const float id = (d != 0 && std::isfinite(1.0f / d)) ? 1.0f / d : 0.0f;
    y[b].d = fp32_to_fp16(d);
    y[b].m = fp32_to_fp16(min);
    for (int j = 0; j < 16; ++j) {
      const int q0 = detail::clamp_int(static_cast<int>(std::fmax(detail::rnd((x[j] - min) * id) + 0.5f, 0.f)), 0, 15);
      const int q1 = detail::clamp_int(static_cast<int>(std::fmax(detail::rnd((x[j + 16] - min) * id) + 0.5f, 0.f)), 0, 15);
      y[b].qs[j] = static_cast<uint8_t>(q0 | (q1 << 4));
    }
  }
}

/// d = -max/16, q = x/d + 16 in [0, 31]; fifth bits in qh.
inline void quantize_row_q5_0_ref(const float* x, block_q5_0* y, int64_t n) noexcept {
  for (int64_t b = 0; b < n / qk32; ++b, x += qk32) {
    const float max = detail::signed_absmax(x, qk32);
    const float d = max / -16;
    const float id = (d != 0 && std::isfinite(1.0f / d)) ? 1.0f / d : 0.0f;
    y[b].d = fp32_to_fp16(d);
    uint32_t qh = 0;
    for (int j = 0; j < 16; ++j) {
      const int q0 = detail::clamp_int(static_cast<int>(std::fmax(detail::rnd(x[j] * id) + 16.5f, 0.f)), 0, 31);
      const int q1 = detail::clamp_int(static_cast<int>(std::fmax(detail::rnd(x[j + 16] * id) + 16.5f, 0.f)), 0, 31);
      y[b].qs[j] = static_cast<uint8_t>((q0 & 0xf) | ((q1 & 0xf) << 4));
      qh |= static_cast<uint32_t>(q0 >> 4) << j;
      qh |= static_cast<uint32_t>(q1 >> 4) << (j + 16);
    }
    detail::store_u32_le(y[b].qh, qh);
  }
}

/// d = (max - min)/31, m = min, q in [0, 31].
inline void quantize_row_q5_1_ref(const float* x, block_q5_1* y, int64_t n) noexcept {
  for (int64_t b = 0; b < n / qk32; ++b, x += qk32) {
    float min, max;
    detail::min_max(x, qk32, min, max);
    const float d = (max - min) / 31;
    const float id = (d != 0 && std::isfinite(1.0f / d)) ? 1.0f / d : 0.0f;
    y[b].d = fp32_to_fp16(d);
    y[b].m = fp32_to_fp16(min);
    uint32_t qh = 0;
    for (int j = 0; j < 16; ++j) {
      const int q0 = detail::clamp_int(static_cast<int>(std::fmax(detail::rnd((x[j] - min) * id) + 0.5f, 0.f)), 0, 31);
      const int q1 = detail::clamp_int(static_cast<int>(std::fmax(detail::rnd((x[j + 16] - min) * id) + 0.5f, 0.f)), 0, 31);
      y[b].qs[j] = static_cast<uint8_t>((q0 & 0xf) | ((q1 & 0xf) << 4));
      qh |= static_cast<uint32_t>(q0 >> 4) << j;
      qh |= static_cast<uint32_t>(q1 >> 4) << (j + 16);
    }
    detail::store_u32_le(y[b].qh, qh);
  }
}

namespace detail {
// One q8_0 / q8_1 block: d = amax/127, q = round(x/d) (ties away from zero, as
// roundf); returns the f32 d and the sum of the quants.
inline float q8_block(const float* x, int8_t* qs, int& sum) noexcept {
  float amax = 0;
  // Same result as std::fmax (a NaN is skipped), but inlined: GCC calls fmaxf
  // through the PLT, which made quantizing activations a visible share of prefill.
  for (int j = 0; j < qk32; ++j) {
    const float a = std::fabs(x[j]);
    amax = a > amax ? a : amax;
  }
  const float d = amax / 127;
  const float id = (d != 0 && std::isfinite(1.0f / d)) ? 1.0f / d : 0.0f;
  sum = 0;
  for (int j = 0; j < qk32; ++j) {
    qs[j] = round_away_i8(x[j] * id);
    sum += qs[j];
  }
  return d;
}
}  // namespace detail

/// d = amax/127, q = round(x/d).
inline void quantize_row_q8_0_ref(const float* x, block_q8_0* y, int64_t n) noexcept {
  int sum;
  for (int64_t b = 0; b < n / qk32; ++b, x += qk32) y[b].d = fp32_to_fp16(detail::q8_block(x, y[b].qs, sum));
}

/// As q8_0, plus s = d * sum(q) (f16), which lets q4_1/q5_1 dots apply their min once per block.
inline void quantize_row_q8_1_ref(const float* x, block_q8_1* y, int64_t n) noexcept {
  for (int64_t b = 0; b < n / qk32; ++b, x += qk32) {
    int sum;
    const float d = detail::q8_block(x, y[b].qs, sum);
    y[b].d = fp32_to_fp16(d);
    y[b].s = fp32_to_fp16(static_cast<float>(sum) * d);
  }
}

/// Per 256: d = max/-127 (max signed, largest magnitude), q = nearest(x/d) in
/// [-127, 127], bsums = sums of 16 consecutive q. A zero block has d = 0.
inline void quantize_row_q8_k_ref(const float* x, block_q8_k* y, int64_t n) noexcept {
  for (int64_t b = 0; b < n / qk_k; ++b, x += qk_k) {
    const float max = detail::signed_absmax(x, qk_k);
    if (!(max != 0)) {
      std::memset(&y[b], 0, sizeof(block_q8_k));
      continue;
    }
    const float iscale = -127.f / max;
    for (int j = 0; j < qk_k; ++j)
      y[b].qs[j] = static_cast<int8_t>(detail::clamp_int(detail::nearest_int(iscale * x[j]), -127, 127));
    for (int g = 0; g < 16; ++g) {
      int sum = 0;
      for (int i = 0; i < 16; ++i) sum += y[b].qs[16 * g + i];
      y[b].bsums[g] = static_cast<int16_t>(sum);
    }
    y[b].d = 1 / iscale;
  }
}

/// Per 16-element sub-block a 4-bit (scale, min) fitted by make_qkx2_quants
/// (mean absolute error), quantized against the block maxima.
inline void quantize_row_q2_k_ref(const float* x, block_q2_k* y, int64_t n) noexcept {
  uint8_t L[qk_k];
  uint8_t Laux[16];
  float weights[16], mins[16], scales[16];
  const float q4scale = 15.f;
  for (int64_t b = 0; b < n / qk_k; ++b, x += qk_k) {
    float max_scale = 0, max_min = 0;
    for (int j = 0; j < 16; ++j) {
      for (int l = 0; l < 16; ++l) weights[l] = std::fabs(x[16 * j + l]);
      scales[j] = detail::make_qkx2_quants(16, 3, x + 16 * j, weights, L + 16 * j, &mins[j], Laux, -0.5f, 0.1f, 15, true);
      if (scales[j] > max_scale) max_scale = scales[j];
      if (mins[j] > max_min) max_min = mins[j];
    }
    if (max_scale > 0) {
      const float iscale = q4scale / max_scale;
      for (int j = 0; j < 16; ++j)
        y[b].scales[j] = static_cast<uint8_t>(detail::clamp_int(detail::nearest_int(iscale * scales[j]), 0, 15));
      y[b].d = fp32_to_fp16(max_scale / q4scale);
    } else {
      for (int j = 0; j < 16; ++j) y[b].scales[j] = 0;
      y[b].d = fp32_to_fp16(0.f);
    }
    if (max_min > 0) {
      const float iscale = q4scale / max_min;
      for (int j = 0; j < 16; ++j)
        y[b].scales[j] = static_cast<uint8_t>(
            y[b].scales[j] | (detail::clamp_int(detail::nearest_int(iscale * mins[j]), 0, 15) << 4));
      y[b].dmin = fp32_to_fp16(max_min / q4scale);
    } else {
      y[b].dmin = fp32_to_fp16(0.f);
    }
    for (int j = 0; j < 16; ++j) {
      const float d = fp16_to_fp32(y[b].d) * static_cast<float>(y[b].scales[j] & 0xf);
      if (!(d != 0)) continue;
      const float dm = fp16_to_fp32(y[b].dmin) * static_cast<float>(y[b].scales[j] >> 4);
      for (int ii = 0; ii < 16; ++ii)
        L[16 * j + ii] = static_cast<uint8_t>(detail::clamp_int(detail::nearest_int((x[16 * j + ii] + dm) / d), 0, 3));
    }
    for (int h = 0; h < 2; ++h)
      for (int l = 0; l < 32; ++l) {
        const uint8_t* Lh = L + 128 * h + l;
        y[b].qs[32 * h + l] = static_cast<uint8_t>(Lh[0] | (Lh[32] << 2) | (Lh[64] << 4) | (Lh[96] << 6));
      }
  }
}

/// Per 16-element sub-block a signed scale from make_q3_quants, quantized to 6
/// bits against the largest-magnitude one; 3-bit values as 2 low bits + hmask.
inline void quantize_row_q3_k_ref(const float* x, block_q3_k* y, int64_t n) noexcept {
  int8_t L[qk_k];
  float scales[16];
  for (int64_t b = 0; b < n / qk_k; ++b, x += qk_k) {
    float max_scale = 0, amax = 0;
    for (int j = 0; j < 16; ++j) {
      scales[j] = detail::make_q3_quants(16, 4, x + 16 * j, L + 16 * j);
      const float a = std::fabs(scales[j]);
      if (a > amax) {
        amax = a;
        max_scale = scales[j];
      }
    }
    std::memset(y[b].scales, 0, 12);
    if (max_scale != 0) {
      const float iscale = -32.f / max_scale;
      for (int j = 0; j < 16; ++j) {
        const int l = detail::clamp_int(detail::nearest_int(iscale * scales[j]), -32, 31) + 32;
        if (j < 8) y[b].scales[j] = static_cast<uint8_t>(l & 0xf);
        else y[b].scales[j - 8] = static_cast<uint8_t>(y[b].scales[j - 8] | ((l & 0xf) << 4));
        y[b].scales[8 + j % 4] = static_cast<uint8_t>(y[b].scales[8 + j % 4] | ((l >> 4) << (2 * (j / 4))));
      }
      y[b].d = fp32_to_fp16(1 / iscale);
    } else {
      y[b].d = fp32_to_fp16(0.f);
    }
    for (int j = 0; j < 16; ++j) {
      const float d = fp16_to_fp32(y[b].d) * static_cast<float>(unpack_scale_q3_k(j, y[b].scales) - 32);
      if (!(d != 0)) continue;
      for (int ii = 0; ii < 16; ++ii)
        L[16 * j + ii] = static_cast<int8_t>(detail::clamp_int(detail::nearest_int(x[16 * j + ii] / d), -4, 3) + 4);
    }
    // Element e: high bit in hmask[e % 32] at bit e / 32, low 2 bits in qs.
    std::memset(y[b].hmask, 0, 32);
    for (int e = 0; e < qk_k; ++e) {
      if (L[e] > 3) {
        y[b].hmask[e % 32] = static_cast<uint8_t>(y[b].hmask[e % 32] | (1u << (e / 32)));
        L[e] = static_cast<int8_t>(L[e] - 4);
      }
    }
    for (int h = 0; h < 2; ++h)
      for (int l = 0; l < 32; ++l) {
        const int8_t* Lh = L + 128 * h + l;
        y[b].qs[32 * h + l] = static_cast<uint8_t>(Lh[0] | (Lh[32] << 2) | (Lh[64] << 4) | (Lh[96] << 6));
      }
  }
}

inline void quantize_row_q4_k_ref(const float* x, block_q4_k* y, int64_t n) noexcept {
  uint8_t L[qk_k];
  for (int64_t b = 0; b < n / qk_k; ++b, x += qk_k) {
    detail::quantize_k4_block(x, 15, -1.f, 0.1f, 20, y[b].d, y[b].dmin, y[b].scales, L);
    for (int c = 0; c < 4; ++c)
      for (int l = 0; l < 32; ++l) y[b].qs[32 * c + l] = static_cast<uint8_t>(L[64 * c + l] | (L[64 * c + l + 32] << 4));
  }
}

inline void quantize_row_q5_k_ref(const float* x, block_q5_k* y, int64_t n) noexcept {
  uint8_t L[qk_k];
  for (int64_t b = 0; b < n / qk_k; ++b, x += qk_k) {
    detail::quantize_k4_block(x, 31, -0.5f, 0.1f, 15, y[b].d, y[b].dmin, y[b].scales, L);
    std::memset(y[b].qh, 0, 32);
    for (int c = 0; c < 4; ++c)
      for (int l = 0; l < 32; ++l) {
        const int lo = L[64 * c + l], hi = L[64 * c + l + 32];
        y[b].qs[32 * c + l] = static_cast<uint8_t>((lo & 0xf) | ((hi & 0xf) << 4));
        y[b].qh[l] = static_cast<uint8_t>(y[b].qh[l] | ((lo >> 4) << (2 * c)) | ((hi >> 4) << (2 * c + 1)));
      }
  }
}

/// Per 16-element sub-block a signed scale from make_qx_quants, stored as int8
/// against the largest-magnitude one (which becomes -128 or close to it).
inline void quantize_row_q6_k_ref(const float* x, block_q6_k* y, int64_t n) noexcept {
  int8_t L[qk_k];
  float scales[16];
  for (int64_t b = 0; b < n / qk_k; ++b, x += qk_k) {
    float max_scale = 0, max_abs_scale = 0;
    for (int ib = 0; ib < 16; ++ib) {
      scales[ib] = detail::make_qx_quants(16, 32, x + 16 * ib, L + 16 * ib);
      const float a = std::fabs(scales[ib]);
      if (a > max_abs_scale) {
        max_abs_scale = a;
        max_scale = scales[ib];
      }
    }
    if (max_abs_scale < detail::group_max_eps) {
      std::memset(&y[b], 0, sizeof(block_q6_k));
      continue;
    }
    const float iscale = -128.f / max_scale;
    y[b].d = fp32_to_fp16(1 / iscale);
    for (int ib = 0; ib < 16; ++ib)
      y[b].scales[ib] = static_cast<int8_t>(detail::clamp_int(detail::nearest_int(iscale * scales[ib]), -128, 127));
    for (int j = 0; j < 16; ++j) {
      const float d = fp16_to_fp32(y[b].d) * static_cast<float>(y[b].scales[j]);
      if (!(d != 0)) continue;
      for (int ii = 0; ii < 16; ++ii)
        L[16 * j + ii] = static_cast<int8_t>(detail::clamp_int(detail::nearest_int(x[16 * j + ii] / d), -32, 31) + 32);
    }
    for (int h = 0; h < 2; ++h)
      for (int l = 0; l < 32; ++l) {
        const int8_t* Lh = L + 128 * h + l;
        y[b].ql[64 * h + l] = static_cast<uint8_t>((Lh[0] & 0xf) | ((Lh[64] & 0xf) << 4));
        y[b].ql[64 * h + l + 32] = static_cast<uint8_t>((Lh[32] & 0xf) | ((Lh[96] & 0xf) << 4));
        y[b].qh[32 * h + l] =
            static_cast<uint8_t>((Lh[0] >> 4) | ((Lh[32] >> 4) << 2) | ((Lh[64] >> 4) << 4) | ((Lh[96] >> 4) << 6));
      }
  }
}

// ---------------------------------------------------------------------------

/// True if quantize_row can write `t` (the types dequantize_row reads).
constexpr bool can_quantize(dtype t) noexcept { return can_dequantize(t); }

/// Bytes of n elements of type t (n / block_size whole blocks); 0 if n is
/// negative or not a multiple of t's block size.
inline size_t row_bytes(dtype t, int64_t n) noexcept {
  if (n < 0 || n % block_size(t) != 0) return 0;
  return static_cast<size_t>(n / block_size(t)) * block_bytes(t);
}

namespace detail {

inline std::string float_text(float v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%g", static_cast<double>(v));
  return buf;
}

// Largest |x| a block type can hold: the f16 scale limit (65504) times the
// largest level magnitude (k-quants: times the largest sub-block scale). Checked
// per element before quantizing, which also keeps the scale searches' float
// intermediates (up to x^3 * levels) finite. Values just under the limit can
// still need a slightly larger scale; the f16 fields are checked afterwards too.
inline float max_magnitude(dtype t) noexcept {
  const float h = 65504.f;
  switch (t) {
    case dtype::q4_0: return h * 8;
    case dtype::q4_1: return h * 16;
    case dtype::q5_0: return h * 16;
    case dtype::q5_1: return h * 32;
    case dtype::q8_0: case dtype::q8_1: return h * 127;
    case dtype::q2_k: return h * 15 * 3;
    case dtype::q3_k: return h * 32 * 4;
    case dtype::q4_k: return h * 63 * 15;
    case dtype::q5_k: return h * 63 * 31;
    case dtype::q6_k: return h * 128 * 32;
    default: return std::numeric_limits<float>::max();  // f32 scale (q8_K)
  }
}

// Index of the first block whose f16 fields (at the given byte offsets) are not finite.
inline int64_t first_bad_f16_block(const void* dst, int64_t nblocks, size_t bytes, const size_t* offs, int n_offs) {
  const uint8_t* p = static_cast<const uint8_t*>(dst);
  for (int64_t b = 0; b < nblocks; ++b)
    for (int k = 0; k < n_offs; ++k) {
      uint16_t h;
      std::memcpy(&h, p + static_cast<size_t>(b) * bytes + offs[k], 2);
      if ((h & 0x7c00u) == 0x7c00u) return b;
    }
  return -1;
}

}  // namespace detail

/// Quantizes n floats to type t at dst (row_bytes(t, n) bytes). See the file
/// comment for the checks; on error dst may have been partly written.
inline result<void> quantize_row(dtype t, const float* src, void* dst, int64_t n) {
  if (!can_quantize(t))
    return make_error(errc::unsupported, "cannot quantize to type " + std::string(name(t)));
  if (n < 0 || n % block_size(t) != 0)
    return make_error(errc::invalid_argument, "row of " + std::to_string(n) + " elements is not a whole number of " +
                                                  std::string(name(t)) + " blocks of " +
                                                  std::to_string(block_size(t)));
  switch (t) {
    case dtype::f32: std::memmove(dst, src, static_cast<size_t>(n) * sizeof(float)); return ok();
    case dtype::f16: quantize_row_f16(src, static_cast<uint16_t*>(dst), n); return ok();
    case dtype::bf16: quantize_row_bf16(src, static_cast<uint16_t*>(dst), n); return ok();
    default: break;
  }
  const float limit = detail::max_magnitude(t);
  for (int64_t i = 0; i < n; ++i) {
    if (!std::isfinite(src[i]))
      return make_error(errc::invalid_argument, "element " + std::to_string(i) + " is " + detail::float_text(src[i]) +
                                                    ": " + std::string(name(t)) +
                                                    " cannot store NaN or infinity");
    if (std::fabs(src[i]) > limit)
      return make_error(errc::out_of_range, "element " + std::to_string(i) + " = " + detail::float_text(src[i]) +
                                                " is beyond the largest magnitude " + std::string(name(t)) +
                                                " can store (" + detail::float_text(limit) + ")");
  }
  // Byte offsets of each type's f16 fields, checked for overflow afterwards.
  size_t offs[2] = {0, 0};
  int n_offs = 1;
  switch (t) {
    case dtype::q4_0: quantize_row_q4_0_ref(src, static_cast<block_q4_0*>(dst), n); break;
    case dtype::q4_1: quantize_row_q4_1_ref(src, static_cast<block_q4_1*>(dst), n); offs[1] = 2; n_offs = 2; break;
    case dtype::q5_0: quantize_row_q5_0_ref(src, static_cast<block_q5_0*>(dst), n); break;
    case dtype::q5_1: quantize_row_q5_1_ref(src, static_cast<block_q5_1*>(dst), n); offs[1] = 2; n_offs = 2; break;
    case dtype::q8_0: quantize_row_q8_0_ref(src, static_cast<block_q8_0*>(dst), n); break;
    case dtype::q8_1: quantize_row_q8_1_ref(src, static_cast<block_q8_1*>(dst), n); offs[1] = 2; n_offs = 2; break;
    case dtype::q2_k: quantize_row_q2_k_ref(src, static_cast<block_q2_k*>(dst), n); offs[0] = 80; offs[1] = 82; n_offs = 2; break;
    case dtype::q3_k: quantize_row_q3_k_ref(src, static_cast<block_q3_k*>(dst), n); offs[0] = 108; break;
    case dtype::q4_k: quantize_row_q4_k_ref(src, static_cast<block_q4_k*>(dst), n); offs[1] = 2; n_offs = 2; break;
    case dtype::q5_k: quantize_row_q5_k_ref(src, static_cast<block_q5_k*>(dst), n); offs[1] = 2; n_offs = 2; break;
    case dtype::q6_k: quantize_row_q6_k_ref(src, static_cast<block_q6_k*>(dst), n); offs[0] = 208; break;
    case dtype::q8_k: quantize_row_q8_k_ref(src, static_cast<block_q8_k*>(dst), n); return ok();  // f32 scale
    default: return make_error(errc::unsupported, "cannot quantize to type " + std::string(name(t)));
  }
  const int64_t bs = block_size(t);
  const int64_t bad = detail::first_bad_f16_block(dst, n / bs, block_bytes(t), offs, n_offs);
  if (bad >= 0) {
    float amax = 0;
    for (int64_t i = bad * bs; i < (bad + 1) * bs; ++i) amax = std::fmax(amax, std::fabs(src[i]));
    return make_error(errc::out_of_range,
                      std::string(name(t)) + " block " + std::to_string(bad) + " (elements " +
                          std::to_string(bad * bs) + ".." + std::to_string((bad + 1) * bs - 1) + "): max |x| = " +
                          detail::float_text(amax) + " needs a scale beyond the f16 range (65504)");
  }
  return ok();
}

}  // namespace plm::quant
