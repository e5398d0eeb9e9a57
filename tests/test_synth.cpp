// Tests of plm-synth's library: metadata and tensors per plm-spec.md (sections
// 1, 2.1, 5, 7), the Q4_K_M mix, determinism, and the ffn_sparsity design,
// measured with a naive dense forward pass written here from spec 2.2.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <map>
#include <string>
#include <vector>

#include "plm/gguf/reader.hpp"
#include "plm/quant/dequantize.hpp"
#include "plm/synth/synth.hpp"

using plm::dtype;
using plm::errc;
namespace gguf = plm::gguf;
namespace synth = plm::synth;

namespace {

bool contains(const std::string& s, const std::string& sub) { return s.find(sub) != std::string::npos; }

synth::options tiny(synth::weight_type t = synth::weight_type::f32) {
  synth::options o;
  o.n_layer = 2;
  o.n_embd = 256;
  o.n_head = 4;
  o.n_ff = 512;
  o.kv_lora_rank = 64;
  o.rope_dim = 16;
  o.nope_dim = 32;
  o.v_dim = 32;
  o.vocab = 600;
  o.ctx = 128;
  o.type = t;
  return o;
}

std::vector<uint8_t> make(const synth::options& o) {
  auto b = synth::write_model_memory(o);
  REQUIRE_MESSAGE(b, b.error().to_string());
  return std::move(*b);
}

// ---- naive reference forward (plm-spec 2.2), f32 weights -------------------

struct mat {
  const float* w;
  int64_t cols, rows;
  void mul(const float* x, float* y) const {
    for (int64_t r = 0; r < rows; ++r) {
      double s = 0;
      for (int64_t c = 0; c < cols; ++c) s += static_cast<double>(w[r * cols + c]) * x[c];
      y[r] = static_cast<float>(s);
    }
  }
};

struct forward_stats {
  uint64_t zeros = 0, activations = 0;
  double logit_std = 0;
  bool finite = true;
  std::vector<double> zero_fraction_per_layer;
};

forward_stats run_forward(const gguf::file& f, const std::vector<int>& tokens) {
  const int64_t n_layer = *f.get<uint32_t>("plm.block_count");
  const int64_t n_embd = *f.get<uint32_t>("plm.embedding_length");
  const int64_t n_head = *f.get<uint32_t>("plm.attention.head_count");
  const int64_t n_ff = *f.get<uint32_t>("plm.feed_forward_length");
  const int64_t kv_lora = *f.get<uint32_t>("plm.attention.kv_lora_rank");
  const int64_t n_rot = *f.get<uint32_t>("plm.rope.dimension_count");
  const int64_t dk = *f.get<uint32_t>("plm.attention.key_length");
  const int64_t dv = *f.get<uint32_t>("plm.attention.value_length");
  const int64_t nope = dk - n_rot;
  const float eps = *f.get<float>("plm.attention.layer_norm_rms_epsilon");
  const float theta = *f.get<float>("plm.rope.freq_base");
  auto W = [&](const std::string& n) {
    auto t = f.tensor(n);
    REQUIRE(t);
    REQUIRE(t->type == dtype::f32);
    return mat{static_cast<const float*>(t->data), t->ne[0], t->ne[1]};
  };
  auto rmsnorm = [&](const float* x, const float* w, float* y, int64_t n) {
    double ss = 0;
    for (int64_t i = 0; i < n; ++i) ss += static_cast<double>(x[i]) * x[i];
    const float scale = 1.0f / std::sqrt(static_cast<float>(ss / n) + eps);
    for (int64_t i = 0; i < n; ++i) y[i] = x[i] * scale * w[i];
  };
  auto rope = [&](float* v, int64_t pos) {  // NORM: adjacent pairs
    for (int64_t i = 0; i < n_rot / 2; ++i) {
      const double th = pos * std::pow(static_cast<double>(theta), -2.0 * i / n_rot);
      const double c = std::cos(th), s = std::sin(th);
      const double a = v[2 * i], b = v[2 * i + 1];
      v[2 * i] = static_cast<float>(a * c - b * s);
      v[2 * i + 1] = static_cast<float>(a * s + b * c);
    }
  };

  const mat embd = W("token_embd.weight");
  const int64_t T = static_cast<int64_t>(tokens.size());
  forward_stats st;
  st.zero_fraction_per_layer.assign(static_cast<size_t>(n_layer), 0.0);
  // [T][n_embd] residual stream of every position, processed layer by layer.
  std::vector<std::vector<float>> x(static_cast<size_t>(T), std::vector<float>(static_cast<size_t>(n_embd)));
  for (int64_t t = 0; t < T; ++t) std::copy(embd.w + tokens[t] * n_embd, embd.w + (tokens[t] + 1) * n_embd, x[t].begin());
  std::vector<float> h(n_embd), q(n_head * dk), ckv(kv_lora + n_rot), c(kv_lora), kvb(n_head * (nope + dv)), o(n_head * dv),
      out(n_embd), up(n_ff), p(T);
  for (int64_t l = 0; l < n_layer; ++l) {
    const std::string b = "blk." + std::to_string(l) + ".";
    const mat wq = W(b + "attn_q.weight"), wkva = W(b + "attn_kv_a_mqa.weight"), wkvb = W(b + "attn_kv_b.weight"),
              wo = W(b + "attn_output.weight"), wup = W(b + "ffn_up.weight"), wdown = W(b + "ffn_down.weight");
    const float* n_attn = W(b + "attn_norm.weight").w;
    const float* n_kv = W(b + "attn_kv_a_norm.weight").w;
    const float* n_ffn = W(b + "ffn_norm.weight").w;
    // K [T][head][dk], V [T][head][dv]
    std::vector<float> K(static_cast<size_t>(T * n_head * dk)), V(static_cast<size_t>(T * n_head * dv));
    std::vector<std::vector<float>> Q(static_cast<size_t>(T), std::vector<float>(static_cast<size_t>(n_head * dk)));
    for (int64_t t = 0; t < T; ++t) {
      rmsnorm(x[t].data(), n_attn, h.data(), n_embd);
      wq.mul(h.data(), q.data());
      wkva.mul(h.data(), ckv.data());
      rmsnorm(ckv.data(), n_kv, c.data(), kv_lora);
      float* kpe = ckv.data() + kv_lora;
      rope(kpe, t);
      wkvb.mul(c.data(), kvb.data());
      for (int64_t hd = 0; hd < n_head; ++hd) {
        float* qh = q.data() + hd * dk;
        rope(qh + nope, t);
        std::copy(qh, qh + dk, Q[t].begin() + hd * dk);
        float* kh = K.data() + (t * n_head + hd) * dk;
        std::copy(kvb.begin() + hd * (nope + dv), kvb.begin() + hd * (nope + dv) + nope, kh);
        std::copy(kpe, kpe + n_rot, kh + nope);
        std::copy(kvb.begin() + hd * (nope + dv) + nope, kvb.begin() + (hd + 1) * (nope + dv), V.begin() + (t * n_head + hd) * dv);
      }
    }
    for (int64_t t = 0; t < T; ++t) {
      for (int64_t hd = 0; hd < n_head; ++hd) {
        double mx = -1e300;
        for (int64_t s = 0; s <= t; ++s) {
          double sc = 0;
          for (int64_t d = 0; d < dk; ++d) sc += static_cast<double>(Q[t][hd * dk + d]) * K[(s * n_head + hd) * dk + d];
          p[s] = static_cast<float>(sc / std::sqrt(static_cast<double>(dk)));
          mx = std::max(mx, static_cast<double>(p[s]));
        }
        double sum = 0;
        for (int64_t s = 0; s <= t; ++s) sum += (p[s] = static_cast<float>(std::exp(p[s] - mx)));
        for (int64_t d = 0; d < dv; ++d) {
          double acc = 0;
          for (int64_t s = 0; s <= t; ++s) acc += p[s] / sum * V[(s * n_head + hd) * dv + d];
          o[hd * dv + d] = static_cast<float>(acc);
        }
      }
      wo.mul(o.data(), out.data());
      for (int64_t i = 0; i < n_embd; ++i) x[t][i] += out[i];
      rmsnorm(x[t].data(), n_ffn, h.data(), n_embd);
      wup.mul(h.data(), up.data());
      uint64_t z = 0;
      for (float& u : up) {
        u = u > 0 ? u * u : 0.0f;
        z += u == 0.0f;
      }
      st.zeros += z;
      st.activations += static_cast<uint64_t>(n_ff);
      st.zero_fraction_per_layer[static_cast<size_t>(l)] += static_cast<double>(z) / n_ff / T;
      wdown.mul(up.data(), out.data());
      for (int64_t i = 0; i < n_embd; ++i) x[t][i] += out[i];
    }
  }
  const float* n_out = W("output_norm.weight").w;
  double s1 = 0, s2 = 0;
  int64_t n = 0;
  std::vector<float> logits(static_cast<size_t>(embd.rows));
  for (int64_t t = 0; t < T; ++t) {
    for (float v : x[t]) st.finite = st.finite && std::isfinite(v);
    rmsnorm(x[t].data(), n_out, h.data(), n_embd);
    embd.mul(h.data(), logits.data());
    for (float v : logits) {
      st.finite = st.finite && std::isfinite(v);
      s1 += v;
      s2 += static_cast<double>(v) * v;
      ++n;
    }
  }
  st.logit_std = std::sqrt(s2 / n - (s1 / n) * (s1 / n));
  return st;
}

std::vector<int> some_tokens(int n, int vocab, uint64_t seed) {
  synth::splitmix64 r(seed);
  std::vector<int> t;
  for (int i = 0; i < n; ++i) t.push_back(static_cast<int>(r.next() % static_cast<uint64_t>(vocab)));
  return t;
}

}  // namespace

TEST_CASE("PRNG: fixed values, unit variance, portable stream") {
  // SplitMix64 reference outputs for seed 1234567 (from the published algorithm).
  synth::splitmix64 r(1234567);
  CHECK(r.next() == 6457827717110365317ull);
  CHECK(r.next() == 3203168211198807973ull);
  synth::splitmix64 s(99);
  double sum = 0, sum2 = 0;
  const int n = 200000;
  int32_t lo = 0, hi = 0;
  for (int i = 0; i < n; ++i) {
    const int32_t k = s.next_irwin_hall();
    lo = std::min(lo, k);
    hi = std::max(hi, k);
    const double z = k * synth::irwin_hall_unit;
    sum += z;
    sum2 += z * z;
  }
  CHECK(std::fabs(sum / n) < 0.01);
  CHECK(std::fabs(sum2 / n - 1.0) < 0.01);
  CHECK(lo >= -131070);
  CHECK(hi <= 131070);
  CHECK(synth::fnv1a64("") == 0xcbf29ce484222325ull);
  CHECK(synth::fnv1a64("a") == 0xaf63dc4c8601ec8cull);
}

TEST_CASE("option parsing and validation") {
  synth::weight_type t{};
  CHECK(synth::parse_weight_type("Q4_K_M", t));
  CHECK(t == synth::weight_type::q4_k_m);
  CHECK(synth::parse_weight_type("bf16", t));
  CHECK(t == synth::weight_type::bf16);
  CHECK_FALSE(synth::parse_weight_type("q3_k", t));
  CHECK(synth::llama_file_type(synth::weight_type::q4_k_m) == 15);
  CHECK(synth::llama_file_type(synth::weight_type::q8_0) == 7);

  CHECK(synth::validate(synth::options{}));
  auto check_bad = [](synth::options o, const char* what) {
    auto r = synth::validate(o);
    REQUIRE_FALSE(r);
    CHECK(r.error().kind() == errc::invalid_argument);
    CHECK_MESSAGE(contains(r.error().message(), what), r.error().message());
  };
  synth::options o;
  o.n_layer = 0;
  check_bad(o, "layers = 0");
  o = {};
  o.rope_dim = 15;
  check_bad(o, "rope_dim = 15");
  o = {};
  o.n_embd = 1;
  check_bad(o, "hidden = 1");
  o = {};
  o.ffn_sparsity = 1.0f;
  check_bad(o, "ffn_sparsity");
  o = {};
  o.eps = 0;
  check_bad(o, "eps");
  o = {};
  o.tensor_types.emplace_back("ffn_up.weight", dtype::q8_k);
  check_bad(o, "q8_K is not a weight type");
  o = tiny();
  o.vocab = 100;  // fewer rows than the default tokenizer's tokens
  auto w = synth::write_model_memory(o);
  REQUIRE_FALSE(w);
  CHECK(contains(w.error().message(), "vocab = 100"));
}

TEST_CASE("use_more_bits and the Q4_K_M mix of the full-size model match llama.cpp's released file") {
  std::vector<int> more;
  for (int i = 0; i < 32; ++i)
    if (synth::use_more_bits(i, 32)) more.push_back(i);
  // plm-spec 7: layers 0-3, 6, 9, ..., 27, 28-31: 16 layers.
  const std::vector<int> expect = {0, 1, 2, 3, 6, 9, 12, 15, 18, 21, 24, 27, 28, 29, 30, 31};
  CHECK(more == expect);

  synth::options o;
  o.type = synth::weight_type::q4_k_m;
  const auto plan = synth::plan_tensors(o);
  CHECK(plan.size() == 290);
  std::map<dtype, int> counts;
  for (const auto& t : plan) ++counts[t.type];
  // plm-spec 7 (ORT's record of PLM-1.8B-Instruct-Q4_K_M.gguf): F32 x97, Q4_K x176, Q6_K x17.
  CHECK(counts[dtype::f32] == 97);
  CHECK(counts[dtype::q4_k] == 176);
  CHECK(counts[dtype::q6_k] == 17);
  const auto s = synth::summarize(plan);
  CHECK(s.n_params == 1825458176ull);     // plm-spec 1
  CHECK(s.tensor_bytes == 1176762368ull);  // plm-spec 7: Q4_K_M tensor data

  o.type = synth::weight_type::q8_0;
  CHECK(synth::summarize(synth::plan_tensors(o)).tensor_bytes == 1939988480ull);  // plm-spec 7
  o.type = synth::weight_type::f16;
  CHECK(synth::summarize(synth::plan_tensors(o)).tensor_bytes == 3651215360ull);  // plm-spec 7
}

TEST_CASE("block-size fallbacks follow llama.cpp") {
  CHECK(synth::fallback_type(dtype::q4_k, 512) == dtype::q4_k);
  CHECK(synth::fallback_type(dtype::q4_k, 64) == dtype::q5_0);
  CHECK(synth::fallback_type(dtype::q5_k, 96) == dtype::q5_1);
  CHECK(synth::fallback_type(dtype::q6_k, 128) == dtype::q8_0);
  CHECK(synth::fallback_type(dtype::q6_k, 48) == dtype::f16);
  CHECK(synth::fallback_type(dtype::q8_0, 48) == dtype::f16);
  CHECK(synth::fallback_type(dtype::f32, 7) == dtype::f32);
}

TEST_CASE("a small Q4_K_M model: every key and tensor per spec, read back with the reader") {
  synth::options o = tiny(synth::weight_type::q4_k_m);
  o.n_layer = 9;  // so that use_more_bits has both outcomes: n/8 = 1, 7n/8 = 7
  const auto bytes = make(o);
  auto f = gguf::file::from_memory(bytes.data(), bytes.size());
  REQUIRE_MESSAGE(f, f.error().to_string());

  const char* keys[] = {"general.architecture", "general.name", "general.file_type", "general.quantization_version",
                        "plm.block_count", "plm.context_length", "plm.embedding_length", "plm.feed_forward_length",
                        "plm.attention.head_count", "plm.attention.head_count_kv", "plm.rope.freq_base",
                        "plm.attention.layer_norm_rms_epsilon", "plm.vocab_size", "plm.attention.kv_lora_rank",
                        "plm.attention.key_length", "plm.attention.value_length", "plm.rope.dimension_count"};
  for (size_t i = 0; i < std::size(keys); ++i) CHECK(f->key(i) == keys[i]);
  size_t n_plm = 0;
  for (size_t i = 0; i < f->n_kv(); ++i) n_plm += f->key(i).substr(0, 4) == "plm.";
  CHECK(n_plm == 13);  // exactly the plm.* keys of spec 5
  CHECK(*f->get<std::string_view>("general.architecture") == "plm");
  CHECK(*f->get<uint32_t>("general.file_type") == 15);
  CHECK(*f->get<uint32_t>("general.quantization_version") == 2);
  CHECK(*f->get<uint32_t>("plm.block_count") == 9);
  CHECK(*f->get<uint32_t>("plm.context_length") == 128);
  CHECK(*f->get<uint32_t>("plm.embedding_length") == 256);
  CHECK(*f->get<uint32_t>("plm.feed_forward_length") == 512);
  CHECK(*f->get<uint32_t>("plm.attention.head_count") == 4);
  CHECK(*f->get<uint32_t>("plm.attention.head_count_kv") == 4);
  CHECK(*f->get<float>("plm.rope.freq_base") == 100000.0f);
  CHECK(*f->get<float>("plm.attention.layer_norm_rms_epsilon") == 1e-6f);
  CHECK(*f->get<uint32_t>("plm.vocab_size") == 600);
  CHECK(*f->get<uint32_t>("plm.attention.kv_lora_rank") == 64);
  CHECK(*f->get<uint32_t>("plm.attention.key_length") == 48);
  CHECK(*f->get<uint32_t>("plm.attention.value_length") == 32);
  CHECK(*f->get<uint32_t>("plm.rope.dimension_count") == 16);
  CHECK(*f->get<std::string_view>("tokenizer.ggml.model") == "gpt2");
  CHECK(*f->get<std::string_view>("tokenizer.ggml.pre") == "qwen2");
  auto tokens = f->get_string_array("tokenizer.ggml.tokens");
  auto types = f->get_array<int32_t>("tokenizer.ggml.token_type");
  REQUIRE(tokens);
  REQUIRE(types);
  CHECK(tokens->size() == 600);
  CHECK(types->size() == 600);
  CHECK(tokens->back() == "[PAD599]");
  CHECK(types->back() == 5);
  CHECK(f->get_string_array("tokenizer.ggml.merges")->size() > 100);

  const int64_t e = 256, h = 4;
  struct want {
    std::string name;
    int64_t ne0, ne1;
    dtype type;
  };
  std::vector<want> ws = {{"token_embd.weight", e, 600, dtype::q6_k}, {"output_norm.weight", e, 0, dtype::f32}};
  for (int l = 0; l < 9; ++l) {
    const std::string b = "blk." + std::to_string(l) + ".";
    const bool more = l < 1 || l >= 7 || (l - 1) % 3 == 2;
    ws.push_back({b + "attn_norm.weight", e, 0, dtype::f32});
    ws.push_back({b + "attn_q.weight", e, h * 48, dtype::q4_k});
    ws.push_back({b + "attn_kv_a_mqa.weight", e, 64 + 16, dtype::q4_k});
    ws.push_back({b + "attn_kv_a_norm.weight", 64, 0, dtype::f32});
    ws.push_back({b + "attn_kv_b.weight", 64, h * 64, dtype::q5_0});      // 64 % 256 != 0: Q4_K -> Q5_0
    ws.push_back({b + "attn_output.weight", h * 32, e, dtype::q5_0});     // 128 % 256 != 0
    ws.push_back({b + "ffn_norm.weight", e, 0, dtype::f32});
    ws.push_back({b + "ffn_up.weight", e, 512, dtype::q4_k});
    ws.push_back({b + "ffn_down.weight", 512, e, more ? dtype::q6_k : dtype::q4_k});
  }
  REQUIRE(f->tensors().size() == ws.size());
  CHECK(f->find_tensor("output.weight") == nullptr);
  for (size_t i = 0; i < ws.size(); ++i) {
    const auto& t = f->tensors()[i];
    CAPTURE(ws[i].name);
    CHECK(t.name == ws[i].name);
    CHECK(t.n_dims == (ws[i].ne1 ? 2u : 1u));
    CHECK(t.ne[0] == ws[i].ne0);
    CHECK(t.ne[1] == (ws[i].ne1 ? ws[i].ne1 : 1));
    CHECK(t.type == ws[i].type);
  }
  int q6 = 0;
  for (const auto& t : f->tensors()) q6 += t.type == dtype::q6_k;
  CHECK(q6 == 1 + 5);  // token_embd + ffn_down of layers 0, 3, 6, 7, 8
}

TEST_CASE("determinism: same seed same bytes (any thread count), other seed other bytes") {
  synth::options o = tiny(synth::weight_type::q8_0);
  o.n_threads = 2;
  const auto a = make(o);
  o.n_threads = 1;
  const auto b = make(o);
  CHECK(a == b);
  o.seed = 43;
  const auto c = make(o);
  REQUIRE(c.size() == a.size());
  CHECK(c != a);
  // Every tensor differs, not just one.
  auto fa = gguf::file::from_memory(a.data(), a.size());
  auto fc = gguf::file::from_memory(c.data(), c.size());
  REQUIRE(fa);
  REQUIRE(fc);
  for (const auto& t : fa->tensors()) {
    CAPTURE(std::string(t.name));
    CHECK(std::memcmp(fa->view(t).data, fc->tensor(t.name)->data, t.n_bytes) != 0);
  }
}

TEST_CASE("quantized models hold the same weights as the f32 model (per-tensor type, write to file)") {
  synth::options o = tiny(synth::weight_type::f32);
  const auto ref = make(o);
  auto fr = gguf::file::from_memory(ref.data(), ref.size());
  REQUIRE(fr);
  for (auto wt : {synth::weight_type::f16, synth::weight_type::bf16, synth::weight_type::q8_0, synth::weight_type::q4_0,
                  synth::weight_type::q4_k, synth::weight_type::q5_k, synth::weight_type::q6_k}) {
    CAPTURE(synth::to_string(wt));
    o.type = wt;
    const std::string path = std::string(PLM_TEST_BINARY_DIR) + "/synth-" + synth::to_string(wt) + ".gguf";
    REQUIRE(synth::write_model(o, path));
    auto fq = gguf::file::open(path);
    REQUIRE_MESSAGE(fq, fq.error().to_string());
    CHECK(*fq->get<uint32_t>("general.file_type") == synth::llama_file_type(wt));
    CHECK(fq->has("general.quantization_version") ==
          (wt != synth::weight_type::f16 && wt != synth::weight_type::bf16));
    for (const char* name : {"token_embd.weight", "blk.1.ffn_up.weight", "blk.0.attn_kv_b.weight"}) {
      CAPTURE(name);
      const auto r = *fr->tensor(name);
      const auto q = *fq->tensor(name);
      std::vector<float> row(static_cast<size_t>(q.ne[0]));
      double err2 = 0, ref2 = 0;
      for (int64_t i = 0; i < q.ne[1]; i += 7) {
        REQUIRE(plm::quant::dequantize_row(q.type, q.row(i), row.data(), q.ne[0]));
        const float* x = reinterpret_cast<const float*>(r.row(i));
        for (int64_t j = 0; j < q.ne[0]; ++j) {
          err2 += (row[j] - x[j]) * static_cast<double>(row[j] - x[j]);
          ref2 += static_cast<double>(x[j]) * x[j];
        }
      }
      CHECK(std::sqrt(err2 / ref2) < 0.2);  // 4-bit types: ~0.1 relative RMS error
    }
    std::remove(path.c_str());
  }
}

TEST_CASE("ffn_sparsity: measured fraction of zero ReLU^2 activations within 0.05 of the target") {
  for (float target : {0.5f, 0.9f, 0.7f}) {
    CAPTURE(target);
    synth::options o = tiny(synth::weight_type::f32);
    o.n_layer = 4;
    o.n_ff = 1024;
    o.ffn_sparsity = target;
    const auto bytes = make(o);
    auto f = gguf::file::from_memory(bytes.data(), bytes.size());
    REQUIRE(f);
    const auto st = run_forward(*f, some_tokens(24, 600, 7));
    const double measured = static_cast<double>(st.zeros) / st.activations;
    MESSAGE("target " << target << " measured " << measured << " logit std " << st.logit_std);
    CHECK(std::fabs(measured - target) <= 0.05);
    CHECK(st.finite);
    CHECK(st.logit_std > 0.5);
    CHECK(st.logit_std < 20);
  }
}

TEST_CASE("ffn_sparsity holds through 32 layers and activations stay finite") {
  synth::options o = tiny(synth::weight_type::f32);
  o.n_layer = 32;
  o.n_embd = 128;
  o.n_ff = 512;
  o.ffn_sparsity = 0.9f;
  const auto bytes = make(o);
  auto f = gguf::file::from_memory(bytes.data(), bytes.size());
  REQUIRE(f);
  const auto st = run_forward(*f, some_tokens(16, 600, 11));
  const double measured = static_cast<double>(st.zeros) / st.activations;
  MESSAGE("32 layers: measured " << measured << ", first layer " << st.zero_fraction_per_layer.front() << ", last "
                                 << st.zero_fraction_per_layer.back() << ", logit std " << st.logit_std);
  CHECK(std::fabs(measured - 0.9) <= 0.05);
  CHECK(std::fabs(st.zero_fraction_per_layer.front() - 0.9) <= 0.08);
  CHECK(std::fabs(st.zero_fraction_per_layer.back() - 0.9) <= 0.08);
  CHECK(st.finite);
  CHECK(st.logit_std > 0.5);
  CHECK(st.logit_std < 20);
}
