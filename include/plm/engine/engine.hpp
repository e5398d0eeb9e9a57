// plm/engine/engine.hpp - load a PLM model, run sessions over it.
//
//   auto m = plm::model::load("plm-1.8b-q8_0.gguf");          // result<model>
//   auto s = plm::session::create(*m, {/*n_ctx*/ 2048});     // result<session>
//   s->prefill(tokens); s->decode(next); s->logits();
//
// A model is immutable after load and may be shared by several sessions (one
// thread per session). A session owns the latent KV cache, the scratch
// buffers and a thread pool; it allocates exactly plan(model, options).session()
// bytes once, at create(), and never touches the heap in prefill()/decode().
#pragma once

#include <algorithm>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "plm/core/buffer.hpp"
#include "plm/core/mapped_file.hpp"
#include "plm/core/result.hpp"
#include "plm/core/thread_pool.hpp"
#include "plm/gguf/reader.hpp"
#include "plm/model/forward.hpp"
#include "plm/model/hparams.hpp"
#include "plm/model/weights.hpp"
#include "plm/text/tokenizer.hpp"

namespace plm {

using network::hparams;

/// How a model file is brought in and prepared.
struct load_options {
  map_options map;          ///< mmap (default) or read into owned memory; prefault / mlock
  bool sparse_ffn = true;   ///< repack ffn_down neuron-major for the exact sparse FFN (costs owned memory)
};

/// A loaded PLM model: hyperparameters, zero-copy weights, load-time repacks.
class model {
 public:
  /// Opens and validates `path`: architecture "plm", every tensor present with
  /// the shape the hyperparameters imply and a supported type.
  static result<model> load(const std::string& path, const load_options& options = {}) {
    PLM_TRY(auto f, gguf::file::open(path, options.map));
    auto m = from_file(std::move(f), options);
    if (!m) return std::move(m).error().with_context("loading '" + path + "'");
    return m;
  }
  /// As load(), from an already opened GGUF file (taken over). With
  /// gguf::file::from_memory() this loads from a caller-supplied buffer, which
  /// must then outlive the model.
  static result<model> from_file(gguf::file f, const load_options& options = {}) {
    model m(std::move(f));
    PLM_TRY(m.hp_, network::read_hparams(m.file_));
    PLM_TRY(m.w_, network::load_weights(m.file_, m.hp_, options.sparse_ffn));
    if (m.file_.has("tokenizer.ggml.model")) {
      PLM_TRY(auto tok, text::tokenizer::from_gguf(m.file_));
      if (tok.n_vocab() > m.hp_.n_vocab)
        return make_error(errc::shape_mismatch, "tokenizer has " + std::to_string(tok.n_vocab()) +
                                                    " tokens, more than token_embd's " + std::to_string(m.hp_.n_vocab) + " rows");
      m.tok_.emplace(std::move(tok));
    }
    return m;
  }

  /// Hyperparameters, cross-checked against every tensor's shape at load.
  const hparams& params() const noexcept { return hp_; }
  /// The GGUF file (metadata such as the tokenizer, and the mapped bytes).
  const gguf::file& file() const noexcept { return file_; }
  /// Bound tensors and load-time repacks (for kernels and tools; read-only).
  const network::weights& weights() const noexcept { return w_; }
  /// True when the file carries a vocabulary (tokenizer.ggml.* keys).
  bool has_tokenizer() const noexcept { return tok_.has_value(); }
  /// The file's tokenizer; only valid when has_tokenizer().
  const text::tokenizer& tokenizer() const noexcept { return *tok_; }
  /// Tensor bytes used from the file (mapped, or read when not mapped).
  size_t mapped_bytes() const noexcept { return w_.mapped_bytes; }
  /// Bytes the model owns beside the file: transposed W_UK and ffn_down repacks.
  size_t owned_bytes() const noexcept { return w_.owned.size(); }

 private:
  explicit model(gguf::file f) : file_(std::move(f)) {}
  gguf::file file_;
  hparams hp_;
  network::weights w_;
  std::optional<text::tokenizer> tok_;
};

/// Per-conversation settings.
struct session_options {
  int64_t n_ctx = 4096;          ///< positions the cache holds
  int64_t n_threads = 1;         ///< threads (including the caller)
  dtype cache_type = dtype::f16; ///< latent cache element type: f16, f32 or q8_0 (PLM: 1152, 2304, 612 B/row)
  int64_t n_batch = 64;          ///< tokens evaluated together in prefill
  bool logits_all = false;       ///< keep logits for every token of the last chunk (perplexity)
  /// Decode uses the sparse down projection when at most this fraction of the FFN
  /// neurons is active, else the dense matvec. 0.4: the measured crossover of the two
  /// kernels for PLM-1.8B's Q8_0 down matrix on AVX-512 VNNI is ~43% active
  /// (bench/RESULTS.md, "Engine (issue 3)"); 1 forces sparse, 0 dense.
  float sparse_max_density = 0.4f;
};

/// Bytes a model + session need, computed before anything is allocated.
struct memory_plan {
  size_t weights_mapped = 0;  ///< tensor bytes in the file mapping (or read buffer)
  size_t weights_owned = 0;   ///< load-time repacks owned by the model
  size_t cache = 0;           ///< latent KV cache
  size_t scratch = 0;         ///< activations, prepared inputs, per-thread attention scratch
  size_t logits = 0;          ///< logits buffer
  size_t cache_per_token = 0; ///< cache bytes per position (all layers)
  size_t session() const noexcept { return cache + scratch + logits; }  ///< what session::create allocates
  size_t total() const noexcept { return weights_mapped + weights_owned + session(); }
};

namespace detail {
inline network::forward_config to_config(const session_options& o) {
  network::forward_config c;
  c.n_ctx = o.n_ctx;
  c.n_batch = o.n_batch;
  c.n_threads = o.n_threads;
  c.cache_type = o.cache_type;
  c.logits_all = o.logits_all;
  c.sparse_max_density = o.sparse_max_density;
  return c;
}

inline result<void> check_options(const session_options& o, const hparams& hp) {
  if (o.n_ctx < 1 || o.n_ctx > (int64_t{1} << 24))
    return make_error(errc::invalid_argument, "n_ctx = " + std::to_string(o.n_ctx) + ", expected 1 .. 2^24");
  if (o.n_batch < 1 || o.n_batch > (int64_t{1} << 16))
    return make_error(errc::invalid_argument, "n_batch = " + std::to_string(o.n_batch) + ", expected 1 .. 65536");
  if (o.n_threads < 1 || o.n_threads > 1024)
    return make_error(errc::invalid_argument, "n_threads = " + std::to_string(o.n_threads) + ", expected 1 .. 1024");
  if (!kernels::latent_cache_type_supported(o.cache_type, {hp.kv_lora_rank, hp.n_rot, 1.0f}))
    return make_error(errc::unsupported, "cache type " + std::string(name(o.cache_type)) +
                                             " is not supported (f16, f32; q8_0 when kv_lora_rank + rope dim is a multiple of 32)");
  if (!(o.sparse_max_density >= 0.0f && o.sparse_max_density <= 1.0f))
    return make_error(errc::invalid_argument, "sparse_max_density must be in [0, 1]");
  return ok();
}
}  // namespace detail

/// The memory plan of a session with `options` on `m` (options are not checked here).
inline memory_plan plan(const model& m, const session_options& options) {
  network::forward_buffers b;
  const auto s = network::forward_layout(m.params(), m.weights(), detail::to_config(options), nullptr, b);
  memory_plan p;
  p.weights_mapped = m.mapped_bytes();
  p.weights_owned = m.owned_bytes();
  p.cache = s.cache;
  p.scratch = s.scratch;
  p.logits = s.logits;
  p.cache_per_token = s.cache_row_bytes * static_cast<size_t>(m.params().n_layer);
  return p;
}

/// Optional stop request polled between chunks and between layers.
using cancel_flag = const std::atomic<bool>*;

/// One conversation: cache, buffers, position. Move-only. It keeps a pointer to its
/// model, which must outlive it and stay where it is (do not move a model that
/// has sessions). One thread at a time per session; sessions of one model may
/// run on different threads.
class session {
 public:
  /// Checks the options, computes the plan, allocates it in one block and starts the threads.
  static result<session> create(const model& m, const session_options& options = {}) {
    PLM_TRY_VOID(detail::check_options(options, m.params()));
    PLM_TRY(auto pool, thread_pool::create(static_cast<size_t>(options.n_threads)));
    session s(std::move(pool));
    s.model_ = &m;
    s.options_ = options;
    s.config_ = detail::to_config(options);
    s.plan_ = plan(m, options);
    PLM_TRY(s.block_, aligned_buffer::allocate(s.plan_.session()));
    const auto sizes = network::forward_layout(m.params(), m.weights(), s.config_, s.block_.data(), s.buf_);
    if (sizes.total() != s.plan_.session())
      return make_error(errc::out_of_memory, "session layout does not match its plan");
    return s;
  }

  /// Evaluates tokens at positions n_past() .. and appends them to the cache.
  /// Errors (state unchanged): out_of_range for an id outside the vocabulary,
  /// context_overflow when n_past() + n > n_ctx, invalid_argument for n == 0.
  /// With `cancel` set during the call: errc::cancelled, and n_past() counts
  /// the chunks (of n_batch tokens) that were completed.
  result<void> prefill(const int32_t* tokens, size_t n, cancel_flag cancel = nullptr) {
    if (n == 0) return make_error(errc::invalid_argument, "prefill: no tokens");
    const int64_t nv = model_->params().n_vocab;
    for (size_t i = 0; i < n; ++i)
      if (tokens[i] < 0 || tokens[i] >= nv)
        return make_error(errc::out_of_range, "token id " + std::to_string(tokens[i]) + " at index " + std::to_string(i) +
                                                  " is outside the vocabulary [0, " + std::to_string(nv) + ")");
    if (static_cast<int64_t>(n) > options_.n_ctx - n_past_)
      return make_error(errc::context_overflow, "context overflow: " + std::to_string(n_past_) + " tokens in the cache + " +
                                                    std::to_string(n) + " new > n_ctx " + std::to_string(options_.n_ctx));
    const auto stop = [cancel] { return cancel != nullptr && cancel->load(std::memory_order_relaxed); };
    size_t done = 0;
    while (done < n) {
      if (stop()) return make_error(errc::cancelled, "prefill cancelled after " + std::to_string(done) + " tokens");
      const int64_t len = std::min<int64_t>(options_.n_batch, static_cast<int64_t>(n - done));
      if (!network::forward_eval(model_->params(), model_->weights(), config_, buf_, pool_, tokens + done, len, n_past_, stop))
        return make_error(errc::cancelled, "prefill cancelled after " + std::to_string(done) + " tokens");
      n_past_ += len;
      n_logits_ = options_.logits_all ? len : 1;
      done += static_cast<size_t>(len);
    }
    return ok();
  }
  /// prefill() of a whole vector.
  result<void> prefill(const std::vector<int32_t>& tokens, cancel_flag cancel = nullptr) {
    return prefill(tokens.data(), tokens.size(), cancel);
  }
  /// Evaluates one token (prefill of length 1).
  result<void> decode(int32_t token) { return prefill(&token, 1); }

  /// Logits (n_vocab values) of the last evaluated token.
  const float* logits() const noexcept { return buf_.logits + (n_logits_ > 0 ? n_logits_ - 1 : 0) * model_->params().n_vocab; }
  /// With logits_all: logits of token i of the last evaluated chunk (i < n_logits()).
  const float* logits(int64_t i) const noexcept { return buf_.logits + i * model_->params().n_vocab; }
  /// Rows available to logits(i): the last chunk's length with logits_all, else 1 (0 before any eval).
  int64_t n_logits() const noexcept { return n_logits_; }
  /// Logits per row (the model's n_vocab).
  int64_t n_vocab() const noexcept { return model_->params().n_vocab; }

  /// Positions in the cache.
  int64_t n_past() const noexcept { return n_past_; }
  /// Capacity of the cache in positions (session_options::n_ctx).
  int64_t n_ctx() const noexcept { return options_.n_ctx; }
  /// Forgets positions ≥ n (to reuse a common prefix). Error if n > n_past().
  result<void> truncate(int64_t n) {
    if (n < 0 || n > n_past_)
      return make_error(errc::out_of_range, "truncate to " + std::to_string(n) + ": expected 0 .. n_past (" +
                                                std::to_string(n_past_) + ")");
    n_past_ = n;
    n_logits_ = 0;
    return ok();
  }
  /// Empties the cache.
  void clear() noexcept { n_past_ = 0; n_logits_ = 0; }

  /// Fraction of exact zeros after relu² in layer il since the last reset_stats() (0 if nothing seen).
  double ffn_sparsity(int64_t il) const noexcept {
    const uint64_t seen = buf_.ffn_seen[il];
    return seen ? static_cast<double>(buf_.ffn_zero[il]) / static_cast<double>(seen) : 0.0;
  }
  /// Fraction of exact zeros over all layers since the last reset_stats().
  double ffn_sparsity() const noexcept {
    uint64_t z = 0, s = 0;
    for (int64_t i = 0; i < model_->params().n_layer; ++i) {
      z += buf_.ffn_zero[i];
      s += buf_.ffn_seen[i];
    }
    return s ? static_cast<double>(z) / static_cast<double>(s) : 0.0;
  }
  /// Restarts the sparsity statistics.
  void reset_stats() noexcept {
    for (int64_t i = 0; i < model_->params().n_layer; ++i) buf_.ffn_zero[i] = buf_.ffn_seen[i] = 0;
  }

  /// The plan this session was created with.
  const memory_plan& memory() const noexcept { return plan_; }
  /// Bytes actually allocated by create() (equals memory().session()).
  size_t allocated_bytes() const noexcept { return block_.size(); }
  /// Options given to create().
  const session_options& options() const noexcept { return options_; }
  /// The model this session runs.
  const class model& model() const noexcept { return *model_; }

 private:
  explicit session(thread_pool pool) : pool_(std::move(pool)) {}
  const class model* model_ = nullptr;
  session_options options_;
  network::forward_config config_;
  memory_plan plan_;
  aligned_buffer block_;
  network::forward_buffers buf_;
  thread_pool pool_;
  int64_t n_past_ = 0;
  int64_t n_logits_ = 0;
};

}  // namespace plm
