// Tests of plm/quant: f16/bf16 conversions (exhaustive), block layouts and
// dequantization (known-answer blocks packed by hand from the documented layout).
//
// The known-answer tests work in the opposite direction to the library: they
// choose quants and scales first, PACK them into bytes at the offsets given in
// plm-spec.md section 7 (written here from the spec text, not from the library),
// then check every dequantized element against the spec formula evaluated in
// double. A wrong nibble order, bit position or scale unpacking in the library
// makes some element differ.
#include <doctest/doctest.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <vector>

#include "test_quant_support.hpp"
#include "plm/quant/blocks.hpp"
#include "plm/quant/dequantize.hpp"
#include "plm/quant/half.hpp"

namespace {

using plm_test::rng;

uint32_t bits_of(float f) {
  uint32_t u;
  std::memcpy(&u, &f, 4);
  return u;
}
float float_of(uint32_t u) {
  float f;
  std::memcpy(&f, &u, 4);
  return f;
}

// Value of an f16 bit pattern, from the IEEE definition, in double.
double f16_value(uint16_t h) {
  const int sign = (h >> 15) ? -1 : 1;
  const int e = (h >> 10) & 31;
  const int m = h & 1023;
  if (e == 31) return m ? std::numeric_limits<double>::quiet_NaN() : sign * std::numeric_limits<double>::infinity();
  if (e == 0) return sign * std::ldexp(static_cast<double>(m), -24);
  return sign * std::ldexp(static_cast<double>(1024 + m), e - 25);
}

// Value of a bf16 bit pattern, in double.
double bf16_value(uint16_t h) { return static_cast<double>(float_of(static_cast<uint32_t>(h) << 16)); }

// Nearest 16-bit float to x, ties to the even bit pattern, found by searching
// the sorted positive finite patterns 0..max_pattern - no bit tricks. Values at
// or beyond `overflow_at` (half an ulp above the largest finite) give inf_pattern.
template <class ValueFn>
uint16_t nearest_reference(float x, ValueFn value, int max_pattern, double overflow_at, uint16_t inf_pattern) {
  const double ax = std::fabs(static_cast<double>(x));
  const uint16_t sign = std::signbit(x) ? 0x8000 : 0;
  if (std::isinf(x) || ax >= overflow_at) return sign | inf_pattern;
  int lo = 0, hi = max_pattern;  // largest pattern with value <= ax
  while (lo < hi) {
    const int mid = (lo + hi + 1) / 2;
    if (value(static_cast<uint16_t>(mid)) <= ax) lo = mid;
    else hi = mid - 1;
  }
  if (lo == max_pattern) return static_cast<uint16_t>(sign | lo);
  const double below = ax - value(static_cast<uint16_t>(lo));
  const double above = value(static_cast<uint16_t>(lo + 1)) - ax;
  int h = lo;
  if (above < below || (above == below && (lo & 1))) h = lo + 1;
  return static_cast<uint16_t>(sign | h);
}
uint16_t f16_reference(float x) { return nearest_reference(x, f16_value, 0x7bff, 65520.0, 0x7c00); }
uint16_t bf16_reference(float x) {
  return nearest_reference(x, bf16_value, 0x7f7f, bf16_value(0x7f7f) + std::ldexp(1.0, 127 - 8), 0x7f80);
}

// f32 patterns that exercise every rounding position: all upper halves with
// low halves at and around each power-of-two boundary, plus random ones.
std::vector<uint32_t> sample_f32_patterns() {
  static const uint32_t lows[] = {0x0000, 0x0001, 0x0fff, 0x1000, 0x1001, 0x1fff, 0x2000, 0x2001,
                                  0x3fff, 0x4000, 0x4001, 0x7fff, 0x8000, 0x8001, 0xffff};
  std::vector<uint32_t> v;
  rng r(7);
  for (uint32_t hi = 0; hi < 0x10000; ++hi) {
    for (uint32_t lo : lows) v.push_back(hi << 16 | lo);
    v.push_back(hi << 16 | static_cast<uint32_t>(r.next() & 0xffff));
  }
  return v;
}

}  // namespace

TEST_CASE("fp16_to_fp32 matches the IEEE definition for all 65536 patterns") {
  for (uint32_t h = 0; h < 0x10000; ++h) {
    const float f = plm::fp16_to_fp32(static_cast<uint16_t>(h));
    const float p = plm::detail::fp16_to_fp32_portable(static_cast<uint16_t>(h));
    const double want = f16_value(static_cast<uint16_t>(h));
    if (std::isnan(want)) {
      REQUIRE(std::isnan(f));
      REQUIRE(std::isnan(p));
      // Sign and payload carried into the top of the f32 mantissa, made quiet.
      REQUIRE((bits_of(p) >> 31) == (h >> 15));
      REQUIRE(((bits_of(p) >> 13) & 0x3ff) == ((h & 0x3ff) | 0x200));
      REQUIRE(bits_of(f) == bits_of(p));
    } else {
      REQUIRE(static_cast<double>(f) == want);
      REQUIRE(bits_of(p) == bits_of(f));
      REQUIRE(std::signbit(f) == ((h >> 15) != 0));  // -0 stays -0
    }
  }
}

TEST_CASE("fp32_to_fp16 round-trips every f16 and rounds to nearest even") {
  for (uint32_t h = 0; h < 0x10000; ++h) {
    const float f = plm::detail::fp16_to_fp32_portable(static_cast<uint16_t>(h));
    if (std::isnan(f)) {
      const uint16_t back = plm::fp32_to_fp16(f);
      CHECK(((back >> 10) & 31) == 31);
      CHECK((back & 0x3ff) != 0);
      CHECK((back & 0x200) != 0);  // quiet
      CHECK((back >> 15) == (h >> 15));
      continue;
    }
    REQUIRE(plm::fp32_to_fp16(f) == h);
    REQUIRE(plm::detail::fp32_to_fp16_portable(f) == h);
  }
  // Exact midpoints between neighbours go to the even pattern; one f32 ulp
  // either side goes to the nearer one.
  for (uint32_t h = 0; h < 0x7bff; ++h) {
    const double mid = (f16_value(static_cast<uint16_t>(h)) + f16_value(static_cast<uint16_t>(h + 1))) / 2;
    const float m = static_cast<float>(mid);
    REQUIRE(static_cast<double>(m) == mid);  // midpoints of f16 neighbours are f32 values
    const uint16_t even = (h & 1) ? static_cast<uint16_t>(h + 1) : static_cast<uint16_t>(h);
    REQUIRE(plm::detail::fp32_to_fp16_portable(m) == even);
    REQUIRE(plm::detail::fp32_to_fp16_portable(-m) == (even | 0x8000));
    REQUIRE(plm::detail::fp32_to_fp16_portable(std::nextafter(m, 0.0f)) == h);
    REQUIRE(plm::detail::fp32_to_fp16_portable(std::nextafter(m, 1e9f)) == h + 1);
  }
  CHECK(plm::fp32_to_fp16(65519.996f) == 0x7bff);
  CHECK(plm::fp32_to_fp16(65520.0f) == 0x7c00);
  CHECK(plm::fp32_to_fp16(-1e30f) == 0xfc00);
  CHECK(plm::fp32_to_fp16(std::numeric_limits<float>::infinity()) == 0x7c00);
  CHECK(plm::fp32_to_fp16(std::ldexp(1.0f, -25)) == 0x0000);                       // tie -> even (zero)
  CHECK(plm::fp32_to_fp16(std::nextafter(std::ldexp(1.0f, -25), 1.0f)) == 0x0001);  // above the tie
  CHECK(plm::fp32_to_fp16(std::ldexp(3.0f, -25)) == 0x0002);                       // 1.5 ulp tie -> even 2
}

TEST_CASE("fp32_to_fp16 agrees with a nearest-value search on sampled f32 patterns") {
  for (uint32_t u : sample_f32_patterns()) {
    const float f = float_of(u);
    const uint16_t got = plm::detail::fp32_to_fp16_portable(f);
    if (std::isnan(f)) {
      REQUIRE(((got >> 10) & 31) == 31);
      REQUIRE((got & 0x200) != 0);
      REQUIRE((got & 0x3ff) == (0x200 | ((u >> 13) & 0x3ff)));
      REQUIRE((got >> 15) == (u >> 31));
    } else {
      REQUIRE(got == f16_reference(f));
    }
    // The dispatching function (F16C when compiled in) gives the same bits, NaN included.
    REQUIRE(plm::fp32_to_fp16(f) == got);
  }
}

TEST_CASE("bf16 conversions: exact widening, nearest-even narrowing, quiet NaN") {
  for (uint32_t h = 0; h < 0x10000; ++h) {
    const float f = plm::bf16_to_fp32(static_cast<uint16_t>(h));
    REQUIRE(bits_of(f) == h << 16);
    if (std::isnan(f)) REQUIRE(plm::fp32_to_bf16(f) == (h | 0x40));
    else REQUIRE(plm::fp32_to_bf16(f) == h);
  }
  for (uint32_t u : sample_f32_patterns()) {
    const float f = float_of(u);
    const uint16_t got = plm::fp32_to_bf16(f);
    if (std::isnan(f)) {
      REQUIRE(got == ((u >> 16) | 0x40));
      REQUIRE(std::isnan(plm::bf16_to_fp32(got)));
    } else {
      REQUIRE(got == bf16_reference(f));
    }
  }
  CHECK(plm::fp32_to_bf16(1.0f) == 0x3f80);
  CHECK(plm::fp32_to_bf16(float_of(0x3f808000)) == 0x3f80);  // tie, even stays
  CHECK(plm::fp32_to_bf16(float_of(0x3f818000)) == 0x3f82);  // tie, odd rounds up
  CHECK(plm::fp32_to_bf16(float_of(0x00000001)) == 0x0000);  // smallest subnormal: not representable, rounds to 0
  CHECK(plm::fp32_to_bf16(float_of(0x00010000)) == 0x0001);  // bf16 subnormals kept, not flushed
  CHECK(plm::fp32_to_bf16(float_of(0x7f7fffff)) == 0x7f80);  // overflow to inf
}

// ---------------------------------------------------------------------------
// Known-answer blocks. Each helper packs chosen values into raw bytes at the
// byte offsets of the spec table; expected values come from the spec formula.

namespace {

void put_f16(std::vector<uint8_t>& b, size_t off, float v) {
  const uint16_t h = plm::fp32_to_fp16(v);
  b[off] = static_cast<uint8_t>(h & 0xff);
  b[off + 1] = static_cast<uint8_t>(h >> 8);
}
// A scale that is exactly an f16 value, so expected values need no rounding guesswork.
float f16_exact(rng& r, int lo_exp, int hi_exp, bool allow_negative = true) {
  const int m = r.uniform_int(1024, 2047);
  const int e = r.uniform_int(lo_exp, hi_exp);
  float v = std::ldexp(static_cast<float>(m), e - 10);
  if (allow_negative && (r.next() & 1)) v = -v;
  return v;
}
void check_row(plm::dtype t, const std::vector<uint8_t>& bytes, const std::vector<double>& want) {
  std::vector<float> got(want.size(), -12345.0f);
  REQUIRE(plm::quant::dequantize_row(t, bytes.data(), got.data(), static_cast<int64_t>(want.size())));
  for (size_t i = 0; i < want.size(); ++i) {
    INFO("element " << i);
    REQUIRE(got[i] == static_cast<float>(want[i]));
  }
}

}  // namespace

TEST_CASE("q4_0 known answers: nibble order and the -8 offset") {
  // Literal block: d = 0.5, qs[5] = 0xA3 -> element 5 = (3-8)*0.5, element 21 = (10-8)*0.5.
  std::vector<uint8_t> b(18, 0x88);  // all nibbles 8 -> zero
  put_f16(b, 0, 0.5f);
  b[2 + 5] = 0xA3;
  std::vector<float> y(32);
  REQUIRE(plm::quant::dequantize_row(plm::dtype::q4_0, b.data(), y.data(), 32));
  CHECK(y[5] == -2.5f);
  CHECK(y[21] == 1.0f);
  CHECK(y[0] == 0.0f);
  CHECK(y[31] == 0.0f);
  // Random blocks, 1, 3 and 7 of them.
  for (int nb : {1, 3, 7}) {
    rng r(100 + nb);
    std::vector<uint8_t> bytes(18 * nb, 0);
    std::vector<double> want(32 * nb);
    for (int blk = 0; blk < nb; ++blk) {
      const float d = f16_exact(r, -8, 4);
      put_f16(bytes, 18 * blk, d);
      for (int e = 0; e < 32; ++e) {
        const int q = r.uniform_int(0, 15);
        bytes[18 * blk + 2 + (e % 16)] |= static_cast<uint8_t>(e < 16 ? q : q << 4);
        want[32 * blk + e] = (q - 8) * static_cast<double>(d);
      }
    }
    check_row(plm::dtype::q4_0, bytes, want);
  }
}

TEST_CASE("q4_1 known answers: y = q*d + m") {
  for (int nb : {1, 3, 7}) {
    rng r(200 + nb);
    std::vector<uint8_t> bytes(20 * nb, 0);
    std::vector<double> want(32 * nb);
    for (int blk = 0; blk < nb; ++blk) {
      const float d = f16_exact(r, -6, 2, false), m = f16_exact(r, -6, 2);
      put_f16(bytes, 20 * blk, d);
      put_f16(bytes, 20 * blk + 2, m);
      for (int e = 0; e < 32; ++e) {
        const int q = r.uniform_int(0, 15);
        bytes[20 * blk + 4 + (e % 16)] |= static_cast<uint8_t>(e < 16 ? q : q << 4);
        want[32 * blk + e] = q * static_cast<double>(d) + m;
      }
    }
    check_row(plm::dtype::q4_1, bytes, want);
  }
}

TEST_CASE("q5_0 / q5_1 known answers: fifth bit from the little-endian qh word") {
  // Literal: element 17 has high nibble of qs[1] and bit 17 of qh (= bit 1 of qh byte 2).
  std::vector<uint8_t> b(22, 0);
  put_f16(b, 0, 1.0f);
  b[6 + 1] = 0x30;  // element 17: nibble 3
  b[2 + 2] = 0x02;  // bit 17 -> +16
  std::vector<float> y(32);
  REQUIRE(plm::quant::dequantize_row(plm::dtype::q5_0, b.data(), y.data(), 32));
  CHECK(y[17] == 3.0f);   // (3 + 16) - 16
  CHECK(y[1] == -16.0f);  // nibble 0, bit 1 clear
  for (int nb : {1, 3, 7}) {
    for (bool with_min : {false, true}) {
      rng r(300 + nb + (with_min ? 50 : 0));
      const int bb = with_min ? 24 : 22;
      const int qh_off = with_min ? 4 : 2, qs_off = qh_off + 4;
      std::vector<uint8_t> bytes(bb * nb, 0);
      std::vector<double> want(32 * nb);
      for (int blk = 0; blk < nb; ++blk) {
        const size_t o = static_cast<size_t>(bb) * blk;
        const float d = f16_exact(r, -6, 2), m = f16_exact(r, -6, 2);
        put_f16(bytes, o, d);
        if (with_min) put_f16(bytes, o + 2, m);
        for (int e = 0; e < 32; ++e) {
          const int q = r.uniform_int(0, 31);
          bytes[o + qs_off + (e % 16)] |= static_cast<uint8_t>(e < 16 ? (q & 15) : (q & 15) << 4);
          if (q & 16) bytes[o + qh_off + e / 8] |= static_cast<uint8_t>(1u << (e % 8));  // bit e of LE u32
          want[32 * blk + e] = with_min ? q * static_cast<double>(d) + m : (q - 16) * static_cast<double>(d);
        }
      }
      check_row(with_min ? plm::dtype::q5_1 : plm::dtype::q5_0, bytes, want);
    }
  }
}

TEST_CASE("q8_0 / q8_1 / q8_K known answers") {
  for (int nb : {1, 3, 7}) {
    rng r(400 + nb);
    std::vector<uint8_t> b0(34 * nb, 0), b1(36 * nb, 0);
    std::vector<double> want(32 * nb);
    for (int blk = 0; blk < nb; ++blk) {
      const float d = f16_exact(r, -10, 3);
      put_f16(b0, 34 * blk, d);
      put_f16(b1, 36 * blk, d);
      put_f16(b1, 36 * blk + 2, 123.0f);  // s is not used by dequantization
      for (int e = 0; e < 32; ++e) {
        const int q = r.uniform_int(-128, 127);
        b0[34 * blk + 2 + e] = static_cast<uint8_t>(static_cast<int8_t>(q));
        b1[36 * blk + 4 + e] = static_cast<uint8_t>(static_cast<int8_t>(q));
        want[32 * blk + e] = q * static_cast<double>(d);
      }
    }
    check_row(plm::dtype::q8_0, b0, want);
    check_row(plm::dtype::q8_1, b1, want);
  }
  for (int nb : {1, 3}) {
    rng r(450 + nb);
    std::vector<uint8_t> b(292 * nb, 0);
    std::vector<double> want(256 * nb);
    for (int blk = 0; blk < nb; ++blk) {
      const float d = 0.0123f * static_cast<float>(blk + 1);
      std::memcpy(&b[292 * blk], &d, 4);  // f32 scale at offset 0
      for (int e = 0; e < 256; ++e) {
        const int q = r.uniform_int(-127, 127);
        b[292 * blk + 4 + e] = static_cast<uint8_t>(static_cast<int8_t>(q));
        want[256 * blk + e] = static_cast<double>(static_cast<float>(d * static_cast<float>(q)));
      }
    }
    check_row(plm::dtype::q8_k, b, want);
  }
}

TEST_CASE("q2_K known answers: 2-bit shifts, two 128-halves, 4-bit scale/min nibbles") {
  // Layout: scales[16] @0, qs[64] @16, d @80, dmin @82.
  // Literal: element 37 = half 0, shift group 1 (elements 32..63), l = 5 -> bits 2..3 of qs[5];
  // its sub-block is 37/16 = 2 -> scales[2].
  {
    std::vector<uint8_t> b(84, 0);
    put_f16(b, 80, 0.25f);
    put_f16(b, 82, 0.5f);
    b[2] = 0x3 << 4 | 0x6;       // scale 6, min 3
    b[16 + 5] = 0x2 << 2;        // q = 2 at shift 2
    std::vector<float> y(256);
    REQUIRE(plm::quant::dequantize_row(plm::dtype::q2_k, b.data(), y.data(), 256));
    CHECK(y[37] == 0.25f * 6 * 2 - 0.5f * 3);
    CHECK(y[36] == 0.25f * 6 * 0 - 0.5f * 3);
    CHECK(y[5] == 0.0f);  // shift 0 of the same byte, sub-block 0 (scale 0, min 0)
  }
  for (int nb : {1, 3, 7}) {
    rng r(500 + nb);
    std::vector<uint8_t> bytes(84 * nb, 0);
    std::vector<double> want(256 * nb);
    for (int blk = 0; blk < nb; ++blk) {
      const size_t o = 84u * blk;
      const float d = f16_exact(r, -8, 0), dmin = f16_exact(r, -8, 0);
      put_f16(bytes, o + 80, d);
      put_f16(bytes, o + 82, dmin);
      int sc[16], mn[16];
      for (int s = 0; s < 16; ++s) {
        sc[s] = r.uniform_int(0, 15);
        mn[s] = r.uniform_int(0, 15);
        bytes[o + s] = static_cast<uint8_t>(sc[s] | mn[s] << 4);
      }
      for (int e = 0; e < 256; ++e) {
        const int q = r.uniform_int(0, 3);
        const int half = e / 128, shift_group = (e % 128) / 32, l = e % 32;
        bytes[o + 16 + 32 * half + l] |= static_cast<uint8_t>(q << (2 * shift_group));
        want[256 * blk + e] = static_cast<double>(d) * sc[e / 16] * q - static_cast<double>(dmin) * mn[e / 16];
      }
    }
    check_row(plm::dtype::q2_k, bytes, want);
  }
}

TEST_CASE("q3_K known answers: hmask bits, 2-bit quants, 6-bit scale unpacking") {
  // Layout: hmask[32] @0, qs[64] @32, scales[12] @96, d @108.
  for (int nb : {1, 3, 7}) {
    rng r(600 + nb);
    std::vector<uint8_t> bytes(110 * nb, 0);
    std::vector<double> want(256 * nb);
    for (int blk = 0; blk < nb; ++blk) {
      const size_t o = 110u * blk;
      const float d = f16_exact(r, -8, 0);
      put_f16(bytes, o + 108, d);
      int s6[16];
      for (int j = 0; j < 16; ++j) {
        s6[j] = r.uniform_int(0, 63);
        // low 4 bits: scales[j] low nibble (j < 8) or scales[j-8] high nibble;
        // high 2 bits: scales[8 + j%4] at bit 2*(j/4)
        if (j < 8) bytes[o + 96 + j] |= static_cast<uint8_t>(s6[j] & 15);
        else bytes[o + 96 + j - 8] |= static_cast<uint8_t>((s6[j] & 15) << 4);
        bytes[o + 96 + 8 + j % 4] |= static_cast<uint8_t>((s6[j] >> 4) << (2 * (j / 4)));
      }
      for (int e = 0; e < 256; ++e) {
        const int v = r.uniform_int(-4, 3);  // the 3-bit value
        const int stored = v + 4;            // low 2 bits + high bit (set when v >= 0)
        const int half = e / 128, s = (e % 128) / 32, l = e % 32;
        bytes[o + 32 + 32 * half + l] |= static_cast<uint8_t>((stored & 3) << (2 * s));
        if (stored & 4) bytes[o + l] |= static_cast<uint8_t>(1u << (4 * half + s));
        want[256 * blk + e] = static_cast<double>(d) * (s6[e / 16] - 32) * v;
      }
    }
    check_row(plm::dtype::q3_k, bytes, want);
  }
}

namespace {
// Packs eight 6-bit (scale, min) pairs as q4_K / q5_K store them.
void pack_scale_min_k4(uint8_t* q, const int* sc, const int* mn) {
  for (int j = 0; j < 12; ++j) q[j] = 0;
  for (int j = 0; j < 8; ++j) {
    if (j < 4) {
      q[j] |= static_cast<uint8_t>(sc[j]);
      q[j + 4] |= static_cast<uint8_t>(mn[j]);
    } else {
      q[j + 4] = static_cast<uint8_t>((sc[j] & 15) | (mn[j] & 15) << 4);
      q[j - 4] |= static_cast<uint8_t>((sc[j] >> 4) << 6);
      q[j] |= static_cast<uint8_t>((mn[j] >> 4) << 6);
    }
  }
}
}  // namespace

TEST_CASE("q4_K / q5_K known answers: scale unpacking for sub-blocks j<4 and j>=4, q5 high bits") {
  // Literal q4_K: sub-block 5 (elements 160..191) scale = 0x2A (42): low nibble 0xA in
  // scales[9], top bits 0b10 in bits 6..7 of scales[1]; min = 0x15 (21): nibble 5 in
  // scales[9] high, bits 0b01 in bits 6..7 of scales[5]. Element 170 = chunk 2, high
  // nibble of qs[32*2 + 10].
  {
    std::vector<uint8_t> b(144, 0);
    put_f16(b, 0, 0.5f);
    put_f16(b, 2, 0.25f);
    b[4 + 9] = 0x5A;
    b[4 + 1] = 0x80;
    b[4 + 5] = 0x40;
    b[16 + 64 + 10] = 0x70;  // q = 7
    std::vector<float> y(256);
    REQUIRE(plm::quant::dequantize_row(plm::dtype::q4_k, b.data(), y.data(), 256));
    CHECK(y[170] == 0.5f * 42 * 7 - 0.25f * 21);
    CHECK(y[171] == 0.5f * 42 * 0 - 0.25f * 21);
    CHECK(y[138] == 0.0f);  // low nibble of the same byte: sub-block 4, all zero
  }
  for (bool five : {false, true}) {
    for (int nb : {1, 3, 7}) {
      rng r(700 + nb + (five ? 10 : 0));
      const size_t bb = five ? 176 : 144;
      const size_t qs_off = five ? 48 : 16;  // q5_K: d, dmin, scales[12] @4, qh[32] @16, qs[128] @48
      std::vector<uint8_t> bytes(bb * nb, 0);
      std::vector<double> want(256 * nb);
      for (int blk = 0; blk < nb; ++blk) {
        const size_t o = bb * blk;
        const float d = f16_exact(r, -10, -2, false), dmin = f16_exact(r, -10, -2, false);
        put_f16(bytes, o, d);
        put_f16(bytes, o + 2, dmin);
        int sc[8], mn[8];
        for (int j = 0; j < 8; ++j) {
          sc[j] = r.uniform_int(0, 63);
          mn[j] = r.uniform_int(0, 63);
        }
        pack_scale_min_k4(&bytes[o + 4], sc, mn);
        for (int e = 0; e < 256; ++e) {
          const int q = r.uniform_int(0, five ? 31 : 15);
          const int chunk = e / 64, r64 = e % 64, l = r64 % 32;
          const bool high = r64 >= 32;
          bytes[o + qs_off + 32 * chunk + l] |= static_cast<uint8_t>(high ? (q & 15) << 4 : (q & 15));
          if (five && (q & 16)) bytes[o + 16 + l] |= static_cast<uint8_t>(1u << (2 * chunk + (high ? 1 : 0)));
          want[256 * blk + e] = static_cast<double>(d) * sc[e / 32] * q - static_cast<double>(dmin) * mn[e / 32];
        }
      }
      check_row(five ? plm::dtype::q5_k : plm::dtype::q4_k, bytes, want);
    }
  }
}

TEST_CASE("unpack_scales_mins_k4 (word-wise) agrees with unpack_scale_min_k4 on random bytes") {
  rng r(77);
  for (int it = 0; it < 2000; ++it) {
    uint8_t q[12], out[16];
    for (auto& v : q) v = static_cast<uint8_t>(r.next());
    plm::quant::unpack_scales_mins_k4(q, out);
    for (int j = 0; j < 8; ++j) {
      uint8_t sc, m;
      plm::quant::unpack_scale_min_k4(j, q, sc, m);
      REQUIRE(out[j] == sc);
      REQUIRE(out[8 + j] == m);
    }
  }
}

TEST_CASE("q6_K known answers: ql halves, qh 2-bit fields, signed 8-bit scales") {
  // Layout: ql[128] @0, qh[64] @128, scales[16] @192, d @208.
  // Literal: element 200 = half 1, k = 2 (elements 192..223), l = 8: high nibble of
  // ql[64 + 8], bits 4..5 of qh[32 + 8], scale index 200/16 = 12.
  {
    std::vector<uint8_t> b(210, 0);
    put_f16(b, 208, 0.125f);
    b[192 + 12] = static_cast<uint8_t>(static_cast<int8_t>(-3));
    b[64 + 8] = 0x90;        // low 4 bits of q = 9
    b[128 + 32 + 8] = 0x20;  // top bits = 2 -> q = 9 + 32 = 41 -> 41 - 32 = 9
    std::vector<float> y(256);
    REQUIRE(plm::quant::dequantize_row(plm::dtype::q6_k, b.data(), y.data(), 256));
    CHECK(y[200] == 0.125f * -3 * 9);
    CHECK(y[136] == 0.0f);  // low nibble of ql[72] (k = 0 of half 1): q = 0 - 32 with scale 0
  }
  for (int nb : {1, 3, 7}) {
    rng r(800 + nb);
    std::vector<uint8_t> bytes(210 * nb, 0);
    std::vector<double> want(256 * nb);
    for (int blk = 0; blk < nb; ++blk) {
      const size_t o = 210u * blk;
      const float d = f16_exact(r, -10, -2);
      put_f16(bytes, o + 208, d);
      int sc[16];
      for (int j = 0; j < 16; ++j) {
        sc[j] = r.uniform_int(-128, 127);
        bytes[o + 192 + j] = static_cast<uint8_t>(static_cast<int8_t>(sc[j]));
      }
      for (int e = 0; e < 256; ++e) {
        const int q = r.uniform_int(0, 63);
        const int half = e / 128, k = (e % 128) / 32, l = e % 32;
        const size_t ql = o + 64 * half + 32 * (k & 1) + l;
        bytes[ql] |= static_cast<uint8_t>(k < 2 ? (q & 15) : (q & 15) << 4);
        bytes[o + 128 + 32 * half + l] |= static_cast<uint8_t>((q >> 4) << (2 * k));
        want[256 * blk + e] = static_cast<double>(d) * sc[e / 16] * (q - 32);
      }
    }
    check_row(plm::dtype::q6_k, bytes, want);
  }
}

TEST_CASE("f32 / f16 / bf16 rows and argument checks of dequantize_row") {
  const float src[3] = {1.5f, -0.0f, 3e38f};
  float y[3];
  REQUIRE(plm::quant::dequantize_row(plm::dtype::f32, src, y, 3));
  CHECK(std::memcmp(src, y, sizeof y) == 0);
  // 17 f16 values: covers the 8-wide F16C loop and its scalar tail.
  std::vector<uint16_t> h(17);
  for (int i = 0; i < 17; ++i) h[static_cast<size_t>(i)] = static_cast<uint16_t>(0x3c00 + 37 * i);
  h[16] = 0xfc00;
  std::vector<float> hy(17);
  REQUIRE(plm::quant::dequantize_row(plm::dtype::f16, h.data(), hy.data(), 17));
  for (int i = 0; i < 17; ++i) CHECK(static_cast<double>(hy[static_cast<size_t>(i)]) == f16_value(h[static_cast<size_t>(i)]));
  const uint16_t bf[2] = {0x3f80, 0xc000};
  REQUIRE(plm::quant::dequantize_row(plm::dtype::bf16, bf, y, 2));
  CHECK(y[0] == 1.0f);
  CHECK(y[1] == -2.0f);

  std::vector<uint8_t> blk(144, 0);
  std::vector<float> out(256, 7.0f);
  CHECK_FALSE(plm::quant::dequantize_row(plm::dtype::q4_k, blk.data(), out.data(), 100));  // not a whole block
  CHECK_FALSE(plm::quant::dequantize_row(plm::dtype::q4_k, blk.data(), out.data(), -256));
  CHECK_FALSE(plm::quant::dequantize_row(plm::dtype::i32, blk.data(), out.data(), 4));
  CHECK(out[0] == 7.0f);  // nothing written on refusal
  CHECK(plm::quant::dequantize_row(plm::dtype::q4_k, blk.data(), out.data(), 0));
}
