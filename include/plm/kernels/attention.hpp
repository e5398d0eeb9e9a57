// plm/kernels/attention.hpp - attention of one query over a latent (MLA) cache.
//
// The cache holds, per position t, one row [ĉ_t (d_latent) | k_t (d_rope)] that
// every head shares as key, and whose first d_latent values are also the value
// (plm-spec §4: absorbed MLA is MQA with a 576-wide key and a 512-wide value).
// For heads h in [h0, h1) and a query already absorbed into latent space:
//   s[h][t] = scale · (q_lat[h]·ĉ_t + q_rope[h]·k_t)      t < n_kv
//   p[h]    = softmax(s[h])                                 (f32, double sum)
//   out[h]  = Σ_t p[h][t] · ĉ_t                             (d_latent)
// The rows are walked once for the scores and once for the values, each row
// serving all heads of the call while it is in L1. A head's arithmetic does
// not depend on which other heads share the call, so any grouping of heads
// over threads gives bit-identical results.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>

#include "plm/core/dtype.hpp"
#include "plm/quant/dequantize.hpp"
#include "plm/quant/quantize.hpp"
#include "plm/kernels/softmax.hpp"
#include "plm/kernels/vec.hpp"

namespace plm::kernels {

/// Shape of a latent attention problem (PLM: 512, 64, 1/sqrt(192)).
struct latent_attention_shape {
  int64_t d_latent = 0;  ///< latent width (kv_lora_rank)
  int64_t d_rope = 0;    ///< shared roped key width
  float scale = 1.0f;    ///< softmax scale (1/sqrt(qk head dim), not of the latent width)
  int64_t row() const noexcept { return d_latent + d_rope; }
};

/// True for the cache element types the kernel reads: f32, f16, and q8_0 when
/// the row (d_latent + d_rope) is a whole number of 32-value blocks.
inline bool latent_cache_type_supported(dtype t, const latent_attention_shape& shape) noexcept {
  return t == dtype::f32 || t == dtype::f16 || (t == dtype::q8_0 && shape.row() % 32 == 0);
}

/// Bytes of one cache row of `shape` in type t (PLM: f32 2304, f16 1152, q8_0 612).
inline size_t latent_cache_row_bytes(const latent_attention_shape& shape, dtype t) noexcept {
  if (t == dtype::q8_0) return static_cast<size_t>(shape.row() / 32) * sizeof(quant::block_q8_0);
  return static_cast<size_t>(shape.row()) * (t == dtype::f16 ? 2u : 4u);
}

/// Floats of scratch latent_attention needs for `n_heads` heads, `n_q` queries and
/// up to n_kv positions (per query).
inline size_t latent_attention_scratch(const latent_attention_shape& shape, int64_t n_heads, int64_t n_kv,
                                       int64_t n_q = 1) noexcept {
  return static_cast<size_t>(n_q * n_heads * (n_kv + n_q - 1) + 8 * shape.row());  // scores + a tile of 8 f32 rows
}

/// Writes one cache row (f32 source of shape.row() values) in type t.
inline void latent_cache_store(const latent_attention_shape& shape, const float* src, void* dst, dtype t) noexcept {
  if (t == dtype::f16) f32_to_f16(src, static_cast<uint16_t*>(dst), shape.row());
  else if (t == dtype::q8_0) quant::quantize_row_q8_0_ref(src, static_cast<quant::block_q8_0*>(dst), shape.row());
  else std::memcpy(dst, src, static_cast<size_t>(shape.row()) * sizeof(float));
}

/// Reads cache row i back as f32 (n = shape.row() values) - what attention sees.
inline void latent_cache_load(const latent_attention_shape& shape, const void* cache, dtype t, int64_t i, float* dst) noexcept {
  const uint8_t* r = static_cast<const uint8_t*>(cache) + static_cast<size_t>(i) * latent_cache_row_bytes(shape, t);
  if (t == dtype::f16) f16_to_f32(reinterpret_cast<const uint16_t*>(r), dst, shape.row());
  else if (t == dtype::q8_0) quant::dequantize_row_q8_0(reinterpret_cast<const quant::block_q8_0*>(r), dst, shape.row());
  else std::memcpy(dst, r, static_cast<size_t>(shape.row()) * sizeof(float));
}

namespace detail {
inline const float* cache_row_f32(const latent_attention_shape& shape, const void* cache, dtype t, int64_t i,
                                  float* tmp) noexcept {
  if (t == dtype::f32) return static_cast<const float*>(cache) + i * shape.row();
  latent_cache_load(shape, cache, t, i, tmp);
  return tmp;
}

// Rows of the cache handled together: each query vector chunk is loaded once
// per 8 rows and each output chunk once per 8 rows.
inline constexpr int64_t att_tile = 8;

// s[k] = q · rows[k][0..n) for the 8 rows of a tile (rows past the valid ones
// may repeat a valid pointer; their results are ignored by the caller). One
// accumulator per row, batches in order, then the tail in order: a row's
// result does not depend on which tile or how many valid rows it came with.
inline void dot_tile(const float* q, const float* const* rows, int64_t n, float* s) noexcept {
  int64_t c = 0;
#if PLM_DETAIL_KERNELS_SIMD
  constexpr int64_t w = fwidth;
  fbatch acc[att_tile];
  for (int64_t k = 0; k < att_tile; ++k) acc[k] = fbatch(0.0f);
  for (; c < n - n % w; c += w) {
    const fbatch qv = fbatch::load_unaligned(q + c);
    for (int64_t k = 0; k < att_tile; ++k) acc[k] = xsimd::fma(qv, fbatch::load_unaligned(rows[k] + c), acc[k]);
  }
  for (int64_t k = 0; k < att_tile; ++k) s[k] = xsimd::hadd(acc[k]);
#else
  for (int64_t k = 0; k < att_tile; ++k) s[k] = 0.0f;
#endif
  for (int64_t k = 0; k < att_tile; ++k)
    for (int64_t cc = c; cc < n; ++cc) s[k] += q[cc] * rows[k][cc];
}

// out[0..n) += Σ_k p[k] · rows[k][0..n) for the first nt rows, row after row for
// every element: the same arithmetic as nt separate axpys.
inline void axpy_tile(const float* p, const float* const* rows, int64_t nt, float* out, int64_t n) noexcept {
  int64_t c = 0;
#if PLM_DETAIL_KERNELS_SIMD
  constexpr int64_t w = fwidth;
  for (; c < n - n % w; c += w) {
    fbatch acc = fbatch::load_unaligned(out + c);
    for (int64_t k = 0; k < nt; ++k) acc = xsimd::fma(fbatch(p[k]), fbatch::load_unaligned(rows[k] + c), acc);
    acc.store_unaligned(out + c);
  }
#endif
  for (; c < n; ++c)
    for (int64_t k = 0; k < nt; ++k) out[c] += p[k] * rows[k][c];
}
}  // namespace detail

namespace ref {
/// Scalar definition (one head at a time, plain loops). scratch: n_kv + row floats.
inline void latent_attention(const latent_attention_shape& shape, const float* q_lat, const float* q_rope,
                             int64_t q_rope_stride, const void* cache, dtype cache_type, int64_t n_kv, float* out,
                             int64_t h0, int64_t h1, float* scratch) noexcept {
  const int64_t dl = shape.d_latent, row = shape.row();
  float* k = scratch + n_kv;  // one row as f32
  for (int64_t h = h0; h < h1; ++h) {
    for (int64_t t = 0; t < n_kv; ++t) {
      latent_cache_load(shape, cache, cache_type, t, k);
      float s = 0.0f;
      for (int64_t c = 0; c < row; ++c) s += (c < dl ? q_lat[h * dl + c] : q_rope[h * q_rope_stride + (c - dl)]) * k[c];
      scratch[t] = s;
    }
    ref::softmax(scratch, n_kv, shape.scale);
    for (int64_t c = 0; c < dl; ++c) out[h * dl + c] = 0.0f;
    for (int64_t t = 0; t < n_kv; ++t) {
      latent_cache_load(shape, cache, cache_type, t, k);
      for (int64_t c = 0; c < dl; ++c) out[h * dl + c] += scratch[t] * k[c];
    }
  }
}
}  // namespace ref

/// Causal attention of n_q consecutive absorbed queries for heads [h0, h1):
/// query i attends to cache rows [0, n_kv0 + i). Each cache row is read (and
/// converted) once for all queries and heads of the call. Per query, head and
/// position the arithmetic is that of the one-query call, so blocking queries
/// or heads never changes a result.
///   q_lat: query i, head h at q_lat + i·q_lat_stride + h·d_latent
///   q_rope: query i, head h at q_rope + i·q_rope_stride_q + h·q_rope_stride (d_rope values)
///   out: query i, head h at out + i·out_stride + h·d_latent (only heads h0..h1 written)
///   scratch: latent_attention_scratch(shape, h1 - h0, n_kv0, n_q) floats; n_kv0 ≥ 1.
inline void latent_attention_causal(const latent_attention_shape& shape, int64_t n_q, const float* q_lat,
                                    int64_t q_lat_stride, const float* q_rope, int64_t q_rope_stride_q,
                                    int64_t q_rope_stride, const void* cache, dtype cache_type, int64_t n_kv0,
                                    float* out, int64_t out_stride, int64_t h0, int64_t h1, float* scratch) noexcept {
  using detail::att_tile;
  const int64_t dl = shape.d_latent, dr = shape.d_rope, nh = h1 - h0, n_kv_max = n_kv0 + n_q - 1;
  float* scores = scratch;                     // [n_q][nh][n_kv_max]
  float* tile = scratch + n_q * nh * n_kv_max;  // [att_tile][row] f32 copies of non-f32 rows
  auto score = [&](int64_t i, int64_t h) { return scores + (i * nh + h) * n_kv_max; };
  const float* rows[att_tile];
  const float* rope_rows[att_tile];
  auto load_tile = [&](int64_t t0, int64_t nt) {
    for (int64_t k = 0; k < att_tile; ++k) {
      const int64_t t = t0 + (k < nt ? k : 0);  // pad with the tile's first row
      rows[k] = k < nt || k == 0 ? detail::cache_row_f32(shape, cache, cache_type, t, tile + k * shape.row()) : rows[0];
      rope_rows[k] = rows[k] + dl;
    }
  };
  // visible rows of query i within the tile starting at t0
  auto visible = [&](int64_t i, int64_t t0, int64_t nt) { return std::max<int64_t>(0, std::min(nt, n_kv0 + i - t0)); };

  float s_lat[att_tile], s_rope[att_tile];
  for (int64_t t0 = 0; t0 < n_kv_max; t0 += att_tile) {
    const int64_t nt = std::min(att_tile, n_kv_max - t0);
    load_tile(t0, nt);
    for (int64_t i = 0; i < n_q; ++i) {
      const int64_t vt = visible(i, t0, nt);
      if (vt == 0) continue;
      for (int64_t h = 0; h < nh; ++h) {
        detail::dot_tile(q_lat + i * q_lat_stride + (h0 + h) * dl, rows, dl, s_lat);
        detail::dot_tile(q_rope + i * q_rope_stride_q + (h0 + h) * q_rope_stride, rope_rows, dr, s_rope);
        float* sc = score(i, h) + t0;
        for (int64_t k = 0; k < vt; ++k) sc[k] = s_lat[k] + s_rope[k];
      }
    }
  }
  for (int64_t i = 0; i < n_q; ++i)
    for (int64_t h = 0; h < nh; ++h) {
      softmax(score(i, h), n_kv0 + i, shape.scale);
      float* o = out + i * out_stride + (h0 + h) * dl;
      for (int64_t c = 0; c < dl; ++c) o[c] = 0.0f;
    }
  for (int64_t t0 = 0; t0 < n_kv_max; t0 += att_tile) {
    const int64_t nt = std::min(att_tile, n_kv_max - t0);
    load_tile(t0, nt);
    for (int64_t i = 0; i < n_q; ++i) {
      const int64_t vt = visible(i, t0, nt);
      for (int64_t h = 0; vt > 0 && h < nh; ++h)
        detail::axpy_tile(score(i, h) + t0, rows, vt, out + i * out_stride + (h0 + h) * dl, dl);
    }
  }
}

/// Attention of one absorbed query over cache rows [0, n_kv) for heads [h0, h1).
/// q_lat: [n_head][d_latent], q_rope: head h at q_rope + h·q_rope_stride (d_rope
/// values, so the roped parts can stay inside the projected q), cache: [n_kv][row] of
/// cache_type, out: [n_head][d_latent] (only heads h0..h1 written). scratch:
/// latent_attention_scratch(shape, h1 - h0, n_kv) floats. n_kv ≥ 1.
inline void latent_attention(const latent_attention_shape& shape, const float* q_lat, const float* q_rope,
                             int64_t q_rope_stride, const void* cache, dtype cache_type, int64_t n_kv, float* out,
                             int64_t h0, int64_t h1, float* scratch) noexcept {
  latent_attention_causal(shape, 1, q_lat, 0, q_rope, 0, q_rope_stride, cache, cache_type, n_kv, out, 0, h0, h1, scratch);
}

}  // namespace plm::kernels
