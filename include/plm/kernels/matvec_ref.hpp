// plm/kernels/matvec_ref.hpp - scalar reference of the weight x activation kernels.
//
// The definition the SIMD kernels in matvec.hpp are tested against, and the
// path every target without a special kernel runs. Quantized weights are dotted
// with an activation quantized once per vector, as llama.cpp's CPU backend does
// (plm-spec.md 2.5): q8_0 blocks for q4_0/q5_0/q8_0, q8_1 for q4_1/q5_1 (its
// d*sum term applies the weight's min once per block), q8_K for the k-quants
// (its 16 bsums apply the k-quant mins). Each block product is an exact int32
// sum; the per-block f32 scaling and the sum over blocks are the only roundings.
// f16 / bf16 / f32 weights take f32 activations (more accurate than ggml's
// f16/bf16 activations, and the weight read dominates anyway).
//
// Contracts (all kernels): n = W.ne[0] is a multiple of the weight block size;
// prepared activations come from prepare_activation (q8 values in [-127, 127]:
// the SIMD kernels rely on it); no allocation, no error paths - callers
// validate shapes and types once, at load time.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <limits>
#include <type_traits>

#include "plm/core/dtype.hpp"
#include "plm/core/tensor.hpp"
#include "plm/kernels/vec.hpp"
#include "plm/quant/blocks.hpp"
#include "plm/quant/dequantize.hpp"
#include "plm/quant/half.hpp"
#include "plm/quant/quantize.hpp"

namespace plm::kernels {

/// The activation type the kernels for weight type wt consume (see file comment);
/// f32 for types plm has no kernel for (matvec then writes NaN).
constexpr dtype activation_type(dtype wt) noexcept {
  switch (wt) {
    case dtype::q4_0: case dtype::q5_0: case dtype::q8_0: return dtype::q8_0;
    case dtype::q4_1: case dtype::q5_1: case dtype::q8_1: return dtype::q8_1;
    case dtype::q2_k: case dtype::q3_k: case dtype::q4_k: case dtype::q5_k: case dtype::q6_k: case dtype::q8_k:
      return dtype::q8_k;
    default: return dtype::f32;
  }
}

/// True if matvec / matmul handle weights of type wt.
constexpr bool matvec_supported(dtype wt) noexcept { return quant::can_dequantize(wt); }

/// A prepared q8_0 activation is its q8_0 blocks followed (at a 4-byte aligned
/// offset) by each block's scale as f32 and -128 times the exact int32 sum of
/// its quants. Row-major kernels read only the blocks; the row-tiled kernels
/// (tiled.hpp) broadcast the f32 scale, and start their integer dot of weights
/// stored as unsigned q + 128 (or 16 (q + 8)) at -128 * sum(y), once per block
/// for 16 rows, instead of re-deriving them per row. The offset is kept
/// pre-multiplied so that the AVX-512 kernel broadcasts it straight from memory.
struct q8_0_activation {
  const quant::block_q8_0* blocks;
  const float* d;               // [n / 32]
  const int32_t* minus128_sum;  // [n / 32]: -128 * sum of the block's quants
};
inline size_t q8_0_extras_offset(int64_t n) noexcept {
  return (static_cast<size_t>(n / quant::qk32) * sizeof(quant::block_q8_0) + 3) & ~size_t{3};
}
inline q8_0_activation view_q8_0_activation(const void* a, int64_t n) noexcept {
  const auto* base = static_cast<const uint8_t*>(a);
  const size_t off = q8_0_extras_offset(n), nb = static_cast<size_t>(n / quant::qk32);
  return {static_cast<const quant::block_q8_0*>(a), reinterpret_cast<const float*>(base + off),
          reinterpret_cast<const int32_t*>(base + off + nb * sizeof(float))};
}

/// Bytes of one prepared activation vector of n values for weights of type wt
/// (n must be a multiple of the activation block size: 32 or 256; 0 otherwise).
/// A multiple of 4, so vectors packed back to back keep the f32 fields aligned.
inline size_t activation_bytes(dtype wt, int64_t n) noexcept {
  const dtype at = activation_type(wt);
  const size_t rb = quant::row_bytes(at, n);
  if (at != dtype::q8_0 || rb == 0) return rb;
  return q8_0_extras_offset(n) + static_cast<size_t>(n / quant::qk32) * (sizeof(float) + sizeof(int32_t));
}

/// Signature of one row dot product: n elements of weight row w with prepared activation a.
using vec_dot_fn = float (*)(int64_t n, const void* w, const void* a) noexcept;
/// One weight row with `count` prepared activations (token t at a + t * stride);
/// result t at out[t * ostride]. Must equal vec_dot per token bit for bit.
using vec_dot_multi_fn = void (*)(int64_t n, const void* w, const void* a, size_t stride, int count, float* out,
                                  int64_t ostride) noexcept;

namespace ref {

/// Quantizes / copies x (n values) into `scratch` (activation_bytes(wt, n) bytes).
inline void prepare_activation(dtype wt, const float* x, int64_t n, void* scratch) noexcept {
  switch (activation_type(wt)) {
    case dtype::q8_0: {
      auto* blocks = static_cast<quant::block_q8_0*>(scratch);
      quant::quantize_row_q8_0_ref(x, blocks, n);
      auto* extras = static_cast<uint8_t*>(scratch) + q8_0_extras_offset(n);
      const int64_t nb = n / quant::qk32;
      for (int64_t b = 0; b < nb; ++b) {
        const float d = fp16_to_fp32(blocks[b].d);
        int32_t sum = 0;
        for (int j = 0; j < quant::qk32; ++j) sum += blocks[b].qs[j];
        std::memcpy(extras + static_cast<size_t>(b) * sizeof(float), &d, sizeof d);
        const int32_t offset = -128 * sum;
        std::memcpy(extras + static_cast<size_t>(nb + b) * sizeof(float), &offset, sizeof offset);
      }
      break;
    }
    case dtype::q8_1: quant::quantize_row_q8_1_ref(x, static_cast<quant::block_q8_1*>(scratch), n); break;
    case dtype::q8_k: quant::quantize_row_q8_k_ref(x, static_cast<quant::block_q8_k*>(scratch), n); break;
    default: if (n > 0) std::memcpy(scratch, x, static_cast<size_t>(n) * sizeof(float)); break;
  }
}

// --- float weights, f32 activations -----------------------------------------

inline float vec_dot_f32(int64_t n, const void* w, const void* a) noexcept {
  return kernels::ref::dot(static_cast<const float*>(w), static_cast<const float*>(a), n);
}
inline float vec_dot_f16(int64_t n, const void* w, const void* a) noexcept {
  const uint16_t* wh = static_cast<const uint16_t*>(w);
  const float* x = static_cast<const float*>(a);
  float s = 0;
  for (int64_t i = 0; i < n; ++i) s += fp16_to_fp32(wh[i]) * x[i];
  return s;
}
inline float vec_dot_bf16(int64_t n, const void* w, const void* a) noexcept {
  const uint16_t* wh = static_cast<const uint16_t*>(w);
  const float* x = static_cast<const float*>(a);
  float s = 0;
  for (int64_t i = 0; i < n; ++i) s += bf16_to_fp32(wh[i]) * x[i];
  return s;
}

// --- 32-element blocks with q8_0 / q8_1 activations ------------------------

/// Exact int32 dot of one q4_0 block (nibbles - 8) with 32 int8 activations.
inline int32_t block_dot_q4_0(const quant::block_q4_0& x, const int8_t* y) noexcept {
  int32_t s = 0;
  for (int j = 0; j < 16; ++j) s += ((x.qs[j] & 0xf) - 8) * y[j] + ((x.qs[j] >> 4) - 8) * y[j + 16];
  return s;
}
/// sum q*y of one q4_1 block (nibbles, unsigned).
inline int32_t block_dot_q4_1(const quant::block_q4_1& x, const int8_t* y) noexcept {
  int32_t s = 0;
  for (int j = 0; j < 16; ++j) s += (x.qs[j] & 0xf) * y[j] + (x.qs[j] >> 4) * y[j + 16];
  return s;
}
/// sum q*y for 5-bit quants (q in [0, 31]; offset applied by the caller).
inline int32_t block_dot_q5(const uint8_t* qh4, const uint8_t* qs, const int8_t* y, int offset) noexcept {
  const uint32_t qh = quant::detail::load_u32_le(qh4);
  int32_t s = 0;
  for (int j = 0; j < 16; ++j) {
    const int lo = (qs[j] & 0xf) | static_cast<int>(((qh >> j) & 1u) << 4);
    const int hi = (qs[j] >> 4) | static_cast<int>(((qh >> (j + 16)) & 1u) << 4);
    s += (lo - offset) * y[j] + (hi - offset) * y[j + 16];
  }
  return s;
}
inline int32_t block_dot_i8(const int8_t* x, const int8_t* y, int n) noexcept {
  int32_t s = 0;
  for (int j = 0; j < n; ++j) s += x[j] * y[j];
  return s;
}

// sum over blocks of isum_b * (d_w d_a) [+ m_w s_a for the types with a min:
// sum_i (d q_i + m) d_a y_i = d d_a sum q y + m (d_a sum y) = ... + m * s_a].
template <class WBlock, class ABlock, int32_t (*BlockDot)(const WBlock&, const ABlock&) noexcept>
inline float vec_dot_32(int64_t n, const void* w, const void* a) noexcept {
  const auto* x = static_cast<const WBlock*>(w);
  const auto* y = static_cast<const ABlock*>(a);
  float s = 0;
  for (int64_t b = 0; b < n / quant::qk32; ++b) {
    const float term = static_cast<float>(BlockDot(x[b], y[b])) * (fp16_to_fp32(x[b].d) * fp16_to_fp32(y[b].d));
    if constexpr (std::is_same<WBlock, quant::block_q4_1>::value || std::is_same<WBlock, quant::block_q5_1>::value)
      s += term + fp16_to_fp32(x[b].m) * fp16_to_fp32(y[b].s);
    else
      s += term;
  }
  return s;
}
inline int32_t bd_q4_0(const quant::block_q4_0& x, const quant::block_q8_0& y) noexcept { return block_dot_q4_0(x, y.qs); }
inline int32_t bd_q4_1(const quant::block_q4_1& x, const quant::block_q8_1& y) noexcept { return block_dot_q4_1(x, y.qs); }
inline int32_t bd_q5_0(const quant::block_q5_0& x, const quant::block_q8_0& y) noexcept {
  return block_dot_q5(x.qh, x.qs, y.qs, 16);
}
inline int32_t bd_q5_1(const quant::block_q5_1& x, const quant::block_q8_1& y) noexcept {
  return block_dot_q5(x.qh, x.qs, y.qs, 0);
}
inline int32_t bd_q8_0(const quant::block_q8_0& x, const quant::block_q8_0& y) noexcept {
  return block_dot_i8(x.qs, y.qs, 32);
}
inline int32_t bd_q8_1(const quant::block_q8_1& x, const quant::block_q8_1& y) noexcept {
  return block_dot_i8(x.qs, y.qs, 32);
}
inline float vec_dot_q4_0_q8_0(int64_t n, const void* w, const void* a) noexcept {
  return vec_dot_32<quant::block_q4_0, quant::block_q8_0, bd_q4_0>(n, w, a);
}
inline float vec_dot_q4_1_q8_1(int64_t n, const void* w, const void* a) noexcept {
  return vec_dot_32<quant::block_q4_1, quant::block_q8_1, bd_q4_1>(n, w, a);
}
inline float vec_dot_q5_0_q8_0(int64_t n, const void* w, const void* a) noexcept {
  return vec_dot_32<quant::block_q5_0, quant::block_q8_0, bd_q5_0>(n, w, a);
}
inline float vec_dot_q5_1_q8_1(int64_t n, const void* w, const void* a) noexcept {
  return vec_dot_32<quant::block_q5_1, quant::block_q8_1, bd_q5_1>(n, w, a);
}
inline float vec_dot_q8_0_q8_0(int64_t n, const void* w, const void* a) noexcept {
  return vec_dot_32<quant::block_q8_0, quant::block_q8_0, bd_q8_0>(n, w, a);
}
inline float vec_dot_q8_1_q8_1(int64_t n, const void* w, const void* a) noexcept {
  return vec_dot_32<quant::block_q8_1, quant::block_q8_1, bd_q8_1>(n, w, a);
}

// --- k-quants with q8_K activations ----------------------------------------
// Each block: integer sums per sub-block, weighted by the integer sub-block
// scales (exact in int32: at most 63 * 32 * 31 * 127 * 8 < 2^26), then
// d * d_y * isum - dmin * d_y * sum_j(min_j * bsum_j).

/// Integer parts of one k-quant block product: isum (scaled quants) and msum (mins x bsums).
struct kblock_sums {
  int32_t isum;
  int32_t msum;
};

inline kblock_sums block_dot_q2_k(const quant::block_q2_k& x, const quant::block_q8_k& y) noexcept {
  kblock_sums r{0, 0};
  for (int j = 0; j < 16; ++j) r.msum += (x.scales[j] >> 4) * y.bsums[j];
  // Element e = 128h + 32s + l: bits 2s of qs[32h + l]; sub-block e / 16.
  for (int h = 0; h < 2; ++h)
    for (int s = 0; s < 4; ++s)
      for (int half = 0; half < 2; ++half) {
        int32_t sub = 0;
        for (int l = 16 * half; l < 16 * half + 16; ++l) sub += ((x.qs[32 * h + l] >> (2 * s)) & 3) * y.qs[128 * h + 32 * s + l];
        r.isum += (x.scales[8 * h + 2 * s + half] & 0xf) * sub;
      }
  return r;
}
inline kblock_sums block_dot_q3_k(const quant::block_q3_k& x, const quant::block_q8_k& y) noexcept {
  kblock_sums r{0, 0};
  for (int h = 0; h < 2; ++h)
    for (int s = 0; s < 4; ++s)
      for (int half = 0; half < 2; ++half) {
        int32_t sub = 0;
        for (int l = 16 * half; l < 16 * half + 16; ++l) {
          const int q = ((x.qs[32 * h + l] >> (2 * s)) & 3) - (((x.hmask[l] >> (4 * h + s)) & 1) ? 0 : 4);
          sub += q * y.qs[128 * h + 32 * s + l];
        }
        r.isum += (quant::unpack_scale_q3_k(8 * h + 2 * s + half, x.scales) - 32) * sub;
      }
  return r;
}
// q4_K and q5_K: chunk c of 64 holds sub-blocks 2c (low nibbles) and 2c+1 (high
// nibbles); q5_K adds bit 2c / 2c+1 of qh[l] as the fifth bit.
template <class Block>
inline kblock_sums block_dot_k4(const Block& x, const quant::block_q8_k& y) noexcept {
  constexpr bool five = std::is_same<Block, quant::block_q5_k>::value;
  kblock_sums r{0, 0};
  for (int c = 0; c < 4; ++c) {
    int32_t lo = 0, hi = 0;
    for (int l = 0; l < 32; ++l) {
      int ql = x.qs[32 * c + l] & 0xf, qhi = x.qs[32 * c + l] >> 4;
      if constexpr (five) {
        ql |= ((x.qh[l] >> (2 * c)) & 1) << 4;
        qhi |= ((x.qh[l] >> (2 * c + 1)) & 1) << 4;
      }
      lo += ql * y.qs[64 * c + l];
      hi += qhi * y.qs[64 * c + 32 + l];
    }
    for (int half = 0; half < 2; ++half) {
      uint8_t sc, m;
      quant::unpack_scale_min_k4(2 * c + half, x.scales, sc, m);
      r.isum += sc * (half ? hi : lo);
      r.msum += m * (y.bsums[4 * c + 2 * half] + y.bsums[4 * c + 2 * half + 1]);
    }
  }
  return r;
}
inline kblock_sums block_dot_q4_k(const quant::block_q4_k& x, const quant::block_q8_k& y) noexcept {
  return block_dot_k4(x, y);
}
inline kblock_sums block_dot_q5_k(const quant::block_q5_k& x, const quant::block_q8_k& y) noexcept {
  return block_dot_k4(x, y);
}
inline kblock_sums block_dot_q6_k(const quant::block_q6_k& x, const quant::block_q8_k& y) noexcept {
  kblock_sums r{0, 0};
  // Element e = 128h + 32k + l: nibble of ql[64h + 32(k&1) + l] (low for k < 2),
  // bits 2k of qh[32h + l]; sub-block e / 16.
  for (int h = 0; h < 2; ++h)
    for (int k = 0; k < 4; ++k)
      for (int half = 0; half < 2; ++half) {
        int32_t sub = 0;
        for (int l = 16 * half; l < 16 * half + 16; ++l) {
          const uint8_t lq = x.ql[64 * h + 32 * (k & 1) + l];
          const int q = ((k < 2 ? (lq & 0xf) : (lq >> 4)) | (((x.qh[32 * h + l] >> (2 * k)) & 3) << 4)) - 32;
          sub += q * y.qs[128 * h + 32 * k + l];
        }
        r.isum += x.scales[8 * h + 2 * k + half] * sub;
      }
  return r;
}

template <class Block, kblock_sums (*BlockDot)(const Block&, const quant::block_q8_k&) noexcept>
inline float vec_dot_k(int64_t n, const void* w, const void* a) noexcept {
  const auto* x = static_cast<const Block*>(w);
  const auto* y = static_cast<const quant::block_q8_k*>(a);
  float s = 0;
  for (int64_t b = 0; b < n / quant::qk_k; ++b) {
    const kblock_sums r = BlockDot(x[b], y[b]);
    s += fp16_to_fp32(x[b].d) * y[b].d * static_cast<float>(r.isum);
    if constexpr (std::is_same<Block, quant::block_q2_k>::value || std::is_same<Block, quant::block_q4_k>::value ||
                  std::is_same<Block, quant::block_q5_k>::value)
      s -= fp16_to_fp32(x[b].dmin) * y[b].d * static_cast<float>(r.msum);
  }
  return s;
}
inline float vec_dot_q2_k_q8_k(int64_t n, const void* w, const void* a) noexcept {
  return vec_dot_k<quant::block_q2_k, block_dot_q2_k>(n, w, a);
}
inline float vec_dot_q3_k_q8_k(int64_t n, const void* w, const void* a) noexcept {
  return vec_dot_k<quant::block_q3_k, block_dot_q3_k>(n, w, a);
}
inline float vec_dot_q4_k_q8_k(int64_t n, const void* w, const void* a) noexcept {
  return vec_dot_k<quant::block_q4_k, block_dot_q4_k>(n, w, a);
}
inline float vec_dot_q5_k_q8_k(int64_t n, const void* w, const void* a) noexcept {
  return vec_dot_k<quant::block_q5_k, block_dot_q5_k>(n, w, a);
}
inline float vec_dot_q6_k_q8_k(int64_t n, const void* w, const void* a) noexcept {
  return vec_dot_k<quant::block_q6_k, block_dot_q6_k>(n, w, a);
}
inline float vec_dot_q8_k_q8_k(int64_t n, const void* w, const void* a) noexcept {
  const auto* x = static_cast<const quant::block_q8_k*>(w);
  const auto* y = static_cast<const quant::block_q8_k*>(a);
  float s = 0;
  for (int64_t b = 0; b < n / quant::qk_k; ++b)
    s += x[b].d * y[b].d * static_cast<float>(block_dot_i8(x[b].qs, y[b].qs, quant::qk_k));
  return s;
}

/// The reference row dot for weight type wt (nullptr if unsupported).
inline vec_dot_fn vec_dot_for(dtype wt) noexcept {
  switch (wt) {
    case dtype::f32: return vec_dot_f32;
    case dtype::f16: return vec_dot_f16;
    case dtype::bf16: return vec_dot_bf16;
    case dtype::q4_0: return vec_dot_q4_0_q8_0;
    case dtype::q4_1: return vec_dot_q4_1_q8_1;
    case dtype::q5_0: return vec_dot_q5_0_q8_0;
    case dtype::q5_1: return vec_dot_q5_1_q8_1;
    case dtype::q8_0: return vec_dot_q8_0_q8_0;
    case dtype::q8_1: return vec_dot_q8_1_q8_1;
    case dtype::q2_k: return vec_dot_q2_k_q8_k;
    case dtype::q3_k: return vec_dot_q3_k_q8_k;
    case dtype::q4_k: return vec_dot_q4_k_q8_k;
    case dtype::q5_k: return vec_dot_q5_k_q8_k;
    case dtype::q6_k: return vec_dot_q6_k_q8_k;
    case dtype::q8_k: return vec_dot_q8_k_q8_k;
    default: return nullptr;
  }
}

}  // namespace ref

namespace detail {

/// Token tile of matmul: as many prepared activations as fit in ~256 KiB (an
/// L2 share), so each weight row is read from memory once per tile and from
/// L1 for the other tokens of the tile.
inline int64_t token_tile(size_t act_bytes) noexcept {
  const size_t budget = size_t{256} << 10;
  const int64_t t = act_bytes ? static_cast<int64_t>(budget / act_bytes) : 1;
  return t < 1 ? 1 : (t > 64 ? 64 : t);
}

inline void fill_nan(float* y, int64_t count) noexcept {
  for (int64_t i = 0; i < count; ++i) y[i] = std::numeric_limits<float>::quiet_NaN();
}

/// Software prefetch distance of the row loops, in bytes of weights. The
/// quantized kernels do enough work per byte that the hardware prefetcher
/// falls behind (measured: q4_K 2048x8192 from DRAM 7.4 -> 11.4 GB/s on one
/// core); the f32 stream is faster without it.
inline constexpr size_t prefetch_bytes = 4096;

/// Rows ahead to prefetch for W (0: none).
inline int64_t prefetch_rows(const tensor_view& W) noexcept {
  const size_t rb = W.row_bytes();
  if (block_size(W.type) == 1 || rb == 0) return 0;
  return static_cast<int64_t>((prefetch_bytes + rb - 1) / rb);
}
inline void prefetch_row(const tensor_view& W, int64_t r) noexcept {
#if defined(__GNUC__) || defined(__clang__)
  const char* p = reinterpret_cast<const char*>(W.row(r));
  const size_t rb = W.row_bytes();
  for (size_t o = 0; o < rb; o += 64) __builtin_prefetch(p + o, 0, 3);
#else
  (void)W;
  (void)r;
#endif
}

// Row loops shared by the reference and the dispatching kernels.
inline void matvec_rows(vec_dot_fn dot, const tensor_view& W, const void* x, float* y, int64_t r0, int64_t r1) noexcept {
  if (!dot) return fill_nan(y, r1 - r0);
  const int64_t n = W.ne[0], ahead = prefetch_rows(W);
  for (int64_t r = r0; r < r1; ++r) {
    if (ahead > 0 && r + ahead < r1) prefetch_row(W, r + ahead);
    y[r - r0] = dot(n, W.row(r), x);
  }
}
inline void matmul_rows(vec_dot_fn dot, vec_dot_multi_fn multi, const tensor_view& W, const void* X, int64_t n_tok,
                        float* Y, int64_t ldy, int64_t r0, int64_t r1) noexcept {
  const int64_t n = W.ne[0], ahead = prefetch_rows(W);
  const size_t stride = activation_bytes(W.type, n);
  if (!dot) {
    for (int64_t t = 0; t < n_tok; ++t) fill_nan(Y + t * ldy, r1 - r0);
    return;
  }
  const int64_t tile = token_tile(stride);
  for (int64_t t0 = 0; t0 < n_tok; t0 += tile) {
    const int64_t t1 = t0 + tile < n_tok ? t0 + tile : n_tok;
    for (int64_t r = r0; r < r1; ++r) {
      if (ahead > 0 && r + ahead < r1) prefetch_row(W, r + ahead);
      const uint8_t* row = W.row(r);
      const uint8_t* x0 = static_cast<const uint8_t*>(X) + static_cast<size_t>(t0) * stride;
      if (multi) {
        multi(n, row, x0, stride, static_cast<int>(t1 - t0), Y + t0 * ldy + (r - r0), ldy);
      } else {
        for (int64_t t = t0; t < t1; ++t)
          Y[t * ldy + (r - r0)] = dot(n, row, x0 + static_cast<size_t>(t - t0) * stride);
      }
    }
  }
}

}  // namespace detail

namespace ref {

/// y[r - r0] = row r of W . x for r in [r0, r1). x: prepare_activation(W.type, ...).
inline void matvec(const tensor_view& W, const void* prepared_x, float* y, int64_t r0, int64_t r1) noexcept {
  detail::matvec_rows(vec_dot_for(W.type), W, prepared_x, y, r0, r1);
}
/// Y[t * ldy + (r - r0)] = row r of W . X_t for t < n_tok, r in [r0, r1).
inline void matmul(const tensor_view& W, const void* prepared_X, int64_t n_tok, float* Y, int64_t ldy, int64_t r0,
                   int64_t r1) noexcept {
  detail::matmul_rows(vec_dot_for(W.type), nullptr, W, prepared_X, n_tok, Y, ldy, r0, r1);
}

}  // namespace ref
}  // namespace plm::kernels
