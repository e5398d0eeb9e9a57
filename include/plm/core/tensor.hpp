// plm/core/tensor.hpp - non-owning view of a tensor's bytes.
//
// Dimensions follow ggml: ne[0] is the innermost (contiguous) dimension. A
// PyTorch Linear weight [out, in] is stored as ne = {in, out}: row r (length
// ne[0]) holds the weights of output feature r. Strides nb[] are in bytes;
// for block-quantized types nb[0] is the block size in bytes and a row is
// ne[0] / block_size blocks.
#pragma once

#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <string>
#include <string_view>

#include "plm/core/dtype.hpp"

namespace plm {

inline constexpr int max_dims = 4;

/// How a matrix's rows are laid out in memory. `rows`: as in GGUF, row r at
/// data + r * nb[1]. `tiles16`: a load-time repack of q8_0 / q4_0 matrices
/// (plm/kernels/tiled.hpp): rows in tiles of 16 interleaved block by block, the
/// last ne[1] % 16 rows row-major after the tiles; same byte count. row() is
/// meaningless for tiles16 (use kernels::dequantize_weight_row).
enum class tensor_layout : uint8_t { rows = 0, tiles16 = 1 };

struct tensor_view {
  std::string_view name;               ///< points into the owner's storage (e.g. the GGUF mapping)
  dtype type = dtype::f32;
  int n_dims = 0;                      ///< 1..4
  int64_t ne[max_dims] = {1, 1, 1, 1};  ///< elements per dimension, ne[0] innermost
  size_t nb[max_dims] = {0, 0, 0, 0};  ///< byte strides (nb[0] = bytes per block)
  const void* data = nullptr;
  tensor_layout layout = tensor_layout::rows;

  int64_t n_elements() const noexcept { return ne[0] * ne[1] * ne[2] * ne[3]; }
  int64_t n_rows() const noexcept { return ne[1] * ne[2] * ne[3]; }
  /// Bytes of one row of ne[0] elements.
  size_t row_bytes() const noexcept { return static_cast<size_t>(ne[0]) / block_size(type) * block_bytes(type); }
  size_t n_bytes() const noexcept { return row_bytes() * static_cast<size_t>(n_rows()); }
  const uint8_t* row(int64_t r) const noexcept { return static_cast<const uint8_t*>(data) + static_cast<size_t>(r) * nb[1]; }

  /// Contiguous view over `data` with the given dims (ne[0] must be a multiple of the block size).
  static tensor_view contiguous(dtype t, std::initializer_list<int64_t> dims, const void* data,
                                std::string_view name = {}) noexcept {
    tensor_view v;
    v.name = name;
    v.type = t;
    v.data = data;
    int i = 0;
    for (int64_t d : dims) {
      if (i < max_dims) v.ne[i++] = d;
    }
    v.n_dims = i;
    v.nb[0] = block_bytes(t);
    v.nb[1] = v.row_bytes();
    for (int k = 2; k < max_dims; ++k) v.nb[k] = v.nb[k - 1] * static_cast<size_t>(v.ne[k - 1]);
    return v;
  }
};

/// "[2048, 3072]" - for error messages.
inline std::string shape_string(const int64_t* ne, int n_dims) {
  std::string s = "[";
  for (int i = 0; i < n_dims; ++i) {
    if (i) s += ", ";
    s += std::to_string(ne[i]);
  }
  return s + "]";
}
inline std::string shape_string(const tensor_view& t) { return shape_string(t.ne, t.n_dims); }

}  // namespace plm
