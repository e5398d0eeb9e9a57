// plm/kernels/softmax.hpp - scaled, max-subtracted softmax as ggml's soft_max_ext.
//
// p_i = exp(s·x_i − m) / Σ_j exp(s·x_j − m), m = max_i s·x_i. The exponentials
// are f32, their sum is accumulated in double and applied as one f32 factor
// (ggml_vec_soft_max_f32 + ggml_vec_scale_f32), so long rows do not lose mass.
#pragma once

#include <cmath>
#include <cstdint>

#include "plm/kernels/vec.hpp"

namespace plm::kernels {

namespace ref {
/// Scalar definition, in place. n ≥ 1.
inline void softmax(float* x, int64_t n, float scale) noexcept {
  float m = -INFINITY;
  for (int64_t i = 0; i < n; ++i) {
    x[i] *= scale;
    if (x[i] > m) m = x[i];
  }
  double sum = 0.0;
  for (int64_t i = 0; i < n; ++i) {
    x[i] = std::exp(x[i] - m);
    sum += static_cast<double>(x[i]);
  }
  const float inv = static_cast<float>(1.0 / sum);
  for (int64_t i = 0; i < n; ++i) x[i] *= inv;
}
}  // namespace ref

/// In-place softmax of n ≥ 1 values scaled by `scale` first. Uses xsimd's
/// exp (within a few ulp of std::exp); the sum stays in double in a fixed order.
inline void softmax(float* x, int64_t n, float scale) noexcept {
#if PLM_DETAIL_KERNELS_SIMD
  using detail::fbatch;
  constexpr int64_t w = detail::fwidth;
  const fbatch vs(scale);
  fbatch vm(-INFINITY);
  int64_t i = 0;
  for (; i < n - n % w; i += w) {
    const fbatch v = fbatch::load_unaligned(x + i) * vs;
    v.store_unaligned(x + i);
    vm = xsimd::max(vm, v);
  }
  alignas(64) float tmp[64];
  vm.store_aligned(tmp);
  float m = -INFINITY;
  for (int64_t k = 0; k < w; ++k) m = tmp[k] > m ? tmp[k] : m;
  for (; i < n; ++i) {
    x[i] *= scale;
    if (x[i] > m) m = x[i];
  }
  const fbatch bm(m);
  double sum = 0.0;  // same order as ref::softmax: element by element
  i = 0;
  for (; i < n - n % w; i += w) {
    const fbatch e = xsimd::exp(fbatch::load_unaligned(x + i) - bm);
    e.store_unaligned(x + i);
    e.store_aligned(tmp);
    for (int64_t k = 0; k < w; ++k) sum += static_cast<double>(tmp[k]);
  }
  for (; i < n; ++i) {
    x[i] = std::exp(x[i] - m);
    sum += static_cast<double>(x[i]);
  }
  kernels::scale(x, static_cast<float>(1.0 / sum), n);
#else
  ref::softmax(x, n, scale);
#endif
}

}  // namespace plm::kernels
