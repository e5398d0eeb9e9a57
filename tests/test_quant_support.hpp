// Shared helpers of the quant and kernel tests: a seedable RNG (splitmix64,
// so test data is identical on every platform and standard library).
#pragma once

#include <cmath>
#include <cstdint>
#include <vector>

#include "plm/core/tensor.hpp"
#include "plm/quant/quantize.hpp"

namespace plm_test {

struct rng {
  uint64_t s;
  explicit rng(uint64_t seed) : s(seed) {}
  uint64_t next() {
    uint64_t z = (s += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
  }
  int uniform_int(int lo, int hi) { return lo + static_cast<int>(next() % static_cast<uint64_t>(hi - lo + 1)); }
  double uniform() { return static_cast<double>(next() >> 11) * 0x1.0p-53; }  // [0, 1)
  double normal() {  // Box-Muller
    const double u1 = uniform() + 1e-300, u2 = uniform();
    return std::sqrt(-2 * std::log(u1)) * std::cos(6.283185307179586 * u2);
  }
};

/// A rows x n matrix of type t quantized from standard normal values, and its view.
struct matrix {
  std::vector<uint8_t> bytes;
  plm::tensor_view view;
};
/// False (and a partial matrix) only if quantize_row refuses t.
inline bool random_matrix(plm::dtype t, int64_t n, int64_t rows, rng& r, matrix& m) {
  const size_t rb = plm::quant::row_bytes(t, n);
  m.bytes.assign(rb * static_cast<size_t>(rows), 0);
  std::vector<float> x(static_cast<size_t>(n));
  for (int64_t i = 0; i < rows; ++i) {
    for (auto& v : x) v = static_cast<float>(r.normal());
    if (!plm::quant::quantize_row(t, x.data(), m.bytes.data() + rb * static_cast<size_t>(i), n)) return false;
  }
  m.view = plm::tensor_view::contiguous(t, {n, rows}, m.bytes.data(), "w");
  return true;
}

}  // namespace plm_test
