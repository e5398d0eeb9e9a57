// plm/model/weights.hpp - binds a PLM GGUF's tensors to the forward pass.
//
// Weights stay zero-copy views into the file mapping, with these exceptions made
// once at load (plm-spec §4, design.md):
//  - ffn_down is repacked neuron-major for the sparse FFN (kernels/sparse_ffn.hpp
//    lists the bytes per weight of each type), unless disabled.
//  - projections of a type the build tiles (kernels::tileable: q8_0 / q4_0;
//    q4_K / q6_K / f16 / bf16 on AVX-512) - attn_q, attn_kv_a_mqa, attn_output,
//    ffn_up, ffn_down and the logits matrix - are copied into 16-row tiles
//    (kernels/tiled.hpp; same bytes, q4_K +2.8%), unless disabled: decode reads them at
//    the memory's speed, prefill runs them ~6x faster than row by row. The
//    mapped pages of the originals are then released (mapped_file::release),
//    so resident memory holds each weight once. token_embd, when tied, is
//    tiled too and embedded from the tiles.
// attn_kv_b is used in place: its W_UK rows h·(nope+v) + j (j < nope) are
// dequantized row by row to absorb the query (forward.hpp), its W_UV rows
// h·(nope+v)+nope .. +v are multiplied as they are.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "plm/core/buffer.hpp"
#include "plm/core/mapped_file.hpp"
#include "plm/core/result.hpp"
#include "plm/core/tensor.hpp"
#include "plm/gguf/reader.hpp"
#include "plm/kernels/sparse_ffn.hpp"
#include "plm/kernels/tiled.hpp"
#include "plm/model/hparams.hpp"
#include "plm/quant/dequantize.hpp"
#include "plm/quant/half.hpp"

namespace plm::network {

/// One transformer block's weights. Row counts × row lengths in comments (PLM-1.8B).
struct layer_weights {
  const float* attn_norm = nullptr;  // [n_embd]
  tensor_view attn_q;                // [n_head·192 rows][n_embd]
  tensor_view attn_kv_a;             // [576 rows][n_embd]: latent 512 | k_pe 64
  const float* kv_a_norm = nullptr;  // [kv_lora_rank]
  tensor_view attn_kv_b;             // [n_head·256 rows][512]: per head K(128) then V(128) rows
  tensor_view attn_v_tiled;          // [n_head·128 rows][512]: attn_kv_b's V rows, head after head, tiled (data null if not)
  tensor_view attn_output;           // [n_embd rows][n_head·128]
  const float* ffn_norm = nullptr;   // [n_embd]
  tensor_view ffn_up;                // [n_ff rows][n_embd]
  tensor_view ffn_down;              // [n_embd rows][n_ff]
  kernels::sparse_down ffn_down_sparse;  // slice-major neuron-major repack; columns == nullptr when disabled
  float sparse_crossover = 0.0f;     // active fraction up to which the sparse down projection pays (kernels::sparse_down_crossover)
};

/// Whether a decode step takes layer L's sparse down projection when a fraction
/// `density` of its neurons is active: up to sparse_max_density when that is in
/// [0, 1], up to the layer's own crossover (its weight type's bytes) when negative.
inline bool sparse_down_pays(const layer_weights& L, float density, float sparse_max_density) noexcept {
  if (L.ffn_down_sparse.columns == nullptr) return false;
  return density <= (sparse_max_density < 0.0f ? L.sparse_crossover : sparse_max_density);
}

/// All weights of a model plus the owned memory of the load-time repacks.
struct weights {
  tensor_view token_embd;            // [n_vocab rows][n_embd]
  tensor_view output;                // logits matrix: token_embd (tied) or output.weight when present
  const float* output_norm = nullptr;  // [n_embd]
  std::vector<layer_weights> layers;
  aligned_buffer owned;              // ffn_down and tile repacks (empty when the caller supplied the memory)
  uint8_t* owned_data = nullptr;     ///< start of the repacks: owned.data() or the caller's buffer
  size_t owned_size = 0;             ///< bytes of the repacks (owned_weight_bytes())
  size_t mapped_bytes = 0;           ///< bytes of the bound tensors that stay in the file mapping
  bool sparse_ffn = false;           ///< ffn_down repacked
  size_t tiled_bytes = 0;            ///< bytes of the owned part holding tiled projections
};

namespace detail {
inline std::string layer_name(int64_t il, const char* what) { return "blk." + std::to_string(il) + "." + what + ".weight"; }

inline bool weight_type_supported(dtype t) noexcept {
  return quant::can_dequantize(t) && t != dtype::q8_1 && t != dtype::q8_k;  // q8_1/q8_K are activation-only types
}

inline result<tensor_view> bind(const gguf::file& f, const std::string& name, std::initializer_list<int64_t> shape, bool matrix) {
  const gguf::tensor_info* ti = f.find_tensor(name);
  if (!ti) return make_error(errc::missing, "tensor '" + name + "' is missing");
  int64_t want[4] = {1, 1, 1, 1};
  int n = 0;
  for (int64_t d : shape) want[n++] = d;
  bool same = true;
  for (int i = 0; i < 4; ++i) same = same && ti->ne[i] == want[i];
  if (!same)
    return make_error(errc::shape_mismatch, "tensor '" + name + "': expected shape " + shape_string(want, n) + ", found " +
                                                shape_string(ti->ne, static_cast<int>(ti->n_dims)));
  if (!matrix && ti->type != dtype::f32)
    return make_error(errc::unsupported, "tensor '" + name + "': expected type f32 for a norm weight, found " +
                                             std::string(plm::name(ti->type)));
  if (matrix && !weight_type_supported(ti->type))
    return make_error(errc::unsupported, "tensor '" + name + "': weight type " + std::string(plm::name(ti->type)) +
                                             " is not supported");
  // The kernels read f32 / f16 fields in place. GGUF's default alignment (32) guarantees
  // this; a file written with general.alignment < 4 (or bytes handed to from_memory at
  // an odd address) could place them at addresses the CPU may not load from.
  const size_t need = ti->type == dtype::f32 || ti->type == dtype::q8_k ? 4 : 2;
  plm::tensor_view v = f.view(*ti);
  if (reinterpret_cast<uintptr_t>(v.data) % need != 0)
    return make_error(errc::unsupported, "tensor '" + name + "': data at file offset " +
                                             std::to_string(f.data_offset() + ti->offset) + " is not aligned to " +
                                             std::to_string(need) + " bytes, as " + std::string(plm::name(ti->type)) +
                                             " data must be (general.alignment is " + std::to_string(f.alignment()) + ")");
  return v;
}

}  // namespace detail

/// The per-layer projections load_weights() tiles when their type is tileable,
/// by file name and by view: the one list both the memory plan
/// (tiled_weight_bytes) and the loader walk, so they cannot disagree.
struct tiled_projection {
  const char* name;
  tensor_view layer_weights::*view;
};
inline constexpr tiled_projection tiled_projections[] = {
    {"attn_q", &layer_weights::attn_q},           {"attn_kv_a_mqa", &layer_weights::attn_kv_a},
    {"attn_output", &layer_weights::attn_output}, {"ffn_up", &layer_weights::ffn_up},
    {"ffn_down", &layer_weights::ffn_down},
};

namespace detail {
// Rows [h·(nope + v) + nope, +v) of attn_kv_b: head h's W_UV, as a matrix of its own.
inline tensor_view w_uv_rows(const tensor_view& kv_b, const hparams& hp, int64_t h) noexcept {
  tensor_view v = kv_b;
  v.ne[1] = hp.head_dim_v;
  v.data = kv_b.row(h * (hp.head_dim_nope() + hp.head_dim_v) + hp.head_dim_nope());
  return v;
}
// Whether load_weights() keeps a tiled copy of the W_UV rows: a tileable type and whole
// tiles per head (PLM: 128 rows), so the heads' tiles laid one after the other are
// the tiling of one [n_head·v rows] matrix.
inline bool tile_w_uv(dtype t, const hparams& hp) noexcept {
  return kernels::tileable(t) && hp.head_dim_v % kernels::tile_rows == 0;
}
// Bytes of that copy (0 when none).
inline size_t w_uv_tiled_bytes(const tensor_view& kv_b, const hparams& hp) noexcept {
  return tile_w_uv(kv_b.type, hp) ? static_cast<size_t>(hp.n_head) * kernels::tiled_bytes(w_uv_rows(kv_b, hp, 0)) : 0;
}
}  // namespace detail

/// Names of the tensors load_weights() tiles when their type is tileable: the
/// tiled_projections of every layer, then the logits matrix (output.weight, or
/// token_embd.weight when tied).
template <class Fn>
inline void for_each_tiled_name(const gguf::file& f, int64_t n_layer, Fn&& fn) {
  for (int64_t il = 0; il < n_layer; ++il)
    for (const auto& p : tiled_projections) fn(detail::layer_name(il, p.name));
  fn(std::string(f.find_tensor("output.weight") ? "output.weight" : "token_embd.weight"));
}

/// Owned bytes the tiled copies of f's projections take (0 when none is tileable in this
/// build): the tiled_projections and the logits matrix, which the tiles replace, and
/// the W_UV rows of attn_kv_b, tiled beside the row layout its W_UK rows are read in.
inline size_t tiled_weight_bytes(const gguf::file& f, const hparams& hp) {
  size_t total = 0;
  for_each_tiled_name(f, hp.n_layer, [&](const std::string& name) {
    const gguf::tensor_info* ti = f.find_tensor(name);
    if (ti && kernels::tileable(ti->type) && ti->n_dims == 2) total += arena::footprint(kernels::tiled_bytes(f.view(*ti)));
  });
  for (int64_t il = 0; il < hp.n_layer; ++il) {
    const gguf::tensor_info* ti = f.find_tensor(detail::layer_name(il, "attn_kv_b"));
    if (ti && ti->n_dims == 2 && ti->ne[1] == hp.kv_b_rows())
      total += arena::footprint(detail::w_uv_tiled_bytes(f.view(*ti), hp));
  }
  return total;
}

/// Bytes of owned memory load_weights() will allocate for the ffn_down repacks.
inline result<size_t> owned_weight_bytes(const hparams& hp, const std::vector<dtype>& down_types, bool sparse_ffn) {
  size_t total = 0;
  if (sparse_ffn) {
    for (dtype t : down_types) {
      PLM_TRY(size_t b, kernels::sparse_down_bytes(t, hp.n_ff, hp.n_embd));
      total += b;
    }
  }
  return total;
}

/// Binds every tensor of a PLM file (checking names, shapes and types against
/// `hp`; n_vocab comes from token_embd) and builds the load-time repacks, in
/// `ext` (caller memory of `ext_size` bytes, buffer_alignment-aligned, checked)
/// when given, else in a buffer of their own.
inline result<weights> load_weights(const gguf::file& f, hparams& hp, bool sparse_ffn, uint8_t* ext = nullptr,
                                    size_t ext_size = 0, bool tile = true) {
  weights w;
  const gguf::tensor_info* te = f.find_tensor("token_embd.weight");
  if (!te) return make_error(errc::missing, "tensor 'token_embd.weight' is missing");
  if (te->n_dims == 2 && te->ne[0] == hp.n_embd && hp.n_vocab == 0) hp.n_vocab = te->ne[1];
  if (hp.n_vocab == 0) hp.n_vocab = te->n_dims >= 2 ? te->ne[1] : 0;
  PLM_TRY(w.token_embd, detail::bind(f, "token_embd.weight", {hp.n_embd, hp.n_vocab}, true));
  if (f.find_tensor("output.weight")) {
    PLM_TRY(w.output, detail::bind(f, "output.weight", {hp.n_embd, hp.n_vocab}, true));
  } else {
    w.output = w.token_embd;  // tied, as PLM ships (plm-spec §1)
  }
  PLM_TRY(auto on, detail::bind(f, "output_norm.weight", {hp.n_embd}, false));
  w.output_norm = static_cast<const float*>(on.data);
  w.mapped_bytes = w.token_embd.n_bytes() + on.n_bytes() + (w.output.data != w.token_embd.data ? w.output.n_bytes() : 0);

  const int64_t kvr = hp.kv_lora_rank;
  w.layers.resize(static_cast<size_t>(hp.n_layer));
  std::vector<dtype> down_types;
  for (int64_t il = 0; il < hp.n_layer; ++il) {
    layer_weights& L = w.layers[static_cast<size_t>(il)];
    using detail::layer_name;
    PLM_TRY(auto an, detail::bind(f, layer_name(il, "attn_norm"), {hp.n_embd}, false));
    PLM_TRY(L.attn_q, detail::bind(f, layer_name(il, "attn_q"), {hp.n_embd, hp.q_rows()}, true));
    PLM_TRY(L.attn_kv_a, detail::bind(f, layer_name(il, "attn_kv_a_mqa"), {hp.n_embd, hp.kv_row()}, true));
    PLM_TRY(auto kn, detail::bind(f, layer_name(il, "attn_kv_a_norm"), {kvr}, false));
    PLM_TRY(L.attn_kv_b, detail::bind(f, layer_name(il, "attn_kv_b"), {kvr, hp.kv_b_rows()}, true));
    PLM_TRY(L.attn_output, detail::bind(f, layer_name(il, "attn_output"), {hp.n_head * hp.head_dim_v, hp.n_embd}, true));
    PLM_TRY(auto fn, detail::bind(f, layer_name(il, "ffn_norm"), {hp.n_embd}, false));
    PLM_TRY(L.ffn_up, detail::bind(f, layer_name(il, "ffn_up"), {hp.n_embd, hp.n_ff}, true));
    PLM_TRY(L.ffn_down, detail::bind(f, layer_name(il, "ffn_down"), {hp.n_ff, hp.n_embd}, true));
    L.attn_norm = static_cast<const float*>(an.data);
    L.kv_a_norm = static_cast<const float*>(kn.data);
    L.ffn_norm = static_cast<const float*>(fn.data);
    down_types.push_back(L.ffn_down.type);
    w.mapped_bytes += an.n_bytes() + kn.n_bytes() + fn.n_bytes() + L.attn_q.n_bytes() + L.attn_kv_a.n_bytes() +
                      L.attn_kv_b.n_bytes() + L.attn_output.n_bytes() + L.ffn_up.n_bytes() + L.ffn_down.n_bytes();
  }

  PLM_TRY(size_t owned, owned_weight_bytes(hp, down_types, sparse_ffn));
  const size_t tiled = tile ? tiled_weight_bytes(f, hp) : 0;
  owned += tiled;
  if (ext != nullptr) {
    if (reinterpret_cast<uintptr_t>(ext) % buffer_alignment != 0)
      return make_error(errc::invalid_argument, "weight buffer is not aligned to " + std::to_string(buffer_alignment) +
                                                    " bytes (required alignment)");
    if (ext_size < owned)
      return make_error(errc::out_of_memory, "weight buffer too small: needed " + std::to_string(owned) +
                                                 " bytes, given " + std::to_string(ext_size));
    w.owned_data = ext;
  } else {
    PLM_TRY(w.owned, aligned_buffer::allocate(owned));
    w.owned_data = w.owned.data();
  }
  w.owned_size = owned;
  arena mem(w.owned_data, owned);
  if (sparse_ffn) {
    for (auto& L : w.layers) {
      PLM_TRY(L.ffn_down_sparse, kernels::repack_down(L.ffn_down, mem));
      L.sparse_crossover = kernels::sparse_down_crossover(L.ffn_down_sparse, static_cast<double>(L.ffn_down.n_bytes()));
    }
  }
  w.sparse_ffn = sparse_ffn;
  if (tiled > 0) {
    // After the repacks above, which read ffn_down row by row.
    auto tile_one = [&](tensor_view& v) -> bool {
      if (!kernels::tileable(v.type) || v.layout != tensor_layout::rows) return true;
      void* dst = mem.take(kernels::tiled_bytes(v));
      if (!dst) return false;
      const tensor_view src = v;
      v = kernels::tile_weights(src, dst);
      f.release(src.data, src.n_bytes());
      return true;
    };
    // W_UV: each head's rows tiled into the next tiled_bytes(head) of one block; the
    // row-major original stays mapped for the W_UK rows (dequantized row by row).
    auto tile_v_rows = [&](layer_weights& L) -> bool {
      const size_t bytes = detail::w_uv_tiled_bytes(L.attn_kv_b, hp);
      if (bytes == 0) return true;
      auto* dst = static_cast<uint8_t*>(mem.take(bytes));
      if (!dst) return false;
      const size_t per_head = bytes / static_cast<size_t>(hp.n_head);
      for (int64_t h = 0; h < hp.n_head; ++h) {
        const tensor_view t = kernels::tile_weights(detail::w_uv_rows(L.attn_kv_b, hp, h), dst + static_cast<size_t>(h) * per_head);
        if (h == 0) L.attn_v_tiled = t;
      }
      L.attn_v_tiled.ne[1] = hp.n_head * hp.head_dim_v;
      L.attn_v_tiled.data = dst;
      return true;
    };
    bool ok = true;
    for (auto& L : w.layers) {
      for (const auto& p : tiled_projections) ok = ok && tile_one(L.*p.view);
      ok = ok && tile_v_rows(L);
    }
    const bool tied = w.output.data == w.token_embd.data;
    ok = ok && tile_one(w.output);
    if (tied) w.token_embd = w.output;
    if (!ok) return make_error(errc::out_of_memory, "weight repack plan too small (tiles)");
    w.tiled_bytes = tiled;
  }
  return w;
}

}  // namespace plm::network
