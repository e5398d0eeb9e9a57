// plm/kernels/tiled.hpp - weight matrices repacked in tiles of 16 rows.
//
// Why: a row-major q8_0 row dot must reduce every 32-weight block across the
// register and scale it by that block's own f16 scale: about a dozen
// instructions per 34 bytes, which held one core at 8-9 GB/s from DRAM, half
// of what it streams (bench_matvec, Sapphire Rapids). In a tile, block b of 16
// consecutive rows is stored together:
//
//   [16 x f16 scale d] [group 0: 16 rows x 4 bytes] ... [group G-1: 16 rows x 4 bytes]
//
// q8_0: G = 8, group g holds quants 4g..4g+3 of each row (int8).
// q4_0: G = 4, group g holds bytes qs[4g..4g+3] of each row, whose low nibbles
//       are elements 4g..4g+3 and high nibbles elements 16+4g..16+4g+3.
//
// One 64-byte vector then holds the same 4 elements of 16 rows (AVX-512: one
// zmm; AVX2: two ymm; NEON: four q registers), the activation's 4 matching
// bytes are broadcast, and a 4-way int8 dot (VPDPBUSD, SDOT) accumulates the
// 16 rows side by side: no horizontal sums, one instruction for 16 scales. A
// block tile has the bytes of 16 blocks, so the repack costs no memory beside
// the copy (model/weights.hpp makes it at load time).
//
// Activations are prepared q8_0 vectors with their per-block f32 scale and
// -128 x their exact quant sum (matvec_ref.hpp): the x86 kernels feed the
// weights to VPDPBUSD as unsigned (q8_0: q + 128; q4_0: the nibble q + 8, times
// 16 on AVX-512) and start each block's integer sum at that offset (/ 16 for
// plain nibbles), so every block's integer dot equals the reference's exactly
// (times 16 for AVX-512 q4_0, which its f32 scale takes back exactly). Per row: acc += (d_w * d_x) * isum, blocks in
// order; a row's result does not depend on the row range, the thread count or
// the number of tokens computed together.
//
// f16 / bf16 (AVX-512 builds): a block tile is one column, [16 rows] half, so
// one 32-byte load converts to the 16 rows' weight k, multiplied by token t's
// broadcast x[k] into a 16-row accumulator: an outer-product GEMM with no
// horizontal sums, one conversion shared by up to 12 tokens (the row-major
// kernel re-read every token's f32 activation per row from L2: ~61 GFLOP/s per
// core in prefill). Each token sums its even and its odd k in two f32 FMA
// chains, added at the end, whatever the number of tokens computed together.
//
// Rows after the last full tile (ne[1] % 16) stay row-major behind the tiles.
#pragma once

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>

#include "plm/core/dtype.hpp"
#include "plm/core/tensor.hpp"
#include "plm/kernels/arch/x86_avx512.hpp"
#include "plm/kernels/matvec_ref.hpp"
#include "plm/quant/blocks.hpp"
#include "plm/quant/dequantize.hpp"
#include "plm/quant/half.hpp"

#if defined(__AVX512F__) && defined(__AVX512BW__) && defined(__AVX512VNNI__) && defined(__AVX512VL__) && \
    defined(__F16C__) && defined(__FMA__)
#define PLM_DETAIL_TILED_AVX512 1
#include <immintrin.h>
#else
#define PLM_DETAIL_TILED_AVX512 0
#endif
#if !PLM_DETAIL_TILED_AVX512 && defined(__AVX2__) && defined(__F16C__) && defined(__FMA__)
#define PLM_DETAIL_TILED_AVX2 1
#include <immintrin.h>
#else
#define PLM_DETAIL_TILED_AVX2 0
#endif
#if defined(__aarch64__) && defined(__ARM_NEON)
#define PLM_DETAIL_TILED_NEON 1
#include <arm_neon.h>
#else
#define PLM_DETAIL_TILED_NEON 0
#endif

// GCC 12 warns about the _mm512_undefined_* placeholders of its own intrinsics (PR 105593).
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC diagnostic ignored "-Wuninitialized"
#endif

namespace plm::kernels {

/// Rows per tile.
inline constexpr int64_t tile_rows = 16;

/// Types with a tiled layout (tile_weights, tiled matvec / matmul, dequantize_weight_row).
constexpr bool has_tile_layout(dtype t) noexcept {
  return t == dtype::q8_0 || t == dtype::q4_0 || t == dtype::q4_k || t == dtype::q6_k || t == dtype::f16 ||
         t == dtype::bf16;
}

/// Types whose tiles the engine should use in this build: q8_0 and q4_0
/// everywhere (every ISA has a tile kernel); q4_K, q6_K, f16 and bf16 where
/// their tile kernels are compiled in (AVX-512 VNNI), the row-major kernels elsewhere.
constexpr bool tileable(dtype t) noexcept {
  return t == dtype::q8_0 || t == dtype::q4_0 ||
         ((t == dtype::q4_k || t == dtype::q6_k || t == dtype::f16 || t == dtype::bf16) && PLM_DETAIL_TILED_AVX512);
}

namespace detail {

constexpr bool is_half(dtype t) noexcept { return t == dtype::f16 || t == dtype::bf16; }
inline float half_value(dtype t, uint16_t h) noexcept { return t == dtype::f16 ? fp16_to_fp32(h) : bf16_to_fp32(h); }

/// Tokens one tile kernel call handles at most: 12 for f16 / bf16 (one
/// conversion per weight vector shared by up to 12 FMAs); 8 for q8_0 / q4_0 on
/// AVX-512 (more independent VPDPBUSD chains: 338 -> 383 GFLOP/s in a 64-token
/// GEMM), else 4 (AVX2 / NEON have half the vector registers); 4 for q4_K / q6_K.
inline constexpr int tile_max_tokens = 12;
inline constexpr int tile_quant_tokens = PLM_DETAIL_TILED_AVX512 ? 8 : 4;
constexpr int tile_tokens(dtype t) noexcept {
  return is_half(t) ? 12 : (t == dtype::q8_0 || t == dtype::q4_0) ? tile_quant_tokens : 4;
}

/// 4-byte groups per block (and 64-byte vectors per block tile) of q8_0 / q4_0.
constexpr int tile_groups(dtype t) noexcept { return t == dtype::q8_0 ? 8 : 4; }
/// Bytes of one block tile (16 rows x one block). q8_0 / q4_0: 16 blocks; f16 /
/// bf16: one column of 16 values. q4_K
/// (one 256-element super-block of 16 rows):
///   [16 x f16 d] [16 x f16 dmin] [8 sub-blocks][16 rows] u8 scale
///   [8][16] u8 min [4 chunks][8 groups][16 rows][4 bytes] quants
/// where chunk c group g holds bytes qs[32c+4g .. +4) of each row: low nibbles
/// are elements 64c+4g.., sub-block 2c; high nibbles 64c+32+4g.., sub-block 2c+1.
/// The 6-bit scales and mins are stored unpacked: 2368 bytes instead of 2304.
/// q6_K (3360 bytes, as 16 blocks):
///   [16 x f16 d] [16 sub-blocks][16 rows] int8 scale
///   then for h = 0, 1 and g = 0..7, three [16 rows][4 bytes] vectors: bytes
///   ql[64h+4g..], ql[64h+32+4g..], qh[32h+4g..] of each row, which hold the
///   6-bit quants of elements 128h + 32k + 4g .. +3 for k = 0..3 (ggml's split:
///   nibble of ql, 2 bits of qh at bit 2k).
constexpr size_t tile_block_bytes(dtype t) noexcept {
  return t == dtype::q4_k ? 2368 : static_cast<size_t>(tile_rows) * block_bytes(t);
}
constexpr size_t q4k_tile_dmin = 32, q4k_tile_sc = 64, q4k_tile_m = 192, q4k_tile_qs = 320;
constexpr size_t q6k_tile_sc = 32, q6k_tile_qs = 288;

inline int32_t load_i32(const void* p) noexcept {
  int32_t v;
  std::memcpy(&v, p, sizeof v);
  return v;
}

/// Quant k (0..31) of row i (0..15) in block tile p.
inline int tiled_quant(dtype t, const uint8_t* p, int i, int k) noexcept {
  const uint8_t* q = p + 32;
  if (t == dtype::q8_0) return static_cast<int8_t>(q[(k / 4) * 64 + i * 4 + k % 4]);
  const int kk = k % 16;
  const uint8_t byte = q[(kk / 4) * 64 + i * 4 + kk % 4];
  return (k < 16 ? (byte & 0x0f) : (byte >> 4)) - 8;
}
inline uint16_t tiled_scale(const uint8_t* p, int i) noexcept {
  uint16_t d;
  std::memcpy(&d, p + 2 * i, 2);
  return d;
}

/// Quant e (0..255, unsigned 0..15) of row i in q4_K block tile p.
inline int tiled_quant_q4k(const uint8_t* p, int i, int e) noexcept {
  const int c = e / 64, h = (e / 32) % 2, l = e % 32;
  const uint8_t byte = p[q4k_tile_qs + static_cast<size_t>((c * 8 + l / 4) * 64 + i * 4 + l % 4)];
  return h ? byte >> 4 : byte & 0x0f;
}

/// Quant e (0..255, unsigned 0..63, i.e. q + 32) of row i in q6_K block tile p.
inline int tiled_quant_q6k(const uint8_t* p, int i, int e) noexcept {
  const int h = e / 128, k = (e / 32) % 4, l = e % 32, g = l / 4;
  const uint8_t* v = p + q6k_tile_qs + static_cast<size_t>((h * 8 + g) * 3) * 64 + static_cast<size_t>(i * 4 + l % 4);
  const uint8_t lq = v[(k & 1) * 64], hq = v[128];
  return ((k < 2 ? lq & 0x0f : lq >> 4) | (((hq >> (2 * k)) & 3) << 4));
}

/// Token t's prepared q8_K activation blocks in X (tokens stride bytes apart).
inline const quant::block_q8_k* q8_k_token(const uint8_t* X, size_t stride, int t) noexcept {
  return reinterpret_cast<const quant::block_q8_k*>(X + static_cast<size_t>(t) * stride);
}

/// Portable q6_K tile kernel (the reference row dot's arithmetic, per row).
inline void tile_dot_ref_q6k(int64_t n, const uint8_t* tile, const uint8_t* X, size_t stride, int nt, float* out,
                             int64_t ostride) noexcept {
  const int64_t nb = n / quant::qk_k;
  for (int t = 0; t < nt; ++t) {
    const quant::block_q8_k* y = q8_k_token(X, stride, t);
    for (int i = 0; i < tile_rows; ++i) {
      float acc = 0.0f;
      for (int64_t b = 0; b < nb; ++b) {
        const uint8_t* p = tile + static_cast<size_t>(b) * 3360;
        int32_t isum = 0;
        for (int j = 0; j < 16; ++j) {
          int32_t sub = 0;
          for (int k = 0; k < 16; ++k) sub += (tiled_quant_q6k(p, i, 16 * j + k) - 32) * y[b].qs[16 * j + k];
          isum += static_cast<int8_t>(p[q6k_tile_sc + 16 * j + i]) * sub;
        }
        acc += fp16_to_fp32(tiled_scale(p, i)) * y[b].d * static_cast<float>(isum);
      }
      out[t * ostride + i] = acc;
    }
  }
}

/// Portable q4_K tile kernel (the reference row dot's arithmetic, per row).
inline void tile_dot_ref_q4k(int64_t n, const uint8_t* tile, const uint8_t* X, size_t stride, int nt, float* out,
                             int64_t ostride) noexcept {
  const int64_t nb = n / quant::qk_k;
  for (int t = 0; t < nt; ++t) {
    const quant::block_q8_k* y = q8_k_token(X, stride, t);
    for (int i = 0; i < tile_rows; ++i) {
      float acc = 0.0f;
      for (int64_t b = 0; b < nb; ++b) {
        const uint8_t* p = tile + static_cast<size_t>(b) * 2368;
        int32_t isum = 0, msum = 0;
        for (int j = 0; j < 8; ++j) {
          int32_t sub = 0;
          for (int k = 0; k < 32; ++k) sub += tiled_quant_q4k(p, i, 32 * j + k) * y[b].qs[32 * j + k];
          isum += p[q4k_tile_sc + 16 * j + i] * sub;
          msum += p[q4k_tile_m + 16 * j + i] * (y[b].bsums[2 * j] + y[b].bsums[2 * j + 1]);
        }
        acc += fp16_to_fp32(tiled_scale(p, i)) * y[b].d * static_cast<float>(isum);
        acc -= fp16_to_fp32(tiled_scale(p + q4k_tile_dmin, i)) * y[b].d * static_cast<float>(msum);
      }
      out[t * ostride + i] = acc;
    }
  }
}

/// Portable f16 / bf16 tile kernel: per row, even and odd k in two fused
/// multiply-add chains, then their sum (the AVX-512 kernel's arithmetic, bit for bit).
inline void tile_dot_ref_half(dtype type, int64_t n, const uint8_t* tile, const uint8_t* X, size_t stride, int nt,
                              float* out, int64_t ostride) noexcept {
  for (int t = 0; t < nt; ++t) {
    const auto* x = reinterpret_cast<const float*>(X + static_cast<size_t>(t) * stride);
    for (int i = 0; i < tile_rows; ++i) {
      float chain[2] = {0.0f, 0.0f};
      for (int64_t k = 0; k < n; ++k) {
        uint16_t h;
        std::memcpy(&h, tile + static_cast<size_t>(k) * 2 * tile_rows + 2 * static_cast<size_t>(i), 2);
        chain[k % 2] = std::fma(half_value(type, h), x[k], chain[k % 2]);
      }
      out[t * ostride + i] = chain[0] + chain[1];
    }
  }
}

/// Portable tile kernel: out[t * ostride + i] = row i . token t for nt tokens.
inline void tile_dot_ref(dtype type, int64_t n, const uint8_t* tile, const uint8_t* X, size_t stride, int nt, float* out,
                         int64_t ostride) noexcept {
  if (is_half(type)) return tile_dot_ref_half(type, n, tile, X, stride, nt, out, ostride);
  if (type == dtype::q4_k) return tile_dot_ref_q4k(n, tile, X, stride, nt, out, ostride);
  if (type == dtype::q6_k) return tile_dot_ref_q6k(n, tile, X, stride, nt, out, ostride);
  const int64_t nb = n / quant::qk32;
  const size_t bt = tile_block_bytes(type);
  for (int t = 0; t < nt; ++t) {
    const q8_0_activation a = view_q8_0_activation(X + static_cast<size_t>(t) * stride, n);
    for (int i = 0; i < tile_rows; ++i) {
      float acc = 0.0f;
      for (int64_t b = 0; b < nb; ++b) {
        const uint8_t* p = tile + static_cast<size_t>(b) * bt;
        int32_t isum = 0;
        for (int k = 0; k < quant::qk32; ++k) isum += tiled_quant(type, p, i, k) * a.blocks[b].qs[k];
        acc += (fp16_to_fp32(tiled_scale(p, i)) * a.d[b]) * static_cast<float>(isum);
      }
      out[t * ostride + i] = acc;
    }
  }
}

#if PLM_DETAIL_TILED_AVX512 || PLM_DETAIL_TILED_AVX2
/// Asks for every 64-byte line of [p, p + bytes), into L1 (Hint _MM_HINT_T0) or L2 (_MM_HINT_T1).
template <int Hint>
inline void prefetch_lines(const uint8_t* p, size_t bytes) noexcept {
  static_assert(Hint == _MM_HINT_T0 || Hint == _MM_HINT_T1, "T0 or T1");
  for (size_t o = 0; o < bytes; o += 64) {
    if constexpr (Hint == _MM_HINT_T1) _mm_prefetch(reinterpret_cast<const char*>(p) + o, _MM_HINT_T1);
    else _mm_prefetch(reinterpret_cast<const char*>(p) + o, _MM_HINT_T0);
  }
}
#endif

#if PLM_DETAIL_TILED_AVX512
/// f16 x 16 at p (block scales) as f32.
inline __m512 f16x16(const uint8_t* p) noexcept { return arch::x86_512::cvt_f16::load16(reinterpret_cast<const uint16_t*>(p)); }

/// Bytes ahead of the current block tile to prefetch, into L2 (T1): the L1 fill
/// buffers are too few to cover DRAM latency at full speed, the L2 queue is not.
/// One core, 2048 x 8192 from DRAM (bench_matvec): q4_0 12.4 -> 14.0-14.7 GB/s,
/// q8_0 14.8 -> 15.5, f16 13.0-13.6 -> 14.4, against 2 KiB into L1.
inline constexpr size_t tile_prefetch = 4096;

// Weight unpacking of one block tile into the 8 unsigned vectors VPDPBUSD
// takes, each 16 rows x 4 quants as scale * (q + bias) with scale * bias = 128,
// so that every block's integer dot starts at the activation's -128 * sum(y)
// (broadcast from memory: no shuffle-port work per token) and ends at
// scale * sum(q y). The f32 block scale absorbs 1 / scale (exact: a power of two).
struct tile512_q8_0 {
  static constexpr size_t bytes = 544;
  static constexpr float inv_scale = 1.0f;
  static void unpack(const uint8_t* q, __m512i* w) noexcept {
    const __m512i flip = _mm512_set1_epi8(static_cast<char>(0x80));
    for (int g = 0; g < 8; ++g) w[g] = _mm512_xor_si512(_mm512_loadu_si512(q + 64 * g), flip);  // q + 128
  }
  static constexpr int y_offset(int v) noexcept { return 4 * v; }
};
struct tile512_q4_0 {
  static constexpr size_t bytes = 288;
  static constexpr float inv_scale = 1.0f / 16;
  static void unpack(const uint8_t* q, __m512i* w) noexcept {  // 16 * nibble = 16 * (q + 8)
    const __m512i hi4 = _mm512_set1_epi8(static_cast<char>(0xf0));
    for (int g = 0; g < 4; ++g) {
      const __m512i v = _mm512_loadu_si512(q + 64 * g);
      w[2 * g] = _mm512_and_si512(_mm512_slli_epi16(v, 4), hi4);
      w[2 * g + 1] = _mm512_and_si512(v, hi4);
    }
  }
  static constexpr int y_offset(int v) noexcept { return (v % 2 ? 16 : 0) + 4 * (v / 2); }
};

template <class K, int NT>
inline void tile_dot_avx512(int64_t n, const uint8_t* p, const uint8_t* X, size_t stride, float* out,
                            int64_t ostride) noexcept {
  const int64_t nb = n / quant::qk32;
  q8_0_activation a[NT];
  for (int t = 0; t < NT; ++t) a[t] = view_q8_0_activation(X + static_cast<size_t>(t) * stride, n);
  __m512 acc[NT];
  for (int t = 0; t < NT; ++t) acc[t] = _mm512_setzero_ps();
  for (int64_t b = 0; b < nb; ++b, p += K::bytes) {
    prefetch_lines<_MM_HINT_T1>(p + tile_prefetch, K::bytes);
    __m512 dw = f16x16(p);
    if (K::inv_scale != 1.0f) dw = _mm512_mul_ps(dw, _mm512_set1_ps(K::inv_scale));
    __m512i w[8];
    K::unpack(p + 32, w);
    for (int t = 0; t < NT; ++t) {
      const int8_t* y = a[t].blocks[b].qs;
      __m512i s0 = _mm512_set1_epi32(a[t].minus128_sum[b]), s1 = _mm512_setzero_si512();
      for (int v = 0; v < 8; v += 2) {  // two chains: half the dependent VPDPBUSD latency
        s0 = _mm512_dpbusd_epi32(s0, w[v], _mm512_set1_epi32(load_i32(y + K::y_offset(v))));
        s1 = _mm512_dpbusd_epi32(s1, w[v + 1], _mm512_set1_epi32(load_i32(y + K::y_offset(v + 1))));
      }
      const __m512 d = _mm512_mul_ps(dw, _mm512_set1_ps(a[t].d[b]));
      acc[t] = _mm512_fmadd_ps(d, _mm512_cvtepi32_ps(_mm512_add_epi32(s0, s1)), acc[t]);
    }
  }
  for (int t = 0; t < NT; ++t) _mm512_storeu_ps(out + t * ostride, acc[t]);
}
/// q4_K tiles: per 32-element sub-block one VPDPBUSD chain per 16 rows and
/// token (nibbles are unsigned already; each weight vector unpacked once for
/// all NT tokens), then the rows' 6-bit scales applied in int32; the mins'
/// sum(m_j * (bsum_2j + bsum_2j+1)) by VPDPWSSD of (m_j, m_j) word pairs with
/// the token's bsum pair. All integer, so exactly the reference's block sums.
template <int NT>
inline void tile_dot_q4k_avx512(int64_t n, const uint8_t* p, const uint8_t* X, size_t stride, float* out,
                                int64_t ostride) noexcept {
  const int64_t nb = n / quant::qk_k;
  const quant::block_q8_k* y[NT];
  for (int t = 0; t < NT; ++t) y[t] = q8_k_token(X, stride, t);
  __m512 acc[NT];
  for (int t = 0; t < NT; ++t) acc[t] = _mm512_setzero_ps();
  const __m512i m4 = _mm512_set1_epi8(0x0f);
  for (int64_t b = 0; b < nb; ++b, p += 2368) {
    prefetch_lines<_MM_HINT_T1>(p + tile_prefetch, q4k_tile_qs);  // scales; the quants' lines one per load below
    const __m512 dd = f16x16(p), dm = f16x16(p + q4k_tile_dmin);
    __m512i isum[NT], msum[NT];
    for (int t = 0; t < NT; ++t) isum[t] = msum[t] = _mm512_setzero_si512();
    for (int c = 0; c < 4; ++c) {
      __m512i lo[NT], hi[NT];
      for (int t = 0; t < NT; ++t) lo[t] = hi[t] = _mm512_setzero_si512();
      for (int g = 0; g < 8; ++g) {
        _mm_prefetch(reinterpret_cast<const char*>(p) + tile_prefetch + q4k_tile_qs + 64 * (8 * c + g), _MM_HINT_T1);
        const __m512i v = _mm512_loadu_si512(p + q4k_tile_qs + 64 * (8 * c + g));
        const __m512i vl = _mm512_and_si512(v, m4), vh = _mm512_and_si512(_mm512_srli_epi16(v, 4), m4);
        for (int t = 0; t < NT; ++t) {
          lo[t] = _mm512_dpbusd_epi32(lo[t], vl, _mm512_set1_epi32(load_i32(y[t][b].qs + 64 * c + 4 * g)));
          hi[t] = _mm512_dpbusd_epi32(hi[t], vh, _mm512_set1_epi32(load_i32(y[t][b].qs + 64 * c + 32 + 4 * g)));
        }
      }
      const __m512i sl = _mm512_cvtepu8_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p + q4k_tile_sc + 32 * c)));
      const __m512i sh =
          _mm512_cvtepu8_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p + q4k_tile_sc + 32 * c + 16)));
      for (int t = 0; t < NT; ++t)
        isum[t] = _mm512_add_epi32(isum[t], _mm512_add_epi32(_mm512_mullo_epi32(lo[t], sl), _mm512_mullo_epi32(hi[t], sh)));
    }
    for (int j = 0; j < 8; ++j) {
      const __m512i m = _mm512_cvtepu8_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p + q4k_tile_m + 16 * j)));
      const __m512i mm = _mm512_or_si512(m, _mm512_slli_epi32(m, 16));  // (m, m) as two int16
      for (int t = 0; t < NT; ++t) msum[t] = _mm512_dpwssd_epi32(msum[t], mm, _mm512_set1_epi32(load_i32(y[t][b].bsums + 2 * j)));
    }
    for (int t = 0; t < NT; ++t) {
      const __m512 dy = _mm512_set1_ps(y[t][b].d);
      acc[t] = _mm512_add_ps(acc[t], _mm512_mul_ps(_mm512_mul_ps(dd, dy), _mm512_cvtepi32_ps(isum[t])));
      acc[t] = _mm512_sub_ps(acc[t], _mm512_mul_ps(_mm512_mul_ps(dm, dy), _mm512_cvtepi32_ps(msum[t])));
    }
  }
  for (int t = 0; t < NT; ++t) _mm512_storeu_ps(out + t * ostride, acc[t]);
}

/// q6_K tiles: the 6-bit quants of 4 elements x 16 rows rebuilt from ggml's
/// nibble + 2-bit split (unsigned, q + 32) once for all NT tokens, one VPDPBUSD
/// chain per 16-element sub-block and token starting at -32 * bsum, then the
/// rows' int8 scales in int32.
template <int NT>
inline void tile_dot_q6k_avx512(int64_t n, const uint8_t* p, const uint8_t* X, size_t stride, float* out,
                                int64_t ostride) noexcept {
  const int64_t nb = n / quant::qk_k;
  const quant::block_q8_k* y[NT];
  for (int t = 0; t < NT; ++t) y[t] = q8_k_token(X, stride, t);
  __m512 acc[NT];
  for (int t = 0; t < NT; ++t) acc[t] = _mm512_setzero_ps();
  const __m512i m4 = _mm512_set1_epi8(0x0f), m30 = _mm512_set1_epi8(0x30);
  for (int64_t b = 0; b < nb; ++b, p += 3360) {
    prefetch_lines<_MM_HINT_T1>(p + tile_prefetch, q6k_tile_qs);  // scales; the quants' lines with their first loads
    const __m512 dd = f16x16(p);
    __m512i isum[NT];
    for (int t = 0; t < NT; ++t) isum[t] = _mm512_setzero_si512();
    for (int h = 0; h < 2; ++h) {
      for (int half = 0; half < 2; ++half) {
        for (int k = 0; k < 4; ++k) {  // sub-block j = 8h + 2k + half: elements 128h + 32k + 16 half + [0, 16)
          const size_t j = static_cast<size_t>(8 * h + 2 * k + half);
          __m512i s[NT];
          for (int t = 0; t < NT; ++t) s[t] = _mm512_set1_epi32(-32 * y[t][b].bsums[j]);
          for (int g = 4 * half; g < 4 * half + 4; ++g) {
            const uint8_t* v = p + q6k_tile_qs + static_cast<size_t>((h * 8 + g) * 3) * 64;
            if (k == 0) prefetch_lines<_MM_HINT_T1>(v + tile_prefetch, 192);
            const __m512i l = _mm512_loadu_si512(v + 64 * (k & 1)), hb = _mm512_loadu_si512(v + 128);
            const __m512i lo4 = k < 2 ? _mm512_and_si512(l, m4) : _mm512_and_si512(_mm512_srli_epi16(l, 4), m4);
            const __m512i hi2 = k == 0   ? _mm512_slli_epi16(hb, 4)
                                : k == 1 ? _mm512_slli_epi16(hb, 2)
                                : k == 2 ? hb
                                         : _mm512_srli_epi16(hb, 2);
            const __m512i q = _mm512_or_si512(lo4, _mm512_and_si512(hi2, m30));
            for (int t = 0; t < NT; ++t)
              s[t] = _mm512_dpbusd_epi32(s[t], q, _mm512_set1_epi32(load_i32(y[t][b].qs + 128 * h + 32 * k + 4 * g)));
          }
          const __m512i sc = _mm512_cvtepi8_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p + q6k_tile_sc + 16 * j)));
          for (int t = 0; t < NT; ++t) isum[t] = _mm512_add_epi32(isum[t], _mm512_mullo_epi32(s[t], sc));
        }
      }
    }
    for (int t = 0; t < NT; ++t)
      acc[t] = _mm512_add_ps(acc[t], _mm512_mul_ps(_mm512_mul_ps(dd, _mm512_set1_ps(y[t][b].d)), _mm512_cvtepi32_ps(isum[t])));
  }
  for (int t = 0; t < NT; ++t) _mm512_storeu_ps(out + t * ostride, acc[t]);
}

/// f16 / bf16 tiles (C: arch::x86_512::cvt_f16 / cvt_bf16): per k, the 16 rows' weights converted once and multiplied
/// by each token's broadcast x[k]; even and odd k in separate accumulators
/// (2 NT chains hide the FMA latency even for one token).
template <class C, int NT>
inline void tile_dot_half_avx512(int64_t n, const uint8_t* p, const uint8_t* X, size_t stride, float* out,
                                 int64_t ostride) noexcept {
  const float* x[NT];
  for (int t = 0; t < NT; ++t) x[t] = reinterpret_cast<const float*>(X + static_cast<size_t>(t) * stride);
  __m512 e[NT], o[NT];
  for (int t = 0; t < NT; ++t) e[t] = o[t] = _mm512_setzero_ps();
  const auto* w = reinterpret_cast<const uint16_t*>(p);
  int64_t k = 0;
  for (; k + 2 <= n; k += 2, w += 2 * tile_rows) {
    prefetch_lines<_MM_HINT_T1>(reinterpret_cast<const uint8_t*>(w) + tile_prefetch, 64);
    const __m512 w0 = C::load16(w), w1 = C::load16(w + tile_rows);
    for (int t = 0; t < NT; ++t) {
      e[t] = _mm512_fmadd_ps(w0, _mm512_set1_ps(x[t][k]), e[t]);
      o[t] = _mm512_fmadd_ps(w1, _mm512_set1_ps(x[t][k + 1]), o[t]);
    }
  }
  if (k < n) {
    const __m512 w0 = C::load16(w);
    for (int t = 0; t < NT; ++t) e[t] = _mm512_fmadd_ps(w0, _mm512_set1_ps(x[t][k]), e[t]);
  }
  for (int t = 0; t < NT; ++t) _mm512_storeu_ps(out + t * ostride, _mm512_add_ps(e[t], o[t]));
}
template <int NT>
inline void tile_dot_half_fixed(dtype type, int64_t n, const uint8_t* p, const uint8_t* X, size_t stride, float* out,
                                int64_t ostride) noexcept {
  if (type == dtype::f16) tile_dot_half_avx512<arch::x86_512::cvt_f16, NT>(n, p, X, stride, out, ostride);
  else tile_dot_half_avx512<arch::x86_512::cvt_bf16, NT>(n, p, X, stride, out, ostride);
}
/// nt (1..12) tokens of an f16 / bf16 tile.
template <int NT = tile_max_tokens>
inline void tile_dot_half(dtype type, int64_t n, const uint8_t* p, const uint8_t* X, size_t stride, int nt, float* out,
                          int64_t ostride) noexcept {
  if constexpr (NT > 1) {
    if (nt < NT) return tile_dot_half<NT - 1>(type, n, p, X, stride, nt, out, ostride);
  }
  tile_dot_half_fixed<NT>(type, n, p, X, stride, out, ostride);
}
#endif  // PLM_DETAIL_TILED_AVX512

#if PLM_DETAIL_TILED_AVX2
inline constexpr size_t tile_prefetch = 2048;

/// acc + per-lane 4-way dot of w (unsigned bytes <= 255 with VNNI, else signed q8_0 or
/// nibbles, see `flip`) with the broadcast activation bytes y4.
template <bool Signed>
inline __m256i tile_dot4_avx2(__m256i acc, __m256i w, __m256i y4) noexcept {
#if (defined(__AVX512VNNI__) && defined(__AVX512VL__))
  return _mm256_dpbusd_epi32(acc, w, y4);
#elif defined(__AVXVNNI__)
  return _mm256_dpbusd_avx_epi32(acc, w, y4);
#else
  // No VNNI: u8 x s8 pairs through VPMADDUBSW must stay below 2^15. Signed q8_0
  // weights go as |w| (u8, so -128 is 128) x (y with w's sign) (<= 128 * 127 * 2);
  // nibbles (<= 15) as they are.
  const __m256i ones = _mm256_set1_epi16(1);
  __m256i p16;
  if (Signed) p16 = _mm256_maddubs_epi16(_mm256_sign_epi8(w, w), _mm256_sign_epi8(y4, w));  // y is never -128
  else p16 = _mm256_maddubs_epi16(w, y4);
  return _mm256_add_epi32(acc, _mm256_madd_epi16(p16, ones));
#endif
}
#if (defined(__AVX512VNNI__) && defined(__AVX512VL__)) || defined(__AVXVNNI__)
inline constexpr bool tile_avx2_vnni = true;
#else
inline constexpr bool tile_avx2_vnni = false;
#endif

// As tile512_*, for the 8 rows 8h .. 8h+7 of a tile (bytes 32h.. of each group).
struct tile256_q8_0 {
  static constexpr size_t bytes = 544;
  static constexpr bool is_signed = !tile_avx2_vnni;  // without VNNI: signed quants, no bias
  static constexpr int bias = tile_avx2_vnni ? 128 : 0;
  static void unpack(const uint8_t* q, int h, __m256i* w) noexcept {
    const __m256i flip = _mm256_set1_epi8(static_cast<char>(0x80));
    for (int g = 0; g < 8; ++g) {
      w[g] = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(q + 64 * g + 32 * h));
      if (tile_avx2_vnni) w[g] = _mm256_xor_si256(w[g], flip);
    }
  }
  static constexpr int y_offset(int v) noexcept { return 4 * v; }
};
struct tile256_q4_0 {
  static constexpr size_t bytes = 288;
  static constexpr bool is_signed = false;
  static constexpr int bias = 8;
  static void unpack(const uint8_t* q, int h, __m256i* w) noexcept {
    const __m256i m4 = _mm256_set1_epi8(0x0f);
    for (int g = 0; g < 4; ++g) {
      const __m256i v = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(q + 64 * g + 32 * h));
      w[2 * g] = _mm256_and_si256(v, m4);
      w[2 * g + 1] = _mm256_and_si256(_mm256_srli_epi16(v, 4), m4);
    }
  }
  static constexpr int y_offset(int v) noexcept { return (v % 2 ? 16 : 0) + 4 * (v / 2); }
};

template <class K, int NT>
inline void tile_dot_avx2(int64_t n, const uint8_t* p, const uint8_t* X, size_t stride, float* out,
                          int64_t ostride) noexcept {
  const int64_t nb = n / quant::qk32;
  q8_0_activation a[NT];
  for (int t = 0; t < NT; ++t) a[t] = view_q8_0_activation(X + static_cast<size_t>(t) * stride, n);
  __m256 acc[NT][2];
  for (int t = 0; t < NT; ++t) acc[t][0] = acc[t][1] = _mm256_setzero_ps();
  for (int64_t b = 0; b < nb; ++b, p += K::bytes) {
    prefetch_lines<_MM_HINT_T0>(p + tile_prefetch, K::bytes);
    for (int h = 0; h < 2; ++h) {
      const __m256 dw = _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p + 16 * h)));
      __m256i w[8];
      K::unpack(p + 32, h, w);
      for (int t = 0; t < NT; ++t) {
        const int8_t* y = a[t].blocks[b].qs;
        __m256i s0 = _mm256_set1_epi32(a[t].minus128_sum[b] * K::bias / 128), s1 = _mm256_setzero_si256();
        for (int v = 0; v < 8; v += 2) {
          s0 = tile_dot4_avx2<K::is_signed>(s0, w[v], _mm256_set1_epi32(load_i32(y + K::y_offset(v))));
          s1 = tile_dot4_avx2<K::is_signed>(s1, w[v + 1], _mm256_set1_epi32(load_i32(y + K::y_offset(v + 1))));
        }
        const __m256 d = _mm256_mul_ps(dw, _mm256_set1_ps(a[t].d[b]));
        acc[t][h] = _mm256_fmadd_ps(d, _mm256_cvtepi32_ps(_mm256_add_epi32(s0, s1)), acc[t][h]);
      }
    }
  }
  for (int t = 0; t < NT; ++t) {
    _mm256_storeu_ps(out + t * ostride, acc[t][0]);
    _mm256_storeu_ps(out + t * ostride + 8, acc[t][1]);
  }
}
#endif  // PLM_DETAIL_TILED_AVX2

#if PLM_DETAIL_TILED_NEON
/// acc (4 rows) + 4-way dots of w (4 rows x 4 bytes) with lane L of y (4 bytes per lane).
template <int L>
inline int32x4_t tile_dot4_neon(int32x4_t acc, int8x16_t w, int8x16_t y) noexcept {
#if defined(__ARM_FEATURE_DOTPROD)
  return vdotq_laneq_s32(acc, w, y, L);
#else
  // Plain NEON (Cortex-A72): products in int16 (|w y| <= 128 * 127), adjacent
  // pairs added (<= 32512, still int16), then pairs of pairs into each row's lane.
  const int8x16_t yb = vreinterpretq_s8_s32(vdupq_laneq_s32(vreinterpretq_s32_s8(y), L));
  const int16x8_t lo = vmull_s8(vget_low_s8(w), vget_low_s8(yb));  // rows 0, 1
  const int16x8_t hi = vmull_high_s8(w, yb);                        // rows 2, 3
  return vpadalq_s16(acc, vpaddq_s16(lo, hi));
#endif
}

template <int NT>
inline void tile_dot_neon(dtype type, int64_t n, const uint8_t* p, const uint8_t* X, size_t stride, float* out,
                          int64_t ostride) noexcept {
  const int64_t nb = n / quant::qk32;
  const size_t bt = tile_block_bytes(type);
  const bool q8 = type == dtype::q8_0;
  q8_0_activation a[NT];
  for (int t = 0; t < NT; ++t) a[t] = view_q8_0_activation(X + static_cast<size_t>(t) * stride, n);
  float32x4_t acc[NT][4];
  for (int t = 0; t < NT; ++t)
    for (int j = 0; j < 4; ++j) acc[t][j] = vdupq_n_f32(0.0f);
  const uint8x16_t m4 = vdupq_n_u8(0x0f);
  for (int64_t b = 0; b < nb; ++b, p += bt) {
    __builtin_prefetch(p + 2048, 0, 3);
    float32x4_t dw[4];
    for (int j = 0; j < 4; ++j) dw[j] = vcvt_f32_f16(vreinterpret_f16_u16(vld1_u16(reinterpret_cast<const uint16_t*>(p) + 4 * j)));
    for (int t = 0; t < NT; ++t) {
      const int8x16_t y0 = vld1q_s8(a[t].blocks[b].qs), y1 = vld1q_s8(a[t].blocks[b].qs + 16);
      const float d = a[t].d[b];
      for (int j = 0; j < 4; ++j) {  // rows 4j .. 4j+3
        const uint8_t* q = p + 32 + 16 * j;
        int32x4_t s;
        if (q8) {
          s = vdupq_n_s32(0);
          s = tile_dot4_neon<0>(s, vld1q_s8(reinterpret_cast<const int8_t*>(q + 0 * 64)), y0);
          s = tile_dot4_neon<1>(s, vld1q_s8(reinterpret_cast<const int8_t*>(q + 1 * 64)), y0);
          s = tile_dot4_neon<2>(s, vld1q_s8(reinterpret_cast<const int8_t*>(q + 2 * 64)), y0);
          s = tile_dot4_neon<3>(s, vld1q_s8(reinterpret_cast<const int8_t*>(q + 3 * 64)), y0);
          s = tile_dot4_neon<0>(s, vld1q_s8(reinterpret_cast<const int8_t*>(q + 4 * 64)), y1);
          s = tile_dot4_neon<1>(s, vld1q_s8(reinterpret_cast<const int8_t*>(q + 5 * 64)), y1);
          s = tile_dot4_neon<2>(s, vld1q_s8(reinterpret_cast<const int8_t*>(q + 6 * 64)), y1);
          s = tile_dot4_neon<3>(s, vld1q_s8(reinterpret_cast<const int8_t*>(q + 7 * 64)), y1);
        } else {
          // nibbles = q + 8: low ones pair with y0's lanes, high ones with y1's
          s = vdupq_n_s32(a[t].minus128_sum[b] / 16);  // -8 * sum, exact
          uint8x16_t v = vld1q_u8(q + 0 * 64);
          s = tile_dot4_neon<0>(s, vreinterpretq_s8_u8(vandq_u8(v, m4)), y0);
          s = tile_dot4_neon<0>(s, vreinterpretq_s8_u8(vshrq_n_u8(v, 4)), y1);
          v = vld1q_u8(q + 1 * 64);
          s = tile_dot4_neon<1>(s, vreinterpretq_s8_u8(vandq_u8(v, m4)), y0);
          s = tile_dot4_neon<1>(s, vreinterpretq_s8_u8(vshrq_n_u8(v, 4)), y1);
          v = vld1q_u8(q + 2 * 64);
          s = tile_dot4_neon<2>(s, vreinterpretq_s8_u8(vandq_u8(v, m4)), y0);
          s = tile_dot4_neon<2>(s, vreinterpretq_s8_u8(vshrq_n_u8(v, 4)), y1);
          v = vld1q_u8(q + 3 * 64);
          s = tile_dot4_neon<3>(s, vreinterpretq_s8_u8(vandq_u8(v, m4)), y0);
          s = tile_dot4_neon<3>(s, vreinterpretq_s8_u8(vshrq_n_u8(v, 4)), y1);
        }
        acc[t][j] = vfmaq_f32(acc[t][j], vmulq_n_f32(dw[j], d), vcvtq_f32_s32(s));
      }
    }
  }
  for (int t = 0; t < NT; ++t)
    for (int j = 0; j < 4; ++j) vst1q_f32(out + t * ostride + 4 * j, acc[t][j]);
}
#endif  // PLM_DETAIL_TILED_NEON

template <int NT>
inline void tile_dot_fixed(dtype type, int64_t n, const uint8_t* tile, const uint8_t* X, size_t stride, float* out,
                           int64_t ostride) noexcept {
#if PLM_DETAIL_TILED_AVX512
  if (type == dtype::q8_0) tile_dot_avx512<tile512_q8_0, NT>(n, tile, X, stride, out, ostride);
  else if (type == dtype::q4_0) tile_dot_avx512<tile512_q4_0, NT>(n, tile, X, stride, out, ostride);
  else if constexpr (NT <= 4) {
    if (type == dtype::q4_k) tile_dot_q4k_avx512<NT>(n, tile, X, stride, out, ostride);
    else tile_dot_q6k_avx512<NT>(n, tile, X, stride, out, ostride);
  }
#elif PLM_DETAIL_TILED_AVX2
  if (type == dtype::q8_0) tile_dot_avx2<tile256_q8_0, NT>(n, tile, X, stride, out, ostride);
  else if (type == dtype::q4_0) tile_dot_avx2<tile256_q4_0, NT>(n, tile, X, stride, out, ostride);
  else tile_dot_ref(type, n, tile, X, stride, NT, out, ostride);
#elif PLM_DETAIL_TILED_NEON
  if (type == dtype::q4_k || type == dtype::q6_k) tile_dot_ref(type, n, tile, X, stride, NT, out, ostride);
  else tile_dot_neon<NT>(type, n, tile, X, stride, out, ostride);
#else
  tile_dot_ref(type, n, tile, X, stride, NT, out, ostride);
#endif
}

template <int NT>
inline void tile_dot_upto(dtype type, int64_t n, const uint8_t* tile, const uint8_t* X, size_t stride, int nt, float* out,
                          int64_t ostride) noexcept {
  if constexpr (NT > 1) {
    if (nt < NT) return tile_dot_upto<NT - 1>(type, n, tile, X, stride, nt, out, ostride);
  }
  tile_dot_fixed<NT>(type, n, tile, X, stride, out, ostride);
}

/// out[t * ostride + i] = row i of the tile . token t, for nt (1..tile_tokens(type)) tokens.
inline void tile_dot(dtype type, int64_t n, const uint8_t* tile, const uint8_t* X, size_t stride, int nt, float* out,
                     int64_t ostride) noexcept {
  if (is_half(type)) {
#if PLM_DETAIL_TILED_AVX512
    return tile_dot_half(type, n, tile, X, stride, nt, out, ostride);
#else
    return tile_dot_ref_half(type, n, tile, X, stride, nt, out, ostride);
#endif
  }
  tile_dot_upto<tile_quant_tokens>(type, n, tile, X, stride, nt, out, ostride);
}

/// Bytes of one tile of 16 whole rows of W.
inline size_t tile_bytes(const tensor_view& W) noexcept {
  return static_cast<size_t>(W.ne[0] / block_size(W.type)) * tile_block_bytes(W.type);
}
/// Start of the row-major rows behind the tiles.
inline const uint8_t* tiled_tail(const tensor_view& W) noexcept {
  return static_cast<const uint8_t*>(W.data) + static_cast<size_t>(W.ne[1] / tile_rows) * tile_bytes(W);
}

/// Y[t * ldy + (r - r0)] = row r of tiled W . X_t, r in [r0, r1), t < n_tok.
/// use_tile == false runs the portable tile kernel (the reference).
inline void tiled_rows(const tensor_view& W, const void* X, int64_t n_tok, float* Y, int64_t ldy, int64_t r0, int64_t r1,
                       vec_dot_fn tail_dot, bool use_tile) noexcept {
  const int64_t n = W.ne[0], full = W.ne[1] / tile_rows * tile_rows;
  const size_t stride = activation_bytes(W.type, n);
  const size_t tbytes = tile_bytes(W);
  const auto* xb = static_cast<const uint8_t*>(X);
  float part[tile_max_tokens * tile_rows];
  // Token groups of even size (64 tokens: 6 groups of <= 11, not 5 of 12 and a slow one of 4).
  const int64_t groups = (n_tok + tile_tokens(W.type) - 1) / tile_tokens(W.type);
  const int max_nt = groups > 0 ? static_cast<int>((n_tok + groups - 1) / groups) : 1;
  for (int64_t r = r0; r < r1 && r < full;) {
    const int64_t tile = r / tile_rows, i0 = r % tile_rows;
    const int64_t i1 = r1 - tile * tile_rows < tile_rows ? r1 - tile * tile_rows : tile_rows;
    const uint8_t* p = static_cast<const uint8_t*>(W.data) + static_cast<size_t>(tile) * tbytes;
    // Every token group reads this tile from cache after the first.
    for (int64_t t0 = 0; t0 < n_tok; t0 += max_nt) {
      const int nt = static_cast<int>(n_tok - t0 < max_nt ? n_tok - t0 : max_nt);
      const uint8_t* xt = xb + static_cast<size_t>(t0) * stride;
      if (i0 == 0 && i1 == tile_rows) {
        float* y = Y + t0 * ldy + (r - r0);
        if (use_tile) tile_dot(W.type, n, p, xt, stride, nt, y, ldy);
        else tile_dot_ref(W.type, n, p, xt, stride, nt, y, ldy);
      } else {  // a range that splits a tile: compute it whole, keep the rows asked for
        if (use_tile) tile_dot(W.type, n, p, xt, stride, nt, part, tile_rows);
        else tile_dot_ref(W.type, n, p, xt, stride, nt, part, tile_rows);
        for (int t = 0; t < nt; ++t)
          for (int64_t i = i0; i < i1; ++i) Y[(t0 + t) * ldy + (tile * tile_rows + i - r0)] = part[t * tile_rows + i];
      }
    }
    r = tile * tile_rows + i1;
  }
  const uint8_t* tail = tiled_tail(W);
  for (int64_t r = r0 > full ? r0 : full; r < r1; ++r)
    for (int64_t t = 0; t < n_tok; ++t)
      Y[t * ldy + (r - r0)] = tail_dot(n, tail + static_cast<size_t>(r - full) * W.row_bytes(), xb + static_cast<size_t>(t) * stride);
}

}  // namespace detail

/// Bytes tile_weights() writes for W: the same as W's for q8_0 / q4_0 / q6_K /
/// f16 / bf16, 2.8% more for q4_K (its scales and mins unpacked).
inline size_t tiled_bytes(const tensor_view& W) noexcept {
  const int64_t full = W.ne[1] / tile_rows;
  return static_cast<size_t>(full) * detail::tile_bytes(W) + static_cast<size_t>(W.ne[1] - full * tile_rows) * W.row_bytes();
}

/// Repacks W (a 2-D matrix of a has_tile_layout type in row layout) into dst
/// (tiled_bytes(W) bytes, any alignment) and returns the tiled view of it (same
/// name, type, shape).
inline tensor_view tile_weights(const tensor_view& W, void* dst) noexcept {
  const int64_t n = W.ne[0], rows = W.ne[1], nb = n / block_size(W.type), full = rows / tile_rows * tile_rows;
  const size_t bb = block_bytes(W.type);
  const int groups = detail::tile_groups(W.type);
  auto* out = static_cast<uint8_t*>(dst);
  for (int64_t tile = 0; tile < full / tile_rows; ++tile) {
    if (detail::is_half(W.type)) {
      // Column by column with the 16 row pointers at hand: sequential writes, each
      // row's line serves 32 columns (3.6x faster than addressing every value anew).
      const uint8_t* src[tile_rows];
      for (int i = 0; i < tile_rows; ++i) src[i] = W.row(tile * tile_rows + i);
      uint16_t col[tile_rows];
      for (int64_t k = 0; k < n; ++k, out += sizeof col) {
        for (int i = 0; i < tile_rows; ++i) std::memcpy(&col[i], src[i] + 2 * k, 2);
        std::memcpy(out, col, sizeof col);
      }
      continue;
    }
    for (int64_t b = 0; b < nb; ++b) {
      if (W.type == dtype::q4_k) {
        for (int i = 0; i < tile_rows; ++i) {
          const auto* blk = reinterpret_cast<const quant::block_q4_k*>(W.row(tile * tile_rows + i) + static_cast<size_t>(b) * bb);
          std::memcpy(out + 2 * i, &blk->d, 2);
          std::memcpy(out + detail::q4k_tile_dmin + 2 * i, &blk->dmin, 2);
          uint8_t sm[16];
          quant::unpack_scales_mins_k4(blk->scales, sm);
          for (int j = 0; j < 8; ++j) {
            out[detail::q4k_tile_sc + 16 * j + i] = sm[j];
            out[detail::q4k_tile_m + 16 * j + i] = sm[8 + j];
          }
          for (int c = 0; c < 4; ++c)
            for (int g = 0; g < 8; ++g)
              std::memcpy(out + detail::q4k_tile_qs + 64 * (8 * c + g) + 4 * i, blk->qs + 32 * c + 4 * g, 4);
        }
        out += detail::tile_block_bytes(W.type);
        continue;
      }
      if (W.type == dtype::q6_k) {
        for (int i = 0; i < tile_rows; ++i) {
          const auto* blk = reinterpret_cast<const quant::block_q6_k*>(W.row(tile * tile_rows + i) + static_cast<size_t>(b) * bb);
          std::memcpy(out + 2 * i, &blk->d, 2);
          for (int j = 0; j < 16; ++j) out[detail::q6k_tile_sc + 16 * j + i] = static_cast<uint8_t>(blk->scales[j]);
          for (int h = 0; h < 2; ++h)
            for (int g = 0; g < 8; ++g) {
              uint8_t* v = out + detail::q6k_tile_qs + static_cast<size_t>((h * 8 + g) * 3) * 64 + 4 * i;
              std::memcpy(v, blk->ql + 64 * h + 4 * g, 4);
              std::memcpy(v + 64, blk->ql + 64 * h + 32 + 4 * g, 4);
              std::memcpy(v + 128, blk->qh + 32 * h + 4 * g, 4);
            }
        }
        out += detail::tile_block_bytes(W.type);
        continue;
      }
      for (int i = 0; i < tile_rows; ++i) {
        const uint8_t* blk = W.row(tile * tile_rows + i) + static_cast<size_t>(b) * bb;
        std::memcpy(out + 2 * i, blk, 2);  // d (both types start with it)
        for (int g = 0; g < groups; ++g) std::memcpy(out + 32 + 64 * g + 4 * i, blk + 2 + 4 * g, 4);
      }
      out += detail::tile_block_bytes(W.type);
    }
  }
  for (int64_t r = full; r < rows; ++r, out += W.row_bytes()) std::memcpy(out, W.row(r), W.row_bytes());
  tensor_view v = tensor_view::contiguous(W.type, {n, rows}, dst, W.name);
  v.layout = tensor_layout::tiles16;
  return v;
}

/// Row r of W (either layout) as f32 (W.ne[0] values); false if W's type cannot be dequantized.
inline bool dequantize_weight_row(const tensor_view& W, int64_t r, float* out) noexcept {
  if (W.layout != tensor_layout::tiles16) return quant::dequantize_row(W.type, W.row(r), out, W.ne[0]);
  const int64_t n = W.ne[0], full = W.ne[1] / tile_rows * tile_rows;
  if (r >= full)
    return quant::dequantize_row(W.type, detail::tiled_tail(W) + static_cast<size_t>(r - full) * W.row_bytes(), out, n);
  const size_t bt = detail::tile_block_bytes(W.type);
  const auto* tile = static_cast<const uint8_t*>(W.data) + static_cast<size_t>(r / tile_rows) * detail::tile_bytes(W);
  const int i = static_cast<int>(r % tile_rows);
  if (detail::is_half(W.type)) {
    for (int64_t k = 0; k < n; ++k) out[k] = detail::half_value(W.type, detail::tiled_scale(tile + static_cast<size_t>(k) * bt, i));
    return true;
  }
  if (W.type == dtype::q4_k) {  // d * sc * q - dmin * m, as quant::dequantize_row_q4_k
    for (int64_t b = 0; b < n / quant::qk_k; ++b) {
      const uint8_t* p = tile + static_cast<size_t>(b) * bt;
      const float d = fp16_to_fp32(detail::tiled_scale(p, i)), dmin = fp16_to_fp32(detail::tiled_scale(p + detail::q4k_tile_dmin, i));
      for (int j = 0; j < 8; ++j) {
        const float dl = d * p[detail::q4k_tile_sc + 16 * j + i], ml = dmin * p[detail::q4k_tile_m + 16 * j + i];
        for (int k = 0; k < 32; ++k)
          out[b * quant::qk_k + 32 * j + k] = dl * static_cast<float>(detail::tiled_quant_q4k(p, i, 32 * j + k)) - ml;
      }
    }
    return true;
  }
  if (W.type == dtype::q6_k) {  // (d * scale) * (q - 32), as quant::dequantize_row_q6_k
    for (int64_t b = 0; b < n / quant::qk_k; ++b) {
      const uint8_t* p = tile + static_cast<size_t>(b) * bt;
      const float d = fp16_to_fp32(detail::tiled_scale(p, i));
      for (int e = 0; e < quant::qk_k; ++e)
        out[b * quant::qk_k + e] = d * static_cast<float>(static_cast<int8_t>(p[detail::q6k_tile_sc + 16 * (e / 16) + i])) *
                                   static_cast<float>(detail::tiled_quant_q6k(p, i, e) - 32);
    }
    return true;
  }
  for (int64_t b = 0; b < n / quant::qk32; ++b) {
    const uint8_t* p = tile + static_cast<size_t>(b) * bt;
    const float d = fp16_to_fp32(detail::tiled_scale(p, i));
    for (int k = 0; k < quant::qk32; ++k) out[b * quant::qk32 + k] = d * static_cast<float>(detail::tiled_quant(W.type, p, i, k));
  }
  return true;
}

}  // namespace plm::kernels

#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic pop
#endif
