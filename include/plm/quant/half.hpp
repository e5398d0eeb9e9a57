// plm/quant/half.hpp - exact scalar conversions between f32 and the 16-bit
// float formats stored in GGUF files (IEEE binary16 "f16" and bfloat16).
//
// Every quant block scale is an f16, so these sit under all dequantization: they
// must be exact (not table approximations) and total over all bit patterns,
// including subnormals, infinities and NaN. The portable versions are plain
// integer code; when the compiler targets F16C (__F16C__) the f16 functions use
// the hardware instruction, which gives the same bits (tested exhaustively).
#pragma once

#include <cstdint>
#include <cstring>

#if defined(__F16C__)
#include <immintrin.h>
#endif

namespace plm {

namespace detail {

inline uint32_t f32_bits(float f) noexcept {
  uint32_t u;
  std::memcpy(&u, &f, sizeof u);
  return u;
}
inline float f32_from_bits(uint32_t u) noexcept {
  float f;
  std::memcpy(&f, &u, sizeof f);
  return f;
}

/// f16 -> f32 without hardware help. Exact: every f16 value is an f32 value.
inline float fp16_to_fp32_portable(uint16_t h) noexcept {
  const uint32_t sign = static_cast<uint32_t>(h & 0x8000u) << 16;
  const uint32_t exp = (h >> 10) & 0x1fu;
  uint32_t mant = h & 0x3ffu;
  if (exp == 0x1f) {  // inf, or NaN made quiet with its payload kept (as F16C's vcvtph2ps does)
    if (mant != 0) mant |= 0x200u;
    return f32_from_bits(sign | 0x7f800000u | (mant << 13));
  }
  if (exp != 0) return f32_from_bits(sign | ((exp + 112u) << 23) | (mant << 13));
  if (mant == 0) return f32_from_bits(sign);
  // Subnormal: value = mant * 2^-24. Shift the leading one up to the implicit
  // bit position; each shift lowers the exponent by one.
  uint32_t e = 113;  // exponent (biased, f32) the value would have if mant had its top bit at 2^10
  while ((mant & 0x400u) == 0) {
    mant <<= 1;
    --e;
  }
  return f32_from_bits(sign | (e << 23) | ((mant & 0x3ffu) << 13));
}

/// f32 -> f16, round to nearest, ties to even; overflow gives infinity; NaN stays
/// NaN (made quiet, sign and upper payload bits kept, as the F16C instruction does).
inline uint16_t fp32_to_fp16_portable(float f) noexcept {
  const uint32_t x = f32_bits(f);
  const uint16_t sign = static_cast<uint16_t>((x >> 16) & 0x8000u);
  const uint32_t ax = x & 0x7fffffffu;
  if (ax > 0x7f800000u) return static_cast<uint16_t>(sign | 0x7e00u | ((ax >> 13) & 0x3ffu));
  // 65520 = halfway between 65504 (largest f16) and 65536: ties to even round up.
  if (ax >= 0x477ff000u) return static_cast<uint16_t>(sign | 0x7c00u);
  if (ax >= 0x38800000u) {  // result is a normal f16 (>= 2^-14)
    uint32_t h = ((ax >> 23) - 112u) << 10 | ((ax >> 13) & 0x3ffu);
    const uint32_t rem = ax & 0x1fffu;
    if (rem > 0x1000u || (rem == 0x1000u && (h & 1u))) ++h;  // a carry into the exponent is correct
    return static_cast<uint16_t>(sign | h);
  }
  // Result is subnormal or zero: mantissa = round(|f| / 2^-24).
  const uint32_t e = ax >> 23;
  if (e < 102) return sign;  // |f| < 2^-25: rounds to zero (2^-25 exactly ties to even zero)
  const uint32_t m24 = (ax & 0x7fffffu) | 0x800000u;
  const uint32_t shift = 126u - e;  // 14..24
  uint32_t q = m24 >> shift;
  const uint32_t rem = m24 & ((1u << shift) - 1u);
  const uint32_t half = 1u << (shift - 1u);
  if (rem > half || (rem == half && (q & 1u))) ++q;  // may become 0x400, the smallest normal
  return static_cast<uint16_t>(sign | q);
}

}  // namespace detail

/// IEEE binary16 bits -> f32 (exact; a NaN comes back quiet with sign and payload).
inline float fp16_to_fp32(uint16_t h) noexcept {
#if defined(__F16C__)
  return _cvtsh_ss(h);
#else
  return detail::fp16_to_fp32_portable(h);
#endif
}

/// f32 -> IEEE binary16 bits, round to nearest even (overflow -> inf, NaN -> quiet NaN).
inline uint16_t fp32_to_fp16(float f) noexcept {
#if defined(__F16C__)
  // _mm_cvtps_ph, not the _cvtss_sh macro: clang's expands to a C99 compound literal.
  return static_cast<uint16_t>(_mm_extract_epi16(_mm_cvtps_ph(_mm_set_ss(f), _MM_FROUND_TO_NEAREST_INT), 0));
#else
  return detail::fp32_to_fp16_portable(f);
#endif
}

/// bfloat16 bits -> f32 (exact: bf16 is the upper half of an f32).
inline float bf16_to_fp32(uint16_t h) noexcept { return detail::f32_from_bits(static_cast<uint32_t>(h) << 16); }

/// f32 -> bfloat16 bits, round to nearest even like ggml (subnormals kept, not
/// flushed; overflow -> inf; NaN made quiet with its sign and upper payload).
inline uint16_t fp32_to_bf16(float f) noexcept {
  const uint32_t u = detail::f32_bits(f);
  if ((u & 0x7fffffffu) > 0x7f800000u) return static_cast<uint16_t>((u >> 16) | 0x40u);
  return static_cast<uint16_t>((u + 0x7fffu + ((u >> 16) & 1u)) >> 16);
}

}  // namespace plm
