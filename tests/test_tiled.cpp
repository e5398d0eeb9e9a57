// Tests of plm/kernels/tiled.hpp: the 16-row tiled layout of q8_0 / q4_0
// matrices and its kernels (whichever the build compiled in: AVX-512 VNNI,
// AVX2 with or without VNNI, NEON with or without SDOT, portable).
//
//  - the repack is lossless: every row dequantizes to the original row;
//  - every block's integer dot is exact, so the tiled kernels agree with an
//    exact (double) dot of the dequantized operands within the f32 rounding of
//    one product and one addition per block: (2 B + 2) eps S, S = sum |w x|;
//  - the compiled kernel agrees with the portable tile kernel to that bound;
//  - a row's value does not depend on the row range asked for (ranges that cut
//    tiles, the row-major tail) nor on how many tokens are computed together:
//    bit for bit.
// Shapes are odd on purpose: rows not a multiple of 16 (tail rows), a single
// block per row, tiles cut by the ranges; quants include -128 (only a foreign
// quantizer writes it, but the file format allows it).
#include <doctest/doctest.h>

#include <cfloat>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "test_quant_support.hpp"
#include "plm/kernels/matvec.hpp"
#include "plm/kernels/tiled.hpp"
#include "plm/quant/dequantize.hpp"
#include "plm/quant/quantize.hpp"

namespace {

using plm::dtype;
using plm_test::rng;

using plm_test::matrix;

matrix random_matrix(dtype t, int64_t n, int64_t rows, rng& r) {
  matrix m;
  REQUIRE(plm_test::random_matrix(t, n, rows, r, m));
  if (t == dtype::q8_0) {  // the extreme quant -128, in a few places
    const size_t rb = plm::quant::row_bytes(t, n);
    for (int64_t i = 0; i < rows; i += 3)
      reinterpret_cast<plm::quant::block_q8_0*>(m.bytes.data() + rb * static_cast<size_t>(i))[0].qs[i % 32] = -128;
  }
  return m;
}

std::vector<uint8_t> prepared(dtype t, int64_t n, int64_t n_tok, rng& r, std::vector<float>* values = nullptr) {
  const size_t stride = plm::kernels::activation_bytes(t, n);
  std::vector<uint8_t> out(stride * static_cast<size_t>(n_tok));
  std::vector<float> x(static_cast<size_t>(n));
  for (int64_t k = 0; k < n_tok; ++k) {
    for (auto& v : x) v = static_cast<float>(r.normal() * 2);
    plm::kernels::prepare_activation(t, x.data(), n, out.data() + stride * static_cast<size_t>(k));
    if (values) {  // the dequantized activation
      const auto a = plm::kernels::view_q8_0_activation(out.data() + stride * static_cast<size_t>(k), n);
      for (int64_t i = 0; i < n; ++i)
        values->push_back(plm::fp16_to_fp32(a.blocks[i / 32].d) * static_cast<float>(a.blocks[i / 32].qs[i % 32]));
    }
  }
  return out;
}

// Every count c of tokens 1.. computed together (tokens 1..c, rows r0..r1, a
// range that cuts tiles where it can) gives the bits Y (all n_tok tokens at
// once, ldy = rows) holds: so every token-group size of the kernels, 1 up to
// tile_tokens(type), runs and agrees with the others.
void check_token_counts(const plm::tensor_view& tv, const std::vector<uint8_t>& X, int64_t n_tok, const std::vector<float>& Y) {
  const int64_t rows = tv.ne[1];
  const size_t stride = plm::kernels::activation_bytes(tv.type, tv.ne[0]);
  const int64_t r0 = rows > 20 ? 5 : 0, r1 = rows > 20 ? rows - 2 : rows;
  for (int64_t c = 1; c < n_tok; ++c) {
    CAPTURE(c);
    std::vector<float> Z(static_cast<size_t>((r1 - r0) * c));
    plm::kernels::matmul(tv, X.data() + stride, c, Z.data(), r1 - r0, r0, r1);
    for (int64_t k = 0; k < c; ++k)
      for (int64_t row = r0; row < r1; ++row)
        CHECK(Z[static_cast<size_t>(k * (r1 - r0) + row - r0)] == Y[static_cast<size_t>((k + 1) * rows + row)]);
  }
}

}  // namespace

TEST_CASE("tiled: prepared q8_0 activations carry each block's f32 scale and -128 x its exact quant sum") {
  rng r(7);
  for (int64_t n : {32, 96, 2048}) {
    std::vector<uint8_t> a = prepared(dtype::q8_0, n, 1, r);
    const auto v = plm::kernels::view_q8_0_activation(a.data(), n);
    CHECK(reinterpret_cast<uintptr_t>(v.d) % 4 == 0);
    for (int64_t b = 0; b < n / 32; ++b) {
      int32_t sum = 0;
      for (int k = 0; k < 32; ++k) sum += v.blocks[b].qs[k];
      CHECK(v.minus128_sum[b] == -128 * sum);
      CHECK(v.d[b] == plm::fp16_to_fp32(v.blocks[b].d));
    }
  }
}

TEST_CASE("tiled: the repack is lossless and keeps the byte count") {
  rng r(11);
  for (dtype t : {dtype::q8_0, dtype::q4_0, dtype::f16, dtype::bf16}) {
    for (int64_t rows : {1, 15, 16, 37, 64}) {
      for (int64_t n : {32, 96, 320}) {
        CAPTURE(std::string(plm::name(t)));
        CAPTURE(rows);
        CAPTURE(n);
        matrix m = random_matrix(t, n, rows, r);
        std::vector<uint8_t> dst(plm::kernels::tiled_bytes(m.view));
        CHECK(dst.size() == m.bytes.size());
        const plm::tensor_view tv = plm::kernels::tile_weights(m.view, dst.data());
        CHECK(tv.layout == plm::tensor_layout::tiles16);
        CHECK(tv.ne[0] == n);
        CHECK(tv.ne[1] == rows);
        std::vector<float> a(static_cast<size_t>(n)), b(static_cast<size_t>(n));
        for (int64_t row = 0; row < rows; ++row) {
          REQUIRE(plm::kernels::dequantize_weight_row(m.view, row, a.data()));
          REQUIRE(plm::kernels::dequantize_weight_row(tv, row, b.data()));
          CHECK(std::memcmp(a.data(), b.data(), a.size() * sizeof(float)) == 0);
        }
      }
    }
  }
}

TEST_CASE("tiled: kernels vs an exact dot, vs the portable tile kernel, any row range and token count") {
  INFO("kernel path: " << plm::kernels::kernel_isa());
  rng r(23);
  for (dtype t : {dtype::q8_0, dtype::q4_0}) {
    for (int64_t rows : {16, 37, 83}) {
      for (int64_t n : {32, 224, 1312}) {
        CAPTURE(std::string(plm::name(t)));
        CAPTURE(rows);
        CAPTURE(n);
        matrix m = random_matrix(t, n, rows, r);
        std::vector<uint8_t> dst(plm::kernels::tiled_bytes(m.view));
        const plm::tensor_view tv = plm::kernels::tile_weights(m.view, dst.data());
        const int64_t n_tok = 15;  // token counts 1..14 below: every group size up to 8
        std::vector<float> xs;
        const std::vector<uint8_t> X = prepared(t, n, n_tok, r, &xs);
        const size_t stride = plm::kernels::activation_bytes(t, n);

        // All rows, all tokens at once.
        std::vector<float> Y(static_cast<size_t>(rows * n_tok));
        plm::kernels::matmul(tv, X.data(), n_tok, Y.data(), rows, 0, rows);
        std::vector<float> P(static_cast<size_t>(rows * n_tok));
        plm::kernels::detail::tiled_rows(tv, X.data(), n_tok, P.data(), rows, 0, rows,
                                         plm::kernels::ref::vec_dot_for(t), false);

        std::vector<float> w(static_cast<size_t>(n));
        const double blocks = static_cast<double>(n / 32);
        for (int64_t row = 0; row < rows; ++row) {
          REQUIRE(plm::kernels::dequantize_weight_row(m.view, row, w.data()));
          for (int64_t k = 0; k < n_tok; ++k) {
            double exact = 0, scale = 0;
            for (int64_t i = 0; i < n; ++i) {
              const double p = static_cast<double>(w[static_cast<size_t>(i)]) * xs[static_cast<size_t>(k * n + i)];
              exact += p;
              scale += std::fabs(p);
            }
            const double bound = (2 * blocks + 2) * FLT_EPSILON * scale + 1e-30;
            const float got = Y[static_cast<size_t>(k * rows + row)], ref = P[static_cast<size_t>(k * rows + row)];
            CAPTURE(row);
            CAPTURE(k);
            CHECK(std::fabs(got - exact) <= bound);
            CHECK(std::fabs(ref - exact) <= bound);
            CHECK(std::fabs(got - ref) <= 2 * bound);
          }
        }

        // One token at a time (matvec) and any row range: the same bits.
        for (int64_t k = 0; k < n_tok; ++k) {
          const uint8_t* x = X.data() + stride * static_cast<size_t>(k);
          std::vector<float> y(static_cast<size_t>(rows));
          plm::kernels::matvec(tv, x, y.data(), 0, rows);
          for (int64_t row = 0; row < rows; ++row) CHECK(y[static_cast<size_t>(row)] == Y[static_cast<size_t>(k * rows + row)]);
          for (int trial = 0; trial < 6; ++trial) {
            const int64_t r0 = r.uniform_int(0, static_cast<int>(rows - 1));
            const int64_t r1 = r.uniform_int(static_cast<int>(r0 + 1), static_cast<int>(rows));
            std::vector<float> part(static_cast<size_t>(r1 - r0), -1.0f);
            plm::kernels::matvec(tv, x, part.data(), r0, r1);
            for (int64_t row = r0; row < r1; ++row)
              CHECK(part[static_cast<size_t>(row - r0)] == Y[static_cast<size_t>(k * rows + row)]);
          }
        }
        check_token_counts(tv, X, n_tok, Y);
      }
    }
  }
}

TEST_CASE("the compiled-in q8_0 / q8_K activation quantizers equal the reference byte for byte on hostile values") {
  // Halves (rounding ties away from zero), values just below a half, NaN, infinities,
  // subnormals, all-zero blocks, a block whose amax makes 1/d overflow.
  rng r(5);
  const float specials[] = {0.5f, -0.5f, 1.5f, -2.5f, 0.49999997f, -0.49999997f, 126.5f, -126.5f,
                            std::nanf(""), INFINITY, -INFINITY, 1e-40f, -1e-45f, 0.0f, -0.0f, 3e38f};
  for (int trial = 0; trial < 200; ++trial) {
    const int64_t n = 32 * (1 + trial % 7);
    std::vector<float> x(static_cast<size_t>(n));
    const int mode = trial % 5;
    for (int64_t i = 0; i < n; ++i) {
      float v = static_cast<float>(r.normal());
      if (mode == 1) v = specials[r.uniform_int(0, 15)];
      if (mode == 2) v = static_cast<float>(r.uniform_int(-254, 254)) * 0.5f;  // exact halves once scaled by 1
      if (mode == 3) v = (i % 32 == 0) ? 127.0f : static_cast<float>(r.uniform_int(-254, 254)) * 0.5f;  // d = 1
      if (mode == 4) v = 1e-42f * static_cast<float>(r.uniform_int(-3, 3));  // tiny: 1/d overflows
      x[static_cast<size_t>(i)] = v;
    }
    CAPTURE(trial);
    for (dtype wt : {dtype::q8_0, dtype::q4_k}) {  // q8_0 and q8_K activations
      const int64_t len = wt == dtype::q8_0 ? n : 256 * (1 + trial % 3);
      std::vector<float> xs(static_cast<size_t>(len));
      for (int64_t i = 0; i < len; ++i) xs[static_cast<size_t>(i)] = x[static_cast<size_t>(i % n)];
      std::vector<uint8_t> fast(plm::kernels::activation_bytes(wt, len)), ref(fast.size());
      plm::kernels::prepare_activation(wt, xs.data(), len, fast.data());
      plm::kernels::ref::prepare_activation(wt, xs.data(), len, ref.data());
      CHECK(fast == ref);
    }
  }
}

namespace {

// q8_K activations with a power-of-two scale and quants in [-7, 7] (bsums consistent).
std::vector<uint8_t> small_q8_k_activations(int64_t n, int64_t n_tok, rng& r) {
  const size_t stride = plm::kernels::activation_bytes(dtype::q4_k, n);
  REQUIRE(stride == static_cast<size_t>(n / 256) * sizeof(plm::quant::block_q8_k));
  std::vector<uint8_t> X(stride * static_cast<size_t>(n_tok));
  for (int64_t t = 0; t < n_tok; ++t)
    for (int64_t b = 0; b < n / 256; ++b) {
      auto& y = reinterpret_cast<plm::quant::block_q8_k*>(X.data() + stride * static_cast<size_t>(t))[b];
      y.d = 0.125f;
      for (auto& q : y.qs) q = static_cast<int8_t>(r.uniform_int(-7, 7));
      for (int g = 0; g < 16; ++g) {
        int s = 0;
        for (int k = 0; k < 16; ++k) s += y.qs[16 * g + k];
        y.bsums[g] = static_cast<int16_t>(s);
      }
    }
  return X;
}

// The K-quant tile checks shared by q4_K and q6_K, on wv (rows x n of type t,
// built so that every product and sum with small_q8_k_activations is exact in f32):
// the repack is lossless; matmul, the portable tile kernel and a one-row matvec
// equal the exact dot bit for bit; and on random weights and activations the
// tiled kernel agrees with the row-major reference.
void check_k_tiles(dtype t, const plm::tensor_view& wv, rng& r) {
  const int64_t n = wv.ne[0], rows = wv.ne[1];
  std::vector<uint8_t> dst(plm::kernels::tiled_bytes(wv));
  const plm::tensor_view tv = plm::kernels::tile_weights(wv, dst.data());
  std::vector<float> a(static_cast<size_t>(n)), bvals(static_cast<size_t>(n));
  for (int64_t row = 0; row < rows; ++row) {
    REQUIRE(plm::kernels::dequantize_weight_row(wv, row, a.data()));
    REQUIRE(plm::kernels::dequantize_weight_row(tv, row, bvals.data()));
    CHECK(std::memcmp(a.data(), bvals.data(), a.size() * sizeof(float)) == 0);
  }
  const int64_t n_tok = 7;
  const size_t stride = plm::kernels::activation_bytes(t, n);
  const std::vector<uint8_t> X = small_q8_k_activations(n, n_tok, r);
  std::vector<float> Y(static_cast<size_t>(rows * n_tok)), P(Y.size());
  plm::kernels::matmul(tv, X.data(), n_tok, Y.data(), rows, 0, rows);
  plm::kernels::detail::tiled_rows(tv, X.data(), n_tok, P.data(), rows, 0, rows, plm::kernels::ref::vec_dot_for(t), false);
  for (int64_t k = 0; k < n_tok; ++k) {
    const auto* y = reinterpret_cast<const plm::quant::block_q8_k*>(X.data() + stride * static_cast<size_t>(k));
    for (int64_t row = 0; row < rows; ++row) {
      REQUIRE(plm::kernels::dequantize_weight_row(wv, row, a.data()));
      double exact = 0;
      for (int64_t i = 0; i < n; ++i) exact += static_cast<double>(a[static_cast<size_t>(i)]) * y[i / 256].d * y[i / 256].qs[i % 256];
      CAPTURE(k);
      CAPTURE(row);
      CHECK(Y[static_cast<size_t>(k * rows + row)] == static_cast<float>(exact));
      CHECK(P[static_cast<size_t>(k * rows + row)] == static_cast<float>(exact));
      float one = 0;
      plm::kernels::matvec(tv, X.data() + stride * static_cast<size_t>(k), &one, row, row + 1);  // a one-row range
      CHECK(one == Y[static_cast<size_t>(k * rows + row)]);
    }
  }
  check_token_counts(tv, X, n_tok, Y);
  // Random weights and activations: the tiled kernel vs the row-major reference.
  matrix m = random_matrix(t, n, rows, r);
  std::vector<uint8_t> dst2(plm::kernels::tiled_bytes(m.view));
  const plm::tensor_view tv2 = plm::kernels::tile_weights(m.view, dst2.data());
  std::vector<float> xs(static_cast<size_t>(n));
  for (auto& v : xs) v = static_cast<float>(r.normal());
  std::vector<uint8_t> act(stride);
  plm::kernels::prepare_activation(t, xs.data(), n, act.data());
  std::vector<float> yt(static_cast<size_t>(rows)), yr(static_cast<size_t>(rows));
  plm::kernels::matvec(tv2, act.data(), yt.data(), 0, rows);
  plm::kernels::ref::matvec(m.view, act.data(), yr.data(), 0, rows);
  for (int64_t row = 0; row < rows; ++row) {
    REQUIRE(plm::kernels::dequantize_weight_row(m.view, row, a.data()));
    double scale = 0;
    for (int64_t i = 0; i < n; ++i) scale += std::fabs(static_cast<double>(a[static_cast<size_t>(i)]) * xs[static_cast<size_t>(i)]);
    CHECK(std::fabs(yt[static_cast<size_t>(row)] - yr[static_cast<size_t>(row)]) <= 1e-4 * scale);
  }
}

}  // namespace

TEST_CASE("tiled q4_K: lossless repack; exact sums bit for bit; random weights agree with the row-major reference") {
  INFO("kernel path: " << plm::kernels::kernel_isa() << ", q4_K tiles used by the engine: " << plm::kernels::tileable(dtype::q4_k));
  rng r(77);
  for (int64_t rows : {16, 21, 48}) {
    for (int64_t n : {256, 768}) {
      CAPTURE(rows);
      CAPTURE(n);
      // Exact case: power-of-two d / dmin, 6-bit scales and mins.
      std::vector<plm::quant::block_q4_k> W(static_cast<size_t>(rows * (n / 256)));
      for (auto& b : W) {
        b.d = plm::fp32_to_fp16(0.0625f);
        b.dmin = plm::fp32_to_fp16(0.03125f);
        for (auto& q : b.qs) q = static_cast<uint8_t>(r.uniform_int(0, 255));
        uint8_t ls[8], lm[8];
        for (int j = 0; j < 8; ++j) ls[j] = static_cast<uint8_t>(r.uniform_int(0, 63)), lm[j] = static_cast<uint8_t>(r.uniform_int(0, 63));
        plm::quant::detail::pack_scale_min_k4(b.scales, ls, lm);
      }
      check_k_tiles(dtype::q4_k, plm::tensor_view::contiguous(dtype::q4_k, {n, rows}, W.data(), "w"), r);
    }
  }
}

TEST_CASE("tiled q6_K: lossless repack; exact sums bit for bit; random weights agree with the row-major reference") {
  INFO("kernel path: " << plm::kernels::kernel_isa() << ", q6_K tiles used by the engine: " << plm::kernels::tileable(dtype::q6_k));
  rng r(91);
  for (int64_t rows : {16, 19, 48}) {
    for (int64_t n : {256, 768}) {
      CAPTURE(rows);
      CAPTURE(n);
      // Exact case: d a power of two, scales in [-31, 31].
      std::vector<plm::quant::block_q6_k> W(static_cast<size_t>(rows * (n / 256)));
      for (auto& b : W) {
        b.d = plm::fp32_to_fp16(0.0625f);
        for (auto& q : b.ql) q = static_cast<uint8_t>(r.uniform_int(0, 255));
        for (auto& q : b.qh) q = static_cast<uint8_t>(r.uniform_int(0, 255));
        for (auto& sc : b.scales) sc = static_cast<int8_t>(r.uniform_int(-31, 31));
      }
      const plm::tensor_view wv = plm::tensor_view::contiguous(dtype::q6_k, {n, rows}, W.data(), "w");
      CHECK(plm::kernels::tiled_bytes(wv) == W.size() * sizeof(plm::quant::block_q6_k));  // q6_K tiles: same bytes
      check_k_tiles(dtype::q6_k, wv, r);
    }
  }
}

TEST_CASE("tiled f16 / bf16: kernel = portable tile kernel bit for bit; any row range and token count") {
  INFO("kernel path: " << plm::kernels::kernel_isa() << ", f16 tiles used by the engine: " << plm::kernels::tileable(dtype::f16));
  rng r(101);
  for (dtype t : {dtype::f16, dtype::bf16}) {
    for (int64_t rows : {16, 37, 83}) {
      for (int64_t n : {1, 34, 515}) {
        CAPTURE(std::string(plm::name(t)));
        CAPTURE(rows);
        CAPTURE(n);
        matrix m = random_matrix(t, n, rows, r);  // (lossless repack: the test above)
        std::vector<uint8_t> dst(plm::kernels::tiled_bytes(m.view));
        const plm::tensor_view tv = plm::kernels::tile_weights(m.view, dst.data());
        std::vector<float> a(static_cast<size_t>(n));
        const int64_t n_tok = 23;  // token counts 1..22 below: every group size up to 12
        const size_t stride = plm::kernels::activation_bytes(t, n);
        REQUIRE(stride == static_cast<size_t>(n) * sizeof(float));
        std::vector<float> xs(static_cast<size_t>(n * n_tok));
        for (auto& v : xs) v = static_cast<float>(r.normal());
        std::vector<uint8_t> X(stride * static_cast<size_t>(n_tok));
        for (int64_t k = 0; k < n_tok; ++k)
          plm::kernels::prepare_activation(t, xs.data() + k * n, n, X.data() + stride * static_cast<size_t>(k));

        std::vector<float> Y(static_cast<size_t>(rows * n_tok)), P(Y.size()), R(Y.size());
        plm::kernels::matmul(tv, X.data(), n_tok, Y.data(), rows, 0, rows);
        plm::kernels::detail::tiled_rows(tv, X.data(), n_tok, P.data(), rows, 0, rows, plm::kernels::ref::vec_dot_for(t), false);
        plm::kernels::ref::matmul(m.view, X.data(), n_tok, R.data(), rows, 0, rows);
        for (int64_t k = 0; k < n_tok; ++k) {
          for (int64_t row = 0; row < rows; ++row) {
            REQUIRE(plm::kernels::dequantize_weight_row(m.view, row, a.data()));
            double exact = 0, scale = 0;
            for (int64_t i = 0; i < n; ++i) {
              const double p = static_cast<double>(a[static_cast<size_t>(i)]) * xs[static_cast<size_t>(k * n + i)];
              exact += p;
              scale += std::fabs(p);
            }
            const size_t at = static_cast<size_t>(k * rows + row);
            CAPTURE(k);
            CAPTURE(row);
            if (row < rows / 16 * 16) CHECK(Y[at] == P[at]);  // tail rows: each side's row-major dot
            const double bound = static_cast<double>(n + 2) * FLT_EPSILON * scale + 1e-30;
            CHECK(std::fabs(Y[at] - exact) <= bound);
            CHECK(std::fabs(R[at] - exact) <= bound);
          }
        }
        // One token at a time and cut row ranges: the same bits.
        for (int64_t k = 0; k < n_tok; k += 5) {
          const uint8_t* x = X.data() + stride * static_cast<size_t>(k);
          for (int trial = 0; trial < 4; ++trial) {
            const int64_t r0 = trial == 0 ? 0 : r.uniform_int(0, static_cast<int>(rows - 1));
            const int64_t r1 = trial == 0 ? rows : r.uniform_int(static_cast<int>(r0 + 1), static_cast<int>(rows));
            std::vector<float> part(static_cast<size_t>(r1 - r0), -1.0f);
            plm::kernels::matvec(tv, x, part.data(), r0, r1);
            for (int64_t row = r0; row < r1; ++row)
              CHECK(part[static_cast<size_t>(row - r0)] == Y[static_cast<size_t>(k * rows + row)]);
          }
        }
        check_token_counts(tv, X, n_tok, Y);
      }
    }
  }
}
