// tests/fuzz/harness_model.hpp - fuzz harness for PLM model loading and one forward step.
//
// Input: a GGUF file (mutated from small synthetic PLM models). model::from_file
// must reject it (hparams that do not fit the tensors, missing tensors, bad
// types, ...) or accept it; what it accepts must run: a session with a tiny
// context prefills two tokens (the batched path) and decodes a third (the
// single-token path) without reading outside any weight or buffer. It runs
// twice: with the sparse ffn_down repack and an always-sparse decode, and
// without the repack (dense FFN), the latent cache in f16 and in f32.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "fuzz/harness_common.hpp"
#include "plm/engine/engine.hpp"
#include "plm/gguf/reader.hpp"

namespace plm_fuzz {

/// A session plan above this is not run (the plan is explicit and checked by
/// the engine's own tests; the fuzzer's RSS limit is 2 GiB).
inline constexpr size_t model_fuzz_max_session_bytes = size_t(256) << 20;

inline outcome check_model_load(const uint8_t* data, size_t size) {
  outcome out;
  bool accepted_any = false;
  for (const bool sparse : {true, false}) {
    auto f = plm::gguf::file::from_memory(data, size);
    if (!f) return out;
    plm::load_options lo;
    lo.sparse_ffn = sparse;
    auto m = plm::model::from_file(std::move(f).value(), lo);
    if (!m) {
      PLM_FUZZ_CHECK(!m.error().message().empty(), "rejection without a message");
      continue;
    }
    const plm::hparams& hp = m->params();
    PLM_FUZZ_CHECK(hp.n_vocab >= 1 && hp.n_embd >= 1 && hp.n_layer >= 1 && hp.n_head >= 1 && hp.n_ff >= 1 &&
                       hp.kv_lora_rank >= 1 && hp.n_rot >= 1 && hp.head_dim_k > hp.n_rot && hp.head_dim_v >= 1,
                   "accepted hyperparameters out of range");
    PLM_FUZZ_CHECK(m->weights().layers.size() == static_cast<size_t>(hp.n_layer), "layer count");
    PLM_FUZZ_CHECK(m->weights().sparse_ffn == sparse, "sparse_ffn flag");
    PLM_FUZZ_CHECK(!m->has_tokenizer() || m->tokenizer().n_vocab() <= hp.n_vocab, "tokenizer larger than the embedding");

    plm::session_options so;
    so.n_ctx = 4;
    so.n_threads = 1;
    so.n_batch = 2;
    so.cache_type = sparse ? plm::dtype::f16 : plm::dtype::f32;
    so.sparse_max_density = sparse ? 1.0f : 0.0f;
    const plm::memory_plan plan = plm::plan(*m, so);
    if (plan.session() > model_fuzz_max_session_bytes) continue;
    auto s = plm::session::create(*m, so);
    PLM_FUZZ_CHECK(s.has_value(), "session::create failed on an accepted model: " + s.error().message());
    PLM_FUZZ_CHECK(s->allocated_bytes() == plan.session(), "session allocated something else than its plan");

    const int32_t last = static_cast<int32_t>(hp.n_vocab - 1);
    const std::vector<int32_t> two = {0, last};
    PLM_FUZZ_CHECK(s->prefill(two).has_value(), "prefill of two valid tokens failed");
    PLM_FUZZ_CHECK(s->n_past() == 2, "n_past after prefill");
    PLM_FUZZ_CHECK(s->decode(last / 2).has_value(), "decode of a valid token failed");
    touch(s->logits(), static_cast<size_t>(hp.n_vocab) * sizeof(float));
    for (const int32_t bad : {-1, static_cast<int32_t>(hp.n_vocab)}) {
      const auto r = s->decode(bad);
      PLM_FUZZ_CHECK(!r.has_value() && r.error().kind() == plm::errc::out_of_range, "bad token id not refused");
    }
    const std::vector<int32_t> too_many = {0, 0};
    const auto overflow = s->prefill(too_many);
    PLM_FUZZ_CHECK(!overflow.has_value() && overflow.error().kind() == plm::errc::context_overflow,
                   "context overflow not refused");
    PLM_FUZZ_CHECK(s->n_past() == 3, "a refused call changed n_past");
    PLM_FUZZ_CHECK(s->decode(0).has_value(), "decode into the last position failed");
    for (int64_t il = 0; il < hp.n_layer; ++il) {
      const double sp = s->ffn_sparsity(il);
      PLM_FUZZ_CHECK(sp >= 0.0 && sp <= 1.0, "sparsity outside [0, 1]");
    }
    if (m->has_tokenizer()) {
      const auto ids = m->tokenizer().encode("Hello <|im_start|>user", true);
      PLM_FUZZ_CHECK(ids.has_value(), "encode failed");
      for (const int32_t id : *ids) PLM_FUZZ_CHECK(id >= 0 && id < hp.n_vocab, "token id outside the model");
    }
    accepted_any = true;
  }
  out.accepted = accepted_any;
  return out;
}

}  // namespace plm_fuzz
