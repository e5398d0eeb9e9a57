// Sparse down projection: the neuron-major repack reproduces ggml's dequantized
// weights exactly for every block type, and the sparse product equals the
// dense product W·a (computed in double from quant::dequantize_row, which is
// independent of the repack code) on random and crafted sparsity patterns.
#include <doctest/doctest.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <random>
#include <vector>

#include "plm/core/buffer.hpp"
#include "plm/kernels/activation.hpp"
#include "plm/kernels/sparse_ffn.hpp"
#include "plm/quant/dequantize.hpp"
#include "plm/quant/half.hpp"

namespace k = plm::kernels;
using plm::dtype;

namespace {
// Byte offsets of the f16 scale fields in each block type (plm-spec §7).
std::vector<int> half_fields(dtype t) {
  switch (t) {
    case dtype::q4_0: case dtype::q5_0: case dtype::q8_0: return {0};
    case dtype::q4_1: case dtype::q5_1: case dtype::q4_k: case dtype::q5_k: return {0, 2};
    case dtype::q2_k: return {80, 82};
    case dtype::q3_k: return {108};
    case dtype::q6_k: return {208};
    default: return {};
  }
}

// Random weights of type t, ne = (n_in, n_out): random bytes (every bit pattern of
// the quant payload is valid), finite random f16 scales; float types from values.
std::vector<uint8_t> random_weights(dtype t, int64_t n_in, int64_t n_out, uint32_t seed) {
  std::mt19937 g(seed);
  std::uniform_real_distribution<float> u(-1.0f, 1.0f), s(0.001f, 0.05f);
  const size_t row = static_cast<size_t>(n_in) / plm::block_size(t) * plm::block_bytes(t);
  std::vector<uint8_t> w(row * static_cast<size_t>(n_out));
  if (t == dtype::f32) {
    for (size_t i = 0; i < w.size() / 4; ++i) {
      const float v = u(g);
      std::memcpy(&w[4 * i], &v, 4);
    }
  } else if (t == dtype::f16 || t == dtype::bf16) {
    for (size_t i = 0; i < w.size() / 2; ++i) {
      const uint16_t h = t == dtype::f16 ? plm::fp32_to_fp16(u(g)) : plm::fp32_to_bf16(u(g));
      std::memcpy(&w[2 * i], &h, 2);
    }
  } else {
    for (auto& b : w) b = static_cast<uint8_t>(g());
    const auto fields = half_fields(t);
    for (size_t blk = 0; blk < w.size() / plm::block_bytes(t); ++blk)
      for (int off : fields) {
        const uint16_t h = plm::fp32_to_fp16(s(g));
        std::memcpy(&w[blk * plm::block_bytes(t) + static_cast<size_t>(off)], &h, 2);
      }
  }
  return w;
}

const dtype all_types[] = {dtype::f32,  dtype::f16,  dtype::bf16, dtype::q8_0, dtype::q4_0, dtype::q4_1, dtype::q5_0,
                           dtype::q5_1, dtype::q2_k, dtype::q3_k, dtype::q4_k, dtype::q5_k, dtype::q6_k};
}  // namespace

TEST_CASE("repack_down: A·q − B reproduces quant::dequantize_row bit for bit, every type") {
  for (dtype t : all_types) {
    CAPTURE(plm::name(t));
    const int64_t n_in = 512, n_out = 7;
    auto bytes = random_weights(t, n_in, n_out, 7);
    auto W = plm::tensor_view::contiguous(t, {n_in, n_out}, bytes.data(), "w");
    auto need = k::sparse_down_bytes(t, n_in, n_out);
    REQUIRE(need);
    auto buf = plm::aligned_buffer::allocate(*need);
    REQUIRE(buf);
    plm::arena mem(buf->data(), buf->size());
    auto d = k::repack_down(W, mem);
    REQUIRE(d);
    CHECK(plm::arena::footprint(mem.used()) == *need);  // the plan, up to the last part's alignment padding
    std::vector<float> row(static_cast<size_t>(n_in));
    int mismatches = 0;
    for (int64_t r = 0; r < n_out; ++r) {
      REQUIRE(plm::quant::dequantize_row(t, W.row(r), row.data(), n_in));
      for (int64_t j = 0; j < n_in; ++j) {
        float v = 0.0f;
        const size_t e = k::sparse_down_index(*d, j, r);
        switch (d->format) {
          case k::sparse_down_format::f32: v = static_cast<const float*>(d->columns)[e]; break;
          case k::sparse_down_format::f16: v = plm::fp16_to_fp32(static_cast<const uint16_t*>(d->columns)[e]); break;
          case k::sparse_down_format::bf16: v = plm::bf16_to_fp32(static_cast<const uint16_t*>(d->columns)[e]); break;
          case k::sparse_down_format::q8: {
            const size_t gi = k::sparse_group_index(*d, j / d->group, r);
            const float A = k::sparse_scale_value(*d, d->scale, gi), B = d->offset ? k::sparse_scale_value(*d, d->offset, gi) : 0.0f;
            const float q = static_cast<float>(static_cast<const int8_t*>(d->columns)[e]);
            v = A * q - B;
            break;
          }
        }
        mismatches += v != row[static_cast<size_t>(j)] ? 1 : 0;
      }
    }
    CHECK(mismatches == 0);
  }
}

TEST_CASE("sparse down projection equals the dense product at 0%, ~50%, ~90% and 100% sparsity") {
  for (dtype t : all_types) {
    CAPTURE(plm::name(t));
    // 600 outputs (slices [0, 256), [256, 512), [512, 600)) computed as [0, 256),
    // [256, 300) and [300, 600): a whole slice (the AVX-512 q8 slice kernel), a
    // piece at a slice's start, one from inside a slice and the ragged last slice
    const int64_t n_in = 768, n_out = 600;
    auto bytes = random_weights(t, n_in, n_out, 11);
    auto W = plm::tensor_view::contiguous(t, {n_in, n_out}, bytes.data(), "down");
    auto buf = plm::aligned_buffer::allocate(*k::sparse_down_bytes(t, n_in, n_out));
    REQUIRE(buf);
    plm::arena mem(buf->data(), buf->size());
    auto d = k::repack_down(W, mem);
    REQUIRE(d);
    std::vector<float> dense(static_cast<size_t>(n_in * n_out));
    for (int64_t r = 0; r < n_out; ++r) REQUIRE(plm::quant::dequantize_row(t, W.row(r), dense.data() + r * n_in, n_in));
    std::mt19937 g(5);
    std::normal_distribution<float> nd(0.0f, 1.0f);
    for (double shift : {-100.0, 0.0, 1.28, 100.0}) {  // fraction u ≤ 0: 0, 0.5, 0.9, 1
      std::vector<float> a(static_cast<size_t>(n_in));
      for (auto& v : a) v = nd(g) - static_cast<float>(shift);
      std::vector<int32_t> act(a.size());
      const int64_t n_act = k::relu_sqr_active(a.data(), n_in, act.data());
      std::vector<float> y(static_cast<size_t>(n_out), 123.0f), yr(y.size(), 321.0f);
      k::sparse_down_apply(*d, a.data(), act.data(), n_act, y.data(), 0, 256);
      k::sparse_down_apply(*d, a.data(), act.data(), n_act, y.data(), 256, 300);
      k::sparse_down_apply(*d, a.data(), act.data(), n_act, y.data(), 300, n_out);
      k::ref::sparse_down_apply(*d, a.data(), act.data(), n_act, yr.data(), 0, n_out);
      for (int64_t r = 0; r < n_out; ++r) {
        double e = 0.0, mag = 0.0;
        for (int64_t j = 0; j < n_in; ++j) {
          e += static_cast<double>(a[j]) * dense[r * n_in + j];
          // size of the terms the f32 sums really add: |a·A·q| and |a·B| separately for q8 forms
          double term = std::fabs(static_cast<double>(dense[r * n_in + j]));
          if (d->format == k::sparse_down_format::q8) {
            const size_t gi = k::sparse_group_index(*d, j / d->group, r);
            const double A = k::sparse_scale_value(*d, d->scale, gi), B = d->offset ? k::sparse_scale_value(*d, d->offset, gi) : 0.0;
            term = std::fabs(A * static_cast<const int8_t*>(d->columns)[k::sparse_down_index(*d, j, r)]) + std::fabs(B);
          }
          mag += std::fabs(static_cast<double>(a[j])) * term;
        }
        // f32 summation of ≤ n_in + 2 terms in any order: error ≤ (n_in + 2)·2^-24·Σ|terms|.
        const double tol = static_cast<double>(n_in + 2) * 6e-8 * mag + 1e-12;
        CHECK(std::fabs(y[r] - e) <= tol);
        CHECK(std::fabs(yr[r] - e) <= tol);
      }
      if (shift == 100.0) CHECK(n_act == 0);
      if (shift == -100.0) CHECK(n_act == n_in);
    }
  }
}

TEST_CASE("unsupported types are reported by name") {
  auto r = k::sparse_down_bytes(dtype::i32, 32, 4);
  REQUIRE_FALSE(r);
  CHECK(r.error().kind() == plm::errc::unsupported);
  CHECK(r.error().message().find("i32") != std::string::npos);
}

TEST_CASE("sparse_down_crossover: the density where the sparse kernel's weighted bytes meet the dense matvec's") {
  // PLM-1.8B's down matrix (8192 neurons -> 2048 outputs) in the shapes only: no memory is read
  const int64_t n_in = 8192, n_out = 2048;
  const double n = static_cast<double>(n_in * n_out);
  struct row { dtype t; double dense_bytes_per_weight; float lo, hi; };
  const row rows[] = {
      {dtype::q8_0, 34.0 / 32, 0.55f, 0.61f},  // f16 scales: ρ + 1/16 ≤ 1.0625 / 1.6
      {dtype::q4_0, 18.0 / 32, 0.25f, 0.32f},  // the int8 repack reads more per active weight than q4_0 does
      {dtype::q4_k, 144.0 / 256, 0.05f, 0.15f},  // f32 scales and offsets: 0.25 bytes per weight
      {dtype::f16, 2.0, 0.62f, 0.63f},
  };
  for (const auto& r : rows) {
    CAPTURE(plm::name(r.t));
    k::sparse_down d;
    plm::kernels::detail::sparse_layout L{};
    REQUIRE(plm::kernels::detail::sparse_layout_of(r.t, L));
    d.format = L.format;
    d.n_in = n_in;
    d.n_out = n_out;
    d.group = L.group;
    d.half_scale = L.half_scale;
    const int8_t dummy = 0;
    d.offset = L.offset ? &dummy : nullptr;
    const double dense = r.dense_bytes_per_weight * n;
    const float x = k::sparse_down_crossover(d, dense);
    CHECK(x >= r.lo);
    CHECK(x <= r.hi);
    // the defining inequality holds at the crossover and fails just above it
    CHECK(k::sparse_down_read_bytes(d, x) * k::sparse_byte_cost <= dense);
    CHECK(k::sparse_down_read_bytes(d, x + 1e-3) * k::sparse_byte_cost > dense);
  }
  k::sparse_down f32;
  f32.n_in = n_in;
  f32.n_out = n_out;
  CHECK(k::sparse_down_crossover(f32, 1e30) == 1.0f);  // a dense matrix this large never beats it
  CHECK(k::sparse_down_crossover(f32, 0.0) == 0.0f);
}
