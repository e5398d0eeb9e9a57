// plm/model/linear.hpp - the engine's one entry point for weight projections.
//
// Every projection of the forward pass (q, kv_a, W_UV, output, up,
// dense down, logits) goes through these three functions, so the choice of
// matrix kernel lives in one place. They forward to plm/kernels/matvec.hpp
// (activations quantized once per token as llama.cpp does: q8_0 / q8_K / f32).
// Until that header exists in a tree, a plain fallback (dequantize a row, f32
// dot) keeps the engine buildable and exact for float weights.
#pragma once

#include <cstddef>
#include <cstdint>

#include "plm/core/dtype.hpp"
#include "plm/core/tensor.hpp"
#include "plm/kernels/vec.hpp"
#include "plm/quant/dequantize.hpp"

#if __has_include("plm/kernels/matvec.hpp")
#include "plm/kernels/matvec.hpp"
#define PLM_DETAIL_HAVE_MATVEC 1
#else
#define PLM_DETAIL_HAVE_MATVEC 0
#endif

namespace plm::network {

/// Bytes of one prepared activation row of n values for weights of type wt.
inline size_t linear_activation_bytes(dtype wt, int64_t n) noexcept {
#if PLM_DETAIL_HAVE_MATVEC
  return kernels::activation_bytes(wt, n);
#else
  (void)wt;
  return static_cast<size_t>(n) * sizeof(float);
#endif
}

/// Converts one activation row x (n values) into the form the kernel for
/// weights of type wt consumes (dst: linear_activation_bytes(wt, n) bytes).
inline void linear_prepare(dtype wt, const float* x, int64_t n, void* dst) noexcept {
#if PLM_DETAIL_HAVE_MATVEC
  kernels::prepare_activation(wt, x, n, dst);
#else
  (void)wt;
  std::memcpy(dst, x, static_cast<size_t>(n) * sizeof(float));
#endif
}

/// Y[t·ldy + r] = W.row(r) · X_t for rows r in [r0, r1) and tokens t < n_tok,
/// where X_t is the t-th prepared row (stride linear_activation_bytes(W.type, W.ne[0])).
/// Each output is computed by exactly one call, whatever the row range.
inline void linear_rows(const tensor_view& W, const void* prepared, int64_t n_tok, float* Y, int64_t ldy, int64_t r0,
                        int64_t r1) noexcept {
#if PLM_DETAIL_HAVE_MATVEC
  // the kernels index outputs from r0: y[r - r0], Y[t·ldy + (r - r0)]
  if (n_tok == 1) kernels::matvec(W, prepared, Y + r0, r0, r1);
  else kernels::matmul(W, prepared, n_tok, Y + r0, ldy, r0, r1);
#else
  const int64_t n = W.ne[0];
  float row[4096];
  for (int64_t r = r0; r < r1; ++r) {
    for (int64_t t = 0; t < n_tok; ++t) Y[t * ldy + r] = 0.0f;
    for (int64_t c0 = 0; c0 < n; c0 += 4096) {
      const int64_t len = n - c0 < 4096 ? n - c0 : 4096;
      const size_t off = static_cast<size_t>(c0) / block_size(W.type) * block_bytes(W.type);
      quant::dequantize_row(W.type, W.row(r) + off, row, len);
      for (int64_t t = 0; t < n_tok; ++t) {
        const float* x = static_cast<const float*>(prepared) + t * n + c0;
        Y[t * ldy + r] += kernels::dot(row, x, len);
      }
    }
  }
#endif
}

}  // namespace plm::network
