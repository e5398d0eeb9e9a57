// plm/kernels/rope.hpp - rotary position embedding, ggml "NORM" convention.
//
// PLM rotates adjacent pairs (x[2i], x[2i+1]) by θ_i = p·base^(-2i/n_rot)
// (plm-spec §2.2 step 4, §3: HF's interleaved rope equals ggml NORM). θ_i is
// built the way ggml builds it - θ_0 = p, θ_{i+1} = θ_i·powf(base, -2/n_rot) in
// f32 - so positions in the thousands get the same angles as llama.cpp, not
// the slightly different ones an exact pow would give.
#pragma once

#include <cmath>
#include <cstdint>

#include "plm/kernels/vec.hpp"

namespace plm::kernels {

/// Fills table[0..n_rot) with cos θ_{k/2} and table[n_rot..2·n_rot) with
/// ∓sin θ_{k/2} (minus on even k) for position `pos`. One table serves every
/// head and every layer at that position. n_rot must be even.
inline void rope_table(int64_t pos, int n_rot, float freq_base, float* table /* [2][n_rot] */) noexcept {
  const float theta_scale = std::pow(freq_base, -2.0f / static_cast<float>(n_rot));
  float theta = static_cast<float>(pos);
  for (int i = 0; i < n_rot / 2; ++i) {
    const float c = std::cos(theta), s = std::sin(theta);
    table[2 * i] = c;
    table[2 * i + 1] = c;
    table[n_rot + 2 * i] = -s;
    table[n_rot + 2 * i + 1] = s;
    theta *= theta_scale;
  }
}

namespace ref {
/// Scalar definition: x'[2i] = x[2i]·cos − x[2i+1]·sin, x'[2i+1] = x[2i]·sin + x[2i+1]·cos.
inline void rope(float* x, const float* table, int n_rot) noexcept {
  for (int i = 0; i < n_rot; i += 2) {
    const float c = table[i], s = table[n_rot + i + 1];
    const float x0 = x[i], x1 = x[i + 1];
    x[i] = x0 * c - x1 * s;
    x[i + 1] = x0 * s + x1 * c;
  }
}
}  // namespace ref

namespace detail {
struct pair_swap_index {
  static constexpr unsigned get(unsigned i, unsigned) { return i ^ 1u; }
};
}  // namespace detail

/// Rotates the first n_rot values of x in place with a table from rope_table().
/// SIMD form: x' = x·C + swap_pairs(x)·S, the same products as ref::rope.
inline void rope(float* x, const float* table, int n_rot) noexcept {
#if PLM_DETAIL_KERNELS_SIMD
  using detail::fbatch;
  constexpr int w = static_cast<int>(detail::fwidth);
  using ubatch = xsimd::batch<uint32_t, fbatch::arch_type>;
  constexpr auto swap = xsimd::make_batch_constant<ubatch, detail::pair_swap_index>();
  int i = 0;
  for (; i < n_rot - n_rot % w; i += w) {
    const fbatch v = fbatch::load_unaligned(x + i);
    const fbatch c = fbatch::load_unaligned(table + i);
    const fbatch s = fbatch::load_unaligned(table + n_rot + i);
    (v * c + xsimd::swizzle(v, swap) * s).store_unaligned(x + i);
  }
  for (; i < n_rot; i += 2) {
    const float c = table[i], s = table[n_rot + i + 1];
    const float x0 = x[i], x1 = x[i + 1];
    x[i] = x0 * c - x1 * s;
    x[i + 1] = x0 * s + x1 * c;
  }
#else
  ref::rope(x, table, n_rot);
#endif
}

/// Rotates n_vec vectors spaced `stride` floats apart (e.g. every head's q_pe).
inline void rope_strided(float* x, int64_t n_vec, int64_t stride, const float* table, int n_rot) noexcept {
  for (int64_t v = 0; v < n_vec; ++v) rope(x + v * stride, table, n_rot);
}

}  // namespace plm::kernels
