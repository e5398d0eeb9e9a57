// plm/kernels/sparse_ffn.hpp - exact sparse down projection for ReLU² FFNs.
//
// y = W·a where a (n_in values) is mostly exact zeros. W is stored in GGUF
// row-major (row r = output r, n_in values), which makes skipping a neuron j
// useless: its weights are scattered over all rows. repack_down() rewrites W
// neuron-major once at load, after which y = Σ_{a_j ≠ 0} a_j · W[:, j] reads
// only the active neurons' columns.
//
// The repack is exact (no re-quantization). Every ggml weight type stores
//   W(r, j) = A(r, g) · q(r, j) − B(r, g)      g = j / G (a sub-block of G neurons)
// with an integer q and per-(row, sub-block) scale A and offset B. The repacked
// "q8" form keeps q as int8 and A, B as f32 (f16 · 6-bit products are exact in
// f32), or as f16 where the type stores them as bare f16 (q8_0, q4_0, q5_0,
// q4_1, q5_1: half the scale bytes, which are 19% of what a 50%-sparse step
// reads in f32), so A and B are the very values ggml's dequantizer multiplies
// with. Then
//   y[r] = Σ_g ( A(r,g) · Σ_{j∈g, a_j≠0} a_j q(r,j)  −  B(r,g) · Σ_{j∈g} a_j ),
// equal to Σ_j a_j W(r, j) up to f32 summation order. Float types are simply
// transposed in their own type.
//
// Layout: outputs are cut into slices of 256 (the last one ragged) and each
// slice is stored neuron-major on its own, [slice][n_in][256] (scales
// [slice][n_in/G][256]). One thread's slice then reads its active neurons'
// pieces in ascending address order through one contiguous region, which the
// hardware's stream prefetchers follow; neuron-major over the whole width put
// consecutive neurons n_out bytes apart and left the kernel at ~60% of the
// per-core stream rate.
//
// Memory per weight, original → repacked:
//   f32 4 → 4, f16/bf16 2 → 2,
//   q8_0 1.0625 → 1.0625, q4_0 0.5625 → 1.0625, q5_0 0.6875 → 1.0625 (G=32, no offset, f16 A),
//   q4_1 0.625 → 1.125, q5_1 0.75 → 1.125 (G=32, f16 A and B),
//   q4_K 0.5625 → 1.25, q5_K 0.6875 → 1.25 (G=32, offset),
//   q6_K 0.8203 → 1.25, q3_K 0.4297 → 1.25 (G=16, no offset), q2_K 0.3281 → 1.5 (G=16, offset).
// (Packing 4/5-bit q into nibbles would halve the q8 cost: a later speed step.)
//
// The kernel writes an output slice [r0, r1): give each thread fixed slices
// and the result is independent of the thread count.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>

#include "plm/core/buffer.hpp"
#include "plm/core/dtype.hpp"
#include "plm/core/result.hpp"
#include "plm/core/tensor.hpp"
#include "plm/kernels/vec.hpp"

#if defined(__AVX512F__)
#include <immintrin.h>
#endif

namespace plm::kernels {

/// How a repacked down matrix stores its columns.
enum class sparse_down_format {
  f32,   ///< float [n_in][n_out]
  f16,   ///< IEEE half bits [n_in][n_out]
  bf16,  ///< bfloat16 bits [n_in][n_out]
  q8,    ///< int8 q + A (and B) per (group of neurons, output), f32 or f16
};

/// Outputs per slice of the slice-major layout (see the file comment).
inline constexpr int64_t sparse_slice = 256;

/// A slice-major neuron-major down matrix (non-owning; memory comes from the
/// caller). Element (neuron j, output r) is columns[sparse_down_index(*this, j, r)],
/// q8 scale and offset of (group g, output r) at sparse_group_index(*this, g, r).
struct sparse_down {
  sparse_down_format format = sparse_down_format::f32;
  int64_t n_in = 0;           ///< neurons (ffn width)
  int64_t n_out = 0;          ///< outputs (hidden width)
  int64_t group = 1;          ///< q8: neurons sharing one (A, B) per output
  bool half_scale = false;    ///< q8: A and B are IEEE half bits, else f32
  const void* columns = nullptr;  ///< n_in·n_out elements in `format`'s type
  const void* scale = nullptr;    ///< q8: A, n_in/group·n_out values
  const void* offset = nullptr;   ///< q8: B, or nullptr when every B is 0
};

namespace detail {
// Index of row k (of n_rows) and output r in a [slice][n_rows][slice width]
// array: the columns (rows = neurons) and the q8 scales (rows = groups).
inline size_t slice_major_index(int64_t n_out, int64_t n_rows, int64_t k, int64_t r) noexcept {
  const int64_t s0 = r - r % sparse_slice, w = std::min(sparse_slice, n_out - s0);
  return static_cast<size_t>(s0 * n_rows + k * w + (r - s0));
}
}  // namespace detail
/// Index of element (neuron j, output r) in a sparse_down's columns.
inline size_t sparse_down_index(const sparse_down& d, int64_t j, int64_t r) noexcept {
  return detail::slice_major_index(d.n_out, d.n_in, j, r);
}
/// Index of (group g, output r) in a q8 sparse_down's scale and offset.
inline size_t sparse_group_index(const sparse_down& d, int64_t g, int64_t r) noexcept {
  return detail::slice_major_index(d.n_out, d.n_in / d.group, g, r);
}
/// Value i of a q8 scale or offset array (f32 or f16 per d.half_scale).
inline float sparse_scale_value(const sparse_down& d, const void* p, size_t i) noexcept {
  return d.half_scale ? plm::fp16_to_fp32(static_cast<const uint16_t*>(p)[i]) : static_cast<const float*>(p)[i];
}

namespace detail {
struct sparse_layout {
  sparse_down_format format;
  int64_t group;      // q8: G
  bool offset;        // q8: B stored
  bool half_scale;    // q8: A and B are the type's own f16 values
};

inline bool sparse_layout_of(dtype t, sparse_layout& out) noexcept {
  switch (t) {
    case dtype::f32: out = {sparse_down_format::f32, 1, false, false}; return true;
    case dtype::f16: out = {sparse_down_format::f16, 1, false, false}; return true;
    case dtype::bf16: out = {sparse_down_format::bf16, 1, false, false}; return true;
    case dtype::q8_0: case dtype::q4_0: case dtype::q5_0: out = {sparse_down_format::q8, 32, false, true}; return true;
    case dtype::q4_1: case dtype::q5_1: out = {sparse_down_format::q8, 32, true, true}; return true;
    case dtype::q4_k: case dtype::q5_k: out = {sparse_down_format::q8, 32, true, false}; return true;
    case dtype::q6_k: case dtype::q3_k: out = {sparse_down_format::q8, 16, false, false}; return true;
    case dtype::q2_k: out = {sparse_down_format::q8, 16, true, false}; return true;
    default: return false;
  }
}

inline float f16_at(const uint8_t* p) noexcept {
  uint16_t h;
  std::memcpy(&h, p, 2);
  return half_bits_to_float(h);
}

// 6-bit (scale, min) pair j of a Q4_K/Q5_K block (plm-spec §7, get_scale_min_k4).
inline void k4_scale_min(int j, const uint8_t* q, int& sc, int& m) noexcept {
  if (j < 4) {
    sc = q[j] & 63;
    m = q[j + 4] & 63;
  } else {
    sc = (q[j + 4] & 15) | ((q[j - 4] >> 6) << 4);
    m = (q[j + 4] >> 4) | ((q[j] >> 6) << 4);
  }
}

// Decomposes one block of type t into per-sub-block A, B and integer q, such
// that ggml's dequantized value of element i is A[i/G]·q[i] − B[i/G]
// (plm-spec §7 block layouts; the products below are those ggml forms).
inline void decompose_block(dtype t, const uint8_t* b, float* A, float* B, int8_t* q) noexcept {
  switch (t) {
    case dtype::q8_0: {
      A[0] = f16_at(b);
      B[0] = 0.0f;
      std::memcpy(q, b + 2, 32);
      return;
    }
    case dtype::q4_0: case dtype::q4_1: {
      const bool one = t == dtype::q4_1;
      const uint8_t* qs = b + (one ? 4 : 2);
      A[0] = f16_at(b);
      B[0] = one ? -f16_at(b + 2) : 0.0f;
      const int bias = one ? 0 : 8;
      for (int j = 0; j < 16; ++j) {
        q[j] = static_cast<int8_t>((qs[j] & 15) - bias);
        q[j + 16] = static_cast<int8_t>((qs[j] >> 4) - bias);
      }
      return;
    }
    case dtype::q5_0: case dtype::q5_1: {
      const bool one = t == dtype::q5_1;
      const uint8_t* qhp = b + (one ? 4 : 2);
      const uint8_t* qs = qhp + 4;
      uint32_t qh;
      std::memcpy(&qh, qhp, 4);
      A[0] = f16_at(b);
      B[0] = one ? -f16_at(b + 2) : 0.0f;
      const int bias = one ? 0 : 16;
      for (int j = 0; j < 16; ++j) {
        const int lo = (qs[j] & 15) | static_cast<int>(((qh >> j) & 1u) << 4);
        const int hi = (qs[j] >> 4) | static_cast<int>(((qh >> (j + 16)) & 1u) << 4);
        q[j] = static_cast<int8_t>(lo - bias);
        q[j + 16] = static_cast<int8_t>(hi - bias);
      }
      return;
    }
    case dtype::q2_k: {  // scales[16], qs[64], d, dmin
      const uint8_t* sc = b;
      const uint8_t* qs = b + 16;
      const float d = f16_at(b + 80), dmin = f16_at(b + 82);
      int is = 0, o = 0;
      for (int n = 0; n < 256; n += 128, qs += 32) {
        for (int shift = 0; shift < 8; shift += 2) {
          for (int half = 0; half < 2; ++half, ++is) {
            A[is] = d * static_cast<float>(sc[is] & 15);
            B[is] = dmin * static_cast<float>(sc[is] >> 4);
            for (int l = 0; l < 16; ++l) q[o++] = static_cast<int8_t>((qs[l + 16 * half] >> shift) & 3);
          }
        }
      }
      return;
    }
    case dtype::q3_k: {  // hmask[32], qs[64], scales[12], d
      const uint8_t* hm = b;
      const uint8_t* qs = b + 32;
      const float d = f16_at(b + 108);
      uint32_t aux[4];
      std::memcpy(aux, b + 96, 12);
      const uint32_t k1 = 0x03030303u, k2 = 0x0f0f0f0fu, tmp = aux[2];
      aux[2] = ((aux[0] >> 4) & k2) | (((tmp >> 4) & k1) << 4);
      aux[3] = ((aux[1] >> 4) & k2) | (((tmp >> 6) & k1) << 4);
      aux[0] = (aux[0] & k2) | (((tmp >> 0) & k1) << 4);
      aux[1] = (aux[1] & k2) | (((tmp >> 2) & k1) << 4);
      int8_t scales[16];
      std::memcpy(scales, aux, 16);
      int is = 0, o = 0;
      uint8_t m = 1;
      for (int n = 0; n < 256; n += 128, qs += 32) {
        for (int shift = 0; shift < 8; shift += 2, m = static_cast<uint8_t>(m << 1)) {
          for (int half = 0; half < 2; ++half, ++is) {
            A[is] = d * static_cast<float>(scales[is] - 32);
            B[is] = 0.0f;
            for (int l = 0; l < 16; ++l) {
              const int idx = l + 16 * half;
              q[o++] = static_cast<int8_t>(((qs[idx] >> shift) & 3) - ((hm[idx] & m) ? 0 : 4));
            }
          }
        }
      }
      return;
    }
    case dtype::q4_k: case dtype::q5_k: {  // d, dmin, scales[12], [qh[32]], qs[128]
      const bool five = t == dtype::q5_k;
      const float d = f16_at(b), dmin = f16_at(b + 2);
      const uint8_t* scales = b + 4;
      const uint8_t* qh = b + 16;
      const uint8_t* ql = b + (five ? 48 : 16);
      int o = 0;
      for (int j = 0; j < 4; ++j, ql += 32) {
        for (int half = 0; half < 2; ++half) {
          int sc, mn;
          k4_scale_min(2 * j + half, scales, sc, mn);
          A[2 * j + half] = d * static_cast<float>(sc);
          B[2 * j + half] = dmin * static_cast<float>(mn);
          const int bit = 2 * j + half;
          for (int l = 0; l < 32; ++l) {
            int v = half ? (ql[l] >> 4) : (ql[l] & 15);
            if (five && ((qh[l] >> bit) & 1)) v += 16;
            q[o++] = static_cast<int8_t>(v);
          }
        }
      }
      return;
    }
    case dtype::q6_k: {  // ql[128], qh[64], scales[16] int8, d
      const uint8_t* ql = b;
      const uint8_t* qh = b + 128;
      const int8_t* sc = reinterpret_cast<const int8_t*>(b + 192);
      const float d = f16_at(b + 208);
      for (int i = 0; i < 16; ++i) {
        A[i] = d * static_cast<float>(sc[i]);
        B[i] = 0.0f;
      }
      for (int n = 0; n < 256; n += 128, ql += 64, qh += 32) {
        for (int l = 0; l < 32; ++l) {
          q[n + l] = static_cast<int8_t>(((ql[l] & 15) | (((qh[l] >> 0) & 3) << 4)) - 32);
          q[n + l + 32] = static_cast<int8_t>(((ql[l + 32] & 15) | (((qh[l] >> 2) & 3) << 4)) - 32);
          q[n + l + 64] = static_cast<int8_t>(((ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4)) - 32);
          q[n + l + 96] = static_cast<int8_t>(((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) - 32);
        }
      }
      return;
    }
    default: return;
  }
}
}  // namespace detail

/// Bytes repack_down() needs for a down matrix of type t with n_in neurons and
/// n_out outputs (each part 64-byte aligned), or an error for an unsupported type.
inline result<size_t> sparse_down_bytes(dtype t, int64_t n_in, int64_t n_out) {
  detail::sparse_layout L{};
  if (!detail::sparse_layout_of(t, L))
    return make_error(errc::unsupported, "sparse down projection: weight type " + std::string(name(t)) + " is not supported");
  const size_t n = static_cast<size_t>(n_in) * static_cast<size_t>(n_out);
  switch (L.format) {
    case sparse_down_format::f32: return arena::footprint(n * 4);
    case sparse_down_format::f16: case sparse_down_format::bf16: return arena::footprint(n * 2);
    case sparse_down_format::q8: {
      const size_t ab = arena::footprint(static_cast<size_t>(n_in / L.group) * static_cast<size_t>(n_out) * (L.half_scale ? 2 : 4));
      return arena::footprint(n) + ab * (L.offset ? 2 : 1);
    }
  }
  return size_t{0};
}

/// Repacks W (ne = (n_in, n_out), any supported type, contiguous rows) neuron-
/// major into memory taken from `mem` (sparse_down_bytes() of it). The result
/// points into that memory.
inline result<sparse_down> repack_down(const tensor_view& W, arena& mem) {
  detail::sparse_layout L{};
  if (!detail::sparse_layout_of(W.type, L))
    return make_error(errc::unsupported, "tensor '" + std::string(W.name) + "': sparse down projection does not support type " +
                                             std::string(name(W.type)));
  const int64_t n_in = W.ne[0], n_out = W.ne[1];
  if (n_in % L.group != 0 || n_in % static_cast<int64_t>(block_size(W.type)) != 0)
    return make_error(errc::shape_mismatch, "tensor '" + std::string(W.name) + "': width " + std::to_string(n_in) +
                                                " is not a multiple of the block size");
  sparse_down d;
  d.format = L.format;
  d.n_in = n_in;
  d.n_out = n_out;
  d.group = L.group;
  const size_t n = static_cast<size_t>(n_in) * static_cast<size_t>(n_out);
  const auto no_mem = [&] {
    return make_error(errc::out_of_memory, "tensor '" + std::string(W.name) + "': repack buffer too small");
  };
  switch (L.format) {
    case sparse_down_format::f32: case sparse_down_format::f16: case sparse_down_format::bf16: {
      // Plain transpose in the element's own type, in tiles of rows (inside one
      // slice) so that each neuron's run of outputs is written contiguously.
      const size_t es = L.format == sparse_down_format::f32 ? 4 : 2;
      uint8_t* c = static_cast<uint8_t*>(mem.take(n * es));
      if (!c) return no_mem();
      constexpr int64_t tile = 64;
      static_assert(sparse_slice % tile == 0, "a tile lies inside one slice");
      for (int64_t r0 = 0; r0 < n_out; r0 += tile) {
        const int64_t r1 = std::min(n_out, r0 + tile);
        for (int64_t j = 0; j < n_in; ++j) {
          uint8_t* dst = c + sparse_down_index(d, j, r0) * es;
          for (int64_t r = r0; r < r1; ++r) std::memcpy(dst + static_cast<size_t>(r - r0) * es, W.row(r) + static_cast<size_t>(j) * es, es);
        }
      }
      d.columns = c;
      return d;
    }
    case sparse_down_format::q8: {
      const size_t ng = static_cast<size_t>(n_in / L.group), es = L.half_scale ? 2 : 4;
      int8_t* c = static_cast<int8_t*>(mem.take(n));
      uint8_t* A = static_cast<uint8_t*>(mem.take(ng * static_cast<size_t>(n_out) * es));
      uint8_t* B = L.offset ? static_cast<uint8_t*>(mem.take(ng * static_cast<size_t>(n_out) * es)) : nullptr;
      if (!c || !A || (L.offset && !B)) return no_mem();
      d.half_scale = L.half_scale;
      const auto put = [&](uint8_t* p, size_t i, float v) {
        if (L.half_scale) {
          const uint16_t h = fp32_to_fp16(v);  // exact: v is the block's own f16 value (or its negation)
          std::memcpy(p + i * 2, &h, 2);
        } else {
          std::memcpy(p + i * 4, &v, 4);
        }
      };
      const int64_t bs = block_size(W.type), bb = block_bytes(W.type), sub = bs / L.group;
      // Rows are decomposed a tile at a time (inside one slice) into [bs][tile] so
      // that every neuron's run of outputs is written as one contiguous piece.
      constexpr int64_t tile = 64;
      static_assert(sparse_slice % tile == 0, "a tile lies inside one slice");
      float bA[16], bB[16];
      int8_t bq[256];
      int8_t tq[256 * tile];
      for (int64_t r0 = 0; r0 < n_out; r0 += tile) {
        const int64_t r1 = std::min(n_out, r0 + tile), len = r1 - r0;
        for (int64_t blk = 0; blk < n_in / bs; ++blk) {
          for (int64_t r = r0; r < r1; ++r) {
            detail::decompose_block(W.type, W.row(r) + blk * bb, bA, bB, bq);
            for (int64_t s2 = 0; s2 < sub; ++s2) {
              const size_t gi = sparse_group_index(d, blk * sub + s2, r);
              put(A, gi, bA[s2]);
              if (B) put(B, gi, bB[s2]);
            }
            for (int64_t k = 0; k < bs; ++k) tq[k * tile + (r - r0)] = bq[k];
          }
          for (int64_t k = 0; k < bs; ++k)
            std::memcpy(c + sparse_down_index(d, blk * bs + k, r0), tq + k * tile, static_cast<size_t>(len));
        }
      }
      d.columns = c;
      d.scale = A;
      d.offset = B;
      return d;
    }
  }
  return make_error(errc::unsupported, "unreachable sparse format");
}

namespace ref {
/// Scalar definition: y[r] = Σ_j a_j W(r, j) for r in [r0, r1), using only
/// the listed active neurons (ascending), from the repacked form.
inline void sparse_down_apply(const sparse_down& d, const float* a, const int32_t* active, int64_t n_active, float* y,
                              int64_t r0, int64_t r1) noexcept {
  for (int64_t r = r0; r < r1; ++r) {
    float acc = 0.0f;
    int64_t i = 0;
    while (i < n_active) {
      const int64_t g = active[i] / d.group;
      float t = 0.0f, sa = 0.0f;
      for (; i < n_active && active[i] / d.group == g; ++i) {
        const int64_t j = active[i];
        const size_t e = sparse_down_index(d, j, r);
        float w = 0.0f;
        switch (d.format) {
          case sparse_down_format::f32: w = static_cast<const float*>(d.columns)[e]; break;
          case sparse_down_format::f16: w = plm::fp16_to_fp32(static_cast<const uint16_t*>(d.columns)[e]); break;
          case sparse_down_format::bf16: w = plm::bf16_to_fp32(static_cast<const uint16_t*>(d.columns)[e]); break;
          case sparse_down_format::q8: w = static_cast<float>(static_cast<const int8_t*>(d.columns)[e]); break;
        }
        t += a[j] * w;
        sa += a[j];
      }
      if (d.format == sparse_down_format::q8) {
        const size_t gi = sparse_group_index(d, g, r);
        acc += sparse_scale_value(d, d.scale, gi) * t;
        if (d.offset) acc -= sparse_scale_value(d, d.offset, gi) * sa;
      } else {
        acc += t;
      }
    }
    y[r] = acc;
  }
}
}  // namespace ref

namespace detail {
// Active neurons ahead whose piece of the slice is prefetched.
inline constexpr int64_t sparse_prefetch_ahead = 8;
inline void prefetch_read(const void* p) noexcept {
#if defined(__GNUC__) || defined(__clang__)
  __builtin_prefetch(p, 0, 3);
#else
  (void)p;
#endif
}

// Every cache line of a column piece of `bytes` bytes (the pieces of
// successive active neurons are apart: ask for them ahead of use).
inline void prefetch_piece(const void* p, int64_t bytes) noexcept {
  for (int64_t k = 0; k < bytes; k += 64) prefetch_read(static_cast<const uint8_t*>(p) + k);
}

// len q8 scale (or offset) values starting at element i, as f32.
inline const float* scale_run(const sparse_down& d, const void* p, size_t i, int64_t len, float* tmp) noexcept {
  if (!d.half_scale) return static_cast<const float*>(p) + i;
  f16_to_f32(static_cast<const uint16_t*>(p) + i, tmp, len);
  return tmp;
}

#if defined(__AVX512F__)
#define PLM_DETAIL_SPARSE_AVX512 1
inline __m512 load_scales16(const sparse_down& d, const void* p, size_t i) noexcept {
  if (d.half_scale) return _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(static_cast<const uint16_t*>(p) + i)));
  return _mm512_loadu_ps(static_cast<const float*>(p) + i);
}
// One whole q8 slice (sparse_slice outputs, slice base c / group index gi0) with
// the group sums t in 16 vector registers instead of an array in L1 (a load and
// a store per 16 multiply-adds there): per active neuron its 256 int8 widened
// 16 at a time and fused-multiply-added with a_j, the next neurons' lines
// asked for one per 64 bytes used. Per output the same fmas in the same order
// as the portable loop: t = fma(a_j, q, t) over the group's active neurons,
// then out = fma(A, t, out) and out = out − B·Σa_j fused.
inline void sparse_q8_slice_avx512(const sparse_down& d, const float* a, const int32_t* active, int64_t n_active,
                                   const int8_t* c, size_t gi0, float* out) noexcept {
  static_assert(sparse_slice == 256, "16 vectors of 16 outputs");
  int64_t i = 0;
  while (i < n_active) {
    const int64_t g = active[i] / d.group, g_end = (g + 1) * d.group;  // one division per group, not per neuron
    __m512 t[16];
    for (auto& v : t) v = _mm512_setzero_ps();
    float sa = 0.0f;
    for (; i < n_active && active[i] < g_end; ++i) {
      const int8_t* next = i + sparse_prefetch_ahead < n_active ? c + active[i + sparse_prefetch_ahead] * sparse_slice : nullptr;
      const float aj = a[active[i]];
      const __m512 av = _mm512_set1_ps(aj);
      const int8_t* col = c + active[i] * sparse_slice;
      for (int v = 0; v < 16; ++v) {
        if (next && v % 4 == 0) prefetch_read(next + 16 * v);
        const __m512 w = _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(col + 16 * v))));
        t[v] = _mm512_fmadd_ps(av, w, t[v]);
      }
      sa += aj;
    }
    const size_t gi = gi0 + static_cast<size_t>(g) * sparse_slice;
    for (int v = 0; v < 16; ++v)
      _mm512_storeu_ps(out + 16 * v, _mm512_fmadd_ps(load_scales16(d, d.scale, gi + 16 * v), t[v], _mm512_loadu_ps(out + 16 * v)));
    if (d.offset) {
      const __m512 sv = _mm512_set1_ps(sa);
      for (int v = 0; v < 16; ++v)
        _mm512_storeu_ps(out + 16 * v, _mm512_fnmadd_ps(load_scales16(d, d.offset, gi + 16 * v), sv, _mm512_loadu_ps(out + 16 * v)));
    }
  }
}

// 16 weights of a float-format column piece as f32.
template <sparse_down_format F>
inline __m512 load_weights16(const void* p) noexcept {
  if constexpr (F == sparse_down_format::f32) {
    return _mm512_loadu_ps(p);
  } else {
    const __m256i h = _mm256_loadu_si256(static_cast<const __m256i*>(p));
    if constexpr (F == sparse_down_format::f16) return _mm512_cvtph_ps(h);
    else return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(h), 16));  // bf16: the high half of an f32
  }
}
// One whole float-format slice (f32 / f16 / bf16): out = Σ a_j · w_j with the
// 256 sums in 16 registers, the next neurons' pieces prefetched; per output the
// same fmas in the same order as the portable axpy loop.
template <sparse_down_format F>
inline void sparse_float_slice_avx512(const float* a, const int32_t* active, int64_t n_active, const uint8_t* c,
                                      float* out) noexcept {
  static_assert(sparse_slice == 256, "16 vectors of 16 outputs");
  constexpr int64_t es = F == sparse_down_format::f32 ? 4 : 2, piece = sparse_slice * es;
  __m512 t[16];
  for (auto& v : t) v = _mm512_setzero_ps();
  for (int64_t i = 0; i < n_active; ++i) {
    const uint8_t* next = i + sparse_prefetch_ahead < n_active ? c + active[i + sparse_prefetch_ahead] * piece : nullptr;
    const __m512 av = _mm512_set1_ps(a[active[i]]);
    const uint8_t* col = c + active[i] * piece;
    for (int v = 0; v < 16; ++v) {
      if (next && (v * 16 * es) % 64 == 0) prefetch_read(next + v * 16 * es);
      t[v] = _mm512_fmadd_ps(av, load_weights16<F>(col + v * 16 * es), t[v]);
    }
  }
  for (int v = 0; v < 16; ++v) _mm512_storeu_ps(out + 16 * v, t[v]);
}
#else
#define PLM_DETAIL_SPARSE_AVX512 0
#endif

// Outputs [p0, p0 + len) of the slice starting at s0 (len ≤ its width).
inline void sparse_down_piece(const sparse_down& d, const float* a, const int32_t* active, int64_t n_active, float* out,
                              int64_t s0, int64_t p0, int64_t len) noexcept {
  const int64_t w = std::min(sparse_slice, d.n_out - s0);  // neuron stride inside the slice
  const size_t e0 = sparse_down_index(d, 0, p0);
  for (int64_t k = 0; k < len; ++k) out[k] = 0.0f;
  switch (d.format) {
    case sparse_down_format::f32: {
      const float* c = static_cast<const float*>(d.columns) + e0;
#if PLM_DETAIL_SPARSE_AVX512
      if (len == sparse_slice) {
        sparse_float_slice_avx512<sparse_down_format::f32>(a, active, n_active, reinterpret_cast<const uint8_t*>(c), out);
        return;
      }
#endif
      for (int64_t i = 0; i < n_active; ++i) {
        if (i + sparse_prefetch_ahead < n_active) prefetch_piece(c + active[i + sparse_prefetch_ahead] * w, len * 4);
        axpy(a[active[i]], c + active[i] * w, out, len);
      }
      return;
    }
    case sparse_down_format::f16: case sparse_down_format::bf16: {
      const uint16_t* c = static_cast<const uint16_t*>(d.columns) + e0;
      const bool half = d.format == sparse_down_format::f16;
#if PLM_DETAIL_SPARSE_AVX512
      if (len == sparse_slice) {
        const auto* cb = reinterpret_cast<const uint8_t*>(c);
        if (half) sparse_float_slice_avx512<sparse_down_format::f16>(a, active, n_active, cb, out);
        else sparse_float_slice_avx512<sparse_down_format::bf16>(a, active, n_active, cb, out);
        return;
      }
#endif
      alignas(64) float tmp[sparse_slice];
      for (int64_t i = 0; i < n_active; ++i) {
        if (i + sparse_prefetch_ahead < n_active) prefetch_piece(c + active[i + sparse_prefetch_ahead] * w, len * 2);
        const uint16_t* col = c + active[i] * w;
        if (half) f16_to_f32(col, tmp, len);
        else
          for (int64_t k = 0; k < len; ++k) tmp[k] = bf16_bits_to_float(col[k]);
        axpy(a[active[i]], tmp, out, len);
      }
      return;
    }
    case sparse_down_format::q8: {
      const int8_t* c = static_cast<const int8_t*>(d.columns) + e0;
      const size_t gi0 = sparse_group_index(d, 0, p0);
#if PLM_DETAIL_SPARSE_AVX512
      if (len == sparse_slice) {
        sparse_q8_slice_avx512(d, a, active, n_active, c, gi0, out);
        return;
      }
#endif
      alignas(64) float t[sparse_slice], tA[sparse_slice], tB[sparse_slice];
      int64_t i = 0;
      while (i < n_active) {
        const int64_t g = active[i] / d.group, g_end = (g + 1) * d.group;
        for (int64_t k = 0; k < len; ++k) t[k] = 0.0f;
        float sa = 0.0f;
        for (; i < n_active && active[i] < g_end; ++i) {
          if (i + sparse_prefetch_ahead < n_active) prefetch_piece(c + active[i + sparse_prefetch_ahead] * w, len);
          const float aj = a[active[i]];
          const int8_t* col = c + active[i] * w;
          for (int64_t k = 0; k < len; ++k) t[k] += aj * static_cast<float>(col[k]);
          sa += aj;
        }
        const size_t gi = gi0 + static_cast<size_t>(g * w);
        const float* A = scale_run(d, d.scale, gi, len, tA);
        for (int64_t k = 0; k < len; ++k) out[k] += A[k] * t[k];
        if (d.offset) {
          const float* B = scale_run(d, d.offset, gi, len, tB);
          for (int64_t k = 0; k < len; ++k) out[k] -= B[k] * sa;
        }
      }
      return;
    }
  }
}
}  // namespace detail

/// y[r] = Σ_j a_j W(r, j) for r in [r0, r1) (overwrites), reading only the
/// pieces of the `n_active` ascending neuron indices in `active`.
inline void sparse_down_apply(const sparse_down& d, const float* a, const int32_t* active, int64_t n_active, float* y,
                              int64_t r0, int64_t r1) noexcept {
  for (int64_t p0 = r0; p0 < r1;) {
    const int64_t s0 = p0 - p0 % sparse_slice, p1 = std::min({r1, s0 + sparse_slice, d.n_out});
    detail::sparse_down_piece(d, a, active, n_active, y + p0, s0, p0, p1 - p0);
    p0 = p1;
  }
}

/// Bytes one sparse_down_apply over all outputs reads from d's memory when a
/// fraction `density` of the neurons is active at random: the active pieces,
/// and a group's scales (and offsets) when any neuron of the group is active.
inline double sparse_down_read_bytes(const sparse_down& d, double density) noexcept {
  const double n = static_cast<double>(d.n_in) * static_cast<double>(d.n_out);
  switch (d.format) {
    case sparse_down_format::f32: return density * n * 4.0;
    case sparse_down_format::f16: case sparse_down_format::bf16: return density * n * 2.0;
    case sparse_down_format::q8: {
      double p_group = 1.0, miss = 1.0;
      for (int64_t k = 0; k < d.group; ++k) miss *= 1.0 - density;
      p_group -= miss;
      const double ab = n / static_cast<double>(d.group) * (d.half_scale ? 2.0 : 4.0) * (d.offset ? 2.0 : 1.0);
      return density * n + p_group * ab;
    }
  }
  return 0.0;
}

/// What a byte the sparse kernel reads costs relative to a byte the dense
/// matvec streams: the active pieces are apart, so the hardware's stream
/// prefetchers do not run ahead of them. From PLM-1.8B decode, 2 threads,
/// AVX-512, half the neurons active (bench/RESULTS.md, "Speed (issue 5)"): a
/// step with the sparse kernel reading 53% of Q8_0's dense bytes was 4% faster,
/// 50% of F16's 11% faster, 100% of Q4_0's 11% slower, which puts a sparse
/// byte at 1.6x (Q8_0), 1.3x (F16) and 1.4x (Q4_0) a dense one: the largest.
inline constexpr double sparse_byte_cost = 1.6;

/// The largest fraction of active neurons at which the sparse kernel over d
/// costs no more than a dense matvec reading `dense_bytes` (sparse_down_read_bytes
/// × sparse_byte_cost ≤ dense_bytes), in [0, 1].
inline float sparse_down_crossover(const sparse_down& d, double dense_bytes) noexcept {
  const auto pays = [&](double rho) { return sparse_down_read_bytes(d, rho) * sparse_byte_cost <= dense_bytes; };
  if (pays(1.0)) return 1.0f;
  double lo = 0.0, hi = 1.0;  // read bytes grow with the density: bisect
  for (int it = 0; it < 40; ++it) {
    const double mid = 0.5 * (lo + hi);
    (pays(mid) ? lo : hi) = mid;
  }
  return static_cast<float>(lo);
}

}  // namespace plm::kernels

#undef PLM_DETAIL_SPARSE_AVX512
