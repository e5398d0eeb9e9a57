// Tests of kernels::coeff_rows_product (vec.hpp), the product that absorbs the
// MLA query through attn_kv_b's K rows: Y[t][c] = Σ_j X[t][j] R[j][c].
//  - within k+1 roundings of the exact (double) sum, relative to Σ_j |X R|;
//  - a token's row is the same bits whether computed alone or with others
//    (the engine's prefill and decode agree), for column counts with SIMD
//    blocks and scalar tails.
#include <doctest/doctest.h>

#include <cfloat>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <vector>

#include "test_quant_support.hpp"
#include "plm/kernels/vec.hpp"

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
