// plm/kernels/matvec.hpp - weight matrix x activation vector(s), every weight type.
//
// The projections of the forward pass: y = W x for one token (matvec, decode)
// or a batch of tokens (matmul, prefill). W is a tensor_view of contiguous rows
// of W.ne[0] values of W.type, as mapped from a GGUF file. Activations are
// prepared once per vector (prepare_activation: quantized to q8_0 / q8_1 /
// q8_K or copied as f32, see matvec_ref.hpp) into caller-owned scratch of
// activation_bytes(W.type, n) bytes; kernels never allocate.
//
// The code path is chosen at compile time from the target's predefined macros
// (never -march=native by default): AVX-512 VNNI, AVX2 (+FMA, F16C), NEON
// (+dotprod), else scalar. kernel_isa() names the one compiled in. Integer dot
// products give exactly the reference's per-block integer sums; results differ
// from plm::kernels::ref only by the order of the f32 additions over blocks.
// Threads split the row range [r0, r1); each output is written by one call.
#pragma once

#include <cstddef>
#include <cstdint>

#include "plm/core/dtype.hpp"
#include "plm/core/tensor.hpp"
#include "plm/kernels/arch/neon.hpp"
#include "plm/kernels/arch/x86_avx2.hpp"
#include "plm/kernels/arch/x86_avx512.hpp"
#include "plm/kernels/matvec_ref.hpp"
#include "plm/kernels/tiled.hpp"
#include "plm/kernels/vec.hpp"

namespace plm::kernels {

namespace detail {

inline float vec_dot_f32_simd(int64_t n, const void* w, const void* a) noexcept {
  return kernels::dot(static_cast<const float*>(w), static_cast<const float*>(a), n);
}

/// The fastest row dot compiled in for weight type wt (nullptr if unsupported).
inline vec_dot_fn fast_vec_dot_for(dtype wt) noexcept {
#if PLM_DETAIL_X86_AVX512
  namespace wide = arch::x86_512;  // 512-bit kernels where they are faster (see x86_avx512.hpp)
#elif PLM_DETAIL_X86_AVX2
  namespace wide = arch::x86;
#endif
  switch (wt) {
    case dtype::f32: return vec_dot_f32_simd;
#if PLM_DETAIL_X86_AVX2
    case dtype::f16: return wide::vec_dot_f16;
    case dtype::bf16: return wide::vec_dot_bf16;
    case dtype::q2_k: return arch::x86::vec_dot_q2_k_q8_k;
    case dtype::q3_k: return arch::x86::vec_dot_q3_k_q8_k;
    case dtype::q4_0: return arch::x86::vec_dot_q4_0_q8_0;
    case dtype::q8_0: return arch::x86::vec_dot_q8_0_q8_0;
    case dtype::q4_k: return arch::x86::vec_dot_q4_k_q8_k;
    case dtype::q5_k: return arch::x86::vec_dot_q5_k_q8_k;
    case dtype::q6_k: return wide::vec_dot_q6_k_q8_k;
#elif PLM_DETAIL_NEON
    case dtype::f16: return arch::neon::vec_dot_f16;
    case dtype::bf16: return arch::neon::vec_dot_bf16;
    case dtype::q2_k: return arch::neon::vec_dot_q2_k_q8_k;
    case dtype::q3_k: return arch::neon::vec_dot_q3_k_q8_k;
    case dtype::q4_0: return arch::neon::vec_dot_q4_0_q8_0;
    case dtype::q8_0: return arch::neon::vec_dot_q8_0_q8_0;
    case dtype::q4_k: return arch::neon::vec_dot_q4_k_q8_k;
    case dtype::q5_k: return arch::neon::vec_dot_q5_k_q8_k;
    case dtype::q6_k: return arch::neon::vec_dot_q6_k_q8_k;
#endif
    default: return ref::vec_dot_for(wt);
  }
}

/// Multi-token row kernel for weight type wt, or nullptr (matmul then calls the row dot per token).
inline vec_dot_multi_fn fast_vec_dot_multi_for(dtype wt) noexcept {
  switch (wt) {
#if PLM_DETAIL_X86_AVX2
    case dtype::q4_0: return arch::x86::multi<arch::x86::kernel_q4_0>;
    case dtype::q8_0: return arch::x86::multi<arch::x86::kernel_q8_0>;
    case dtype::q4_k: return arch::x86::multi<arch::x86::kernel_q4_k>;
    case dtype::q5_k: return arch::x86::multi<arch::x86::kernel_q5_k>;
#if PLM_DETAIL_X86_AVX512
    case dtype::f16: return arch::x86::multi<arch::x86_512::kernel_f16>;
    case dtype::bf16: return arch::x86::multi<arch::x86_512::kernel_bf16>;
    case dtype::q6_k: return arch::x86::multi<arch::x86_512::kernel_q6_k>;
#else
    case dtype::q6_k: return arch::x86::multi<arch::x86::kernel_q6_k>;
#endif
#endif
    default: return nullptr;
  }
}

}  // namespace detail

/// Which code path is compiled in: "scalar", "avx2", "avx512-vnni", "neon", "neon-dotprod".
inline const char* kernel_isa() noexcept {
#if PLM_DETAIL_X86_AVX512
  return "avx512-vnni";
#elif PLM_DETAIL_X86_AVX2
  return "avx2";
#elif PLM_DETAIL_NEON && defined(__ARM_FEATURE_DOTPROD)
  return "neon-dotprod";
#elif PLM_DETAIL_NEON
  return "neon";
#else
  return "scalar";
#endif
}

/// Converts x (n values) into the activation form W.type's kernel reads;
/// scratch must hold activation_bytes(weight_type, n) bytes.
inline void prepare_activation(dtype weight_type, const float* x, int64_t n, void* scratch) noexcept {
#if PLM_DETAIL_X86_AVX512
  if (activation_type(weight_type) == dtype::q8_0) {
    auto* base = static_cast<uint8_t*>(scratch);
    const size_t off = q8_0_extras_offset(n), nb = static_cast<size_t>(n / quant::qk32);
    arch::x86_512::quantize_q8_0_activation(x, n, static_cast<quant::block_q8_0*>(scratch),
                                            reinterpret_cast<float*>(base + off),
                                            reinterpret_cast<int32_t*>(base + off + nb * sizeof(float)));
    return;
  }
  if (activation_type(weight_type) == dtype::q8_k) {
    arch::x86_512::quantize_q8_k_activation(x, n, static_cast<quant::block_q8_k*>(scratch));
    return;
  }
#endif
  ref::prepare_activation(weight_type, x, n, scratch);
}

/// y[r - r0] = dot(row r of W, x) for rows r in [r0, r1). W in either layout.
inline void matvec(const tensor_view& W, const void* prepared_x, float* y, int64_t r0, int64_t r1) noexcept {
  if (W.layout == tensor_layout::tiles16) {
    if (!has_tile_layout(W.type)) return detail::fill_nan(y, r1 - r0);
    return detail::tiled_rows(W, prepared_x, 1, y, 0, r0, r1, detail::fast_vec_dot_for(W.type), true);
  }
  detail::matvec_rows(detail::fast_vec_dot_for(W.type), W, prepared_x, y, r0, r1);
}

/// Batched: X holds n_tok prepared vectors back to back (stride
/// activation_bytes(W.type, W.ne[0])); Y[t * ldy + (r - r0)] = dot(row r, X_t).
/// Token tiles keep each weight row's memory read to once per tile.
inline void matmul(const tensor_view& W, const void* prepared_X, int64_t n_tok, float* Y, int64_t ldy, int64_t r0,
                   int64_t r1) noexcept {
  if (W.layout == tensor_layout::tiles16) {
    if (!has_tile_layout(W.type)) {
      for (int64_t t = 0; t < n_tok; ++t) detail::fill_nan(Y + t * ldy, r1 - r0);
      return;
    }
    return detail::tiled_rows(W, prepared_X, n_tok, Y, ldy, r0, r1, detail::fast_vec_dot_for(W.type), true);
  }
  detail::matmul_rows(detail::fast_vec_dot_for(W.type), detail::fast_vec_dot_multi_for(W.type), W, prepared_X, n_tok,
                      Y, ldy, r0, r1);
}

}  // namespace plm::kernels
