// plm/model/hparams.hpp - PLM hyperparameters read from a GGUF file's plm.* keys.
//
// The keys are those llama.cpp's converter writes (plm-spec §5) and its loader
// reads (§2.3). Every value is later cross-checked against the tensor shapes
// (model.hpp), so a file whose metadata and tensors disagree is rejected with
// the tensor's name, the expected and the found shape.
#pragma once

#include <algorithm>
#include <cstdint>
#include <string>
#include <string_view>

#include "plm/core/result.hpp"
#include "plm/gguf/reader.hpp"

namespace plm::network {

/// Shape and constants of a PLM network (PLM-1.8B values in comments).
struct hparams {
  int64_t n_vocab = 0;       ///< rows of token_embd (151936)
  int64_t n_ctx_train = 0;   ///< plm.context_length (4096)
  int64_t n_embd = 0;        ///< hidden width (2048)
  int64_t n_layer = 0;       ///< blocks (32)
  int64_t n_head = 0;        ///< attention heads (16); head_count_kv must equal it
  int64_t n_ff = 0;          ///< FFN width (8192)
  int64_t kv_lora_rank = 0;  ///< latent width (512)
  int64_t head_dim_k = 0;    ///< key_length = nope + rope (192)
  int64_t head_dim_v = 0;    ///< value_length (128)
  int64_t n_rot = 0;         ///< rope.dimension_count (64)
  float rope_freq_base = 10000.0f;  ///< rope.freq_base (100000)
  float norm_eps = 1e-6f;           ///< attention.layer_norm_rms_epsilon (1e-6)

  int64_t head_dim_nope() const noexcept { return head_dim_k - n_rot; }  ///< 128
  int64_t kv_row() const noexcept { return kv_lora_rank + n_rot; }       ///< cached values per token and layer (576)
  int64_t q_rows() const noexcept { return n_head * head_dim_k; }        ///< attn_q outputs (3072)
  int64_t kv_b_rows() const noexcept { return n_head * (head_dim_nope() + head_dim_v); }  ///< attn_kv_b outputs (4096)
};

namespace detail {
// Integer metadata of any integer GGUF type (writers differ: u32, i32, u64),
// accepted when it is non-negative and fits.
inline result<int64_t> get_count(const gguf::file& f, std::string_view key) {
  PLM_TRY(auto t, f.type_of(key));
  int64_t v = -1;
  switch (t) {
    case gguf::value_type::u8: { PLM_TRY(auto x, f.get<uint8_t>(key)); v = x; break; }
    case gguf::value_type::i8: { PLM_TRY(auto x, f.get<int8_t>(key)); v = x; break; }
    case gguf::value_type::u16: { PLM_TRY(auto x, f.get<uint16_t>(key)); v = x; break; }
    case gguf::value_type::i16: { PLM_TRY(auto x, f.get<int16_t>(key)); v = x; break; }
    case gguf::value_type::u32: { PLM_TRY(auto x, f.get<uint32_t>(key)); v = x; break; }
    case gguf::value_type::i32: { PLM_TRY(auto x, f.get<int32_t>(key)); v = x; break; }
    case gguf::value_type::u64: {
      PLM_TRY(auto x, f.get<uint64_t>(key));
      v = x > static_cast<uint64_t>(INT64_MAX) ? -1 : static_cast<int64_t>(x);
      break;
    }
    case gguf::value_type::i64: { PLM_TRY(auto x, f.get<int64_t>(key)); v = x; break; }
    default:
      return make_error(errc::type_mismatch, "key '" + std::string(key) + "': expected an integer, found " +
                                                 std::string(gguf::to_string(t)));
  }
  if (v < 0) return make_error(errc::out_of_range, "key '" + std::string(key) + "': expected a non-negative count");
  return v;
}

inline result<float> get_real(const gguf::file& f, std::string_view key) {
  PLM_TRY(auto t, f.type_of(key));
  if (t == gguf::value_type::f32) return f.get<float>(key);
  if (t == gguf::value_type::f64) {
    PLM_TRY(double d, f.get<double>(key));
    return static_cast<float>(d);
  }
  return make_error(errc::type_mismatch, "key '" + std::string(key) + "': expected a float, found " +
                                             std::string(gguf::to_string(t)));
}
}  // namespace detail

/// Reads and sanity-checks the hyperparameters. general.architecture must be
/// "plm" (errc::unsupported names what was found). n_vocab is taken from
/// token_embd later (load_model); here it is plm.vocab_size when present.
inline result<hparams> read_hparams(const gguf::file& f) {
  PLM_TRY(auto arch, f.get<std::string_view>("general.architecture"));
  if (arch != "plm")
    return make_error(errc::unsupported, "general.architecture is '" + std::string(arch) + "', expected 'plm'");
  hparams h;
  PLM_TRY(h.n_layer, detail::get_count(f, "plm.block_count"));
  PLM_TRY(h.n_ctx_train, detail::get_count(f, "plm.context_length"));
  PLM_TRY(h.n_embd, detail::get_count(f, "plm.embedding_length"));
  PLM_TRY(h.n_ff, detail::get_count(f, "plm.feed_forward_length"));
  PLM_TRY(h.n_head, detail::get_count(f, "plm.attention.head_count"));
  PLM_TRY(h.kv_lora_rank, detail::get_count(f, "plm.attention.kv_lora_rank"));
  PLM_TRY(h.head_dim_k, detail::get_count(f, "plm.attention.key_length"));
  PLM_TRY(h.head_dim_v, detail::get_count(f, "plm.attention.value_length"));
  PLM_TRY(h.n_rot, detail::get_count(f, "plm.rope.dimension_count"));
  PLM_TRY(h.norm_eps, detail::get_real(f, "plm.attention.layer_norm_rms_epsilon"));
  if (f.has("plm.rope.freq_base")) {
    PLM_TRY(h.rope_freq_base, detail::get_real(f, "plm.rope.freq_base"));
  }  // absent: 10000 as in llama.cpp
  if (f.has("plm.attention.head_count_kv")) {
    PLM_TRY(int64_t kv, detail::get_count(f, "plm.attention.head_count_kv"));
    if (kv != h.n_head)
      return make_error(errc::unsupported, "plm.attention.head_count_kv is " + std::to_string(kv) +
                                               ", expected head_count (" + std::to_string(h.n_head) + ")");
  }
  if (f.has("plm.vocab_size")) {
    PLM_TRY(h.n_vocab, detail::get_count(f, "plm.vocab_size"));
  }
  const auto positive = [](const char* what, int64_t v) -> result<void> {
    // 2^24 bounds every width so that products of two widths fit comfortably in int64.
    if (v <= 0 || v > (int64_t{1} << 24))
      return make_error(errc::out_of_range, std::string(what) + " is " + std::to_string(v) + ", expected 1 .. 2^24");
    return ok();
  };
  PLM_TRY_VOID(positive("plm.block_count", h.n_layer));
  // Each block has 9 tensors (plm-spec §2.1), plus token_embd and output_norm. Checked
  // here, before anything is sized by n_layer, so a hostile block_count cannot make
  // the loader allocate per-layer state for layers the file does not contain.
  if (static_cast<uint64_t>(h.n_layer) * 9 + 2 > f.tensors().size()) {
    // Name the first absent block tensor: with too few tensors one is missing within
    // the first tensors/9 + 1 blocks, so this search is bounded by the file, not by n_layer.
    static const char* const block_tensors[] = {"attn_norm", "attn_q",   "attn_kv_a_mqa", "attn_kv_a_norm", "attn_kv_b",
                                                "attn_output", "ffn_norm", "ffn_up",        "ffn_down"};
    std::string first_missing;
    const int64_t search = std::min<int64_t>(h.n_layer, static_cast<int64_t>(f.tensors().size() / 9) + 1);
    for (int64_t il = 0; il < search && first_missing.empty(); ++il)
      for (const char* t : block_tensors) {
        std::string name = "blk." + std::to_string(il) + "." + t + ".weight";
        if (!f.find_tensor(name)) {
          first_missing = std::move(name);
          break;
        }
      }
    return make_error(errc::missing, "tensor '" + (first_missing.empty() ? std::string("token_embd/output_norm") : first_missing) +
                                         "' is missing: plm.block_count is " + std::to_string(h.n_layer) + ", which needs at least " +
                                         std::to_string(static_cast<uint64_t>(h.n_layer) * 9 + 2) +
                                         " tensors (9 per block + 2), but the file has " + std::to_string(f.tensors().size()));
  }
  PLM_TRY_VOID(positive("plm.context_length", h.n_ctx_train));
  PLM_TRY_VOID(positive("plm.embedding_length", h.n_embd));
  PLM_TRY_VOID(positive("plm.feed_forward_length", h.n_ff));
  PLM_TRY_VOID(positive("plm.attention.head_count", h.n_head));
  PLM_TRY_VOID(positive("plm.attention.kv_lora_rank", h.kv_lora_rank));
  PLM_TRY_VOID(positive("plm.attention.value_length", h.head_dim_v));
  PLM_TRY_VOID(positive("plm.rope.dimension_count", h.n_rot));
  if (h.n_rot % 2 != 0)
    return make_error(errc::out_of_range, "plm.rope.dimension_count is " + std::to_string(h.n_rot) + ", expected an even number");
  if (h.head_dim_k <= h.n_rot || h.head_dim_k > (int64_t{1} << 24))
    return make_error(errc::out_of_range, "plm.attention.key_length is " + std::to_string(h.head_dim_k) +
                                              ", expected more than plm.rope.dimension_count (" + std::to_string(h.n_rot) + ")");
  if (!(h.norm_eps >= 0.0f) || !(h.rope_freq_base > 0.0f))
    return make_error(errc::out_of_range, "norm epsilon must be >= 0 and rope.freq_base > 0");
  return h;
}

}  // namespace plm::network
