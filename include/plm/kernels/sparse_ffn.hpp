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
// "q8" form keeps q as int8 neuron-major [n_in][n_out] and A, B as f32
// [n_in/G][n_out]; f16 · 6-bit products are exact in f32, so A and B are the
// very values ggml's dequantizer multiplies with. Then
//   y[r] = Σ_g ( A(r,g) · Σ_{j∈g, a_j≠0} a_j q(r,j)  −  B(r,g) · Σ_{j∈g} a_j ),
// equal to Σ_j a_j W(r, j) up to f32 summation order. Float types are simply
// transposed in their own type.
//
// Memory per weight, original → repacked:
//   f32 4 → 4, f16/bf16 2 → 2,
//   q8_0 1.0625 → 1.125, q4_0 0.5625 → 1.125, q5_0 0.6875 → 1.125 (G=32, no offset),
//   q4_1 0.625 → 1.25, q5_1 0.75 → 1.25, q4_K 0.5625 → 1.25, q5_K 0.6875 → 1.25 (G=32, offset),
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
  q8,    ///< int8 q [n_in][n_out] + f32 A (and B) [n_in/group][n_out]
};

/// A neuron-major down matrix (non-owning; memory comes from the caller).
struct sparse_down {
  sparse_down_format format = sparse_down_format::f32;
  int64_t n_in = 0;           ///< neurons (ffn width)
  int64_t n_out = 0;          ///< outputs (hidden width)
  int64_t group = 1;          ///< q8: neurons sharing one (A, B) per output
  const void* columns = nullptr;  ///< [n_in][n_out] in `format`'s element type
  const float* scale = nullptr;   ///< q8: A [n_in/group][n_out]
  const float* offset = nullptr;  ///< q8: B [n_in/group][n_out], or nullptr when every B is 0
};

namespace detail {
struct sparse_layout {
  sparse_down_format format;
  int64_t group;      // q8: G
  bool offset;        // q8: B stored
};

inline bool sparse_layout_of(dtype t, sparse_layout& out) noexcept {
  switch (t) {
    case dtype::f32: out = {sparse_down_format::f32, 1, false}; return true;
    case dtype::f16: out = {sparse_down_format::f16, 1, false}; return true;
    case dtype::bf16: out = {sparse_down_format::bf16, 1, false}; return true;
    case dtype::q8_0: case dtype::q4_0: case dtype::q5_0: out = {sparse_down_format::q8, 32, false}; return true;
    case dtype::q4_1: case dtype::q5_1: case dtype::q4_k: case dtype::q5_k:
      out = {sparse_down_format::q8, 32, true};
      return true;
    case dtype::q6_k: case dtype::q3_k: out = {sparse_down_format::q8, 16, false}; return true;
    case dtype::q2_k: out = {sparse_down_format::q8, 16, true}; return true;
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
      const size_t ab = arena::footprint(static_cast<size_t>(n_in / L.group) * static_cast<size_t>(n_out) * 4);
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
      // Plain transpose in the element's own type, in tiles of rows so that each
      // neuron's output run is written contiguously (a column-at-a-time scatter
      // would touch a new cache line per element).
      const size_t es = L.format == sparse_down_format::f32 ? 4 : 2;
      uint8_t* c = static_cast<uint8_t*>(mem.take(n * es));
      if (!c) return no_mem();
      constexpr int64_t tile = 64;
      for (int64_t r0 = 0; r0 < n_out; r0 += tile) {
        const int64_t r1 = std::min(n_out, r0 + tile);
        for (int64_t j = 0; j < n_in; ++j)
          for (int64_t r = r0; r < r1; ++r)
            std::memcpy(c + (static_cast<size_t>(j) * static_cast<size_t>(n_out) + static_cast<size_t>(r)) * es,
                        W.row(r) + static_cast<size_t>(j) * es, es);
      }
      d.columns = c;
      return d;
    }
    case sparse_down_format::q8: {
      const size_t ng = static_cast<size_t>(n_in / L.group);
      int8_t* c = static_cast<int8_t*>(mem.take(n));
      float* A = static_cast<float*>(mem.take(ng * static_cast<size_t>(n_out) * 4));
      float* B = L.offset ? static_cast<float*>(mem.take(ng * static_cast<size_t>(n_out) * 4)) : nullptr;
      if (!c || !A || (L.offset && !B)) return no_mem();
      const int64_t bs = block_size(W.type), bb = block_bytes(W.type), sub = bs / L.group;
      // Rows are decomposed a tile at a time into [bs][tile] so that every neuron's
      // run of outputs is written as one contiguous piece.
      constexpr int64_t tile = 64;
      float bA[16], bB[16];
      int8_t bq[256];
      int8_t tq[256 * tile];
      for (int64_t r0 = 0; r0 < n_out; r0 += tile) {
        const int64_t r1 = std::min(n_out, r0 + tile), len = r1 - r0;
        for (int64_t blk = 0; blk < n_in / bs; ++blk) {
          for (int64_t r = r0; r < r1; ++r) {
            detail::decompose_block(W.type, W.row(r) + blk * bb, bA, bB, bq);
            for (int64_t s2 = 0; s2 < sub; ++s2) {
              const int64_t g = blk * sub + s2;
              A[g * n_out + r] = bA[s2];
              if (B) B[g * n_out + r] = bB[s2];
            }
            for (int64_t k = 0; k < bs; ++k) tq[k * tile + (r - r0)] = bq[k];
          }
          for (int64_t k = 0; k < bs; ++k)
            std::memcpy(c + (blk * bs + k) * n_out + r0, tq + k * tile, static_cast<size_t>(len));
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
        float w = 0.0f;
        switch (d.format) {
          case sparse_down_format::f32: w = static_cast<const float*>(d.columns)[j * d.n_out + r]; break;
          case sparse_down_format::f16:
            w = plm::kernels::detail::half_bits_to_float(static_cast<const uint16_t*>(d.columns)[j * d.n_out + r]);
            break;
          case sparse_down_format::bf16:
            w = plm::kernels::detail::bf16_bits_to_float(static_cast<const uint16_t*>(d.columns)[j * d.n_out + r]);
            break;
          case sparse_down_format::q8: w = static_cast<float>(static_cast<const int8_t*>(d.columns)[j * d.n_out + r]); break;
        }
        t += a[j] * w;
        sa += a[j];
      }
      if (d.format == sparse_down_format::q8) {
        acc += d.scale[g * d.n_out + r] * t;
        if (d.offset) acc -= d.offset[g * d.n_out + r] * sa;
      } else {
        acc += t;
      }
    }
    y[r] = acc;
  }
}
}  // namespace ref

namespace detail {
// Output slices are processed in pieces of this many values so the per-group
// partial sums stay on the stack and in L1.
inline constexpr int64_t sparse_slice = 256;
// Active neurons ahead whose column slice is prefetched.
inline constexpr int64_t sparse_prefetch_ahead = 8;
inline void prefetch_read(const void* p) noexcept {
#if defined(__GNUC__) || defined(__clang__)
  __builtin_prefetch(p, 0, 3);
#else
  (void)p;
#endif
}

#if defined(__AVX512F__)
#define PLM_DETAIL_SPARSE_AVX512 1
// One whole q8 slice (sparse_slice outputs) with the group sums t in 16
// vector registers instead of an array in L1 (a load and a store per 16
// multiply-adds there): per active neuron its 256 int8 widened 16 at a time
// and fused-multiply-added with a_j, the next neurons' lines asked for one
// per 64 bytes used. Per output the same fmas in the same order as the
// portable loop: t = fma(a_j, q, t) over the group's active neurons, then
// out = fma(A, t, out) and out = out − B·Σa_j fused.
inline void sparse_q8_slice_avx512(const sparse_down& d, const float* a, const int32_t* active, int64_t n_active,
                                   const int8_t* c, int64_t s0, float* out) noexcept {
  static_assert(sparse_slice == 256, "16 vectors of 16 outputs");
  const int64_t n_out = d.n_out;
  int64_t i = 0;
  while (i < n_active) {
    const int64_t g = active[i] / d.group;
    __m512 t[16];
    for (auto& v : t) v = _mm512_setzero_ps();
    float sa = 0.0f;
    for (; i < n_active && active[i] / d.group == g; ++i) {
      const int8_t* next = i + sparse_prefetch_ahead < n_active ? c + active[i + sparse_prefetch_ahead] * n_out : nullptr;
      const float aj = a[active[i]];
      const __m512 av = _mm512_set1_ps(aj);
      const int8_t* col = c + active[i] * n_out;
      for (int v = 0; v < 16; ++v) {
        if (next && v % 4 == 0) prefetch_read(next + 16 * v);
        const __m512 w = _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(col + 16 * v))));
        t[v] = _mm512_fmadd_ps(av, w, t[v]);
      }
      sa += aj;
    }
    const float* A = d.scale + g * n_out + s0;
    for (int v = 0; v < 16; ++v)
      _mm512_storeu_ps(out + 16 * v, _mm512_fmadd_ps(_mm512_loadu_ps(A + 16 * v), t[v], _mm512_loadu_ps(out + 16 * v)));
    if (d.offset) {
      const float* B = d.offset + g * n_out + s0;
      const __m512 sv = _mm512_set1_ps(sa);
      for (int v = 0; v < 16; ++v)
        _mm512_storeu_ps(out + 16 * v, _mm512_fnmadd_ps(_mm512_loadu_ps(B + 16 * v), sv, _mm512_loadu_ps(out + 16 * v)));
    }
  }
}
#else
#define PLM_DETAIL_SPARSE_AVX512 0
#endif
}

/// y[r] = Σ_j a_j W(r, j) for r in [r0, r1) (overwrites), reading only the
/// columns of the `n_active` ascending neuron indices in `active`.
inline void sparse_down_apply(const sparse_down& d, const float* a, const int32_t* active, int64_t n_active, float* y,
                              int64_t r0, int64_t r1) noexcept {
  const int64_t n_out = d.n_out;
  for (int64_t s0 = r0; s0 < r1; s0 += detail::sparse_slice) {
    const int64_t len = (r1 - s0) < detail::sparse_slice ? (r1 - s0) : detail::sparse_slice;
    float* out = y + s0;
    for (int64_t k = 0; k < len; ++k) out[k] = 0.0f;
    switch (d.format) {
      case sparse_down_format::f32: {
        const float* c = static_cast<const float*>(d.columns) + s0;
        for (int64_t i = 0; i < n_active; ++i) axpy(a[active[i]], c + active[i] * n_out, out, len);
        break;
      }
      case sparse_down_format::f16: case sparse_down_format::bf16: {
        const uint16_t* c = static_cast<const uint16_t*>(d.columns) + s0;
        alignas(64) float tmp[detail::sparse_slice];
        const bool half = d.format == sparse_down_format::f16;
        for (int64_t i = 0; i < n_active; ++i) {
          const uint16_t* col = c + active[i] * n_out;
          if (half) f16_to_f32(col, tmp, len);
          else
            for (int64_t k = 0; k < len; ++k) tmp[k] = detail::bf16_bits_to_float(col[k]);
          axpy(a[active[i]], tmp, out, len);
        }
        break;
      }
      case sparse_down_format::q8: {
        const int8_t* c = static_cast<const int8_t*>(d.columns) + s0;
#if PLM_DETAIL_SPARSE_AVX512
        if (len == detail::sparse_slice) {
          detail::sparse_q8_slice_avx512(d, a, active, n_active, c, s0, out);
          break;
        }
#endif
        alignas(64) float t[detail::sparse_slice];
        int64_t i = 0;
        while (i < n_active) {
          const int64_t g = active[i] / d.group;
          for (int64_t k = 0; k < len; ++k) t[k] = 0.0f;
          float sa = 0.0f;
          for (; i < n_active && active[i] / d.group == g; ++i) {
            // The columns of the next active neurons are scattered (one stride
            // of n_out bytes per neuron): ask for them ahead of use.
            if (i + detail::sparse_prefetch_ahead < n_active) {
              const int8_t* next = c + active[i + detail::sparse_prefetch_ahead] * n_out;
              for (int64_t k = 0; k < len; k += 64) detail::prefetch_read(next + k);
            }
            const float aj = a[active[i]];
            const int8_t* col = c + active[i] * n_out;
            for (int64_t k = 0; k < len; ++k) t[k] += aj * static_cast<float>(col[k]);
            sa += aj;
          }
          const float* A = d.scale + g * n_out + s0;
          for (int64_t k = 0; k < len; ++k) out[k] += A[k] * t[k];
          if (d.offset) {
            const float* B = d.offset + g * n_out + s0;
            for (int64_t k = 0; k < len; ++k) out[k] -= B[k] * sa;
          }
        }
        break;
      }
    }
  }
}

}  // namespace plm::kernels

#undef PLM_DETAIL_SPARSE_AVX512
