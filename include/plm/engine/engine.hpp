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
//
// Memory modes. Weights: mmap (load_options::map; prefault / mlock optional),
// read into owned memory (load_mode::read), and/or the load-time repacks in a
// caller buffer (load_options::weight_buffer, sized by plan_model()). Session:
// its own block, or a caller buffer of plan(m, o).session() bytes
// (session::create(m, o, buffer, size)); then only the thread pool's shared
// state is allocated. A session's state (tokens + latent cache rows [0, n_past),
// optionally a sampler_state) is saved with save() and restored with load_state().
#pragma once

#include <algorithm>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstring>
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
#include "plm/sample/sampler.hpp"
#include "plm/text/tokenizer.hpp"

namespace plm {

using network::hparams;

/// Memory the caller lends plm; it must be aligned to buffer_alignment (64) and outlive its user.
struct caller_buffer {
  void* data = nullptr;
  size_t size = 0;
};

/// How a model file is brought in and prepared.
struct load_options {
  map_options map;          ///< mmap (default) or read into owned memory; prefault / mlock
  bool sparse_ffn = true;   ///< repack ffn_down neuron-major for the exact sparse FFN (costs owned memory)
  /// Copy the projections into 16-row tiles (kernels/tiled.hpp) for the fast
  /// kernels where the build has them (q8_0 / q4_0; q4_K / q6_K / f16 / bf16 on
  /// AVX-512 VNNI, see kernels::tileable); their mapped originals are released, so resident memory is
  /// about the same, but the tiles are owned memory (counted by plan_model()).
  bool tile_weights = true;
  /// When data != nullptr the load-time repacks (ffn_down, tiles) go here instead of
  /// a buffer of the model's own; size it with plan_model(). Too small: out_of_memory
  /// naming needed and given bytes; misaligned: invalid_argument naming the alignment.
  caller_buffer weight_buffer;
};

/// Bytes of the model's owned part (load-time repacks) that load() with `options`
/// will need: the size of load_options::weight_buffer. Reads only the header.
inline result<size_t> plan_model(const gguf::file& f, const load_options& options = {}) {
  PLM_TRY(hparams hp, network::read_hparams(f));
  std::vector<dtype> down;
  for (int64_t il = 0; il < hp.n_layer; ++il) {
    const std::string dn = network::detail::layer_name(il, "ffn_down");
    const gguf::tensor_info* dd = f.find_tensor(dn);
    if (!dd) return make_error(errc::missing, "tensor '" + dn + "' is missing");
    down.push_back(dd->type);
  }
  PLM_TRY(size_t owned, network::owned_weight_bytes(hp, down, options.sparse_ffn));
  return owned + (options.tile_weights ? network::tiled_weight_bytes(f, hp) : 0);
}
/// plan_model() of a file on disk (mapped on demand, nothing read into memory).
inline result<size_t> plan_model(const std::string& path, const load_options& options = {}) {
  PLM_TRY(auto f, gguf::file::open(path, map_options{}));
  auto r = plan_model(f, options);
  if (!r) return std::move(r).error().with_context("planning '" + path + "'");
  return r;
}

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
    PLM_TRY(m.w_, network::load_weights(m.file_, m.hp_, options.sparse_ffn,
                                        static_cast<uint8_t*>(options.weight_buffer.data), options.weight_buffer.size,
                                        options.tile_weights));
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
  /// Bytes the model owns beside the file: the ffn_down and tiled repacks.
  size_t owned_bytes() const noexcept { return w_.owned_size; }
  /// True when the repacks live in load_options::weight_buffer (caller memory).
  bool uses_caller_weight_buffer() const noexcept { return w_.owned_size > 0 && w_.owned.empty(); }

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
  /// Decode uses the sparse down projection when at most this fraction of a
  /// layer's FFN neurons is active, else the dense matvec; 1 forces sparse, 0
  /// dense. Negative (the default): each layer's own crossover, from the bytes
  /// the two paths read for its weight type (kernels::sparse_down_crossover;
  /// PLM-1.8B: 0.60 for Q8_0, 0.62 for F16, ~0.29 for Q4_0, ~0.1 for Q4_K).
  float sparse_max_density = -1.0f;
  /// Run on this caller-owned pool instead of starting one (non-owning; it must
  /// outlive the session and have exactly n_threads threads). Lets firmware start
  /// its threads once and create sessions without any heap allocation.
  thread_pool* pool = nullptr;
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
  if (!(o.sparse_max_density <= 1.0f))
    return make_error(errc::invalid_argument, "sparse_max_density = " + std::to_string(o.sparse_max_density) +
                                                  ", expected 0 .. 1, or negative for each layer's own crossover");
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
    return create_in(m, options, nullptr, 0);
  }
  /// As create(), in caller memory: `buffer` (aligned to buffer_alignment = 64) of at
  /// least plan(m, options).session() bytes, which must outlive the session. plm
  /// allocates no memory for the cache, scratch or logits; the only heap allocation
  /// is the thread pool's shared state (one small object, independent of the model).
  /// Errors: invalid_argument (misaligned, naming the alignment), out_of_memory
  /// (too small, naming needed and given bytes).
  static result<session> create(const class model& m, const session_options& options, void* buffer, size_t size) {
    if (buffer == nullptr) return make_error(errc::invalid_argument, "session buffer is null");
    return create_in(m, options, static_cast<uint8_t*>(buffer), size);
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
      if (!network::forward_eval(model_->params(), model_->weights(), config_, buf_, pool(), tokens + done, len, n_past_, stop))
        return make_error(errc::cancelled, "prefill cancelled after " + std::to_string(done) + " tokens");
      std::memcpy(buf_.tokens + n_past_, tokens + done, static_cast<size_t>(len) * sizeof(int32_t));
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
  /// Token ids at positions [0, n_past()).
  const int32_t* tokens() const noexcept { return buf_.tokens; }
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
  /// Bytes actually allocated by create() (equals memory().session(); 0 in caller memory).
  size_t allocated_bytes() const noexcept { return block_.size(); }

  /// Writes the state (tokens, latent cache rows [0, n_past) of every layer, and
  /// `sampler` when given) to `path`; format in detail::session_file below.
  result<void> save(const std::string& path, const sample::sampler_state* sampler = nullptr) const;
  /// Replaces this session's state by the one saved in `path`. Rejected, with the
  /// session unchanged: another model (type_mismatch, "fingerprint"), another cache
  /// type (type_mismatch, "cache type"), n_past above this n_ctx (context_overflow),
  /// truncated or corrupt file (invalid_format), unknown version (unsupported).
  /// The sampler state, when the file has one and `sampler` is given, is stored there.
  result<void> load_state(const std::string& path, sample::sampler_state* sampler = nullptr);
  /// Options given to create().
  const session_options& options() const noexcept { return options_; }
  /// The model this session runs.
  const class model& model() const noexcept { return *model_; }

 private:
  explicit session(thread_pool own_pool) : own_pool_(std::move(own_pool)) {}
  // The caller's pool when session_options.pool was given, else the session's own.
  thread_pool& pool() noexcept { return options_.pool != nullptr ? *options_.pool : own_pool_; }

  static result<session> create_in(const class model& m, const session_options& options, uint8_t* ext, size_t ext_size) {
    PLM_TRY_VOID(detail::check_options(options, m.params()));
    const memory_plan p = plan(m, options);
    if (ext != nullptr) {
      if (reinterpret_cast<uintptr_t>(ext) % buffer_alignment != 0)
        return make_error(errc::invalid_argument, "session buffer is not aligned to " + std::to_string(buffer_alignment) +
                                                      " bytes (required alignment)");
      if (ext_size < p.session())
        return make_error(errc::out_of_memory, "session buffer too small: needed " + std::to_string(p.session()) +
                                                   " bytes, given " + std::to_string(ext_size));
    }
    thread_pool own;
    if (options.pool != nullptr) {
      if (options.pool->size() != static_cast<size_t>(options.n_threads))
        return make_error(errc::invalid_argument, "session_options.pool has " + std::to_string(options.pool->size()) +
                                                      " threads, expected n_threads = " + std::to_string(options.n_threads) +
                                                      " (per-thread scratch is planned for n_threads)");
    } else {
      PLM_TRY(own, thread_pool::create(static_cast<size_t>(options.n_threads)));
    }
    session s(std::move(own));
    s.model_ = &m;
    s.options_ = options;
    s.config_ = detail::to_config(options);
    s.plan_ = p;
    uint8_t* base = ext;
    if (base == nullptr) {
      PLM_TRY(s.block_, aligned_buffer::allocate(s.plan_.session()));
      base = s.block_.data();
    } else {
      std::memset(base, 0, p.session());  // counters and cache start at zero, as in an allocated block
    }
    const auto sizes = network::forward_layout(m.params(), m.weights(), s.config_, base, s.buf_);
    if (sizes.total() != s.plan_.session())
      return make_error(errc::out_of_memory, "session layout does not match its plan");
    return s;
  }
  const class model* model_ = nullptr;
  session_options options_;
  network::forward_config config_;
  memory_plan plan_;
  aligned_buffer block_;
  network::forward_buffers buf_;
  thread_pool own_pool_;  // empty when the caller supplied session_options.pool
  int64_t n_past_ = 0;
  int64_t n_logits_ = 0;
};

namespace detail {
// FNV-1a 64: cheap, deterministic, good enough to tell models apart (not a security hash).
inline uint64_t fnv1a(uint64_t h, const void* data, size_t n) noexcept {
  const uint8_t* p = static_cast<const uint8_t*>(data);
  for (size_t i = 0; i < n; ++i) h = (h ^ p[i]) * 0x100000001b3ull;
  return h;
}
inline constexpr uint64_t fnv_offset = 0xcbf29ce484222325ull;

/// Model identity for session files: hyperparameters, every tensor's name, type and
/// shape, and the first and last 64 bytes of each tensor's data (a sample: hashing
/// 1+ GB of weights on every save/restore would cost seconds).
inline uint64_t model_fingerprint(const model& m) noexcept {
  const hparams& hp = m.params();
  const int64_t v[] = {hp.n_layer, hp.n_embd, hp.n_vocab, hp.n_head, hp.n_ff, hp.kv_lora_rank, hp.n_rot, hp.head_dim_v};
  uint64_t h = fnv1a(fnv_offset, v, sizeof v);
  for (const auto& t : m.file().tensors()) {
    h = fnv1a(h, t.name.data(), t.name.size());
    const uint32_t ty = static_cast<uint32_t>(t.type);
    h = fnv1a(h, &ty, sizeof ty);
    h = fnv1a(h, t.ne, sizeof t.ne);
    const tensor_view tv = m.file().view(t);
    const size_t n = tv.n_bytes(), k = std::min<size_t>(64, n);
    if (tv.data != nullptr && k > 0) {
      h = fnv1a(h, tv.data, k);
      h = fnv1a(h, static_cast<const uint8_t*>(tv.data) + (n - k), k);
    }
  }
  return h;
}

/// Session file, little-endian, version 1:
///   char magic[8] = "PLMSESS\0"; u32 version; u32 cache_type (ggml id);
///   u64 model fingerprint; i64 n_layer; u64 row_bytes (per layer and position);
///   i64 n_ctx of the saving session; i64 n_past; u32 has_sampler; u32 n_recent;
///   u64 rng[4]                                   (header: session_file_header bytes)
///   i32 tokens[n_past]; i32 recent[n_recent];
///   rows: for each layer, cache rows [0, n_past) (n_past · row_bytes bytes);
///   u64 FNV-1a of everything before it.
/// Only n_past rows are written, not n_ctx.
inline constexpr char session_magic[8] = {'P', 'L', 'M', 'S', 'E', 'S', 'S', 0};
inline constexpr uint32_t session_version = 1;
inline constexpr size_t session_file_header = 8 + 4 + 4 + 8 + 8 + 8 + 8 + 8 + 4 + 4 + 32;

template <class T>
void put(std::vector<uint8_t>& out, const T& v) {
  const auto* p = reinterpret_cast<const uint8_t*>(&v);
  out.insert(out.end(), p, p + sizeof(T));
}
struct reader {
  const uint8_t* p;
  size_t left;
  template <class T>
  bool get(T& v) {
    if (left < sizeof(T)) return false;
    std::memcpy(&v, p, sizeof(T));
    p += sizeof(T);
    left -= sizeof(T);
    return true;
  }
};
}  // namespace detail

/// Bytes of a session file: header + tokens + recent tokens + rows + checksum.
inline size_t session_file_bytes(int64_t n_past, int64_t n_layer, size_t row_bytes, size_t n_recent = 0) {
  return detail::session_file_header + static_cast<size_t>(n_past) * 4 + n_recent * 4 +
         static_cast<size_t>(n_past * n_layer) * row_bytes + 8;
}

inline result<void> session::save(const std::string& path, const sample::sampler_state* sampler) const {
  const hparams& hp = model_->params();
  const size_t row = kernels::latent_cache_row_bytes({hp.kv_lora_rank, hp.n_rot, 1.0f}, options_.cache_type);
  const size_t n_recent = sampler ? sampler->recent.size() : 0;
  std::vector<uint8_t> out;
  out.reserve(session_file_bytes(n_past_, hp.n_layer, row, n_recent));
  out.insert(out.end(), detail::session_magic, detail::session_magic + 8);
  detail::put(out, detail::session_version);
  detail::put(out, static_cast<uint32_t>(options_.cache_type));
  detail::put(out, detail::model_fingerprint(*model_));
  detail::put(out, hp.n_layer);
  detail::put(out, static_cast<uint64_t>(row));
  detail::put(out, options_.n_ctx);
  detail::put(out, n_past_);
  detail::put(out, static_cast<uint32_t>(sampler != nullptr));
  detail::put(out, static_cast<uint32_t>(n_recent));
  for (int i = 0; i < 4; ++i) detail::put(out, sampler ? sampler->rng.s[i] : uint64_t{0});
  out.insert(out.end(), reinterpret_cast<const uint8_t*>(buf_.tokens),
             reinterpret_cast<const uint8_t*>(buf_.tokens + n_past_));
  for (size_t i = 0; i < n_recent; ++i) detail::put(out, sampler->recent[i]);
  const uint8_t* cache = static_cast<const uint8_t*>(buf_.cache);
  for (int64_t il = 0; il < hp.n_layer; ++il) {
    const uint8_t* layer = cache + static_cast<size_t>(il * options_.n_ctx) * row;
    out.insert(out.end(), layer, layer + static_cast<size_t>(n_past_) * row);
  }
  detail::put(out, detail::fnv1a(detail::fnv_offset, out.data(), out.size()));
  std::FILE* f = std::fopen(path.c_str(), "wb");
  if (!f) return make_error(errc::io_error, "cannot open '" + path + "' for writing");
  const bool wrote = std::fwrite(out.data(), 1, out.size(), f) == out.size();
  const bool closed = std::fclose(f) == 0;
  if (!wrote || !closed) return make_error(errc::io_error, "cannot write session file '" + path + "'");
  return ok();
}

inline result<void> session::load_state(const std::string& path, sample::sampler_state* sampler) {
  const auto fail = [&](errc k, const std::string& msg) { return make_error(k, "session file '" + path + "': " + msg); };
  std::FILE* f = std::fopen(path.c_str(), "rb");
  if (!f) return fail(errc::io_error, "cannot open");
  std::vector<uint8_t> data;
  uint8_t chunk[1 << 16];
  size_t got = 0;
  while ((got = std::fread(chunk, 1, sizeof chunk, f)) > 0) data.insert(data.end(), chunk, chunk + got);
  std::fclose(f);
  if (data.size() < detail::session_file_header + 8 || std::memcmp(data.data(), detail::session_magic, 8) != 0)
    return fail(errc::invalid_format, "not a plm session file (bad magic or shorter than the header)");
  detail::reader r{data.data() + 8, data.size() - 8};
  uint32_t version = 0, cache_type = 0, has_sampler = 0, n_recent = 0;
  uint64_t fp = 0, row = 0, rng[4];
  int64_t n_layer = 0, n_ctx = 0, n_past = 0;
  r.get(version);
  if (version != detail::session_version)
    return fail(errc::unsupported, "version " + std::to_string(version) + ", expected " +
                                       std::to_string(detail::session_version));
  r.get(cache_type), r.get(fp), r.get(n_layer), r.get(row), r.get(n_ctx), r.get(n_past), r.get(has_sampler),
      r.get(n_recent);
  for (auto& x : rng) r.get(x);
  const hparams& hp = model_->params();
  const size_t my_row = kernels::latent_cache_row_bytes({hp.kv_lora_rank, hp.n_rot, 1.0f}, options_.cache_type);
  if (fp != detail::model_fingerprint(*model_) || n_layer != hp.n_layer)
    return fail(errc::type_mismatch, "saved from another model (fingerprint or layer count differs)");
  if (cache_type != static_cast<uint32_t>(options_.cache_type) || row != my_row) {
    const dtype_info* ft = find_dtype(cache_type);
    return fail(errc::type_mismatch, "cache type " + std::string(ft ? ft->name : std::string_view("unknown")) + " in the file, session has " +
                                         std::string(name(options_.cache_type)));
  }
  if (n_past < 0 || n_past > (int64_t{1} << 24) || n_recent > (1u << 24))
    return fail(errc::invalid_format, "n_past " + std::to_string(n_past) + " or recent count out of range");
  if (n_past > options_.n_ctx)
    return fail(errc::context_overflow, std::to_string(n_past) + " saved positions do not fit n_ctx " +
                                            std::to_string(options_.n_ctx));
  const size_t want = session_file_bytes(n_past, n_layer, row, n_recent);
  if (data.size() != want)
    return fail(errc::invalid_format, "truncated or padded: " + std::to_string(data.size()) + " bytes, expected " +
                                          std::to_string(want));
  uint64_t sum = 0;
  std::memcpy(&sum, data.data() + want - 8, 8);
  if (sum != detail::fnv1a(detail::fnv_offset, data.data(), want - 8))
    return fail(errc::invalid_format, "checksum mismatch (corrupt file)");
  const int32_t* toks = reinterpret_cast<const int32_t*>(data.data() + detail::session_file_header);
  for (int64_t i = 0; i < n_past; ++i) {
    int32_t t;
    std::memcpy(&t, toks + i, 4);
    if (t < 0 || t >= hp.n_vocab)
      return fail(errc::out_of_range, "token " + std::to_string(t) + " at " + std::to_string(i) + " outside the vocabulary");
  }
  // Validated: now change the session.
  const uint8_t* p = data.data() + detail::session_file_header;
  std::memcpy(buf_.tokens, p, static_cast<size_t>(n_past) * 4);
  p += static_cast<size_t>(n_past) * 4;
  if (sampler != nullptr && has_sampler) {
    for (int i = 0; i < 4; ++i) sampler->rng.s[i] = rng[i];
    sampler->recent.resize(n_recent);
    std::memcpy(sampler->recent.data(), p, size_t{n_recent} * 4);
  }
  p += size_t{n_recent} * 4;
  uint8_t* cache = static_cast<uint8_t*>(buf_.cache);
  for (int64_t il = 0; il < hp.n_layer; ++il) {
    std::memcpy(cache + static_cast<size_t>(il * options_.n_ctx) * row, p, static_cast<size_t>(n_past) * row);
    p += static_cast<size_t>(n_past) * row;
  }
  n_past_ = n_past;
  n_logits_ = 0;
  return ok();
}

}  // namespace plm
