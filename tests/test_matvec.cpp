// Tests of plm/kernels/matvec.hpp: every weight type, the compiled-in kernels
// against the scalar reference and both against an exact (double) dot product
// of the dequantized weights and activations, on odd shapes.
//
// Tolerances (all relative to S = sum_i (|a_i| + |b_i|) |x_i|, where the weight
// w_i = a_i + b_i is split into its scale part a and its min part b, b = 0 for
// symmetric types, and x is the dequantized activation):
//  - kernel_vs_exact: an f32 sum of B terms, each with at most 3 roundings,
//    is within (B + 3) eps S of the exact sum, whatever the order (first-order
//    bound of recursive or tree summation). B = blocks (quantized) or elements (float).
//  - fast_vs_ref: both within that bound of the exact sum: 2 (B + 3) eps S.
//  - q4_1 / q5_1 also carry the f16 rounding of the activation's s = d*sum(q)
//    (llama.cpp's q8_1 format): + 2^-11 sum_b |m_b s_b| on top.
//  - exact_cases: with power-of-two scales and small quants every product and
//    partial sum is an integer multiple of one unit below 2^24 units, so every
//    kernel must give the exact result bit for bit.
#include <doctest/doctest.h>

#include <cfloat>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "test_quant_support.hpp"
#include "plm/kernels/matvec.hpp"
#include "plm/quant/dequantize.hpp"
#include "plm/quant/quantize.hpp"
#include "plm/quant/traits.hpp"

namespace {

using plm::dtype;
using plm_test::rng;

const dtype weight_types[] = {dtype::f32,  dtype::f16,  dtype::bf16, dtype::q4_0, dtype::q4_1,
                              dtype::q5_0, dtype::q5_1, dtype::q8_0, dtype::q8_1, dtype::q2_k,
                              dtype::q3_k, dtype::q4_k, dtype::q5_k, dtype::q6_k, dtype::q8_k};

std::vector<int64_t> sizes_for(dtype t) {
  if (plm::block_size(t) == 1) return {1, 3, 7, 17, 33, 224, 1031};
  if (plm::block_size(t) == 32) return {32, 96, 224, 768, 1312};
  return {256, 768, 1280, 2048};
}

using plm_test::matrix;

matrix random_matrix(dtype t, int64_t n, int64_t rows, rng& r) {
  matrix m;
  REQUIRE(plm_test::random_matrix(t, n, rows, r, m));
  return m;
}

// Bytes of a block type's f16 fields to zero to isolate the scale part (field
// "min" zeroed) or the min part (field "scale" zeroed); {-1, -1} if symmetric.
struct split_fields {
  int scale_off;
  int min_off;
};
split_fields fields_of(dtype t) {
  switch (t) {
    case dtype::q4_1: case dtype::q5_1: return {0, 2};
    case dtype::q4_k: case dtype::q5_k: return {0, 2};
    case dtype::q2_k: return {80, 82};
    default: return {-1, -1};
  }
}

// S (see file comment) and the exact dot of one row with the prepared activation.
struct exact_dot {
  double value;
  double scale;  // S
  double extra;  // additional tolerance (q8_1 s rounding)
};
exact_dot exact_row_dot(dtype t, const uint8_t* row, int64_t n, const void* act) {
  std::vector<float> w(static_cast<size_t>(n)), x(static_cast<size_t>(n)), a(w.size()), b(w.size(), 0.0f);
  REQUIRE(plm::quant::dequantize_row(t, row, w.data(), n));
  REQUIRE(plm::quant::dequantize_row(plm::kernels::activation_type(t), act, x.data(), n));
  const split_fields f = fields_of(t);
  if (f.scale_off >= 0) {
    const size_t rb = plm::quant::row_bytes(t, n), bb = plm::block_bytes(t);
    std::vector<uint8_t> only_scale(row, row + rb), only_min(row, row + rb);
    for (size_t o = 0; o < rb; o += bb) {
      only_scale[o + static_cast<size_t>(f.min_off)] = only_scale[o + static_cast<size_t>(f.min_off) + 1] = 0;
      only_min[o + static_cast<size_t>(f.scale_off)] = only_min[o + static_cast<size_t>(f.scale_off) + 1] = 0;
    }
    REQUIRE(plm::quant::dequantize_row(t, only_scale.data(), a.data(), n));
    REQUIRE(plm::quant::dequantize_row(t, only_min.data(), b.data(), n));
  } else {
    a = w;
  }
  exact_dot e{0, 0, 0};
  for (size_t i = 0; i < w.size(); ++i) {
    e.value += static_cast<double>(w[i]) * x[i];
    e.scale += (std::fabs(static_cast<double>(a[i])) + std::fabs(static_cast<double>(b[i]))) * std::fabs(static_cast<double>(x[i]));
  }
  if (plm::kernels::activation_type(t) == dtype::q8_1) {
    // sum_b |m_b| |s_b| 2^-11: the f16 rounding of s.
    const auto* y = static_cast<const plm::quant::block_q8_1*>(act);
    const size_t bb = plm::block_bytes(t);
    for (int64_t blk = 0; blk < n / 32; ++blk) {
      uint16_t m;
      std::memcpy(&m, row + static_cast<size_t>(blk) * bb + 2, 2);
      e.extra += std::fabs(static_cast<double>(plm::fp16_to_fp32(m))) *
                 std::fabs(static_cast<double>(plm::fp16_to_fp32(y[blk].s))) * std::ldexp(1.0, -11);
    }
  }
  return e;
}

int64_t n_terms(dtype t, int64_t n) { return n / plm::block_size(t); }

}  // namespace

TEST_CASE("kernel_isa names the compiled-in path") {
  const std::string isa = plm::kernels::kernel_isa();
  CHECK((isa == "scalar" || isa == "avx2" || isa == "avx512-vnni" || isa == "neon" || isa == "neon-dotprod"));
  MESSAGE("matvec kernels: " << isa);
}

TEST_CASE("activation types and sizes") {
  using plm::kernels::activation_bytes;
  using plm::kernels::activation_type;
  CHECK(activation_type(dtype::f32) == dtype::f32);
  CHECK(activation_type(dtype::f16) == dtype::f32);
  CHECK(activation_type(dtype::bf16) == dtype::f32);
  CHECK(activation_type(dtype::q4_0) == dtype::q8_0);
  CHECK(activation_type(dtype::q8_0) == dtype::q8_0);
  CHECK(activation_type(dtype::q4_1) == dtype::q8_1);
  CHECK(activation_type(dtype::q4_k) == dtype::q8_k);
  CHECK(activation_type(dtype::q6_k) == dtype::q8_k);
  CHECK(activation_bytes(dtype::q4_k, 2048) == 8 * 292);
  CHECK(activation_bytes(dtype::q8_0, 2048) == 64 * 34 + 64 * 8);  // blocks, then f32 scale + int32 sum per block
  CHECK(activation_bytes(dtype::q8_0, 32) == 36 + 8);  // extras at a 4-byte aligned offset
  CHECK(activation_bytes(dtype::f16, 2048) == 2048 * 4);
  CHECK(activation_bytes(dtype::q4_0, 100) == 0);
}

TEST_CASE("matvec: compiled-in kernels vs the scalar reference vs the exact dot, all types, odd shapes") {
  for (dtype t : weight_types) {
    for (int64_t n : sizes_for(t)) {
      for (int64_t rows : {1, 3, 7, 15, 17, 33}) {
        if (n >= 1280 && rows > 17) continue;  // keep the run short; large n already covered at 17 rows
        rng r(static_cast<uint64_t>(t) * 7919 + static_cast<uint64_t>(n) * 31 + static_cast<uint64_t>(rows));
        matrix W = random_matrix(t, n, rows, r);
        std::vector<float> x(static_cast<size_t>(n));
        for (auto& v : x) v = static_cast<float>(r.normal());
        std::vector<uint8_t> act(plm::kernels::activation_bytes(t, n));
        plm::kernels::prepare_activation(t, x.data(), n, act.data());
        std::vector<uint8_t> act_ref(act.size());
        plm::kernels::ref::prepare_activation(t, x.data(), n, act_ref.data());
        REQUIRE(act == act_ref);  // activation quantization is the reference one, bit for bit

        std::vector<float> y(static_cast<size_t>(rows) + 2, -7.0f), yr(static_cast<size_t>(rows));
        plm::kernels::matvec(W.view, act.data(), y.data(), 0, rows);
        plm::kernels::ref::matvec(W.view, act.data(), yr.data(), 0, rows);
        CHECK(y[static_cast<size_t>(rows)] == -7.0f);  // nothing written past r1 - r0
        const double B = static_cast<double>(n_terms(t, n));
        for (int64_t i = 0; i < rows; ++i) {
          const exact_dot e = exact_row_dot(t, W.view.row(i), n, act.data());
          const double kernel_vs_exact = (B + 3) * FLT_EPSILON * e.scale + e.extra;
          const double fast_vs_ref = 2 * (B + 3) * FLT_EPSILON * e.scale + 2 * e.extra;
          INFO(std::string(plm::name(t)) << " n=" << n << " rows=" << rows << " row " << i << " exact=" << e.value
                                         << " S=" << e.scale);
          REQUIRE(std::fabs(yr[static_cast<size_t>(i)] - e.value) <= kernel_vs_exact);
          REQUIRE(std::fabs(static_cast<double>(y[static_cast<size_t>(i)]) - yr[static_cast<size_t>(i)]) <= fast_vs_ref);
        }
        // A sub-range writes y[r - r0] only.
        if (rows >= 3) {
          std::vector<float> ys(static_cast<size_t>(rows), -7.0f);
          plm::kernels::matvec(W.view, act.data(), ys.data(), 1, rows - 1);
          for (int64_t i = 1; i < rows - 1; ++i) CHECK(ys[static_cast<size_t>(i - 1)] == y[static_cast<size_t>(i)]);
          CHECK(ys[static_cast<size_t>(rows - 2)] == -7.0f);
        }
      }
    }
  }
}

TEST_CASE("matmul equals matvec per token bit for bit, writes only its slots") {
  for (dtype t : weight_types) {
    const int64_t n = plm::block_size(t) == 1 ? 224 : (plm::block_size(t) == 32 ? 224 : 768);
    const int64_t rows = 17, r0 = 2, r1 = 15, ldy = 20;
    rng r(static_cast<uint64_t>(t) + 99);
    matrix W = random_matrix(t, n, rows, r);
    for (int64_t n_tok : {1, 2, 5, 70}) {
      const size_t stride = plm::kernels::activation_bytes(t, n);
      std::vector<uint8_t> X(stride * static_cast<size_t>(n_tok));
      std::vector<float> x(static_cast<size_t>(n));
      for (int64_t tok = 0; tok < n_tok; ++tok) {
        for (auto& v : x) v = static_cast<float>(r.normal());
        plm::kernels::prepare_activation(t, x.data(), n, X.data() + stride * static_cast<size_t>(tok));
      }
      std::vector<float> Y(static_cast<size_t>(ldy * n_tok), -7.0f);
      plm::kernels::matmul(W.view, X.data(), n_tok, Y.data(), ldy, r0, r1);
      std::vector<float> Yr(Y.size(), -7.0f);
      plm::kernels::ref::matmul(W.view, X.data(), n_tok, Yr.data(), ldy, r0, r1);
      for (int64_t tok = 0; tok < n_tok; ++tok) {
        std::vector<float> y(static_cast<size_t>(r1 - r0));
        plm::kernels::matvec(W.view, X.data() + stride * static_cast<size_t>(tok), y.data(), r0, r1);
        std::vector<float> yr(y.size());
        plm::kernels::ref::matvec(W.view, X.data() + stride * static_cast<size_t>(tok), yr.data(), r0, r1);
        INFO(std::string(plm::name(t)) << " n_tok=" << n_tok << " token " << tok);
        for (int64_t i = 0; i < ldy; ++i) {
          const float got = Y[static_cast<size_t>(tok * ldy + i)];
          if (i < r1 - r0) {
            REQUIRE(std::memcmp(&got, &y[static_cast<size_t>(i)], 4) == 0);
            REQUIRE(std::memcmp(&Yr[static_cast<size_t>(tok * ldy + i)], &yr[static_cast<size_t>(i)], 4) == 0);
          } else {
            REQUIRE(got == -7.0f);
          }
        }
      }
    }
  }
}

namespace {

// Builds a row of blocks with power-of-two f16 scales (d = dmin = 2^-4) and
// random quant bytes, and an activation of q8 blocks with scale 2^-6 and
// values in [-7, 7]: every kernel's arithmetic is then exact (file comment).
void exact_case(dtype t, int64_t n, rng& r, std::vector<uint8_t>& row, std::vector<uint8_t>& act) {
  const size_t rb = plm::quant::row_bytes(t, n), bb = plm::block_bytes(t);
  row.resize(rb);
  for (auto& v : row) v = static_cast<uint8_t>(r.next());
  const uint16_t d = plm::fp32_to_fp16(0.0625f), dm = d;
  for (size_t o = 0; o < rb; o += bb) {
    switch (t) {
      case dtype::q4_0: case dtype::q5_0: case dtype::q8_0: std::memcpy(&row[o], &d, 2); break;
      case dtype::q4_1: case dtype::q5_1: std::memcpy(&row[o], &d, 2); std::memcpy(&row[o + 2], &dm, 2); break;
      case dtype::q8_1: std::memcpy(&row[o], &d, 2); std::memcpy(&row[o + 2], &dm, 2); break;
      case dtype::q4_k: case dtype::q5_k: std::memcpy(&row[o], &d, 2); std::memcpy(&row[o + 2], &dm, 2); break;
      case dtype::q2_k: std::memcpy(&row[o + 80], &d, 2); std::memcpy(&row[o + 82], &dm, 2); break;
      case dtype::q3_k: std::memcpy(&row[o + 108], &d, 2); break;
      case dtype::q6_k: std::memcpy(&row[o + 208], &d, 2); break;
      case dtype::q8_k: { const float df = 0.0625f; std::memcpy(&row[o], &df, 4); break; }
      default: break;
    }
    if (t == dtype::q8_0 || t == dtype::q8_1 || t == dtype::q8_k) {  // keep int8 quants in [-127, 127]
      const size_t qo = t == dtype::q8_0 ? 2 : 4, qn = t == dtype::q8_k ? 256 : 32;
      for (size_t j = 0; j < qn; ++j)
        if (row[o + qo + j] == 0x80) row[o + qo + j] = 0x81;
    }
  }
  const dtype at = plm::kernels::activation_type(t);
  act.assign(plm::kernels::activation_bytes(t, n), 0);
  const int64_t abs = plm::block_size(at);
  for (int64_t blk = 0; blk < n / abs; ++blk) {
    uint8_t* p = act.data() + static_cast<size_t>(blk) * plm::block_bytes(at);
    int sum = 0;
    int8_t qs[256];
    for (int64_t j = 0; j < abs; ++j) {
      qs[j] = static_cast<int8_t>(r.uniform_int(-7, 7));
      sum += qs[j];
    }
    if (at == dtype::q8_k) {
      auto* y = reinterpret_cast<plm::quant::block_q8_k*>(p);
      y->d = 0.015625f;
      std::memcpy(y->qs, qs, 256);
      for (int g = 0; g < 16; ++g) {
        int s = 0;
        for (int i = 0; i < 16; ++i) s += qs[16 * g + i];
        y->bsums[g] = static_cast<int16_t>(s);
      }
    } else if (at == dtype::q8_1) {
      auto* y = reinterpret_cast<plm::quant::block_q8_1*>(p);
      y->d = plm::fp32_to_fp16(0.015625f);
      y->s = plm::fp32_to_fp16(0.015625f * static_cast<float>(sum));  // |sum| <= 224: exact in f16
      std::memcpy(y->qs, qs, 32);
    } else {
      auto* y = reinterpret_cast<plm::quant::block_q8_0*>(p);
      y->d = plm::fp32_to_fp16(0.015625f);
      std::memcpy(y->qs, qs, 32);
    }
  }
}

}  // namespace

TEST_CASE("exact cases: integer kernels give the exact result bit for bit") {
  for (dtype t : weight_types) {
    if (plm::block_size(t) == 1) continue;
    for (int64_t n : sizes_for(t)) {
      rng r(static_cast<uint64_t>(t) * 13 + static_cast<uint64_t>(n));
      const int64_t rows = 5;
      std::vector<uint8_t> bytes, act, row;
      for (int64_t i = 0; i < rows; ++i) {
        exact_case(t, n, r, row, act);  // act regenerated, last one kept
        bytes.insert(bytes.end(), row.begin(), row.end());
      }
      const plm::tensor_view W = plm::tensor_view::contiguous(t, {n, rows}, bytes.data());
      std::vector<float> y(static_cast<size_t>(rows)), yr(y.size());
      plm::kernels::matvec(W, act.data(), y.data(), 0, rows);
      plm::kernels::ref::matvec(W, act.data(), yr.data(), 0, rows);
      for (int64_t i = 0; i < rows; ++i) {
        const exact_dot e = exact_row_dot(t, W.row(i), n, act.data());
        // Precondition of exactness: every term is a multiple of 2^-4 * 2^-6 and
        // the sum of their magnitudes (a bound on every partial sum) is below 2^24 units.
        REQUIRE(e.scale < std::ldexp(1.0, 24 - 10));
        INFO(std::string(plm::name(t)) << " n=" << n << " row " << i);
        CHECK(static_cast<double>(yr[static_cast<size_t>(i)]) == e.value);
        CHECK(static_cast<double>(y[static_cast<size_t>(i)]) == e.value);
      }
    }
  }
  // Float weights: small integers make every product and sum exact.
  for (dtype t : {dtype::f32, dtype::f16, dtype::bf16}) {
    for (int64_t n : {1, 7, 33, 1031}) {
      rng r(static_cast<uint64_t>(t) + static_cast<uint64_t>(n));
      std::vector<float> w(static_cast<size_t>(n)), x(w.size());
      for (auto& v : w) v = static_cast<float>(r.uniform_int(-64, 64));
      for (auto& v : x) v = static_cast<float>(r.uniform_int(-64, 64));
      std::vector<uint8_t> bytes(plm::quant::row_bytes(t, n));
      REQUIRE(plm::quant::quantize_row(t, w.data(), bytes.data(), n));
      const plm::tensor_view W = plm::tensor_view::contiguous(t, {n, 1}, bytes.data());
      std::vector<uint8_t> act(plm::kernels::activation_bytes(t, n));
      plm::kernels::prepare_activation(t, x.data(), n, act.data());
      double want = 0;
      for (size_t i = 0; i < w.size(); ++i) want += static_cast<double>(w[i]) * x[i];
      float y = 0, yr = 0;
      plm::kernels::matvec(W, act.data(), &y, 0, 1);
      plm::kernels::ref::matvec(W, act.data(), &yr, 0, 1);
      CHECK(static_cast<double>(y) == want);
      CHECK(static_cast<double>(yr) == want);
    }
  }
}

TEST_CASE("unsupported weight types produce NaN rather than garbage") {
  const int32_t data[8] = {1, 2, 3, 4, 5, 6, 7, 8};
  const plm::tensor_view W = plm::tensor_view::contiguous(dtype::i32, {4, 2}, data);
  float x[4] = {1, 1, 1, 1};
  float y[2] = {0, 0};
  plm::kernels::matvec(W, x, y, 0, 2);
  CHECK(std::isnan(y[0]));
  CHECK(std::isnan(y[1]));
  CHECK_FALSE(plm::kernels::matvec_supported(dtype::i32));
}
