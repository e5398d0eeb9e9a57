// plm/quant/blocks.hpp - quantization block structs, byte for byte as stored in
// GGUF files (ggml's ggml-common.h layouts; plm-spec.md section 7).
//
// A quantized row is an array of these blocks. The structs have no padding (each
// size is asserted), so a row in a mapped file can be read through a pointer to
// them. f16 fields are kept as raw uint16_t bits: convert with plm::fp16_to_fp32.
// Only block_q8_k (an activation-only type with an f32 scale) needs 4-byte
// alignment; every file type needs 2, which GGUF's 32-byte tensor alignment and
// even block sizes guarantee.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>

#include "plm/core/dtype.hpp"

namespace plm::quant {

/// Elements per block of the "legacy" types (q4_0 ... q8_1).
inline constexpr int qk32 = 32;
/// Elements per super-block of the k-quants.
inline constexpr int qk_k = 256;
/// Bytes of packed 6-bit (scale, min) pairs in q4_K / q5_K, and of 6-bit scales in q3_K.
inline constexpr int k_scale_size = 12;

/// y = (q - 8) * d, q a nibble. qs[j] holds element j (low nibble) and j+16 (high).
struct block_q4_0 {
  uint16_t d;       // f16 scale
  uint8_t qs[16];   // [32] nibbles
};
/// y = q * d + m, nibble order as q4_0.
struct block_q4_1 {
  uint16_t d;       // f16 scale
  uint16_t m;       // f16 minimum
  uint8_t qs[16];   // [32] nibbles
};
/// y = (q - 16) * d; q = nibble | (bit j of qh) << 4 (qh is a little-endian u32).
struct block_q5_0 {
  uint16_t d;       // f16 scale
  uint8_t qh[4];    // [32] fifth bits
  uint8_t qs[16];   // [32] low nibbles
};
/// y = q * d + m, 5-bit q as in q5_0.
struct block_q5_1 {
  uint16_t d;       // f16 scale
  uint16_t m;       // f16 minimum
  uint8_t qh[4];    // [32] fifth bits
  uint8_t qs[16];   // [32] low nibbles
};
/// y = q * d.
struct block_q8_0 {
  uint16_t d;       // f16 scale
  int8_t qs[32];
};
/// y = q * d; s = d * sum(qs), used by the q4_1 / q5_1 dot products.
struct block_q8_1 {
  uint16_t d;       // f16 scale
  uint16_t s;       // f16 d * sum(qs)
  int8_t qs[32];
};

/// 16 sub-blocks of 16: y = d * (sc & 15) * q - dmin * (sc >> 4), q 2-bit.
struct block_q2_k {
  uint8_t scales[16];  // [16] 4-bit scale | 4-bit min << 4
  uint8_t qs[64];      // [256] 2-bit quants, four per byte
  uint16_t d;          // f16 super-scale of the scales
  uint16_t dmin;       // f16 super-scale of the mins
};
/// 16 sub-blocks of 16: y = d * (s - 32) * (q2 - (hbit ? 0 : 4)), s 6-bit.
struct block_q3_k {
  uint8_t hmask[32];   // [256] high bits
  uint8_t qs[64];      // [256] low 2 bits
  uint8_t scales[12];  // [16] 6-bit scales, packed
  uint16_t d;          // f16 super-scale
};
/// 8 sub-blocks of 32: y = d * sc * q - dmin * m, (sc, m) 6-bit, q 4-bit.
struct block_q4_k {
  uint16_t d;          // f16 super-scale of the scales
  uint16_t dmin;       // f16 super-scale of the mins
  uint8_t scales[12];  // [8] (scale, min) pairs, 6 bits each, packed
  uint8_t qs[128];     // [256] nibbles
};
/// As q4_K with a fifth bit per element in qh.
struct block_q5_k {
  uint16_t d;          // f16 super-scale of the scales
  uint16_t dmin;       // f16 super-scale of the mins
  uint8_t scales[12];  // [8] (scale, min) pairs, 6 bits each, packed
  uint8_t qh[32];      // [256] fifth bits
  uint8_t qs[128];     // [256] low nibbles
};
/// 16 sub-blocks of 16: y = d * scales[i] * (q - 32), q 6-bit.
struct block_q6_k {
  uint8_t ql[128];     // [256] low 4 bits
  uint8_t qh[64];      // [256] high 2 bits
  int8_t scales[16];   // [16] 8-bit signed sub-block scales
  uint16_t d;          // f16 super-scale
};
/// Activation type of the k-quant dot products: y = d * q.
struct block_q8_k {
  float d;             // f32 scale
  int8_t qs[256];
  int16_t bsums[16];   // [16] sums of qs over groups of 16 (for the min terms)
};

static_assert(sizeof(block_q4_0) == 18, "block_q4_0 layout");
static_assert(sizeof(block_q4_1) == 20, "block_q4_1 layout");
static_assert(sizeof(block_q5_0) == 22, "block_q5_0 layout");
static_assert(sizeof(block_q5_1) == 24, "block_q5_1 layout");
static_assert(sizeof(block_q8_0) == 34, "block_q8_0 layout");
static_assert(sizeof(block_q8_1) == 36, "block_q8_1 layout");
static_assert(sizeof(block_q2_k) == 84, "block_q2_k layout");
static_assert(sizeof(block_q3_k) == 110, "block_q3_k layout");
static_assert(sizeof(block_q4_k) == 144, "block_q4_k layout");
static_assert(sizeof(block_q5_k) == 176, "block_q5_k layout");
static_assert(sizeof(block_q6_k) == 210, "block_q6_k layout");
static_assert(sizeof(block_q8_k) == 292, "block_q8_k layout");

// The storage table in core/dtype.hpp and these structs must agree.
static_assert(block_bytes(dtype::q4_0) == sizeof(block_q4_0) && block_size(dtype::q4_0) == qk32, "q4_0");
static_assert(block_bytes(dtype::q4_1) == sizeof(block_q4_1) && block_size(dtype::q4_1) == qk32, "q4_1");
static_assert(block_bytes(dtype::q5_0) == sizeof(block_q5_0) && block_size(dtype::q5_0) == qk32, "q5_0");
static_assert(block_bytes(dtype::q5_1) == sizeof(block_q5_1) && block_size(dtype::q5_1) == qk32, "q5_1");
static_assert(block_bytes(dtype::q8_0) == sizeof(block_q8_0) && block_size(dtype::q8_0) == qk32, "q8_0");
static_assert(block_bytes(dtype::q8_1) == sizeof(block_q8_1) && block_size(dtype::q8_1) == qk32, "q8_1");
static_assert(block_bytes(dtype::q2_k) == sizeof(block_q2_k) && block_size(dtype::q2_k) == qk_k, "q2_K");
static_assert(block_bytes(dtype::q3_k) == sizeof(block_q3_k) && block_size(dtype::q3_k) == qk_k, "q3_K");
static_assert(block_bytes(dtype::q4_k) == sizeof(block_q4_k) && block_size(dtype::q4_k) == qk_k, "q4_K");
static_assert(block_bytes(dtype::q5_k) == sizeof(block_q5_k) && block_size(dtype::q5_k) == qk_k, "q5_K");
static_assert(block_bytes(dtype::q6_k) == sizeof(block_q6_k) && block_size(dtype::q6_k) == qk_k, "q6_K");
static_assert(block_bytes(dtype::q8_k) == sizeof(block_q8_k) && block_size(dtype::q8_k) == qk_k, "q8_K");

/// 6-bit (scale, min) of sub-block j (0..7) of a q4_K / q5_K block: j < 4 use the
/// low 6 bits of bytes j and j+4; j >= 4 combine a nibble of byte j+4 with the
/// top two bits of bytes j-4 (scale) and j (min).
inline void unpack_scale_min_k4(int j, const uint8_t* q, uint8_t& sc, uint8_t& m) noexcept {
  if (j < 4) {
    sc = q[j] & 63;
    m = q[j + 4] & 63;
  } else {
    sc = static_cast<uint8_t>((q[j + 4] & 0xf) | ((q[j - 4] >> 6) << 4));
    m = static_cast<uint8_t>((q[j + 4] >> 4) | ((q[j] >> 6) << 4));
  }
}

/// All eight (scale, min) pairs of a q4_K / q5_K block at once, as four
/// little-endian words: bytes 0..7 = scales, 8..15 = mins. The same unpacking
/// as unpack_scale_min_k4 done four bytes per operation. SIMD code should build
/// vectors from these words in registers: storing them and reloading 8 or 16
/// bytes at once stalls on store forwarding (measured 1.8x slower on x86).
inline void unpack_scales_mins_k4_words(const uint8_t* q, uint32_t* w) noexcept {
  uint32_t u[3];
  std::memcpy(u, q, 12);  // little-endian words: byte i of the block is bits 8*(i%4) of u[i/4]
  const uint32_t lo6 = 0x3f3f3f3fu, lo4 = 0x0f0f0f0fu, lo2 = 0x03030303u;
  w[0] = u[0] & lo6;                                       // scales 0..3: bytes 0..3, low 6 bits
  w[1] = (u[2] & lo4) | (((u[0] >> 6) & lo2) << 4);        // scales 4..7: nibbles of bytes 8..11, top bits of 0..3
  w[2] = u[1] & lo6;                                       // mins 0..3: bytes 4..7, low 6 bits
  w[3] = ((u[2] >> 4) & lo4) | (((u[1] >> 6) & lo2) << 4);  // mins 4..7: high nibbles of 8..11, top bits of 4..7
}
/// As unpack_scales_mins_k4_words, as bytes out[0..7] = scales, out[8..15] = mins.
inline void unpack_scales_mins_k4(const uint8_t* q, uint8_t* out) noexcept {
  uint32_t w[4];
  unpack_scales_mins_k4_words(q, w);
  std::memcpy(out, w, 16);
}

/// 6-bit scale j (0..15) of a q3_K block, still biased by 32: low nibble from
/// byte j (j < 8) or the high nibble of byte j-8, top two bits from byte 8 + j%4
/// at bit 2*(j/4).
inline int unpack_scale_q3_k(int j, const uint8_t* scales) noexcept {
  const int lo = j < 8 ? (scales[j] & 0xf) : (scales[j - 8] >> 4);
  const int hi = (scales[8 + (j & 3)] >> (2 * (j >> 2))) & 3;
  return lo | (hi << 4);
}

}  // namespace plm::quant
