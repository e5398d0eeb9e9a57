// Tests of kernels::coeff_rows_product (vec.hpp), the product that absorbs the
// MLA query through attn_kv_b's K rows: Y[t][c] = Σ_j X[t][j] R[j][c].
//  - within k+1 roundings of the exact (double) sum, relative to Σ_j |X R|;
//  - a token's row is the same bits whether computed alone or with others
//    (the engine's prefill and decode agree), for column counts with SIMD
//    blocks and scalar tails.
// And of kernels::weight_rows_combination (rows_combination.hpp), the same sum
// read straight from q8_0 / q4_0 blocks: bit for bit the dequantized rows
// through coeff_rows_product, for block counts with and without a full group.
#include <doctest/doctest.h>

#include <cfloat>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <vector>

#include "test_quant_support.hpp"
#include "plm/kernels/rows_combination.hpp"
#include "plm/kernels/vec.hpp"
#include "plm/quant/dequantize.hpp"

TEST_CASE("coeff_rows_product: exact-sum bound, and per-token results independent of the token count") {
  plm_test::rng r(3);
  for (int64_t m : {1, 17, 64, 130, 512}) {
    for (int64_t k : {1, 5, 128}) {
      const int64_t nt = 7, ldx = k + 3, ldr = m + 5, ldy = m + 2;
      std::vector<float> X(static_cast<size_t>(nt * ldx)), R(static_cast<size_t>(k * ldr));
      for (auto& v : X) v = static_cast<float>(r.normal());
      for (auto& v : R) v = static_cast<float>(r.normal());
      std::vector<float> Y(static_cast<size_t>(nt * ldy), -9.0f);
      plm::kernels::coeff_rows_product(X.data(), ldx, nt, R.data(), ldr, k, m, Y.data(), ldy);
      CAPTURE(m);
      CAPTURE(k);
      for (int64_t t = 0; t < nt; ++t) {
        std::vector<float> y1(static_cast<size_t>(m));
        plm::kernels::coeff_rows_product(X.data() + t * ldx, ldx, 1, R.data(), ldr, k, m, y1.data(), m);
        for (int64_t c = 0; c < m; ++c) {
          double exact = 0, scale = 0;
          for (int64_t j = 0; j < k; ++j) {
            const double p = static_cast<double>(X[static_cast<size_t>(t * ldx + j)]) * R[static_cast<size_t>(j * ldr + c)];
            exact += p;
            scale += std::fabs(p);
          }
          const float got = Y[static_cast<size_t>(t * ldy + c)];
          CHECK(std::fabs(got - exact) <= (static_cast<double>(k) + 1) * FLT_EPSILON * scale);
          CHECK(got == y1[static_cast<size_t>(c)]);
        }
        for (int64_t c = m; c < ldy; ++c) CHECK(Y[static_cast<size_t>(t * ldy + c)] == -9.0f);  // padding untouched
      }
    }
  }
}

TEST_CASE("weight_rows_combination: the bits of dequantized rows through coeff_rows_product") {
  INFO("kernel in this build: q8_0 " << plm::kernels::has_rows_combination(plm::dtype::q8_0) << ", q4_0 "
                                     << plm::kernels::has_rows_combination(plm::dtype::q4_0));
  plm_test::rng r(11);
  for (plm::dtype t : {plm::dtype::q8_0, plm::dtype::q4_0, plm::dtype::q4_k}) {
    for (int64_t n : {32, 96, 256, 288, 512, 544}) {  // 1, 3, 8, 9, 16, 17 blocks
      for (int64_t k : {1, 5, 128}) {
        CAPTURE(plm::name(t));
        CAPTURE(n);
        CAPTURE(k);
        if (t == plm::dtype::q4_k && n % 256 != 0) continue;
        const int64_t rows = k + 7, r0 = 3;
        plm_test::matrix m;
        REQUIRE(plm_test::random_matrix(t, n, rows, r, m));
        std::vector<float> x(static_cast<size_t>(k)), R(static_cast<size_t>(k * n)), want(static_cast<size_t>(n));
        for (auto& v : x) v = static_cast<float>(r.normal());
        for (int64_t j = 0; j < k; ++j)
          REQUIRE(plm::quant::dequantize_row(t, m.view.row(r0 + j), R.data() + j * n, n));
        plm::kernels::coeff_rows_product(x.data(), k, 1, R.data(), n, k, n, want.data(), n);
        std::vector<float> got(static_cast<size_t>(n) + 1, -9.0f);
        const bool ran = plm::kernels::weight_rows_combination(m.view, r0, k, x.data(), got.data());
        CHECK(ran == plm::kernels::has_rows_combination(t));
        if (ran) CHECK(std::memcmp(got.data(), want.data(), want.size() * sizeof(float)) == 0);
        else CHECK(got[0] == -9.0f);  // untouched
        CHECK(got[static_cast<size_t>(n)] == -9.0f);  // nothing written past the row
      }
    }
  }
}
