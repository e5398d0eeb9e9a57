// plm/model/forward.hpp - the PLM transformer forward pass over a latent KV cache.
//
// One call evaluates a chunk of consecutive tokens (1 = decode) at positions
// n_past .. n_past+n-1: projections through network::linear_rows (batched for
// the chunk), MLA in absorbed form (plm-spec §4) - the cache keeps only the
// normalised latent ĉ and the roped shared key per token and layer - and the
// ReLU² FFN, sparse (neuron-major repack, only active neurons) for single
// tokens when the model has the repack and the activation is sparse enough.
//
// Determinism: every parallel loop splits its outputs into fixed chunks that
// do not depend on the thread count, and each output value is computed by one
// call, so logits are bit-identical for any number of threads.
//
// Memory: all buffers are laid out by forward_layout() from one block whose size
// is known before allocation (engine's memory_plan); eval() never allocates.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>

#include "plm/core/thread_pool.hpp"
#include "plm/kernels/activation.hpp"
#include "plm/kernels/attention.hpp"
#include "plm/kernels/norm.hpp"
#include "plm/kernels/rope.hpp"
#include "plm/kernels/rows_combination.hpp"
#include "plm/kernels/sparse_ffn.hpp"
#include "plm/kernels/tiled.hpp"
#include "plm/kernels/vec.hpp"
#include "plm/model/hparams.hpp"
#include "plm/model/linear.hpp"
#include "plm/model/weights.hpp"
#include "plm/quant/dequantize.hpp"

namespace plm::network {

/// Sizes that fix a forward context's buffers.
struct forward_config {
  int64_t n_ctx = 0;          ///< cache positions
  int64_t n_batch = 0;        ///< tokens per chunk
  int64_t n_threads = 1;      ///< thread-pool size (per-thread attention scratch)
  dtype cache_type = dtype::f16;
  bool logits_all = false;    ///< keep logits of every token of the last chunk, not only the last
  float sparse_max_density = -1.0f;  ///< see session_options::sparse_max_density (negative: per layer, by bytes)
};

/// Pointers into the context's block. Shapes in comments.
struct forward_buffers {
  void* cache = nullptr;           // [n_layer][n_ctx][kv_row] of cache_type
  float* x = nullptr;              // [n_batch][n_embd] residual stream
  float* h = nullptr;              // [n_batch][n_embd] normed input of a projection
  float* q = nullptr;              // [n_batch][n_head·head_dim_k]
  float* kv = nullptr;             // [n_batch][kv_row]
  float* q_lat = nullptr;          // [n_batch][n_head][kv_lora] absorbed queries q̃
  float* o_lat = nullptr;          // [n_batch][n_head][kv_lora] attention over latents õ
  float* v_rows = nullptr;         // [n_batch][kv_b_rows] W_UV outputs in attn_kv_b row space (null when every layer has attn_v_tiled)
  float* attn = nullptr;           // [n_batch][n_head·head_dim_v] heads concatenated
  float* proj = nullptr;           // [n_batch][n_embd] attn_output / ffn_down outputs
  float* up = nullptr;             // [n_batch][n_ff]
  int32_t* active = nullptr;       // [n_ff] active neurons of one token
  uint8_t* prep = nullptr;         // prepared activations (largest need of any projection)
  float* rope = nullptr;           // [n_batch][2·n_rot] rope tables
  float* att_scratch = nullptr;    // [n_threads][latent_attention_scratch]
  float* uk_rows = nullptr;        // [n_threads][head_dim_nope][kv_lora_rank] one head's W_UK rows, dequantized
  float* logits = nullptr;         // [logit_rows][n_vocab]
  int32_t* tokens = nullptr;       // [n_ctx] token ids at the cached positions (session save/restore)
  uint64_t* ffn_zero = nullptr;    // [n_layer] exact zeros seen after relu²
  uint64_t* ffn_seen = nullptr;    // [n_layer] activations seen
};

/// Byte sizes of the parts of a forward context.
struct forward_sizes {
  size_t cache = 0, scratch = 0, logits = 0;
  size_t cache_row_bytes = 0;  ///< bytes per token and layer
  size_t total() const noexcept { return cache + scratch + logits; }
};

namespace detail {
// Bump layout over an optional base: with base == nullptr it only counts.
struct layout_cursor {
  uint8_t* base = nullptr;
  size_t used = 0;
  void* take(size_t bytes) noexcept {
    used = arena::footprint(used);
    void* p = base ? base + used : nullptr;
    used += arena::footprint(bytes);
    return p;
  }
  template <class T>
  T* take_n(int64_t n) noexcept { return static_cast<T*>(take(static_cast<size_t>(n) * sizeof(T))); }
};

inline int64_t heads_per_group(int64_t n_head, int64_t n_threads) {
  const int64_t groups = std::max<int64_t>(1, std::min(n_head, n_threads));
  return (n_head + groups - 1) / groups;
}

inline size_t max_prep_bytes(const hparams& hp, const weights& w, const forward_config& c) {
  const size_t nb = static_cast<size_t>(c.n_batch);
  size_t m = 0;
  auto need = [&](size_t v) { m = std::max(m, v); };
  for (const auto& L : w.layers) {
    need(nb * linear_activation_bytes(L.attn_q.type, hp.n_embd));
    need(nb * linear_activation_bytes(L.attn_kv_a.type, hp.n_embd));
    need(static_cast<size_t>(hp.n_head) * nb * linear_activation_bytes(L.attn_kv_b.type, hp.kv_lora_rank));
    need(nb * linear_activation_bytes(L.attn_output.type, hp.n_head * hp.head_dim_v));
    need(nb * linear_activation_bytes(L.ffn_up.type, hp.n_embd));
    need(nb * linear_activation_bytes(L.ffn_down.type, hp.n_ff));
  }
  need(nb * linear_activation_bytes(w.output.type, hp.n_embd));
  return m;
}
}  // namespace detail

/// Queries of a prefill chunk that share one pass over the cache in attention:
/// fixed, so the split never depends on the thread count.
inline constexpr int64_t query_block = 8;

namespace detail {
// Floats of one thread's attention scratch: a prefill block's head group or a
// decode split over all heads, whichever needs more.
inline size_t attention_scratch_per_thread(const kernels::latent_attention_shape& sh, int64_t n_head,
                                           const forward_config& c) noexcept {
  const int64_t hpg = heads_per_group(n_head, c.n_threads), qb = std::min(c.n_batch, query_block);
  return std::max(kernels::latent_attention_scratch(sh, hpg, qb), kernels::latent_attention_scratch(sh, n_head, 1));
}
// A decode step's split partials: 64-byte aligned behind the threads' attention
// scratch (forward_layout reserves 16 floats for the alignment).
inline float* decode_partials(float* att_scratch, size_t per_thread, int64_t n_threads) noexcept {
  return kernels::detail::align64(att_scratch + n_threads * static_cast<int64_t>(per_thread));
}
}  // namespace detail

/// Lays out every buffer (base == nullptr: only computes the sizes).
inline forward_sizes forward_layout(const hparams& hp, const weights& w, const forward_config& c, uint8_t* base,
                                    forward_buffers& b) {
  detail::layout_cursor cur{base, 0};
  forward_sizes s;
  const kernels::latent_attention_shape sh{hp.kv_lora_rank, hp.n_rot, 1.0f};
  s.cache_row_bytes = kernels::latent_cache_row_bytes(sh, c.cache_type);
  b.cache = cur.take(static_cast<size_t>(hp.n_layer * c.n_ctx) * s.cache_row_bytes);
  s.cache = cur.used;
  const int64_t nb = c.n_batch;
  b.x = cur.take_n<float>(nb * hp.n_embd);
  b.h = cur.take_n<float>(nb * hp.n_embd);
  b.q = cur.take_n<float>(nb * hp.q_rows());
  b.kv = cur.take_n<float>(nb * hp.kv_row());
  b.q_lat = cur.take_n<float>(nb * hp.n_head * hp.kv_lora_rank);
  b.o_lat = cur.take_n<float>(nb * hp.n_head * hp.kv_lora_rank);
  // Only a layer without the tiled W_UV copy (weights.hpp) computes its V rows in
  // attn_kv_b's row space first: with the copy everywhere the buffer is not laid out.
  const bool any_v_in_place = std::any_of(w.layers.begin(), w.layers.end(),
                                          [](const layer_weights& L) { return L.attn_v_tiled.data == nullptr; });
  b.v_rows = any_v_in_place ? cur.take_n<float>(nb * hp.kv_b_rows()) : nullptr;
  b.attn = cur.take_n<float>(nb * hp.n_head * hp.head_dim_v);
  b.proj = cur.take_n<float>(nb * hp.n_embd);
  b.up = cur.take_n<float>(nb * hp.n_ff);
  b.active = cur.take_n<int32_t>(hp.n_ff);
  b.prep = static_cast<uint8_t*>(cur.take(detail::max_prep_bytes(hp, w, c)));
  b.rope = cur.take_n<float>(nb * 2 * hp.n_rot);
  // per thread, then the partials of a decode step's splits (see decode_partials)
  const size_t att_per_thread = detail::attention_scratch_per_thread(sh, hp.n_head, c);
  b.att_scratch = cur.take_n<float>(c.n_threads * static_cast<int64_t>(att_per_thread) + 16 +
                                    kernels::latent_attention_splits(c.n_ctx) *
                                        static_cast<int64_t>(kernels::latent_attention_partial_floats(sh, 1, hp.n_head)));
  b.uk_rows = cur.take_n<float>(c.n_threads * hp.head_dim_nope() * hp.kv_lora_rank);
  b.tokens = cur.take_n<int32_t>(c.n_ctx);
  b.ffn_zero = cur.take_n<uint64_t>(hp.n_layer);
  b.ffn_seen = cur.take_n<uint64_t>(hp.n_layer);
  s.scratch = cur.used - s.cache;
  const int64_t logit_rows = c.logits_all ? nb : 1;
  b.logits = cur.take_n<float>(logit_rows * hp.n_vocab);
  s.logits = cur.used - s.cache - s.scratch;
  return s;
}

/// Rows per task of a projection: fixed, so the split never depends on the thread count.
inline constexpr int64_t rows_per_task = 32;
/// Output rows per task of the sparse down projection (kernels::sparse_down_apply).
inline constexpr int64_t sparse_rows_per_task = 256;

/// Evaluates tokens[0..n) at positions pos0.. over the cache; 1 ≤ n ≤ n_batch,
/// pos0 + n ≤ n_ctx, ids in range (the caller checks). Writes logits of the last
/// token (or of all n when logits_all). `cancel` is polled between layers: on
/// true, returns false with the cache rows of this chunk partly written (they
/// lie beyond the caller's n_past and are overwritten later).
template <class CancelFn>
bool forward_eval(const hparams& hp, const weights& w, const forward_config& c, const forward_buffers& b,
                  thread_pool& pool, const int32_t* tokens, int64_t n, int64_t pos0, CancelFn&& cancelled) {
  const int64_t E = hp.n_embd, H = hp.n_head, KVR = hp.kv_lora_rank, NOPE = hp.head_dim_nope(), R = hp.n_rot;
  const int64_t DK = hp.head_dim_k, DV = hp.head_dim_v, KVROW = hp.kv_row(), FF = hp.n_ff;
  const kernels::latent_attention_shape sh{KVR, R, 1.0f / std::sqrt(static_cast<float>(DK))};
  const size_t cache_row = kernels::latent_cache_row_bytes(sh, c.cache_type);
  const bool par = n > 1;  // per-token loops of a chunk run on the pool

  auto for_tokens = [&](auto&& fn) {
    if (!par) {
      fn(0);
      return;
    }
    pool.parallel_for(static_cast<size_t>(n), [&](size_t t, size_t) { fn(static_cast<int64_t>(t)); });
  };
  // y[t·ldy + r] = W_r · prepared_t for all rows of W.
  auto project = [&](const tensor_view& W, const uint8_t* prep, float* y, int64_t ldy) {
    const int64_t rows = W.ne[1];
    pool.parallel_for_range(static_cast<size_t>(rows), rows_per_task, [&](size_t r0, size_t r1) {
      linear_rows(W, prep, n, y, ldy, static_cast<int64_t>(r0), static_cast<int64_t>(r1));
    });
  };
  auto prepare = [&](dtype wt, const float* x, int64_t ldx, int64_t len, uint8_t* dst) {
    const size_t stride = linear_activation_bytes(wt, len);
    for_tokens([&](int64_t t) { linear_prepare(wt, x + t * ldx, len, dst + static_cast<size_t>(t) * stride); });
  };

  // embeddings
  for_tokens([&](int64_t t) {
    kernels::dequantize_weight_row(w.token_embd, tokens[t], b.x + t * E);
    kernels::rope_table(pos0 + t, static_cast<int>(R), hp.rope_freq_base, b.rope + t * 2 * R);
  });

  const int64_t hpg = detail::heads_per_group(H, c.n_threads);
  const int64_t n_groups = (H + hpg - 1) / hpg;
  const int64_t qb = std::min(c.n_batch, query_block);
  const size_t att_scratch = detail::attention_scratch_per_thread(sh, H, c);
  const size_t att_partial = kernels::latent_attention_partial_floats(sh, 1, H);
  float* const att_partials = detail::decode_partials(b.att_scratch, att_scratch, c.n_threads);  // [splits][att_partial]
  const int64_t n_qblocks = (n + qb - 1) / qb;

  for (int64_t il = 0; il < hp.n_layer; ++il) {
    if (cancelled()) return false;
    const layer_weights& L = w.layers[static_cast<size_t>(il)];
    uint8_t* layer_cache = static_cast<uint8_t*>(b.cache) + static_cast<size_t>(il * c.n_ctx) * cache_row;

    // --- attention -------------------------------------------------------
    for_tokens([&](int64_t t) { kernels::rms_norm(b.x + t * E, L.attn_norm, b.h + t * E, E, hp.norm_eps); });
    prepare(L.attn_q.type, b.h, E, E, b.prep);
    project(L.attn_q, b.prep, b.q, hp.q_rows());
    if (L.attn_kv_a.type != L.attn_q.type) prepare(L.attn_kv_a.type, b.h, E, E, b.prep);  // same type: same input form
    project(L.attn_kv_a, b.prep, b.kv, KVROW);
    for_tokens([&](int64_t t) {
      float* kv = b.kv + t * KVROW;
      kernels::rms_norm(kv, L.kv_a_norm, kv, KVR, hp.norm_eps);   // ĉ (k_pe is not normed)
      kernels::rope(kv + KVR, b.rope + t * 2 * R, static_cast<int>(R));
      kernels::latent_cache_store(sh, kv, layer_cache + static_cast<size_t>(pos0 + t) * cache_row, c.cache_type);
      kernels::rope_strided(b.q + t * hp.q_rows() + NOPE, H, DK, b.rope + t * 2 * R, static_cast<int>(R));
    });
    // q̃_h = W_UK^hᵀ q_nope_h = Σ_j q_nope_h[j] · (row h·(NOPE+DV)+j of attn_kv_b):
    // the K rows of attn_kv_b are read in place, in their own type, dequantized
    // once per chunk, and multiplied with every token's q_nope (a transposed f32
    // copy of W_UK would be 128 MiB for PLM-1.8B and 4x the bytes of a Q8_0
    // kv_b). One task per head; the sums run over j in order whatever the threads.
    // A decode step's single query takes the rows straight from their blocks
    // where a kernel for the type exists (same bits, no f32 copy of the rows).
    pool.parallel_for(static_cast<size_t>(H), [&](size_t task, size_t thread) {
      const int64_t h = static_cast<int64_t>(task);
      if (n == 1 && kernels::weight_rows_combination(L.attn_kv_b, h * (NOPE + DV), NOPE, b.q + h * DK, b.q_lat + h * KVR))
        return;
      float* rows = b.uk_rows + static_cast<int64_t>(thread) * NOPE * KVR;  // [NOPE][KVR]
      for (int64_t j = 0; j < NOPE; ++j) kernels::dequantize_weight_row(L.attn_kv_b, h * (NOPE + DV) + j, rows + j * KVR);
      kernels::coeff_rows_product(b.q + h * DK, hp.q_rows(), n, rows, KVR, NOPE, KVR, b.q_lat + h * KVR, H * KVR);
    });
    if (n == 1) {
      // decode: flash-decoding over the cache's fixed splits, each over all heads
      // (every row read and converted once), merged in split order per head. A
      // split's partial is the same whichever thread computes it, so the splits
      // are dealt round-robin: the threads' row counts differ by under a split
      // (contiguous shares would leave the short last split to one thread).
      const int64_t n_kv = pos0 + 1, n_split = kernels::latent_attention_splits(n_kv);
      const int64_t n_deal = std::max<int64_t>(1, std::min<int64_t>(n_split, c.n_threads));
      pool.parallel_for(static_cast<size_t>(n_deal), [&](size_t task, size_t thread) {
        for (int64_t s = static_cast<int64_t>(task); s < n_split; s += n_deal)
          kernels::latent_attention_partial(sh, 1, b.q_lat, H * KVR, b.q + NOPE, hp.q_rows(), DK, layer_cache,
                                            c.cache_type, n_kv, s, att_partials + s * static_cast<int64_t>(att_partial), 0,
                                            H, b.att_scratch + thread * att_scratch);
      });
      pool.parallel_for(static_cast<size_t>(H), [&](size_t task, size_t) {
        const int64_t h = static_cast<int64_t>(task);
        kernels::latent_attention_merge(sh, 1, H, att_partials, att_partial, n_split, b.o_lat, H * KVR, 0, h, h + 1);
      });
    } else {
      // causal attention over the cache, per (block of query_block tokens, head group):
      // each cache row is read once per block; same arithmetic as the decode splits.
      // Head group major: the pool's contiguous task shares then give each thread
      // whole head groups over every query block, so the causal blocks' growing
      // key counts do not pile up on the last thread.
      pool.parallel_for(static_cast<size_t>(n_qblocks * n_groups), [&](size_t task, size_t thread) {
        const int64_t g = static_cast<int64_t>(task) / n_qblocks, blk = static_cast<int64_t>(task) % n_qblocks;
        const int64_t t0 = blk * qb, nq = std::min(qb, n - t0);
        const int64_t h0 = g * hpg, h1 = std::min(H, h0 + hpg);
        kernels::latent_attention_causal(sh, nq, b.q_lat + t0 * H * KVR, H * KVR, b.q + t0 * hp.q_rows() + NOPE,
                                         hp.q_rows(), DK, layer_cache, c.cache_type, pos0 + t0 + 1, b.o_lat + t0 * H * KVR,
                                         H * KVR, h0, h1, b.att_scratch + thread * att_scratch);
      });
    }
    // o_h = W_UV^h õ_h: rows h·(NOPE+DV)+NOPE .. of attn_kv_b, each head on its own õ
    {
      const size_t stride = linear_activation_bytes(L.attn_kv_b.type, KVR);
      for_tokens([&](int64_t t) {
        for (int64_t h = 0; h < H; ++h)
          linear_prepare(L.attn_kv_b.type, b.o_lat + (t * H + h) * KVR, KVR, b.prep + static_cast<size_t>(h * n + t) * stride);
      });
      const int64_t chunks_per_head = (DV + rows_per_task - 1) / rows_per_task;
      const bool tiled_v = L.attn_v_tiled.data != nullptr;  // its rows are head h's at h·DV: straight into attn
      pool.parallel_for(static_cast<size_t>(H * chunks_per_head), [&](size_t task, size_t) {
        const int64_t h = static_cast<int64_t>(task) / chunks_per_head, k = static_cast<int64_t>(task) % chunks_per_head;
        const uint8_t* x = b.prep + static_cast<size_t>(h * n) * stride;
        const int64_t base = tiled_v ? h * DV : h * (NOPE + DV) + NOPE;
        const int64_t r0 = base + k * rows_per_task, r1 = std::min(base + DV, r0 + rows_per_task);
        if (tiled_v) linear_rows(L.attn_v_tiled, x, n, b.attn, H * DV, r0, r1);
        else linear_rows(L.attn_kv_b, x, n, b.v_rows, hp.kv_b_rows(), r0, r1);
      });
      if (!tiled_v)
        for_tokens([&](int64_t t) {
          for (int64_t h = 0; h < H; ++h)
            std::memcpy(b.attn + t * H * DV + h * DV, b.v_rows + t * hp.kv_b_rows() + h * (NOPE + DV) + NOPE,
                        static_cast<size_t>(DV) * sizeof(float));
        });
    }
    prepare(L.attn_output.type, b.attn, H * DV, H * DV, b.prep);
    project(L.attn_output, b.prep, b.proj, E);
    for_tokens([&](int64_t t) { kernels::add(b.proj + t * E, b.x + t * E, E); });

    // --- feed-forward ----------------------------------------------------
    for_tokens([&](int64_t t) { kernels::rms_norm(b.x + t * E, L.ffn_norm, b.h + t * E, E, hp.norm_eps); });
    prepare(L.ffn_up.type, b.h, E, E, b.prep);
    project(L.ffn_up, b.prep, b.up, FF);
    uint64_t zeros = 0;
    int64_t n_active = 0;
    for (int64_t t = 0; t < n; ++t) {
      n_active = kernels::relu_sqr_active(b.up + t * FF, FF, b.active);
      zeros += static_cast<uint64_t>(FF - n_active);
    }
    b.ffn_zero[il] += zeros;
    b.ffn_seen[il] += static_cast<uint64_t>(n * FF);
    const bool sparse = n == 1 && w.sparse_ffn &&
                        sparse_down_pays(L, static_cast<float>(n_active) / static_cast<float>(FF), c.sparse_max_density);
    if (sparse) {
      // Wide output slices: each active neuron's column is then read as a few
      // consecutive cache lines per task instead of one scattered line.
      pool.parallel_for_range(static_cast<size_t>(E), sparse_rows_per_task, [&](size_t r0, size_t r1) {
        kernels::sparse_down_apply(L.ffn_down_sparse, b.up, b.active, n_active, b.proj, static_cast<int64_t>(r0),
                                   static_cast<int64_t>(r1));
      });
    } else {
      prepare(L.ffn_down.type, b.up, FF, FF, b.prep);
      project(L.ffn_down, b.prep, b.proj, E);
    }
    for_tokens([&](int64_t t) { kernels::add(b.proj + t * E, b.x + t * E, E); });
  }

  // --- logits ----------------------------------------------------------------
  const int64_t first = c.logits_all ? 0 : n - 1, rows = n - first;
  for (int64_t t = first; t < n; ++t) kernels::rms_norm(b.x + t * E, w.output_norm, b.h + (t - first) * E, E, hp.norm_eps);
  const size_t stride = linear_activation_bytes(w.output.type, E);
  for (int64_t t = 0; t < rows; ++t) linear_prepare(w.output.type, b.h + t * E, E, b.prep + static_cast<size_t>(t) * stride);
  pool.parallel_for_range(static_cast<size_t>(hp.n_vocab), rows_per_task * 4, [&](size_t r0, size_t r1) {
    linear_rows(w.output, b.prep, rows, b.logits, hp.n_vocab, static_cast<int64_t>(r0), static_cast<int64_t>(r1));
  });
  return true;
}

}  // namespace plm::network
