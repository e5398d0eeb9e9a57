// tests/engine_test_models.hpp - small random-weight PLM GGUF files for engine tests.
//
// Writes the spec §2.1 tensors and §5 keys with seeded random weights through
// plm's own GGUF writer and reference quantizers. Matrices get values of std
// 1/sqrt(fan_in) (so activations stay O(1) through the norms), norm weights
// are near 1. A per-tensor type chooser allows mixed-quant files; a tensor
// whose width is not a multiple of the chosen type's block size falls back to f32.
#pragma once

#include <cmath>
#include <cstdint>
#include <functional>
#include <random>
#include <string>
#include <vector>

#include "plm/core/dtype.hpp"
#include "plm/core/result.hpp"
#include "plm/gguf/writer.hpp"
#include "plm/quant/quantize.hpp"

namespace plm_test {

struct model_spec {
  int64_t n_vocab = 64, n_embd = 64, n_layer = 2, n_head = 2, n_ff = 128;
  int64_t kv_lora = 32, nope = 16, rope = 8, v = 16, n_ctx_train = 512;
  float rope_base = 100000.0f, eps = 1e-6f;
  uint32_t seed = 1;
  plm::dtype matrix_type = plm::dtype::f32;  ///< default type of every matrix
  /// Optional override: type for tensor `name` (return matrix_type to keep the default).
  std::function<plm::dtype(const std::string& name, plm::dtype def)> type_for;
  std::string architecture = "plm";
  std::string skip_tensor;      ///< leave this tensor out (error tests)
  std::string bad_shape_tensor; ///< give this tensor one extra row (error tests)
  /// Called on each matrix's f32 values before storing (crafted weights), may be empty.
  std::function<void(const std::string& name, int64_t ne0, int64_t ne1, std::vector<float>& values)> edit;
};

namespace detail {
struct pending {
  std::string name;
  plm::dtype type;
  std::vector<int64_t> ne;
  std::vector<uint8_t> bytes;
};
}  // namespace detail

/// Writes the model to `path`.
inline plm::result<void> write_model(const model_spec& s, const std::string& path) {
  std::mt19937 gen(s.seed);
  std::normal_distribution<float> nd(0.0f, 1.0f);
  std::uniform_real_distribution<float> nw(0.8f, 1.2f);
  std::vector<detail::pending> ts;
  auto add = [&](const std::string& name, int64_t ne0, int64_t ne1, bool norm) -> plm::result<void> {
    if (name == s.skip_tensor) return plm::ok();
    if (name == s.bad_shape_tensor) ne1 = norm ? ne1 : ne1 + 1, ne0 = norm ? ne0 + 1 : ne0;
    std::vector<float> v(static_cast<size_t>(ne0 * ne1));
    const float sd = 1.0f / std::sqrt(static_cast<float>(ne0));
    for (auto& x : v) x = norm ? nw(gen) : nd(gen) * sd;
    if (!norm && s.edit) s.edit(name, ne0, ne1, v);
    plm::dtype t = norm ? plm::dtype::f32 : s.matrix_type;
    if (!norm && s.type_for) t = s.type_for(name, t);
    if (ne0 % plm::block_size(t) != 0) t = plm::dtype::f32;
    detail::pending p{name, t, {}, {}};
    p.ne = ne1 == 1 && norm ? std::vector<int64_t>{ne0} : std::vector<int64_t>{ne0, ne1};
    const size_t row = static_cast<size_t>(ne0) / plm::block_size(t) * plm::block_bytes(t);
    p.bytes.resize(row * static_cast<size_t>(ne1));
    for (int64_t r = 0; r < ne1; ++r)
      PLM_TRY_VOID(plm::quant::quantize_row(t, v.data() + r * ne0, p.bytes.data() + static_cast<size_t>(r) * row, ne0));
    ts.push_back(std::move(p));
    return plm::ok();
  };
  PLM_TRY_VOID(add("token_embd.weight", s.n_embd, s.n_vocab, false));
  PLM_TRY_VOID(add("output_norm.weight", s.n_embd, 1, true));
  for (int64_t il = 0; il < s.n_layer; ++il) {
    const std::string p = "blk." + std::to_string(il) + ".";
    PLM_TRY_VOID(add(p + "attn_norm.weight", s.n_embd, 1, true));
    PLM_TRY_VOID(add(p + "attn_q.weight", s.n_embd, s.n_head * (s.nope + s.rope), false));
    PLM_TRY_VOID(add(p + "attn_kv_a_mqa.weight", s.n_embd, s.kv_lora + s.rope, false));
    PLM_TRY_VOID(add(p + "attn_kv_a_norm.weight", s.kv_lora, 1, true));
    PLM_TRY_VOID(add(p + "attn_kv_b.weight", s.kv_lora, s.n_head * (s.nope + s.v), false));
    PLM_TRY_VOID(add(p + "attn_output.weight", s.n_head * s.v, s.n_embd, false));
    PLM_TRY_VOID(add(p + "ffn_norm.weight", s.n_embd, 1, true));
    PLM_TRY_VOID(add(p + "ffn_up.weight", s.n_embd, s.n_ff, false));
    PLM_TRY_VOID(add(p + "ffn_down.weight", s.n_ff, s.n_embd, false));
  }
  plm::gguf::writer w;
  w.set_string("general.architecture", s.architecture);
  w.set_string("general.name", "engine test model");
  const std::string a = s.architecture;
  w.set_u32(a + ".block_count", static_cast<uint32_t>(s.n_layer));
  w.set_u32(a + ".context_length", static_cast<uint32_t>(s.n_ctx_train));
  w.set_u32(a + ".embedding_length", static_cast<uint32_t>(s.n_embd));
  w.set_u32(a + ".feed_forward_length", static_cast<uint32_t>(s.n_ff));
  w.set_u32(a + ".attention.head_count", static_cast<uint32_t>(s.n_head));
  w.set_u32(a + ".attention.head_count_kv", static_cast<uint32_t>(s.n_head));
  w.set_f32(a + ".rope.freq_base", s.rope_base);
  w.set_f32(a + ".attention.layer_norm_rms_epsilon", s.eps);
  w.set_u32(a + ".vocab_size", static_cast<uint32_t>(s.n_vocab));
  w.set_u32(a + ".attention.kv_lora_rank", static_cast<uint32_t>(s.kv_lora));
  w.set_u32(a + ".attention.key_length", static_cast<uint32_t>(s.nope + s.rope));
  w.set_u32(a + ".attention.value_length", static_cast<uint32_t>(s.v));
  w.set_u32(a + ".rope.dimension_count", static_cast<uint32_t>(s.rope));
  for (const auto& t : ts) PLM_TRY_VOID(w.add_tensor(t.name, t.type, t.ne, t.bytes.data()));
  return w.write_file(path);
}

}  // namespace plm_test
