// Tests of plm/quant/quantize.hpp and traits.hpp: quantize -> dequantize error
// on many input shapes, exact answers on inputs whose quantization is known,
// NaN/Inf and overflow behaviour, and the traits table.
#include <doctest/doctest.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <string>
#include <vector>

#include "test_quant_support.hpp"
#include "plm/quant/dequantize.hpp"
#include "plm/quant/half.hpp"
#include "plm/quant/quantize.hpp"
#include "plm/quant/traits.hpp"

namespace {

using plm::dtype;

using plm_test::rng;

const dtype block_types[] = {dtype::q4_0, dtype::q4_1, dtype::q5_0, dtype::q5_1, dtype::q8_0, dtype::q8_1,
                             dtype::q2_k, dtype::q3_k, dtype::q4_k, dtype::q5_k, dtype::q6_k, dtype::q8_k};

std::vector<float> roundtrip(dtype t, const std::vector<float>& x) {
  const int64_t n = static_cast<int64_t>(x.size());
  std::vector<uint8_t> q(plm::quant::row_bytes(t, n) + 1, 0xAB);
  auto r = plm::quant::quantize_row(t, x.data(), q.data(), n);
  REQUIRE_MESSAGE(r, (r ? std::string() : r.error().message()));
  CHECK(q.back() == 0xAB);  // wrote exactly row_bytes
  std::vector<float> y(x.size());
  REQUIRE(plm::quant::dequantize_row(t, q.data(), y.data(), n));
  return y;
}

// Quality bounds per type, relative to the data: `max_rel` bounds the largest
// element error as a fraction of the largest |x| of its block; `rms_rel`
// bounds the RMS error as a fraction of the RMS of normal data (64 blocks).
// Derivation: a rounding step s gives max error s/2 and RMS error s/sqrt(12);
// the block max of 32 normals is ~2.5 sigma, of 256 ~3 sigma.
//  - q8_0/q8_1/q8_K: s = amax/127 -> max amax/254 = 0.0039 (+ f16 scale rounding, 2^-11 relative);
//    RMS ~ 2.5/127/3.46 = 0.0057 (q8_K: 3/127/3.46 = 0.0068).
//  - q4_0 / q5_0: s = amax/8 resp. amax/16, levels -8..7 resp. -16..15 with the
//    largest value on the -8 (-16) end: the other end stops one step short, so max
//    error is one step, 0.125 resp. 0.0625; RMS ~ 0.083 resp. 0.042.
//  - q4_1 / q5_1: s = range/15 resp. range/31 <= 2amax/15, 2amax/31: max s/2 = 0.067, 0.032.
//  - q6_K: per 16 a scale ~ amax16/32 stored as 8 bits against the block max: max ~ 1/64
//    of the sub-block max plus scale rounding (1/256 of the block max per level).
//  - q5_K/q4_K: per 32 an asymmetric step range32/31 resp. range32/15 with 6-bit
//    scale and min against the block maxima; the rounded min and scale push some
//    values up to about one step: max ~ 2amax/31 = 0.065 resp. 2amax/15 = 0.13.
//  - q3_K: per 16 a step amax16/4 (6-bit scales), levels -4..3: max up to one step, 1/4.
//  - q2_K: per 16 four levels over the range, fit for mean absolute error, which
//    sacrifices extremes: up to half the range; RMS ~ 0.3 sigma for normal data.
// The rms targets carry about 20% margin over measured figures (q4_K 0.071, q6_K 0.018).
struct quality {
  dtype t;
  double max_rel;
  double rms_rel;
};
const quality qualities[] = {
    {dtype::q8_0, 0.0045, 0.0068}, {dtype::q8_1, 0.0045, 0.0068}, {dtype::q8_k, 0.0045, 0.0085},
    {dtype::q5_0, 0.066, 0.052},   {dtype::q5_1, 0.036, 0.047},   {dtype::q4_0, 0.13, 0.105},
    {dtype::q4_1, 0.07, 0.097},    {dtype::q6_k, 0.025, 0.022},   {dtype::q5_k, 0.07, 0.045},
    {dtype::q4_k, 0.14, 0.086},    {dtype::q3_k, 0.3, 0.18},      {dtype::q2_k, 0.5, 0.36},
};

void check_quality(dtype t, const std::vector<float>& x, const char* what, bool check_rms) {
  const quality* qy = nullptr;
  for (const auto& q : qualities)
    if (q.t == t) qy = &q;
  REQUIRE(qy);
  const std::vector<float> y = roundtrip(t, x);
  const size_t bs = plm::block_size(t);
  double se = 0, sx = 0;
  for (size_t b = 0; b < x.size() / bs; ++b) {
    double amax = 0;
    for (size_t i = b * bs; i < (b + 1) * bs; ++i) amax = std::fmax(amax, std::fabs(x[i]));
    for (size_t i = b * bs; i < (b + 1) * bs; ++i) {
      const double err = std::fabs(static_cast<double>(y[i]) - x[i]);
      INFO(std::string(plm::name(t)) << " " << what << " element " << i << " x=" << x[i] << " y=" << y[i] << " amax=" << amax);
      REQUIRE(std::isfinite(y[i]));
      REQUIRE(err <= qy->max_rel * amax + 1e-30);
      se += err * err;
      sx += static_cast<double>(x[i]) * x[i];
    }
  }
  if (check_rms && sx > 0) {
    INFO(std::string(plm::name(t)) << " " << what << " rms error / rms = " << std::sqrt(se / sx));
    CHECK(std::sqrt(se / sx) <= qy->rms_rel);
  }
}

}  // namespace

TEST_CASE("quantize -> dequantize error is bounded for every block type and input shape") {
  for (dtype t : block_types) {
    const int64_t bs = plm::block_size(t);
    for (int nb : {1, 3, 7}) {
      const size_t n = static_cast<size_t>(bs * nb);
      rng r(static_cast<uint64_t>(t) * 1000 + static_cast<uint64_t>(nb));
      std::vector<float> x(n);
      for (auto& v : x) v = static_cast<float>(r.normal());
      check_quality(t, x, "normal", false);
      for (auto& v : x) v = static_cast<float>(2 * r.uniform() - 1);
      check_quality(t, x, "uniform", false);
      for (auto& v : x) v = static_cast<float>(3 + r.uniform());  // positive, offset: exercises the mins
      check_quality(t, x, "offset", false);
      for (auto& v : x) v = static_cast<float>(0.01 * r.normal());
      for (size_t b = 0; b < n / static_cast<size_t>(bs); ++b)  // one outlier per block
        x[b * static_cast<size_t>(bs) + (b * 7) % static_cast<size_t>(bs)] = (b & 1) ? -5.0f : 5.0f;
      check_quality(t, x, "outlier", false);
      for (auto& v : x) v = static_cast<float>(1000 * r.normal());  // large but within f16 scales
      check_quality(t, x, "large", false);
      for (size_t i = 0; i < n; ++i) x[i] = (i % 3 == 0) ? 100.0f : 1e-4f;  // wide range inside blocks
      check_quality(t, x, "wide", false);
      std::fill(x.begin(), x.end(), 0.0f);
      const std::vector<float> z = roundtrip(t, x);
      for (float v : z) REQUIRE(v == 0.0f);
      for (float c : {0.7f, -3.0f}) {  // constant rows
        std::fill(x.begin(), x.end(), c);
        check_quality(t, x, "constant", false);
      }
    }
  }
}

TEST_CASE("RMS error on 64 blocks of normal data is the rounding-noise figure of each type") {
  for (dtype t : block_types) {
    rng r(static_cast<uint64_t>(t) * 31 + 1);
    for (double sigma : {1.0, 1000.0}) {
      std::vector<float> x(static_cast<size_t>(plm::block_size(t) * 64));
      for (auto& v : x) v = static_cast<float>(sigma * r.normal());
      check_quality(t, x, "normal", true);
    }
  }
}

TEST_CASE("tiny and subnormal inputs decode to finite values no farther than the inputs themselves") {
  // Scales this small underflow the f16 scale field: the block decodes to (near)
  // zero, so the error is at most |x| plus one f16 subnormal step per level.
  for (dtype t : block_types) {
    const int64_t bs = plm::block_size(t);
    rng r(static_cast<uint64_t>(t) + 77);
    for (float scale : {1e-20f, 1e-39f, 1e-44f}) {
      std::vector<float> x(static_cast<size_t>(bs * 3));
      for (auto& v : x) v = static_cast<float>(scale * r.normal());
      const std::vector<float> y = roundtrip(t, x);
      for (size_t i = 0; i < x.size(); ++i) {
        INFO(std::string(plm::name(t)) << " scale " << scale << " element " << i);
        REQUIRE(std::isfinite(y[i]));
        REQUIRE(std::fabs(static_cast<double>(y[i]) - x[i]) <= std::fabs(x[i]) * 1.01 + 1e-30);
      }
    }
    // Values around 1e-5 give f16-subnormal scales: coarse but still bounded.
    std::vector<float> x(static_cast<size_t>(bs));
    for (auto& v : x) v = static_cast<float>(1e-5 * r.normal());
    const std::vector<float> y = roundtrip(t, x);
    for (size_t i = 0; i < x.size(); ++i) REQUIRE(std::fabs(static_cast<double>(y[i]) - x[i]) <= 1e-4);
  }
}

TEST_CASE("q4_0 / q8_0 / q8_K give the quants the formulas predict") {
  SUBCASE("q4_0: max = -8 gives d = 1 and q = x + 8") {
    std::vector<float> x(32);
    for (int j = 0; j < 32; ++j) x[static_cast<size_t>(j)] = static_cast<float>((j % 16) - 8);  // -8..7 twice
    plm::quant::block_q4_0 b{};
    REQUIRE(plm::quant::quantize_row(dtype::q4_0, x.data(), &b, 32));
    CHECK(b.d == 0x3c00);  // f16 1.0
    for (int j = 0; j < 16; ++j) CHECK(b.qs[j] == ((j % 16) | ((j % 16) << 4)));
  }
  SUBCASE("q8_0: d = amax/127, q = round(x/d), ties away from zero") {
    std::vector<float> x(32);
    for (int j = 0; j < 32; ++j) x[static_cast<size_t>(j)] = 0.5f * static_cast<float>(j - 12);  // amax 9.5
    plm::quant::block_q8_0 b{};
    REQUIRE(plm::quant::quantize_row(dtype::q8_0, x.data(), &b, 32));
    const float d = 9.5f / 127;
    CHECK(b.d == plm::fp32_to_fp16(d));
    for (int j = 0; j < 32; ++j) CHECK(b.qs[j] == static_cast<int>(std::round(x[static_cast<size_t>(j)] * (1.0f / d))));
  }
  SUBCASE("q8_K: d = max/-127 with max the signed largest, nearest-even rounding, bsums") {
    std::vector<float> x(256);
    for (int j = 0; j < 256; ++j) x[static_cast<size_t>(j)] = static_cast<float>(j - 128) * 0.25f;  // max = -32
    plm::quant::block_q8_k b{};
    REQUIRE(plm::quant::quantize_row(dtype::q8_k, x.data(), &b, 256));
    const float iscale = -127.f / -32.f;
    CHECK(b.d == 1 / iscale);
    for (int j = 0; j < 256; ++j) {
      const float v = iscale * x[static_cast<size_t>(j)];
      CHECK(b.qs[j] == static_cast<int>(std::nearbyint(v)));
    }
    for (int g = 0; g < 16; ++g) {
      int s = 0;
      for (int i = 0; i < 16; ++i) s += b.qs[16 * g + i];
      CHECK(b.bsums[g] == s);
    }
  }
}

namespace {
uint64_t fnv1a(const void* p, size_t n) {
  uint64_t h = 1469598103934665603ull;
  for (size_t i = 0; i < n; ++i) {
    h ^= static_cast<const uint8_t*>(p)[i];
    h *= 1099511628211ull;
  }
  return h;
}
}  // namespace

TEST_CASE("quantizers write the same bytes as ggml's reference quantizers, in every build") {
  // Input: bell-shaped values reproducible bit for bit on any platform (a sum of
  // four integer uniforms from splitmix64, one division), 64 blocks per type.
  // Expected hashes: FNV-1a of the blocks written by llama.cpp's
  // quantize_row_*_ref (ggml/src/ggml-quants.c at ggml-org/llama.cpp 01243c5),
  // built separately with -ffp-contract=off, run on x86-64 and on AArch64 (same
  // hashes). Passing in the avx2 / avx512 / aarch64 builds shows that FMA
  // contraction cannot change plm's output (quant::detail::rnd).
  struct golden {
    dtype t;
    uint64_t hash;
  };
  const golden goldens[] = {
      {dtype::q4_0, 0x504c6eac9d2a3f3cull}, {dtype::q4_1, 0xe65f116c3e683160ull},
      {dtype::q5_0, 0x60f491c1bf620778ull}, {dtype::q5_1, 0x364e7071bc14fff8ull},
      {dtype::q2_k, 0x5e2e730ace3f5437ull}, {dtype::q3_k, 0x9fb8aeed188dc7afull},
      {dtype::q4_k, 0x8852244d23d05657ull}, {dtype::q5_k, 0xc32a185ffc901be3ull},
      {dtype::q6_k, 0xd21266ac363e9d04ull}, {dtype::q8_k, 0x9b2fe4b41b89ef20ull},
  };
  for (const golden& g : goldens) {
    const size_t n = static_cast<size_t>(plm::block_size(g.t)) * 64;
    std::vector<float> x(n);
    uint64_t seed = 2024;
    rng r(0);
    for (auto& v : x) {
      int s = 0;
      for (int k = 0; k < 4; ++k) {
        r.s = seed;
        s += static_cast<int>(r.next() % 2001);
        seed = r.s;
      }
      v = static_cast<float>(s - 4000) / 1000.0f;
    }
    std::vector<uint8_t> q(plm::quant::row_bytes(g.t, static_cast<int64_t>(n)));
    REQUIRE(plm::quant::quantize_row(g.t, x.data(), q.data(), static_cast<int64_t>(n)));
    INFO(std::string(plm::name(g.t)));
    CHECK(fnv1a(q.data(), q.size()) == g.hash);
  }
}

TEST_CASE("round_away_i8 is roundf saturated to [-127, 127]") {
  rng r(4242);
  std::vector<float> vs;
  for (int k = -600; k <= 600; ++k) vs.push_back(static_cast<float>(k) * 0.25f);  // every tie
  for (int k = 0; k < 10000; ++k) vs.push_back(static_cast<float>(300 * (r.uniform() - 0.5)));
  vs.push_back(std::nextafter(0.5f, 0.0f));
  vs.push_back(std::nextafter(-0.5f, 0.0f));
  vs.push_back(1e30f);
  vs.push_back(-1e30f);
  for (float v : vs) {
    const float want = std::fmin(127.f, std::fmax(-127.f, std::round(v)));
    INFO(v);
    REQUIRE(plm::quant::detail::round_away_i8(v) == static_cast<int>(want));
  }
  CHECK(plm::quant::detail::round_away_i8(std::numeric_limits<float>::quiet_NaN()) == -127);
}

TEST_CASE("symmetric types are idempotent: quantizing a decoded row decodes to the same row") {
  for (dtype t : {dtype::q4_0, dtype::q5_0, dtype::q8_0}) {
    rng r(static_cast<uint64_t>(t) + 5);
    std::vector<float> x(32 * 7);
    for (auto& v : x) v = static_cast<float>(r.normal());
    const std::vector<float> y1 = roundtrip(t, x);
    const std::vector<float> y2 = roundtrip(t, y1);
    for (size_t i = 0; i < x.size(); ++i) REQUIRE(y1[i] == y2[i]);
  }
}

TEST_CASE("NaN and Inf: rejected with the element index for block types, stored as is for float types") {
  const float nan = std::numeric_limits<float>::quiet_NaN(), inf = std::numeric_limits<float>::infinity();
  for (dtype t : block_types) {
    for (float bad : {nan, inf, -inf}) {
      std::vector<float> x(static_cast<size_t>(plm::block_size(t) * 3), 0.5f);
      x[37] = bad;
      std::vector<uint8_t> q(plm::quant::row_bytes(t, static_cast<int64_t>(x.size())));
      auto r = plm::quant::quantize_row(t, x.data(), q.data(), static_cast<int64_t>(x.size()));
      REQUIRE_FALSE(r);
      CHECK(r.error().kind() == plm::errc::invalid_argument);
      CHECK(r.error().message().find("element 37") != std::string::npos);
    }
  }
  const float x[4] = {nan, inf, -inf, 70000.0f};
  uint16_t h[4];
  REQUIRE(plm::quant::quantize_row(dtype::f16, x, h, 4));
  CHECK((h[0] & 0x7c00) == 0x7c00);
  CHECK((h[0] & 0x3ff) != 0);
  CHECK(h[1] == 0x7c00);
  CHECK(h[2] == 0xfc00);
  CHECK(h[3] == 0x7c00);  // IEEE: finite overflow rounds to inf
  REQUIRE(plm::quant::quantize_row(dtype::bf16, x, h, 4));
  CHECK(std::isnan(plm::bf16_to_fp32(h[0])));
  CHECK(h[1] == 0x7f80);
  float f[4];
  REQUIRE(plm::quant::quantize_row(dtype::f32, x, f, 4));
  CHECK(std::memcmp(f, x, sizeof f) == 0);
}

TEST_CASE("values beyond the f16 scale range are rejected; q8_K (f32 scale) keeps them") {
  for (dtype t : block_types) {
    std::vector<float> x(static_cast<size_t>(plm::block_size(t) * 3), 1.0f);
    x[x.size() - 1] = 1e30f;
    std::vector<uint8_t> q(plm::quant::row_bytes(t, static_cast<int64_t>(x.size())));
    auto r = plm::quant::quantize_row(t, x.data(), q.data(), static_cast<int64_t>(x.size()));
    if (t == dtype::q8_k) {
      REQUIRE(r);
      std::vector<float> y(x.size());
      REQUIRE(plm::quant::dequantize_row(t, q.data(), y.data(), static_cast<int64_t>(x.size())));
      CHECK(std::fabs(y.back() / 1e30f - 1) < 1e-6);
      continue;
    }
    INFO(std::string(plm::name(t)));
    REQUIRE_FALSE(r);
    CHECK(r.error().kind() == plm::errc::out_of_range);
    CHECK(r.error().message().find("element " + std::to_string(x.size() - 1)) != std::string::npos);
  }
  // Under the per-element limit but the block's min (an f16 field) overflows: named by block.
  std::vector<float> x(96, 1.0f);
  for (size_t i = 64; i < 96; ++i) x[i] = 1e6f;
  std::vector<uint8_t> q(plm::quant::row_bytes(dtype::q4_1, 96));
  auto r = plm::quant::quantize_row(dtype::q4_1, x.data(), q.data(), 96);
  REQUIRE_FALSE(r);
  CHECK(r.error().kind() == plm::errc::out_of_range);
  CHECK(r.error().message().find("block 2") != std::string::npos);
}

TEST_CASE("argument checks and row_bytes") {
  std::vector<float> x(256, 1.0f);
  std::vector<uint8_t> q(1024);
  auto r = plm::quant::quantize_row(dtype::q4_k, x.data(), q.data(), 100);
  REQUIRE_FALSE(r);
  CHECK(r.error().kind() == plm::errc::invalid_argument);
  r = plm::quant::quantize_row(dtype::i32, x.data(), q.data(), 4);
  REQUIRE_FALSE(r);
  CHECK(r.error().kind() == plm::errc::unsupported);
  CHECK(plm::quant::quantize_row(dtype::q8_0, x.data(), q.data(), 0));
  CHECK(plm::quant::row_bytes(dtype::q4_k, 2048) == 8 * 144);
  CHECK(plm::quant::row_bytes(dtype::q8_0, 2048) == 64 * 34);
  CHECK(plm::quant::row_bytes(dtype::f16, 3) == 6);
  CHECK(plm::quant::row_bytes(dtype::q6_k, 100) == 0);
  CHECK(plm::quant::row_bytes(dtype::q6_k, -256) == 0);
}

TEST_CASE("traits table: storage facts, activation pairing, conversions agree with the free functions") {
  for (const auto& d : plm::detail::dtype_table) {
    const plm::quant::type_traits* tt = plm::quant::traits(d.type);
    const bool convertible = plm::quant::can_dequantize(d.type);
    REQUIRE((tt != nullptr) == convertible);
    if (!tt) continue;
    CHECK(tt->type == d.type);
    CHECK(tt->block_size == d.block_size);
    CHECK(tt->block_bytes == d.block_bytes);
    CHECK(tt->is_quantized == (d.block_size > 1));
    REQUIRE(static_cast<bool>(tt->to_float));
    REQUIRE(static_cast<bool>(tt->from_float));
    REQUIRE(static_cast<bool>(tt->from_float_unchecked));
    const int64_t n = tt->block_size == 1 ? 64 : tt->block_size * 2;
    rng r(static_cast<uint64_t>(d.type) + 3);
    std::vector<float> x(static_cast<size_t>(n));
    for (auto& v : x) v = static_cast<float>(r.normal());
    std::vector<uint8_t> a(plm::quant::row_bytes(d.type, n)), b(a.size());
    REQUIRE(tt->from_float(x.data(), a.data(), n));
    tt->from_float_unchecked(x.data(), b.data(), n);
    CHECK(a == b);
    std::vector<float> ya(x.size()), yb(x.size());
    tt->to_float(a.data(), ya.data(), n);
    REQUIRE(plm::quant::dequantize_row(d.type, a.data(), yb.data(), n));
    CHECK(std::memcmp(ya.data(), yb.data(), ya.size() * sizeof(float)) == 0);
  }
  using plm::quant::traits;
  CHECK(traits(dtype::f32)->vec_dot_type == dtype::f32);
  CHECK(traits(dtype::f16)->vec_dot_type == dtype::f16);
  CHECK(traits(dtype::bf16)->vec_dot_type == dtype::bf16);
  CHECK(traits(dtype::q4_0)->vec_dot_type == dtype::q8_0);
  CHECK(traits(dtype::q5_0)->vec_dot_type == dtype::q8_0);
  CHECK(traits(dtype::q8_0)->vec_dot_type == dtype::q8_0);
  CHECK(traits(dtype::q4_1)->vec_dot_type == dtype::q8_1);
  CHECK(traits(dtype::q5_1)->vec_dot_type == dtype::q8_1);
  for (dtype t : {dtype::q2_k, dtype::q3_k, dtype::q4_k, dtype::q5_k, dtype::q6_k})
    CHECK(traits(t)->vec_dot_type == dtype::q8_k);
  CHECK(traits(dtype::i32) == nullptr);
  CHECK(traits(dtype::f64) == nullptr);
}
