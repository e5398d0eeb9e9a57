// plm/kernels/activation.hpp - squared ReLU and the list of active neurons.
//
// PLM's FFN is ungated: a = relu(u)² (ggml relu then sqr). Every u ≤ 0 gives
// an exact 0, and the sparse down projection skips those neurons, so the
// kernel that applies the activation also returns the indices of the
// non-zeros in ascending order (the order fixes the summation order).
#pragma once

#include <cstdint>

#include "plm/kernels/vec.hpp"

namespace plm::kernels {

namespace ref {
/// y[i] = max(x[i], 0)². y may alias x.
inline void relu_sqr(const float* x, float* y, int64_t n) noexcept {
  for (int64_t i = 0; i < n; ++i) {
    const float r = x[i] > 0.0f ? x[i] : 0.0f;
    y[i] = r * r;
  }
}
}  // namespace ref

/// y[i] = max(x[i], 0)². y may alias x.
inline void relu_sqr(const float* x, float* y, int64_t n) noexcept {
#if PLM_DETAIL_KERNELS_SIMD
  using detail::fbatch;
  constexpr int64_t w = detail::fwidth;
  const fbatch zero(0.0f);
  int64_t i = 0;
  for (; i < n - n % w; i += w) {
    const fbatch r = xsimd::max(fbatch::load_unaligned(x + i), zero);
    (r * r).store_unaligned(y + i);
  }
  for (; i < n; ++i) {
    const float r = x[i] > 0.0f ? x[i] : 0.0f;
    y[i] = r * r;
  }
#else
  ref::relu_sqr(x, y, n);
#endif
}

/// Applies relu² in place and writes the ascending indices of the values that
/// are not exactly 0 (u ≤ 0, or u² underflowing to 0, are inactive) into
/// `active` (capacity n). Returns how many there are.
inline int64_t relu_sqr_active(float* x, int64_t n, int32_t* active) noexcept {
  relu_sqr(x, x, n);
  int64_t k = 0;
  for (int64_t i = 0; i < n; ++i) {
    active[k] = static_cast<int32_t>(i);
    k += x[i] != 0.0f ? 1 : 0;  // branch-free: sparsity patterns are unpredictable
  }
  return k;
}

}  // namespace plm::kernels
