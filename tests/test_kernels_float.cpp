// Float kernels (vec, norm, rope, softmax, activation, latent attention): each
// SIMD version against its scalar reference on odd sizes, and each reference
// against an independent double-precision formula.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <random>
#include <vector>

#include "plm/kernels/activation.hpp"
#include "plm/kernels/attention.hpp"
#include "plm/kernels/norm.hpp"
#include "plm/kernels/rope.hpp"
#include "plm/kernels/softmax.hpp"
#include "plm/kernels/vec.hpp"
#include "plm/quant/dequantize.hpp"
#include "plm/quant/half.hpp"
#include "plm/quant/quantize.hpp"

namespace k = plm::kernels;

namespace {
std::vector<float> randv(int64_t n, uint32_t seed, float lo = -1.0f, float hi = 1.0f) {
  std::mt19937 g(seed);
  std::uniform_real_distribution<float> d(lo, hi);
  std::vector<float> v(static_cast<size_t>(n));
  for (auto& x : v) x = d(g);
  return v;
}
const int64_t odd_sizes[] = {1, 3, 7, 15, 16, 17, 31, 33, 63, 64, 65, 127, 255, 512, 1023};
}  // namespace

TEST_CASE("dot/axpy/scale/add: SIMD equals the scalar reference within summation-order rounding") {
  for (int64_t n : odd_sizes) {
    auto a = randv(n, 1), b = randv(n, 2);
    double exact = 0.0, mag = 0.0;
    for (int64_t i = 0; i < n; ++i) {
      exact += static_cast<double>(a[i]) * b[i];
      mag += std::fabs(static_cast<double>(a[i]) * b[i]);
    }
    // f32 accumulation: error ≤ n·2^-24·Σ|a·b| for any order.
    const double tol = static_cast<double>(n) * 6e-8 * mag + 1e-30;
    CHECK(std::fabs(k::dot(a.data(), b.data(), n) - exact) <= tol);
    CHECK(std::fabs(k::ref::dot(a.data(), b.data(), n) - exact) <= tol);
    auto y1 = randv(n, 3), y2 = y1;
    k::axpy(0.37f, a.data(), y1.data(), n);
    k::ref::axpy(0.37f, a.data(), y2.data(), n);
    for (int64_t i = 0; i < n; ++i) CHECK(y1[i] == doctest::Approx(y2[i]).epsilon(1e-6));
    auto s1 = a, s2 = a;
    k::scale(s1.data(), -1.5f, n);
    k::ref::scale(s2.data(), -1.5f, n);
    CHECK(s1 == s2);  // one rounding per element either way
    auto r1 = b, r2 = b;
    k::add(a.data(), r1.data(), n);
    k::ref::add(a.data(), r2.data(), n);
    CHECK(r1 == r2);
  }
}

TEST_CASE("rms_norm matches the double formula and the reference") {
  for (int64_t n : odd_sizes) {
    auto x = randv(n, 10, -3.0f, 3.0f), w = randv(n, 11, 0.5f, 1.5f);
    std::vector<float> y(x.size()), yr(x.size());
    k::rms_norm(x.data(), w.data(), y.data(), n, 1e-6f);
    k::ref::rms_norm(x.data(), w.data(), yr.data(), n, 1e-6f);
    double ss = 0.0;
    for (float v : x) ss += static_cast<double>(v) * v;
    const double inv = 1.0 / std::sqrt(ss / static_cast<double>(n) + 1e-6);
    for (int64_t i = 0; i < n; ++i) {
      CHECK(y[i] == doctest::Approx(yr[i]).epsilon(1e-6));
      CHECK(y[i] == doctest::Approx(x[i] * inv * w[i]).epsilon(1e-5));
    }
    // in place
    auto xi = x;
    k::rms_norm(xi.data(), w.data(), xi.data(), n, 1e-6f);
    CHECK(xi == y);
  }
}

TEST_CASE("rope: adjacent pairs rotated by p·base^(-2i/n), SIMD equals scalar") {
  for (int n_rot : {2, 4, 16, 64, 66}) {
    for (int64_t pos : {0, 1, 7, 100, 4095}) {
      std::vector<float> table(2 * static_cast<size_t>(n_rot));
      k::rope_table(pos, n_rot, 100000.0f, table.data());
      auto x = randv(n_rot, static_cast<uint32_t>(pos + n_rot));
      auto a = x, b = x;
      k::rope(a.data(), table.data(), n_rot);
      k::ref::rope(b.data(), table.data(), n_rot);
      for (int i = 0; i < n_rot / 2; ++i) {
        const double theta = static_cast<double>(pos) * std::pow(100000.0, -2.0 * i / n_rot);
        const double c = std::cos(theta), s = std::sin(theta);
        const double e0 = x[2 * i] * c - x[2 * i + 1] * s, e1 = x[2 * i] * s + x[2 * i + 1] * c;
        // θ from repeated f32 products carries ~i·6e-8 relative error: ≤ 4095·32·6e-8 ≈ 8e-3 rad at the
        // largest position, exactly the behaviour of ggml that plm reproduces on purpose.
        const double tol = 1e-5 + static_cast<double>(pos) * 70e-7 * (i + 1);
        CHECK(std::fabs(b[2 * i] - e0) <= tol);
        CHECK(std::fabs(b[2 * i + 1] - e1) <= tol);
        CHECK(a[2 * i] == doctest::Approx(b[2 * i]).epsilon(1e-6));
        CHECK(a[2 * i + 1] == doctest::Approx(b[2 * i + 1]).epsilon(1e-6));
      }
    }
  }
}

TEST_CASE("rope_table builds θ by repeated f32 multiplication (ggml_rope_cache_init)") {
  std::vector<float> table(128);
  k::rope_table(3000, 64, 100000.0f, table.data());
  const float ts = std::pow(100000.0f, -2.0f / 64.0f);
  float theta = 3000.0f;
  for (int i = 0; i < 32; ++i) {
    CHECK(table[2 * i] == std::cos(theta));
    CHECK(table[64 + 2 * i + 1] == std::sin(theta));
    CHECK(table[64 + 2 * i] == -std::sin(theta));
    theta *= ts;
  }
}

TEST_CASE("softmax: sums to one, matches exp formula, SIMD equals scalar") {
  for (int64_t n : odd_sizes) {
    auto x = randv(n, 20, -30.0f, 30.0f);
    auto a = x, b = x;
    k::softmax(a.data(), n, 0.125f);
    k::ref::softmax(b.data(), n, 0.125f);
    double m = -1e300;
    for (float v : x) m = std::max(m, 0.125 * v);
    double z = 0.0;
    for (float v : x) z += std::exp(0.125 * v - m);
    double sa = 0.0;
    for (int64_t i = 0; i < n; ++i) {
      const double e = std::exp(0.125 * x[i] - m) / z;
      CHECK(std::fabs(a[i] - e) <= 1e-6 * e + 1e-12);
      CHECK(std::fabs(b[i] - e) <= 1e-6 * e + 1e-12);
      sa += a[i];
    }
    CHECK(sa == doctest::Approx(1.0).epsilon(1e-5));
  }
}

TEST_CASE("relu_sqr and the active list on crafted inputs") {
  std::vector<float> x = {-1.0f, 0.0f, 2.0f, -0.0f, 3.0f, 1e-30f, -5.0f, 0.5f};
  std::vector<int32_t> act(x.size());
  auto y = x;
  const int64_t n = k::relu_sqr_active(y.data(), static_cast<int64_t>(y.size()), act.data());
  // 1e-30² underflows to exactly 0 in f32: inactive as well.
  CHECK(n == 3);
  CHECK(act[0] == 2);
  CHECK(act[1] == 4);
  CHECK(act[2] == 7);
  CHECK(y == std::vector<float>{0, 0, 4, 0, 9, 0, 0, 0.25f});
  for (int64_t m : odd_sizes) {
    auto v = randv(m, 30, -1.0f, 1.0f);
    std::vector<float> a(v.size()), b(v.size());
    k::relu_sqr(v.data(), a.data(), m);
    k::ref::relu_sqr(v.data(), b.data(), m);
    CHECK(a == b);
  }
}

namespace {
// A latent cache of type ct holding rows [n_kv][sh.row()], and what it really holds
// (f16-rounded, or q8_0 blocks of 32 dequantized) in double.
struct test_cache {
  std::vector<uint8_t> bytes;
  std::vector<double> held;
};
test_cache make_cache(const k::latent_attention_shape& sh, const std::vector<float>& rows, int64_t n_kv, plm::dtype ct) {
  test_cache c;
  const size_t rb = k::latent_cache_row_bytes(sh, ct);
  c.bytes.resize(static_cast<size_t>(n_kv) * rb);
  for (int64_t t = 0; t < n_kv; ++t) k::latent_cache_store(sh, rows.data() + t * sh.row(), c.bytes.data() + t * rb, ct);
  c.held.resize(rows.size());
  for (size_t i = 0; i < rows.size(); ++i)
    c.held[i] = ct == plm::dtype::f16 ? plm::fp16_to_fp32(plm::fp32_to_fp16(rows[i])) : rows[i];
  if (ct == plm::dtype::q8_0) {
    std::vector<plm::quant::block_q8_0> blk(static_cast<size_t>(sh.row() / 32));
    std::vector<float> back(static_cast<size_t>(sh.row()));
    for (int64_t t = 0; t < n_kv; ++t) {
      plm::quant::quantize_row_q8_0_ref(rows.data() + t * sh.row(), blk.data(), sh.row());
      plm::quant::dequantize_row_q8_0(blk.data(), back.data(), sh.row());
      for (int64_t c2 = 0; c2 < sh.row(); ++c2) c.held[static_cast<size_t>(t * sh.row() + c2)] = back[static_cast<size_t>(c2)];
    }
  }
  return c;
}

// Expanded attention of one query in double: out[h][0..d_latent) for heads [0, n_head).
std::vector<double> expanded_attention(const k::latent_attention_shape& sh, const float* ql, const float* qr,
                                       int64_t qr_stride, const std::vector<double>& held, int64_t n_kv, int64_t n_head) {
  std::vector<double> out(static_cast<size_t>(n_head * sh.d_latent), 0.0);
  for (int64_t h = 0; h < n_head; ++h) {
    std::vector<double> s(static_cast<size_t>(n_kv));
    double m = -1e300;
    for (int64_t t = 0; t < n_kv; ++t) {
      double d = 0.0;
      for (int64_t c = 0; c < sh.d_latent; ++c) d += static_cast<double>(ql[h * sh.d_latent + c]) * held[t * sh.row() + c];
      for (int64_t c = 0; c < sh.d_rope; ++c) d += static_cast<double>(qr[h * qr_stride + c]) * held[t * sh.row() + sh.d_latent + c];
      s[t] = d * sh.scale;
      m = std::max(m, s[t]);
    }
    double z = 0.0;
    for (auto& v : s) z += (v = std::exp(v - m));
    for (int64_t t = 0; t < n_kv; ++t)
      for (int64_t c = 0; c < sh.d_latent; ++c) out[h * sh.d_latent + c] += s[t] / z * held[t * sh.row() + c];
  }
  return out;
}
}  // namespace

// Shapes: the widths around the vector widths (4, 8, 16) and PLM's; n_kv around the
// kernel's chunk of 64 rows (several chunks: the running maximum and its rescaling).
// In the "ramp" rows the scores grow with the position, so the maximum keeps rising
// from chunk to chunk; in the others it is mostly reached early.
TEST_CASE("latent attention equals an expanded double computation, any head grouping, f32/f16/q8_0 cache") {
  struct shape_case {
    k::latent_attention_shape sh;
    int64_t n_head;
    std::vector<int64_t> n_kvs;
  };
  const shape_case cases[] = {
      {{24, 8, 1.0f / std::sqrt(20.0f)}, 5, {1, 2, 9, 40, 64, 65, 150, 300}},
      {{72, 24, 0.15f}, 7, {3, 63, 130}},
      {{512, 64, 1.0f / std::sqrt(192.0f)}, 9, {1, 70, 200}},
  };
  for (const auto& sc : cases) {
    const auto& sh = sc.sh;
    const int64_t n_head = sc.n_head;
    for (int64_t n_kv : sc.n_kvs)
      for (bool ramp : {false, true}) {
        auto ql = randv(n_head * sh.d_latent, 40), qr = randv(n_head * sh.d_rope, 41);
        auto rows = randv(n_kv * sh.row(), 42, -2.0f, 2.0f);
        if (ramp) {  // row t = base row · (0.25 + t / n_kv), every query given a positive base score
          for (int64_t t = 0; t < n_kv; ++t)
            for (int64_t c = 0; c < sh.row(); ++c) rows[t * sh.row() + c] *= 0.25f + static_cast<float>(t) / static_cast<float>(n_kv);
          for (int64_t c = 0; c < sh.d_latent; ++c) rows[c] = std::fabs(rows[c]);
          for (auto& x : ql) x = std::fabs(x);
        }
        for (plm::dtype ct : {plm::dtype::f32, plm::dtype::f16, plm::dtype::q8_0}) {
          CAPTURE(sh.d_latent);
          CAPTURE(n_kv);
          CAPTURE(ramp);
          CAPTURE(static_cast<int>(ct));
          REQUIRE(k::latent_cache_type_supported(ct, sh));
          const test_cache cache = make_cache(sh, rows, n_kv, ct);
          const size_t n_out = static_cast<size_t>(n_head * sh.d_latent);
          std::vector<float> out_all(n_out), out_grp(n_out, -1.0f), out_one(n_out, -1.0f), out_ref(n_out);
          std::vector<float> scratch(k::latent_attention_scratch(sh, n_head));
          auto call = [&](float* out, int64_t h0, int64_t h1) {
            k::latent_attention(sh, ql.data(), qr.data(), sh.d_rope, cache.bytes.data(), ct, n_kv, out, h0, h1, scratch.data());
          };
          call(out_all.data(), 0, n_head);
          call(out_grp.data(), 0, 3);  // grouping of heads never changes a head's arithmetic
          call(out_grp.data(), 3, n_head);
          for (int64_t h = 0; h < n_head; ++h) call(out_one.data(), h, h + 1);
          std::vector<float> ref_scratch(static_cast<size_t>(n_kv + sh.row()));
          k::ref::latent_attention(sh, ql.data(), qr.data(), sh.d_rope, cache.bytes.data(), ct, n_kv, out_ref.data(), 0,
                                   n_head, ref_scratch.data());
          CHECK(out_all == out_grp);
          CHECK(out_all == out_one);
          const auto exact = expanded_attention(sh, ql.data(), qr.data(), sh.d_rope, cache.held, n_kv, n_head);
          double worst = 0.0, worst_ref = 0.0;
          for (size_t i = 0; i < n_out; ++i) {
            worst = std::max(worst, std::fabs(out_all[i] - exact[i]));
            worst_ref = std::max(worst_ref, std::fabs(out_ref[i] - exact[i]));
          }
          CHECK(worst <= 2e-5);
          CHECK(worst_ref <= 2e-5);
        }
      }
  }
}

TEST_CASE("f16 row conversions are exact and round to nearest even, every size") {
  for (int64_t n : odd_sizes) {
    auto x = randv(n, 50, -70000.0f, 70000.0f);
    x[0] = 1e-7f;  // subnormal in f16
    std::vector<uint16_t> h(x.size());
    std::vector<float> back(x.size());
    k::f32_to_f16(x.data(), h.data(), n);
    k::f16_to_f32(h.data(), back.data(), n);
    for (int64_t i = 0; i < n; ++i) {
      CHECK(h[i] == plm::fp32_to_fp16(x[i]));
      CHECK(back[i] == plm::fp16_to_fp32(h[i]));
    }
  }
}

TEST_CASE("causal multi-query latent attention equals one call per query, bit for bit") {
  // (shape, heads, first query's n_kv, queries, head range): the second crosses the
  // 64-row chunk boundary and uses a head sub-range, like forward's head groups
  struct causal_case {
    k::latent_attention_shape sh;
    int64_t n_head, n_kv0, n_q, h0, h1;
  };
  const causal_case cases[] = {
      {{32, 8, 0.2f}, 4, 7, 5, 0, 4},
      {{72, 24, 0.15f}, 6, 60, 8, 1, 6},
      {{512, 64, 1.0f / std::sqrt(192.0f)}, 8, 125, 8, 0, 8},
      // across the first split boundary (256 rows): the queries' last splits differ
      {{72, 24, 0.15f}, 5, k::latent_attention_split - 3, 8, 0, 5},
      {{512, 64, 1.0f / std::sqrt(192.0f)}, 3, 2 * k::latent_attention_split - 5, 8, 1, 3},
  };
  for (const auto& cc : cases)
    for (plm::dtype ct : {plm::dtype::f32, plm::dtype::f16}) {
      const auto& sh = cc.sh;
      const int64_t n_head = cc.n_head, n_q = cc.n_q, n_kv0 = cc.n_kv0, qrs = sh.d_rope + 4;  // rope parts strided
      CAPTURE(sh.d_latent);
      CAPTURE(static_cast<int>(ct));
      const int64_t n_rows = n_kv0 + n_q - 1;
      auto ql = randv(n_q * n_head * sh.d_latent, 60), qr = randv(n_q * n_head * qrs, 61);
      auto rows = randv(n_rows * sh.row(), 62);
      const test_cache cache = make_cache(sh, rows, n_rows, ct);
      std::vector<float> multi(static_cast<size_t>(n_q * n_head * sh.d_latent), -1.0f), single(multi.size(), -1.0f);
      std::vector<float> scratch(k::latent_attention_scratch(sh, cc.h1 - cc.h0, n_q));
      k::latent_attention_causal(sh, n_q, ql.data(), n_head * sh.d_latent, qr.data(), n_head * qrs, qrs, cache.bytes.data(),
                                 ct, n_kv0, multi.data(), n_head * sh.d_latent, cc.h0, cc.h1, scratch.data());
      for (int64_t i = 0; i < n_q; ++i)
        k::latent_attention(sh, ql.data() + i * n_head * sh.d_latent, qr.data() + i * n_head * qrs, qrs, cache.bytes.data(),
                            ct, n_kv0 + i, single.data() + i * n_head * sh.d_latent, cc.h0, cc.h1, scratch.data());
      CHECK(multi == single);
      // and the last query against the expanded formula (heads outside [h0, h1) untouched)
      const int64_t i = n_q - 1;
      const auto exact = expanded_attention(sh, ql.data() + i * n_head * sh.d_latent, qr.data() + i * n_head * qrs, qrs,
                                            cache.held, n_kv0 + i, n_head);
      for (int64_t h = 0; h < n_head; ++h)
        for (int64_t c = 0; c < sh.d_latent; ++c) {
          const float v = multi[static_cast<size_t>((i * n_head + h) * sh.d_latent + c)];
          if (h < cc.h0 || h >= cc.h1) CHECK(v == -1.0f);
          else CHECK(std::fabs(v - exact[static_cast<size_t>(h * sh.d_latent + c)]) <= 2e-5);
        }
    }
}

// Flash-decoding: partials of the fixed splits of latent_attention_split positions,
// computed in any order and any head grouping, then merged per head (in any
// grouping of heads), must equal latent_attention_causal bit for bit, whatever the
// number of threads would be; and the split + merge stays within the tolerance
// of the expanded double computation with 1 to 4 splits, the last one full or
// short (odd), and a maximum that rises from split to split ("ramp").
TEST_CASE("latent attention split into position splits and merged equals the causal call and the expanded computation") {
  const int64_t S = k::latent_attention_split;
  struct split_case {
    k::latent_attention_shape sh;
    int64_t n_head;
    std::vector<int64_t> n_kvs;
  };
  const split_case cases[] = {
      {{24, 8, 1.0f / std::sqrt(20.0f)}, 5, {S - 1, S, S + 1, 2 * S + 63, 3 * S + 37, 4 * S}},
      {{512, 64, 1.0f / std::sqrt(192.0f)}, 6, {S + 7, 2 * S + 129}},
  };
  for (const auto& sc : cases)
    for (int64_t n_kv : sc.n_kvs)
      for (bool ramp : {false, true})
        for (plm::dtype ct : {plm::dtype::f32, plm::dtype::f16, plm::dtype::q8_0}) {
          const auto& sh = sc.sh;
          const int64_t n_head = sc.n_head, dl = sh.d_latent;
          CAPTURE(dl);
          CAPTURE(n_kv);
          CAPTURE(ramp);
          CAPTURE(static_cast<int>(ct));
          auto ql = randv(n_head * dl, 70), qr = randv(n_head * sh.d_rope, 71);
          auto rows = randv(n_kv * sh.row(), 72, -2.0f, 2.0f);
          if (ramp) {
            for (int64_t t = 0; t < n_kv; ++t)
              for (int64_t c = 0; c < sh.row(); ++c) rows[t * sh.row() + c] *= 0.25f + static_cast<float>(t) / static_cast<float>(n_kv);
            for (int64_t c = 0; c < dl; ++c) rows[c] = std::fabs(rows[c]);
            for (auto& x : ql) x = std::fabs(x);
          }
          const test_cache cache = make_cache(sh, rows, n_kv, ct);
          const int64_t n_split = k::latent_attention_splits(n_kv);
          CHECK(n_split == (n_kv + S - 1) / S);
          // partials as a 64-byte aligned array [n_split][partial], all heads in each
          const size_t pf = k::latent_attention_partial_floats(sh, 1, n_head);
          CHECK(pf % 16 == 0);
          std::vector<float> pbuf(static_cast<size_t>(n_split) * pf + 16, 7.0f);
          float* parts = reinterpret_cast<float*>((reinterpret_cast<uintptr_t>(pbuf.data()) + 63) & ~static_cast<uintptr_t>(63));
          std::vector<float> scratch(k::latent_attention_scratch(sh, n_head));
          for (int64_t s = n_split - 1; s >= 0; --s)  // last split first: order of computation is free
            k::latent_attention_partial(sh, 1, ql.data(), 0, qr.data(), 0, sh.d_rope, cache.bytes.data(), ct, n_kv, s,
                                        parts + s * static_cast<int64_t>(pf), 0, n_head, scratch.data());
          const size_t n_out = static_cast<size_t>(n_head * dl);
          std::vector<float> merged(n_out, -1.0f), merged_grp(n_out, -1.0f), causal(n_out, -1.0f);
          k::latent_attention_merge(sh, 1, n_head, parts, pf, n_split, merged.data(), 0, 0, 0, n_head);
          for (int64_t h = n_head - 1; h >= 0; --h)  // one head per merge call, like forward's tasks
            k::latent_attention_merge(sh, 1, n_head, parts, pf, n_split, merged_grp.data(), 0, 0, h, h + 1);
          k::latent_attention_causal(sh, 1, ql.data(), 0, qr.data(), 0, sh.d_rope, cache.bytes.data(), ct, n_kv,
                                     causal.data(), 0, 0, n_head, scratch.data());
          CHECK(merged == causal);
          CHECK(merged_grp == causal);
          // partials of a head sub-range (another head grouping) merged into their slots
          std::vector<float> sub(n_out, -1.0f);
          const size_t pf2 = k::latent_attention_partial_floats(sh, 1, n_head - 2);
          std::vector<float> pbuf2(static_cast<size_t>(n_split) * pf2 + 16);
          float* parts2 = reinterpret_cast<float*>((reinterpret_cast<uintptr_t>(pbuf2.data()) + 63) & ~static_cast<uintptr_t>(63));
          for (int64_t s = 0; s < n_split; ++s)
            k::latent_attention_partial(sh, 1, ql.data(), 0, qr.data(), 0, sh.d_rope, cache.bytes.data(), ct, n_kv, s,
                                        parts2 + s * static_cast<int64_t>(pf2), 2, n_head, scratch.data());
          k::latent_attention_merge(sh, 1, n_head - 2, parts2, pf2, n_split, sub.data(), 0, 2, 0, n_head - 2);
          for (size_t i = 0; i < n_out; ++i) {
            if (i < static_cast<size_t>(2 * dl)) CHECK(sub[i] == -1.0f);
            else if (sub[i] != causal[i]) {
              CHECK(sub[i] == causal[i]);
              break;
            }
          }
          // a split's partial is a softmax over its own rows: its normalised output
          // (merging it alone) against the expanded computation over those rows
          if (n_split > 1) {
            const int64_t t_last = (n_split - 1) * S, n_last = n_kv - t_last;
            std::vector<float> last(n_out);
            k::latent_attention_merge(sh, 1, n_head, parts + (n_split - 1) * static_cast<int64_t>(pf), pf, 1, last.data(), 0, 0,
                                      0, n_head);
            std::vector<double> held_last(cache.held.begin() + t_last * sh.row(), cache.held.end());
            const auto exact_last = expanded_attention(sh, ql.data(), qr.data(), sh.d_rope, held_last, n_last, n_head);
            double worst = 0.0;
            for (size_t i = 0; i < n_out; ++i) worst = std::max(worst, std::fabs(last[i] - exact_last[i]));
            CHECK(worst <= 2e-5);
          }
          const auto exact = expanded_attention(sh, ql.data(), qr.data(), sh.d_rope, cache.held, n_kv, n_head);
          double worst = 0.0;
          for (size_t i = 0; i < n_out; ++i) worst = std::max(worst, std::fabs(merged[i] - exact[i]));
          CHECK(worst <= 2e-5);
        }
}
