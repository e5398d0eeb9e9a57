// plm/kernels/norm.hpp - RMSNorm as llama.cpp's CPU backend computes it.
//
// y[i] = (x[i] · scale) · w[i], scale = 1 / sqrtf(mean(x²) + eps), where the
// squares are formed in f32 and summed in double. Matching that order keeps plm
// within rounding of llama.cpp on the same weights (plm-spec §2.2, §2.5), and
// the double sum makes the result independent of SIMD width.
#pragma once

#include <cmath>
#include <cstdint>

#include "plm/kernels/vec.hpp"

namespace plm::kernels {

namespace ref {
/// Scalar definition. y may alias x.
inline void rms_norm(const float* x, const float* w, float* y, int64_t n, float eps) noexcept {
  double sum = 0.0;
  for (int64_t i = 0; i < n; ++i) sum += static_cast<double>(x[i] * x[i]);
  const float mean = static_cast<float>(sum / static_cast<double>(n));
  const float scale = 1.0f / std::sqrt(mean + eps);
  for (int64_t i = 0; i < n; ++i) y[i] = (x[i] * scale) * w[i];
}
}  // namespace ref

/// RMSNorm of one row of n values with weight w (length n). y may alias x.
/// Differs from ref::rms_norm only by the order of the double sum (relative
/// effect ~1e-16, which almost never reaches the f32 mean); the scaling is
/// elementwise and identical.
inline void rms_norm(const float* x, const float* w, float* y, int64_t n, float eps) noexcept {
  // Four double accumulators hide the add latency; the squares stay f32 as in ggml.
  double s0 = 0.0, s1 = 0.0, s2 = 0.0, s3 = 0.0;
  int64_t i = 0;
  for (; i + 4 <= n; i += 4) {
    s0 += static_cast<double>(x[i] * x[i]);
    s1 += static_cast<double>(x[i + 1] * x[i + 1]);
    s2 += static_cast<double>(x[i + 2] * x[i + 2]);
    s3 += static_cast<double>(x[i + 3] * x[i + 3]);
  }
  for (; i < n; ++i) s0 += static_cast<double>(x[i] * x[i]);
  const double sum = (s0 + s1) + (s2 + s3);
  const float mean = static_cast<float>(sum / static_cast<double>(n));
  const float scale = 1.0f / std::sqrt(mean + eps);
#if PLM_DETAIL_KERNELS_SIMD
  using detail::fbatch;
  constexpr int64_t wd = detail::fwidth;
  const fbatch vs(scale);
  i = 0;
  for (; i < n - n % wd; i += wd)
    ((fbatch::load_unaligned(x + i) * vs) * fbatch::load_unaligned(w + i)).store_unaligned(y + i);
  for (; i < n; ++i) y[i] = (x[i] * scale) * w[i];
#else
  for (i = 0; i < n; ++i) y[i] = (x[i] * scale) * w[i];
#endif
}

}  // namespace plm::kernels
