// plm/kernels/attention.hpp - attention of one query over a latent (MLA) cache.
//
// The cache holds, per position t, one row [ĉ_t (d_latent) | k_t (d_rope)] that
// every head shares as key, and whose first d_latent values are also the value
// (plm-spec §4: absorbed MLA is MQA with a 576-wide key and a 512-wide value).
// For heads h in [h0, h1) and a query already absorbed into latent space:
//   s[h][t] = scale · (q_lat[h]·ĉ_t + q_rope[h]·k_t)      t < n_kv
//   p[h]    = softmax(s[h])                                 (f32, double sum)
//   out[h]  = Σ_t p[h][t] · ĉ_t                             (d_latent)
// The design notes' [heads × 576]·[576 × T] product, walked once: the cache is
// read in chunks of att_chunk rows, converted to f32 a group of att_group rows
// at a time (asking for the lines of the next group meanwhile), and scored for
// a group of heads while both are in L1 by register-blocked micro-kernels
// (att_hb heads × att_rb rows of vector accumulators: each row chunk loaded
// once per att_hb heads, each query chunk once per att_rb rows; on AVX-512, 16
// horizontal sums at once by a transposing tree). Then exp against the running
// maximum, rescaling what came before when it grows, and the chunk's
// [heads × T]·[T × d_latent] product into the output (att_vhb heads × att_cb
// vectors of accumulators, each row chunk loaded once per att_vhb heads); the
// double sum of the exponentials divides at the end. Softmax is thus exact up
// to f32 rounding of the rescale factors, and the layer's cache is read from
// memory once instead of twice.
// The positions are cut into fixed splits of latent_attention_split rows, each
// giving a partial (maximum, sum, unnormalised output) per (query, head) that
// are merged in split order: a decode step computes the splits in parallel over
// all heads (flash-decoding: each row read and converted once per token, not
// once per thread's head group), a prefill block folds them in as it goes, with
// the same arithmetic. A head's arithmetic does not depend on which other heads
// or queries share the call, nor on who computes which split (chunks start at
// fixed positions whatever n_kv), so any grouping of heads or splits over
// threads, or of queries into blocks, gives bit-identical results.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <type_traits>

#include "plm/core/dtype.hpp"
#include "plm/quant/dequantize.hpp"
#include "plm/quant/quantize.hpp"
#include "plm/kernels/softmax.hpp"
#include "plm/kernels/vec.hpp"

#if defined(__AVX512F__)
#include <immintrin.h>
#endif

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

namespace detail {
// Cache rows per chunk: converted to f32 once (147 KB for PLM's rows, in L2),
// scored, then read again by the values of the chunk. 32 and 16 were slower
// (more rescaling and output traffic per row), 128 no faster.
inline constexpr int64_t att_chunk = 64;
}  // namespace detail

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
// Register blocking of the micro-kernels: att_hb heads × att_rb rows of score
// accumulators, att_vhb heads × att_cb vectors of value accumulators: 16 of
// the 32 vector registers of AVX-512 and AArch64, 8 of the 16 of AVX2/SSE.
// (8 heads × 2 rows was slower: 10 loads per 16 FMAs instead of 8.)
#if defined(__AVX512F__) || defined(__aarch64__)
inline constexpr int att_hb = 4;
inline constexpr int att_rb = 4;
inline constexpr int att_vhb = 4;
#else
inline constexpr int att_hb = 2;
inline constexpr int att_rb = 4;
inline constexpr int att_vhb = 2;
#endif
inline constexpr int att_cb = 4;
// Rows converted, and heads scored, together: 8 rows and 8 queries of PLM
// (18 KB each) share L1.
inline constexpr int64_t att_group = 8;

#if PLM_DETAIL_KERNELS_SIMD && defined(__AVX512F__)
#define PLM_DETAIL_ATT_AVX512 1
// Sums of 16 accumulators at once, s[n] = Σ lanes of a[n]: a transposing tree
// that pairs lane l with l+8, then l+4, l+2, l+1, the same tree for every
// accumulator whatever its slot, so a result never depends on which other
// accumulators share the call. 45 shuffles and adds for 16 sums instead of
// 16 separate horizontal sums.
// The all-lanes masked forms are the plain instructions; the unmasked
// intrinsics' undefined pass-through operand trips GCC 12's -Wuninitialized.
#define PLM_DETAIL_SHUF128(u, v, imm) _mm512_mask_shuffle_f32x4(u, 0xFFFF, u, v, imm)
inline void sum16(const fbatch* a, float* s) noexcept {
  __m512 x[8], y[4], z[2];
  for (int k = 0; k < 8; ++k) {  // x[k] = [a_2k | a_2k+1], lanes l + l+8
    const __m512 u = a[2 * k], v = a[2 * k + 1];
    x[k] = _mm512_add_ps(PLM_DETAIL_SHUF128(u, v, 0x44), PLM_DETAIL_SHUF128(u, v, 0xEE));
  }
  for (int k = 0; k < 4; ++k) {  // y[k] = [a_4k | a_4k+1 | a_4k+2 | a_4k+3], lanes l + l+4
    const __m512 u = x[2 * k], v = x[2 * k + 1];
    y[k] = _mm512_add_ps(PLM_DETAIL_SHUF128(u, v, 0x88), PLM_DETAIL_SHUF128(u, v, 0xDD));
  }
  for (int k = 0; k < 2; ++k) {  // block j of z[k]: a_4k+j, a_4k+j, a_4k+8+j, a_4k+8+j, lanes l + l+2
    const __m512 u = y[k], v = y[k + 2];
    z[k] = _mm512_add_ps(_mm512_shuffle_ps(u, v, 0x44), _mm512_shuffle_ps(u, v, 0xEE));
  }
  // block j of r: a_j, a_j+8, a_j+4, a_j+12 (lanes l + l+1)
  const __m512 r = _mm512_add_ps(_mm512_shuffle_ps(z[0], z[1], 0x88), _mm512_shuffle_ps(z[0], z[1], 0xDD));
  const __m512i order = _mm512_setr_epi32(0, 4, 8, 12, 2, 6, 10, 14, 1, 5, 9, 13, 3, 7, 11, 15);
  _mm512_storeu_ps(s, _mm512_mask_permutexvar_ps(r, 0xFFFF, order, r));
}
#undef PLM_DETAIL_SHUF128
#endif

// The scalar parts (widths not a multiple of the vector) are kept in these two
// helpers so every micro-kernel variant does the same arithmetic on them.
inline float dot_tail(const float* q, const float* r, int64_t c0, int64_t n, float s) noexcept {  // s + q·r over [c0, n)
  for (int64_t c = c0; c < n; ++c) s += q[c] * r[c];
  return s;
}
inline void axpy_tail(const float* p, const float* rows, int64_t rs, int64_t nt, float* out, int64_t c0,
                      int64_t n) noexcept {
  for (int64_t c = c0; c < n; ++c) {
    float o = out[c];
    const float* r = rows + c;
    for (int64_t t = 0; t < nt; ++t, r += rs) o += p[t] * *r;
    out[c] = o;
  }
}

// s[h·att_rb + k] = q_h · rows[k][0..n) for HB heads (q_h = q + h·qs, the query
// packed as [q_lat | q_rope] like a row) and att_rb rows: each row chunk is
// loaded once for the HB heads, each query chunk once for the att_rb rows. Per
// (head, row) one vector accumulator over the chunks in order, one fixed
// horizontal tree, then the scalar tail in order: a score depends on neither HB
// nor the other heads and rows.
template <int HB>
inline void score_block(const float* q, int64_t qs, const float* const* rows, int64_t n, float* s) noexcept {
  constexpr int RB = att_rb;
  int64_t c = 0;
#if PLM_DETAIL_KERNELS_SIMD
  constexpr int64_t w = fwidth;
  fbatch acc[HB * RB];
  for (int k = 0; k < HB * RB; ++k) acc[k] = fbatch(0.0f);
  for (; c < n - n % w; c += w) {
    fbatch r[RB];
    for (int k = 0; k < RB; ++k) r[k] = fbatch::load_unaligned(rows[k] + c);
    for (int h = 0; h < HB; ++h) {
      const fbatch qv = fbatch::load_unaligned(q + h * qs + c);
      for (int k = 0; k < RB; ++k) acc[h * RB + k] = detail::fmadd(qv, r[k], acc[h * RB + k]);
    }
  }
#if defined(PLM_DETAIL_ATT_AVX512)
  static_assert(HB * RB <= 16, "one 16-way sum per block");
  fbatch all[16];
  for (int k = 0; k < 16; ++k) all[k] = k < HB * RB ? acc[k] : fbatch(0.0f);
  alignas(64) float sums[16];
  sum16(all, sums);
  for (int k = 0; k < HB * RB; ++k) s[k] = sums[k];
#else
  for (int k = 0; k < HB * RB; ++k) s[k] = xsimd::hadd(acc[k]);
#endif
#else
  for (int k = 0; k < HB * RB; ++k) s[k] = 0.0f;
#endif
  for (int h = 0; h < HB; ++h)
    for (int k = 0; k < RB; ++k) s[h * RB + k] = dot_tail(q + h * qs, rows[k], c, n, s[h * RB + k]);
}

// out_h[c0..c1) += Σ_{t<nt} p_h[t] · row_t[c0..c1) for HB heads (p_h = p + h·ps,
// out_h = out + h·os, row_t = rows + t·rs): each row chunk is loaded once for
// the HB heads, and each output element accumulates the rows in order with one
// fma each, whatever HB or the other heads. Vector chunks start at c0, so
// callers keep c0 a multiple of the vector width (of att_cb of them, but for the
// last range) for every column to take the same path in every call.
template <int HB>
inline void value_block(const float* p, int64_t ps, const float* rows, int64_t rs, int64_t nt, float* out, int64_t os,
                        int64_t c0, int64_t c1) noexcept {
  const float* ph[HB];
  for (int h = 0; h < HB; ++h) ph[h] = p + h * ps;
  int64_t c = c0;
#if PLM_DETAIL_KERNELS_SIMD
  constexpr int64_t w = fwidth;
  constexpr int CB = att_cb;
  for (; c + CB * w <= c1; c += CB * w) {
    fbatch acc[HB * CB];
    for (int h = 0; h < HB; ++h)
      for (int j = 0; j < CB; ++j) acc[h * CB + j] = fbatch::load_unaligned(out + h * os + c + j * w);
    const float* r = rows + c;
    for (int64_t t = 0; t < nt; ++t, r += rs) {
      fbatch rv[CB];
      for (int j = 0; j < CB; ++j) rv[j] = fbatch::load_unaligned(r + j * w);
      for (int h = 0; h < HB; ++h) {
        const fbatch pv(ph[h][t]);
        for (int j = 0; j < CB; ++j) acc[h * CB + j] = detail::fmadd(pv, rv[j], acc[h * CB + j]);
      }
    }
    for (int h = 0; h < HB; ++h)
      for (int j = 0; j < CB; ++j) acc[h * CB + j].store_unaligned(out + h * os + c + j * w);
  }
  for (; c + w <= c1; c += w) {
    fbatch acc[HB];
    for (int h = 0; h < HB; ++h) acc[h] = fbatch::load_unaligned(out + h * os + c);
    const float* r = rows + c;
    for (int64_t t = 0; t < nt; ++t, r += rs) {
      const fbatch rv = fbatch::load_unaligned(r);
      for (int h = 0; h < HB; ++h) acc[h] = detail::fmadd(fbatch(ph[h][t]), rv, acc[h]);
    }
    for (int h = 0; h < HB; ++h) acc[h].store_unaligned(out + h * os + c);
  }
#endif
  for (int h = 0; h < HB; ++h) axpy_tail(ph[h], rows, rs, nt, out + h * os, c, c1);
}

// Runs f(integral_constant<int, HB>, first) over heads [h0, h1) in blocks of B and
// one last smaller block.
template <int K, class F>
inline void head_tail_block(int64_t left, int64_t h, F& f) noexcept {
  if constexpr (K > 0) {
    if (left == K) f(std::integral_constant<int, K>{}, h);
    else head_tail_block<K - 1>(left, h, f);
  }
}
template <int B, class F>
inline void for_head_blocks(int64_t h0, int64_t h1, F&& f) noexcept {
  int64_t h = h0;
  for (; h + B <= h1; h += B) f(std::integral_constant<int, B>{}, h);
  head_tail_block<B - 1>(h1 - h, h, f);
}

// f16 -> f32 of n values; AVX-512 converts 16 at a time (half the uops and
// stores of vec.hpp's 8-wide F16C loop). Exact either way. With pf, asks for
// the line at pf + o for every 64 bytes read at src + o, spread over the loop
// (a burst of prefetches stalls on the line fill buffers).
inline void f16_row_to_f32(const uint16_t* src, float* dst, int64_t n, const uint8_t* pf) noexcept {
  (void)pf;
  int64_t i = 0;
#if defined(PLM_DETAIL_ATT_AVX512)
  for (; i + 32 <= n; i += 32) {
    if (pf) __builtin_prefetch(pf + 2 * i, 0, 3);
    _mm512_storeu_ps(dst + i, _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(src + i))));
    _mm512_storeu_ps(dst + i + 16, _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(src + i + 16))));
  }
#elif defined(__GNUC__)
  if (pf)
    for (int64_t o = 0; o < 2 * n; o += 64) __builtin_prefetch(pf + o, 0, 3);
#endif
  f16_to_f32(src + i, dst + i, n - i);
}

// Rows [t0, t0 + n) of the cache as f32: converted into dst (row floats apart),
// or, for an f32 cache, the rows themselves. Asks for the cache lines of row
// t + att_group while converting row t (below n_rows): a layer's cache is
// larger than L2 and read at the pace of the arithmetic, and the hardware
// prefetchers stop at every 4 KB page (3.5 f16 rows of PLM).
inline const float* cache_rows_f32(const latent_attention_shape& shape, const void* cache, dtype t, int64_t t0, int64_t n,
                                   int64_t n_rows, float* dst) noexcept {
  const int64_t row = shape.row();
  const size_t rb = latent_cache_row_bytes(shape, t);
  const uint8_t* base = static_cast<const uint8_t*>(cache);
  for (int64_t k = 0; k < n; ++k) {
    const uint8_t* r = base + static_cast<size_t>(t0 + k) * rb;
    const uint8_t* pf = t0 + k + att_group < n_rows ? r + static_cast<size_t>(att_group) * rb : nullptr;
    if (t == dtype::f16) {
      f16_row_to_f32(reinterpret_cast<const uint16_t*>(r), dst + k * row, row, pf);
      continue;
    }
#if defined(__GNUC__)
    if (pf)
      for (size_t o = 0; o < rb; o += 64) __builtin_prefetch(pf + o, 0, 3);
#endif
    if (t == dtype::q8_0) quant::dequantize_row_q8_0(reinterpret_cast<const quant::block_q8_0*>(r), dst + k * row, row);
  }
  return t == dtype::f32 ? static_cast<const float*>(cache) + t0 * row : dst;
}

// x[k] = exp(scale·x[k] − m) for k < n, m the running maximum *m raised to
// max(scale·x): returns the factor exp(m_old − m_new) that what was summed
// against the old maximum needs (1 when it did not grow), and adds Σ x to *z
// (each vector's f32 sum, then the tail, in double). The path of every element
// depends on its index and n only.
inline float exp_against_max(float* x, int64_t n, float scale, float* m, double* z) noexcept {
  float mx = -INFINITY;
  int64_t i = 0;
#if PLM_DETAIL_KERNELS_SIMD
  constexpr int64_t w = fwidth;
  const fbatch vs(scale);
  fbatch vm(-INFINITY);
  for (; i + w <= n; i += w) {
    const fbatch v = fbatch::load_unaligned(x + i) * vs;
    v.store_unaligned(x + i);
    vm = xsimd::max(vm, v);
  }
  alignas(64) float tmp[64];
  vm.store_aligned(tmp);
  for (int64_t k = 0; k < w; ++k) mx = tmp[k] > mx ? tmp[k] : mx;
#endif
  for (; i < n; ++i) {
    x[i] *= scale;
    if (x[i] > mx) mx = x[i];
  }
  float f = 1.0f;
  if (mx > *m) {
    if (*m != -INFINITY) f = std::exp(*m - mx);
    *m = mx;
  }
  const float mm = *m;
  double sum = 0.0;
  i = 0;
#if PLM_DETAIL_KERNELS_SIMD
  const fbatch bm(mm);
  for (; i + w <= n; i += w) {
    const fbatch e = xsimd::exp(fbatch::load_unaligned(x + i) - bm);
    e.store_unaligned(x + i);
    sum += static_cast<double>(xsimd::hadd(e));
  }
#endif
  for (; i < n; ++i) {
    x[i] = std::exp(x[i] - mm);
    sum += static_cast<double>(x[i]);
  }
  *z = *z * static_cast<double>(f) + sum;
  return f;
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

/// Cache positions per split: the softmax over a context is the ordered merge
/// of the softmaxes over [0, S), [S, 2S), ... - fixed, so the arithmetic never
/// depends on how many threads share the splits (flash-decoding: a decode step
/// runs its splits in parallel, each over all heads, so every cache row is read
/// and converted once per token). A multiple of the chunk; 512 was no faster
/// and balances worse over 2 threads.
inline constexpr int64_t latent_attention_split = 256;

/// Floats of one split's partial result for n_q queries and n_heads heads:
/// per (query, head) the maximum score, the double sum of exp(score − max) and
/// the unnormalised output (d_latent). A multiple of 16 floats, so partials
/// laid out one after the other from a 64-byte aligned base stay aligned.
inline size_t latent_attention_partial_floats(const latent_attention_shape& shape, int64_t n_q, int64_t n_heads) noexcept {
  const int64_t n = n_q * n_heads;
  return static_cast<size_t>((3 * n + 15) / 16 * 16 + (n * shape.d_latent + 15) / 16 * 16);
}

namespace detail {
// Layout of a partial (64-byte aligned): [n] double sums, [n] float maxima,
// then from a multiple of 16 floats [n][d_latent] outputs, n = n_q · n_heads.
inline double* partial_sum(float* p) noexcept { return reinterpret_cast<double*>(p); }
inline const double* partial_sum(const float* p) noexcept { return reinterpret_cast<const double*>(p); }
inline int64_t partial_out_offset(int64_t n) noexcept { return (3 * n + 15) / 16 * 16; }
inline float* align64(float* p) noexcept {
  return reinterpret_cast<float*>((reinterpret_cast<uintptr_t>(p) + 63) & ~static_cast<uintptr_t>(63));
}
// Floats of the pass over one split: a chunk of f32 rows, the packed queries,
// the chunk's scores (and 16 to align the start).
inline int64_t span_scratch(const latent_attention_shape& shape, int64_t n) noexcept {
  const int64_t row16 = (shape.row() + 15) / 16 * 16;
  return 16 + (att_chunk + n) * row16 + n * att_chunk;
}

// Folds a partial (m_p, z_p, o_p) into the running (m, z, acc): the larger
// maximum is kept and the other side scaled by exp(its max − it). Explicit
// fmas, so the result is the same wherever the fold is compiled in.
inline void fold_partial(float* acc, float& m, double& z, const float* o_p, float m_p, double z_p, int64_t dl) noexcept {
  if (m_p == -INFINITY) return;  // the split held no row this query sees
  if (m_p > m) {
    const float f = std::exp(m - m_p);
    for (int64_t c = 0; c < dl; ++c) acc[c] = std::fma(acc[c], f, o_p[c]);
    z = std::fma(z, static_cast<double>(f), z_p);
    m = m_p;
  } else {
    const float f = std::exp(m_p - m);
    for (int64_t c = 0; c < dl; ++c) acc[c] = std::fma(o_p[c], f, acc[c]);
    z = std::fma(z_p, static_cast<double>(f), z);
  }
}
// Entry k (of n = n_q · n_heads) of partial p into the running (acc, m, z): the
// first split's entry starts them, later ones are folded in.
inline void fold_split(const float* p, int64_t n, int64_t k, int64_t dl, bool first, float* acc, float& m,
                       double& z) noexcept {
  const float* o_p = p + partial_out_offset(n) + k * dl;
  const float m_p = (p + 2 * n)[k];
  const double z_p = partial_sum(p)[k];
  if (first) {
    m = m_p;
    z = z_p;
    std::memcpy(acc, o_p, static_cast<size_t>(dl) * sizeof(float));
  } else {
    fold_partial(acc, m, z, o_p, m_p, z_p, dl);
  }
}
}  // namespace detail

/// Floats of scratch latent_attention(_causal) needs for `n_heads` heads and
/// `n_q` queries (latent_attention_partial needs no more): a chunk of f32 rows,
/// the packed queries, the chunk's scores, one split's partial and the running
/// maxima and sums. Independent of the context length.
inline size_t latent_attention_scratch(const latent_attention_shape& shape, int64_t n_heads, int64_t n_q = 1) noexcept {
  const int64_t n = n_q * n_heads;
  return static_cast<size_t>(detail::span_scratch(shape, n) + 16 + static_cast<int64_t>(latent_attention_partial_floats(shape, n_q, n_heads)) +
                             3 * n + 2);
}

/// Partial causal attention over split `split` of the cache, positions
/// [split·S, min((split + 1)·S, n_kv0 + n_q − 1)), S = latent_attention_split:
/// arguments as latent_attention_causal's, the result into `partial`
/// (latent_attention_partial_floats(shape, n_q, h1 − h0) floats, 64-byte
/// aligned) for query i and head h0 + h at index i·(h1 − h0) + h. A query that
/// sees no row of the split gets maximum −∞, sum 0 and output 0. Per (query,
/// head) the arithmetic depends on neither the other queries nor heads of the
/// call. scratch: latent_attention_scratch(shape, h1 − h0, n_q) floats.
inline void latent_attention_partial(const latent_attention_shape& shape, int64_t n_q, const float* q_lat,
                                     int64_t q_lat_stride, const float* q_rope, int64_t q_rope_stride_q,
                                     int64_t q_rope_stride, const void* cache, dtype cache_type, int64_t n_kv0,
                                     int64_t split, float* partial, int64_t h0, int64_t h1, float* scratch) noexcept {
  using detail::att_chunk;
  using detail::att_group;
  using detail::att_rb;
  const int64_t dl = shape.d_latent, dr = shape.d_rope, row = shape.row(), row16 = (row + 15) / 16 * 16;
  const int64_t nh = h1 - h0, n_kv_max = n_kv0 + n_q - 1;
  const int64_t t_begin = split * latent_attention_split, t_end = std::min(n_kv_max, t_begin + latent_attention_split);
  // 64-byte aligned (a vector split over two cache lines costs two loads):
  float* chunk = detail::align64(scratch);         // [att_chunk][row] f32 rows of a non-f32 cache
  float* qp = chunk + att_chunk * row16;           // [n_q][nh][row16] queries as [q_lat | q_rope]
  float* prob = qp + n_q * nh * row16;             // [n_q][nh][att_chunk] scores, then exp(score − max)
  double* run_sum = detail::partial_sum(partial);  // [n_q][nh]
  float* run_max = partial + 2 * n_q * nh;         // [n_q][nh]
  float* outp = partial + detail::partial_out_offset(n_q * nh);  // [n_q][nh][dl]
  auto pr = [&](int64_t i, int64_t h) { return prob + (i * nh + h) * att_chunk; };
  auto o = [&](int64_t i, int64_t h) { return outp + (i * nh + h) * dl; };
  // visible rows of query i within the rows starting at t0 (nt of them)
  auto visible = [&](int64_t i, int64_t t0, int64_t nt) { return std::max<int64_t>(0, std::min(nt, n_kv0 + i - t0)); };
  for (int64_t i = 0; i < n_q; ++i)
    for (int64_t h = 0; h < nh; ++h) {
      float* q = qp + (i * nh + h) * row16;
      std::memcpy(q, q_lat + i * q_lat_stride + (h0 + h) * dl, static_cast<size_t>(dl) * sizeof(float));
      std::memcpy(q + dl, q_rope + i * q_rope_stride_q + (h0 + h) * q_rope_stride, static_cast<size_t>(dr) * sizeof(float));
      std::fill(o(i, h), o(i, h) + dl, 0.0f);
      run_max[i * nh + h] = -INFINITY;
      run_sum[i * nh + h] = 0.0;
    }
#if PLM_DETAIL_KERNELS_SIMD
  // value column ranges: att_cb vectors each (the last takes the rest)
  const int64_t span = detail::att_cb * detail::fwidth;
#else
  const int64_t span = dl;
#endif

  for (int64_t t0 = t_begin; t0 < t_end; t0 += att_chunk) {
    const int64_t nt = std::min(att_chunk, t_end - t0);
    const float* rows = nullptr;
    // scores, att_group rows (converted just before) × att_group heads at a time,
    // so that both stay in L1, in micro-kernel blocks of att_rb rows × att_hb heads
    for (int64_t g0 = 0; g0 < nt; g0 += att_group) {
      const int64_t ng = std::min(att_group, nt - g0);
      const float* grp = detail::cache_rows_f32(shape, cache, cache_type, t0 + g0, ng, t_end, chunk + g0 * row);
      if (g0 == 0) rows = grp;
      for (int64_t i = 0; i < n_q; ++i) {
        const int64_t vg = std::min(ng, visible(i, t0, nt) - g0);
        for (int64_t hg = 0; vg > 0 && hg < nh; hg += att_group)
          for (int64_t k0 = 0; k0 < vg; k0 += att_rb) {
            const int64_t vk = std::min<int64_t>(att_rb, vg - k0);
            const float* rk[att_rb];
            for (int k = 0; k < att_rb; ++k) rk[k] = grp + (k0 + std::min<int64_t>(k, vk - 1)) * row;  // past vk: repeats, unused
            detail::for_head_blocks<detail::att_hb>(hg, std::min(nh, hg + att_group), [&](auto hb, int64_t hf) {
              constexpr int HB = decltype(hb)::value;
              float sc[HB * att_rb];
              detail::score_block<HB>(qp + (i * nh + hf) * row16, row16, rk, row, sc);
              for (int h = 0; h < HB; ++h)
                for (int64_t k = 0; k < vk; ++k) pr(i, hf + h)[g0 + k0 + k] = sc[h * att_rb + k];
            });
          }
      }
    }
    // exp against the running maximum; what was accumulated is rescaled if it grew
    for (int64_t i = 0; i < n_q; ++i) {
      const int64_t vt = visible(i, t0, nt);
      for (int64_t h = 0; vt > 0 && h < nh; ++h) {
        const float f = detail::exp_against_max(pr(i, h), vt, shape.scale, &run_max[i * nh + h], &run_sum[i * nh + h]);
        if (f != 1.0f) scale(o(i, h), f, dl);
      }
    }
    // values: [heads of query i] × [visible rows] · [rows × dl], a column range at a
    // time so that its rows stay in L1 for all head blocks
    for (int64_t c0 = 0; c0 < dl; c0 += span) {
      const int64_t c1 = dl - c0 < 2 * span ? dl : c0 + span;
      for (int64_t i = 0; i < n_q; ++i) {
        const int64_t vt = visible(i, t0, nt);
        if (vt == 0) continue;
        detail::for_head_blocks<detail::att_vhb>(0, nh, [&](auto hb, int64_t hf) {
          constexpr int HB = decltype(hb)::value;
          detail::value_block<HB>(pr(i, hf), att_chunk, rows, row, vt, o(i, hf), dl, c0, c1);
        });
      }
      if (c1 == dl) break;
    }
  }
}

/// Number of splits latent_attention_partial covers for queries whose last
/// one sees n_kv_max rows.
inline int64_t latent_attention_splits(int64_t n_kv_max) noexcept {
  return (n_kv_max + latent_attention_split - 1) / latent_attention_split;
}

/// Merges the partials of splits 0, 1, ..., n_split − 1 (partial s at
/// partials + s·partial_stride floats, each for n_q queries and n_heads heads)
/// in that order, for heads [hm0, hm1) of the partials, and writes the
/// normalised result of query i, partial head h to out + i·out_stride + (h0 + h)·d_latent.
/// Heads are independent, so any split of [0, n_heads) over calls gives the same bits.
inline void latent_attention_merge(const latent_attention_shape& shape, int64_t n_q, int64_t n_heads, const float* partials,
                                   size_t partial_stride, int64_t n_split, float* out, int64_t out_stride, int64_t h0,
                                   int64_t hm0, int64_t hm1) noexcept {
  const int64_t dl = shape.d_latent, n = n_q * n_heads;
  for (int64_t i = 0; i < n_q; ++i)
    for (int64_t h = hm0; h < hm1; ++h) {
      const int64_t k = i * n_heads + h;
      float* acc = out + i * out_stride + (h0 + h) * dl;
      float m = 0.0f;
      double z = 0.0;
      for (int64_t s = 0; s < n_split; ++s)
        detail::fold_split(partials + static_cast<size_t>(s) * partial_stride, n, k, dl, s == 0, acc, m, z);
      scale(acc, static_cast<float>(1.0 / z), dl);
    }
}

/// Causal attention of n_q consecutive absorbed queries for heads [h0, h1):
/// query i attends to cache rows [0, n_kv0 + i). Each cache row is read (and
/// converted) once for all queries and heads of the call. The splits of
/// latent_attention_split positions are computed one after the other and merged
/// in order as they come, with latent_attention_merge's arithmetic: the result
/// equals latent_attention_partial over every split then latent_attention_merge,
/// bit for bit, and per query, head and position the arithmetic is that of the
/// one-query call, so blocking queries or heads never changes a result.
///   q_lat: query i, head h at q_lat + i·q_lat_stride + h·d_latent
///   q_rope: query i, head h at q_rope + i·q_rope_stride_q + h·q_rope_stride (d_rope values)
///   out: query i, head h at out + i·out_stride + h·d_latent (only heads h0..h1 written)
///   scratch: latent_attention_scratch(shape, h1 - h0, n_q) floats; n_kv0 ≥ 1.
inline void latent_attention_causal(const latent_attention_shape& shape, int64_t n_q, const float* q_lat,
                                    int64_t q_lat_stride, const float* q_rope, int64_t q_rope_stride_q,
                                    int64_t q_rope_stride, const void* cache, dtype cache_type, int64_t n_kv0,
                                    float* out, int64_t out_stride, int64_t h0, int64_t h1, float* scratch) noexcept {
  const int64_t dl = shape.d_latent, nh = h1 - h0, n = n_q * nh;
  float* part = detail::align64(scratch + detail::span_scratch(shape, n));
  float* run_max = part + latent_attention_partial_floats(shape, n_q, nh);  // [n_q][nh]
  double* run_sum = reinterpret_cast<double*>(                               // [n_q][nh], 8-byte aligned
      (reinterpret_cast<uintptr_t>(run_max + n) + alignof(double) - 1) & ~static_cast<uintptr_t>(alignof(double) - 1));
  const int64_t n_split = latent_attention_splits(n_kv0 + n_q - 1);
  for (int64_t s = 0; s < n_split; ++s) {
    latent_attention_partial(shape, n_q, q_lat, q_lat_stride, q_rope, q_rope_stride_q, q_rope_stride, cache, cache_type,
                             n_kv0, s, part, h0, h1, scratch);
    for (int64_t i = 0; i < n_q; ++i)
      for (int64_t h = 0; h < nh; ++h) {
        const int64_t k = i * nh + h;
        detail::fold_split(part, n, k, dl, s == 0, out + i * out_stride + (h0 + h) * dl, run_max[k], run_sum[k]);
      }
  }
  for (int64_t i = 0; i < n_q; ++i)
    for (int64_t h = 0; h < nh; ++h)
      scale(out + i * out_stride + (h0 + h) * dl, static_cast<float>(1.0 / run_sum[i * nh + h]), dl);
}

/// Attention of one absorbed query over cache rows [0, n_kv) for heads [h0, h1).
/// q_lat: [n_head][d_latent], q_rope: head h at q_rope + h·q_rope_stride (d_rope
/// values, so the roped parts can stay inside the projected q), cache: [n_kv][row] of
/// cache_type, out: [n_head][d_latent] (only heads h0..h1 written). scratch:
/// latent_attention_scratch(shape, h1 - h0) floats. n_kv ≥ 1.
inline void latent_attention(const latent_attention_shape& shape, const float* q_lat, const float* q_rope,
                             int64_t q_rope_stride, const void* cache, dtype cache_type, int64_t n_kv, float* out,
                             int64_t h0, int64_t h1, float* scratch) noexcept {
  latent_attention_causal(shape, 1, q_lat, 0, q_rope, 0, q_rope_stride, cache, cache_type, n_kv, out, 0, h0, h1, scratch);
}

}  // namespace plm::kernels
