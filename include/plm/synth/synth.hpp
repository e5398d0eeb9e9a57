// plm/synth/synth.hpp - synthetic PLM models: random weights, real layout, any size.
//
// Tests and benchmarks need PLM GGUF files of any shape and weight type
// without downloading the 1.9 GB release. write_model() writes exactly what
// llama.cpp's converter writes for PLM (plm-spec.md section 5 keys, section
// 2.1 tensor names and shapes, tied embeddings, norms in F32) with seeded
// random weights, quantized with plm::quant::quantize_row. Tensors are made
// row chunk by row chunk while the file is written (both threads quantize),
// so a full-size model is never held in memory.
//
// The weights are random but not arbitrary:
//  - scales keep activations O(1) through any depth: inputs of every
//    projection have unit RMS after RMSNorm and projections use std
//    1/sqrt(fan_in); each attention / FFN block adds only a small, predicted
//    amount (0.1 / 0.2 of the embedding RMS) to the residual stream;
//  - output_norm has zero-mean weights (std 3): with tied embeddings and
//    near-1 norm weights every token would predict itself (the logit of the
//    input token would be ~|e|^2, far above the rest), which makes greedy
//    generation degenerate; logits end up with std ~3;
//  - ffn_sparsity F: a fraction ~F of the ReLU^2 activations is exactly zero.
//    PLM has no biases, so channel 0 of the residual stream is used as a
//    constant "bias channel": every embedding row has the value m = 4/sqrt(n_embd)
//    there, no block ever writes to it (row 0 of attn_output and ffn_down is
//    zero), attention ignores it (column 0 of attn_q and attn_kv_a_mqa is
//    zero), and column 0 of every ffn_up row is beta = -3/sqrt(n_embd - 1). The
//    pre-activation of neuron j is then beta * w0 * m / rms(x) plus a zero-mean
//    random part whose spread is predicted from the residual's growth, and
//    ffn_norm's channel-0 weight w0 (F32, per layer) is set so that the shift
//    is Phi^-1(F) of that spread: P(pre-activation <= 0) = F.
//
// Determinism: weights come from plm/synth/random.hpp (per-row SplitMix64,
// integer Irwin-Hall normals); a weight is one integer times one scale, so the
// bytes are the same on every platform and for every thread count. The few
// scale constants (Phi^-1, a Gaussian moment) are computed in double with
// libm and rounded to float; conforming libms agree on them except in
// (astronomically rare) rounding ties.
//
// Weight types: f32 f16 bf16 q8_0 q4_0 q4_k q5_k q6_k are "pure" (every
// matrix that type, like llama-quantize --pure); q4_k_m is llama.cpp's
// Q4_K_M mix: token_embd Q6_K (it is also the output matrix), ffn_down Q6_K in
// layers where use_more_bits(i, n) (i < n/8, i >= 7n/8, or (i - n/8) % 3 == 2:
// for 32 layers 0-3, 6, 9, ..., 27, 28-31), every other matrix Q4_K. A type
// whose block size does not divide a tensor's ne0 falls back as llama.cpp's
// quantizer does: Q4_K -> Q5_0, Q5_K -> Q5_1, Q6_K -> Q8_0, Q2_K/Q3_K -> Q4_0
// (llama.cpp uses IQ4_NL, which plm does not support), then F16 if the
// fallback's block size does not divide ne0 either (also for Q4_0/Q8_0).
#pragma once

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include "plm/core/dtype.hpp"
#include "plm/core/result.hpp"
#include "plm/core/thread_pool.hpp"
#include "plm/gguf/writer.hpp"
#include "plm/quant/quantize.hpp"
#include "plm/synth/random.hpp"
#include "plm/text/vocab_builder.hpp"

namespace plm::synth {

/// Weight type of a whole model (norms are always F32).
enum class weight_type { f32, f16, bf16, q8_0, q4_0, q4_k, q5_k, q6_k, q4_k_m };

inline const char* to_string(weight_type t) noexcept {
  switch (t) {
    case weight_type::f32: return "f32";
    case weight_type::f16: return "f16";
    case weight_type::bf16: return "bf16";
    case weight_type::q8_0: return "q8_0";
    case weight_type::q4_0: return "q4_0";
    case weight_type::q4_k: return "q4_k";
    case weight_type::q5_k: return "q5_k";
    case weight_type::q6_k: return "q6_k";
    case weight_type::q4_k_m: return "q4_k_m";
  }
  return "?";
}

/// Parses "f32", "q4_k_m", "Q4_K_M", ... (case-insensitive); false if unknown.
inline bool parse_weight_type(std::string_view s, weight_type& out) noexcept {
  static constexpr weight_type all[] = {weight_type::f32,  weight_type::f16,  weight_type::bf16,
                                        weight_type::q8_0, weight_type::q4_0, weight_type::q4_k,
                                        weight_type::q5_k, weight_type::q6_k, weight_type::q4_k_m};
  for (weight_type t : all) {
    const std::string_view n = to_string(t);
    if (n.size() != s.size()) continue;
    bool same = true;
    for (size_t i = 0; i < n.size() && same; ++i) {
      char c = s[i];
      if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
      same = c == n[i];
    }
    if (same) {
      out = t;
      return true;
    }
  }
  return false;
}

/// llama_ftype value stored in general.file_type. Pure q4_k / q5_k are
/// labelled as the _S mixes (14, 16), the nearest llama.cpp names.
constexpr uint32_t llama_file_type(weight_type t) noexcept {
  switch (t) {
    case weight_type::f32: return 0;
    case weight_type::f16: return 1;
    case weight_type::q4_0: return 2;
    case weight_type::q8_0: return 7;
    case weight_type::q4_k: return 14;
    case weight_type::q4_k_m: return 15;
    case weight_type::q5_k: return 16;
    case weight_type::q6_k: return 18;
    case weight_type::bf16: return 32;
  }
  return 0;
}

/// What to make. Defaults: PLM-1.8B (plm-spec.md section 1) in Q8_0.
struct options {
  uint32_t n_layer = 32;
  uint32_t n_embd = 2048;
  uint32_t n_head = 16;
  uint32_t n_ff = 8192;
  uint32_t kv_lora_rank = 512;
  uint32_t rope_dim = 64;   ///< qk_rope_head_dim (even)
  uint32_t nope_dim = 128;  ///< qk_nope_head_dim
  uint32_t v_dim = 128;     ///< v_head_dim
  uint32_t vocab = 151936;  ///< rows of token_embd; >= the tokenizer's tokens, padded with [PAD{i}]
  uint32_t ctx = 4096;
  float rope_theta = 100000.0f;
  float eps = 1e-6f;
  uint64_t seed = 42;
  weight_type type = weight_type::q8_0;
  /// Per-tensor overrides of the matrix type: (name or name suffix after a '.',
  /// e.g. "ffn_down.weight" or "blk.3.attn_q.weight", type). The last match
  /// wins; norms stay F32. Block-size fallbacks still apply.
  std::vector<std::pair<std::string, plm::dtype>> tensor_types;
  float ffn_sparsity = 0.5f;   ///< target fraction of exactly-zero ReLU^2 activations, in [0.01, 0.99]
  std::string tokenizer_json;  ///< Hugging Face tokenizer.json; empty: plm's small default vocabulary
  std::string name = "plm-synth";  ///< general.name
  unsigned n_threads = 2;      ///< threads generating/quantizing (0: all hardware threads)
};

/// Which PLM tensor a plan entry is.
enum class tensor_kind : uint8_t {
  token_embd, output_norm, attn_norm, attn_q, attn_kv_a_mqa, attn_kv_a_norm, attn_kv_b, attn_output, ffn_norm,
  ffn_up, ffn_down
};

/// One tensor of the model, in file order.
struct tensor_plan {
  std::string name;
  tensor_kind kind;
  int layer;           ///< -1 for token_embd and output_norm
  plm::dtype type;
  uint32_t n_dims;     ///< 1 (norms) or 2
  int64_t ne[2];       ///< ne[1] = 1 for norms
};

/// llama.cpp's layer rule for spending more bits (llama-quant.cpp use_more_bits).
constexpr bool use_more_bits(int i_layer, int n_layer) noexcept {
  return i_layer < n_layer / 8 || i_layer >= 7 * n_layer / 8 || (i_layer - n_layer / 8) % 3 == 2;
}

/// `t` if its block size divides ne0, else llama.cpp's fallback (see the file comment).
constexpr plm::dtype fallback_type(plm::dtype t, int64_t ne0) noexcept {
  if (ne0 % block_size(t) == 0) return t;
  plm::dtype f = plm::dtype::f16;
  switch (t) {
    case plm::dtype::q4_k: f = plm::dtype::q5_0; break;
    case plm::dtype::q5_k: f = plm::dtype::q5_1; break;
    case plm::dtype::q6_k: f = plm::dtype::q8_0; break;
    case plm::dtype::q2_k:
    case plm::dtype::q3_k: f = plm::dtype::q4_0; break;
    default: break;
  }
  return ne0 % block_size(f) == 0 ? f : plm::dtype::f16;
}

/// Checks every option (dimensions, ranges, override types); errc::invalid_argument naming the option.
inline result<void> validate(const options& o) {
  auto bad = [](const std::string& m) { return make_error(errc::invalid_argument, m); };
  constexpr uint32_t max_dim = 1u << 24;
  const std::pair<const char*, uint32_t> dims[] = {
      {"layers", o.n_layer},   {"hidden", o.n_embd},     {"heads", o.n_head}, {"ff", o.n_ff},
      {"kv_lora_rank", o.kv_lora_rank}, {"rope_dim", o.rope_dim}, {"nope_dim", o.nope_dim},
      {"v_dim", o.v_dim},      {"vocab", o.vocab},       {"ctx", o.ctx}};
  for (const auto& [what, v] : dims)
    if (v < 1 || v > max_dim)
      return bad(std::string(what) + " = " + std::to_string(v) + ": expected 1.." + std::to_string(max_dim));
  if (o.n_embd < 2) return bad("hidden = 1: at least 2 needed (channel 0 is the FFN bias channel)");
  if (o.rope_dim % 2 != 0) return bad("rope_dim = " + std::to_string(o.rope_dim) + ": expected an even number (rotary pairs)");
  if (!(o.rope_theta > 0.0f) || !std::isfinite(o.rope_theta))
    return bad("rope_theta = " + std::to_string(o.rope_theta) + ": expected a finite value > 0");
  if (!(o.eps > 0.0f) || !std::isfinite(o.eps)) return bad("eps = " + std::to_string(o.eps) + ": expected a finite value > 0");
  if (!(o.ffn_sparsity >= 0.01f && o.ffn_sparsity <= 0.99f))
    return bad("ffn_sparsity = " + std::to_string(o.ffn_sparsity) + ": expected a value in [0.01, 0.99]");
  for (const auto& [pattern, t] : o.tensor_types) {
    if (pattern.empty()) return bad("tensor type override with an empty tensor name");
    const bool weight = plm::quant::can_quantize(t) && t != plm::dtype::q8_k && t != plm::dtype::q8_1;
    if (!weight)
      return bad("tensor type override '" + pattern + "': " + std::string(plm::name(t)) + " is not a weight type plm can write");
  }
  return ok();
}

/// The tensors of the model in file order, with their types. `o` must be valid.
inline std::vector<tensor_plan> plan_tensors(const options& o) {
  std::vector<tensor_plan> out;
  const int n = static_cast<int>(o.n_layer);
  auto pure = [&]() {
    switch (o.type) {
      case weight_type::f32: return plm::dtype::f32;
      case weight_type::f16: return plm::dtype::f16;
      case weight_type::bf16: return plm::dtype::bf16;
      case weight_type::q8_0: return plm::dtype::q8_0;
      case weight_type::q4_0: return plm::dtype::q4_0;
      case weight_type::q4_k:
      case weight_type::q4_k_m: return plm::dtype::q4_k;
      case weight_type::q5_k: return plm::dtype::q5_k;
      case weight_type::q6_k: return plm::dtype::q6_k;
    }
    return plm::dtype::f32;
  };
  auto add = [&](std::string name, tensor_kind kind, int layer, int64_t ne0, int64_t ne1) {
    tensor_plan t{std::move(name), kind, layer, plm::dtype::f32, ne1 ? 2u : 1u, {ne0, ne1 ? ne1 : 1}};
    if (ne1) {
      plm::dtype ty = pure();
      if (o.type == weight_type::q4_k_m &&
          (kind == tensor_kind::token_embd || (kind == tensor_kind::ffn_down && use_more_bits(layer, n))))
        ty = plm::dtype::q6_k;
      for (const auto& [pattern, pt] : o.tensor_types) {
        const std::string& nm = t.name;
        const bool match = nm == pattern || (nm.size() > pattern.size() && nm[nm.size() - pattern.size() - 1] == '.' &&
                                             nm.compare(nm.size() - pattern.size(), pattern.size(), pattern) == 0);
        if (match) ty = pt;
      }
      t.type = fallback_type(ty, ne0);
    }
    out.push_back(std::move(t));
  };
  const int64_t e = o.n_embd, h = o.n_head;
  add("token_embd.weight", tensor_kind::token_embd, -1, e, o.vocab);
  add("output_norm.weight", tensor_kind::output_norm, -1, e, 0);
  for (int l = 0; l < n; ++l) {
    const std::string b = "blk." + std::to_string(l) + ".";
    add(b + "attn_norm.weight", tensor_kind::attn_norm, l, e, 0);
    add(b + "attn_q.weight", tensor_kind::attn_q, l, e, h * (o.nope_dim + o.rope_dim));
    add(b + "attn_kv_a_mqa.weight", tensor_kind::attn_kv_a_mqa, l, e, int64_t(o.kv_lora_rank) + o.rope_dim);
    add(b + "attn_kv_a_norm.weight", tensor_kind::attn_kv_a_norm, l, o.kv_lora_rank, 0);
    add(b + "attn_kv_b.weight", tensor_kind::attn_kv_b, l, o.kv_lora_rank, h * (o.nope_dim + o.v_dim));
    add(b + "attn_output.weight", tensor_kind::attn_output, l, h * o.v_dim, e);
    add(b + "ffn_norm.weight", tensor_kind::ffn_norm, l, e, 0);
    add(b + "ffn_up.weight", tensor_kind::ffn_up, l, e, o.n_ff);
    add(b + "ffn_down.weight", tensor_kind::ffn_down, l, o.n_ff, e);
  }
  return out;
}

/// Size facts of a plan.
struct summary {
  uint64_t n_params = 0;       ///< elements of all tensors (token_embd counted once: tied)
  uint64_t tensor_bytes = 0;   ///< tensor data without padding
  size_t n_tensors = 0;
  std::vector<std::pair<plm::dtype, size_t>> type_counts;  ///< tensors per type, in first-seen order
};

inline summary summarize(const std::vector<tensor_plan>& plan) {
  summary s;
  s.n_tensors = plan.size();
  for (const tensor_plan& t : plan) {
    s.n_params += static_cast<uint64_t>(t.ne[0]) * static_cast<uint64_t>(t.ne[1]);
    s.tensor_bytes += static_cast<uint64_t>(t.ne[0]) / block_size(t.type) * block_bytes(t.type) * static_cast<uint64_t>(t.ne[1]);
    bool found = false;
    for (auto& [ty, c] : s.type_counts)
      if (ty == t.type) {
        ++c;
        found = true;
      }
    if (!found) s.type_counts.emplace_back(t.type, 1);
  }
  return s;
}

/// Reports progress in tensor-data bytes.
using progress_callback = std::function<void(uint64_t bytes_done, uint64_t bytes_total)>;

namespace detail {

/// Standard normal CDF.
inline double normal_cdf(double x) { return 0.5 * std::erfc(-x / 1.4142135623730951); }

/// Inverse standard normal CDF for p in (0, 1): Acklam's rational
/// approximation (relative error 1e-9) polished by one Newton step.
inline double normal_quantile(double p) {
  static const double a[] = {-3.969683028665376e+01, 2.209460984245205e+02, -2.759285104469687e+02,
                             1.383577518672690e+02,  -3.066479806614716e+01, 2.506628277459239e+00};
  static const double b[] = {-5.447609879822406e+01, 1.615858368580409e+02, -1.556989798598866e+02,
                             6.680131188771972e+01,  -1.328068155288572e+01};
  static const double c[] = {-7.784894002430293e-03, -3.223964580411365e-01, -2.400758277161838e+00,
                             -2.549732539343734e+00, 4.374664141464968e+00,  2.938163982698783e+00};
  static const double d[] = {7.784695709041462e-03, 3.224671290700398e-01, 2.445134137142996e+00,
                             3.754408661907416e+00};
  double x;
  if (p < 0.02425) {
    const double q = std::sqrt(-2 * std::log(p));
    x = (((((c[0] * q + c[1]) * q + c[2]) * q + c[3]) * q + c[4]) * q + c[5]) /
        ((((d[0] * q + d[1]) * q + d[2]) * q + d[3]) * q + 1);
  } else if (p > 1 - 0.02425) {
    const double q = std::sqrt(-2 * std::log(1 - p));
    x = -(((((c[0] * q + c[1]) * q + c[2]) * q + c[3]) * q + c[4]) * q + c[5]) /
        ((((d[0] * q + d[1]) * q + d[2]) * q + d[3]) * q + 1);
  } else {
    const double q = p - 0.5, r = q * q;
    x = (((((a[0] * r + a[1]) * r + a[2]) * r + a[3]) * r + a[4]) * r + a[5]) * q /
        (((((b[0] * r + b[1]) * r + b[2]) * r + b[3]) * r + b[4]) * r + 1);
  }
  const double pdf = std::exp(-0.5 * x * x) / 2.5066282746310002;
  return x - (normal_cdf(x) - p) / pdf;
}

/// E[relu(z)^4] for z ~ N(mu, 1): the mean square of a ReLU^2 activation.
inline double relu2_second_moment(double mu) {
  const double pdf = std::exp(-0.5 * mu * mu) / 2.5066282746310002;
  return (mu * mu * mu * mu + 6 * mu * mu + 3) * normal_cdf(mu) + (mu * mu * mu + 5 * mu) * pdf;
}

// Residual-stream design (see the file comment), relative to the embedding RMS.
inline constexpr double attn_gain = 0.1;        // RMS of an attention block's output if attention were one-hot
inline constexpr double ffn_gain = 0.2;         // RMS of an FFN block's output
inline constexpr double attn_mix = 0.25;        // assumed mean sum(p^2) of attention weights (1 at position 0)
inline constexpr double norm_jitter = 0.1;      // norm weights are 1 + 0.1 z
inline constexpr double bias_channel = 4.0;     // embedding channel 0, in embedding std
inline constexpr double up_bias = -3.0;         // ffn_up column 0, in ffn_up std
inline constexpr double output_norm_std = 3.0;  // zero-mean output norm weights

/// Generates the f32 values of any row of any tensor of the model.
class weight_generator {
 public:
  explicit weight_generator(const options& o) : seed_(o.seed) {
    const double n = o.n_embd;
    const double sigma_e = 1.0 / std::sqrt(n);
    const double jitter2 = 1.0 + norm_jitter * norm_jitter;
    sigma_e_ = sigma_e;
    m_ = bias_channel * sigma_e;
    sigma_in_ = 1.0 / std::sqrt(n - 1.0);
    sigma_kvb_ = 1.0 / std::sqrt(static_cast<double>(o.kv_lora_rank));
    sigma_o_ = attn_gain * sigma_e / std::sqrt(static_cast<double>(o.n_head) * o.v_dim);
    const double zq = normal_quantile(static_cast<double>(o.ffn_sparsity));
    // Pre-activations have std ~sqrt(jitter2) and mean -zq (in units of it).
    const double m4 = relu2_second_moment(-zq) * jitter2 * jitter2;
    sigma_d_ = ffn_gain * sigma_e / std::sqrt(static_cast<double>(o.n_ff) * m4);
    beta_ = up_bias * sigma_in_;
    const double attn_growth = attn_gain * attn_gain * jitter2 * attn_mix;
    const double ffn_growth = ffn_gain * ffn_gain;
    w0_.resize(o.n_layer);
    for (uint32_t l = 0; l < o.n_layer; ++l) {
      const double gamma = std::sqrt(1.0 + l * (attn_growth + ffn_growth) + attn_growth);
      // Shift beta*w0*m = -zq * (random part's std = sigma_in * sqrt((n-1) * jitter2) * gamma * sigma_e).
      w0_[l] = static_cast<float>(zq * sigma_in_ * std::sqrt((n - 1.0) * jitter2) * gamma * sigma_e / (-beta_ * m_));
    }
  }

  /// Row `row` of tensor `t` (t.ne[0] values) into `out`.
  void row(const tensor_plan& t, int64_t row, float* out) const {
    splitmix64 rng = row_stream(seed_, t.name, static_cast<uint64_t>(row));
    const int64_t n = t.ne[0];
    switch (t.kind) {
      case tensor_kind::token_embd:
        normal(rng, out, n, sigma_e_);
        out[0] = static_cast<float>(m_);
        break;
      case tensor_kind::output_norm: normal(rng, out, n, output_norm_std); break;
      case tensor_kind::attn_norm:
      case tensor_kind::attn_kv_a_norm: normal(rng, out, n, norm_jitter, 1.0); break;
      case tensor_kind::ffn_norm:
        normal(rng, out, n, norm_jitter, 1.0);
        out[0] = w0_[static_cast<size_t>(t.layer)];
        break;
      case tensor_kind::attn_q:
      case tensor_kind::attn_kv_a_mqa:
        normal(rng, out, n, sigma_in_);
        out[0] = 0.0f;
        break;
      case tensor_kind::attn_kv_b: normal(rng, out, n, sigma_kvb_); break;
      case tensor_kind::attn_output: normal(rng, out, n, row == 0 ? 0.0 : sigma_o_); break;
      case tensor_kind::ffn_up:
        normal(rng, out, n, sigma_in_);
        out[0] = static_cast<float>(beta_);
        break;
      case tensor_kind::ffn_down: normal(rng, out, n, row == 0 ? 0.0 : sigma_d_); break;
    }
  }

  float ffn_norm_bias_weight(int layer) const { return w0_[static_cast<size_t>(layer)]; }

 private:
  static void normal(splitmix64& rng, float* out, int64_t n, double std, double mean = 0.0) {
    const double scale = std * irwin_hall_unit;
    if (mean == 0.0) {
      for (int64_t i = 0; i < n; ++i) out[i] = static_cast<float>(rng.next_irwin_hall() * scale);
    } else {
      for (int64_t i = 0; i < n; ++i) out[i] = static_cast<float>(rng.next_irwin_hall() * scale + mean);
    }
  }

  uint64_t seed_;
  double sigma_e_, m_, sigma_in_, sigma_kvb_, sigma_o_, sigma_d_, beta_;
  std::vector<float> w0_;  // [n_layer] ffn_norm channel-0 weights
};

/// State shared by the fill callbacks of one write.
struct generation {
  options opt;
  weight_generator gen;
  thread_pool pool;
  std::vector<std::vector<float>> scratch;  // [thread][max ne0]
  std::mutex error_mutex;
  std::optional<plm::error> first_error;
  // Rows of token_embd at or past this id are [PAD…] rows (type UNUSED). They are written
  // as zeros (but for the bias channel), like never-trained padding: random rows there would make a random model
  // sample invisible padding tokens almost always (e.g. 151,424 of 151,936 rows with the
  // default vocabulary), and a demo would print nothing.
  int64_t n_real_tokens;

  generation(const options& o, thread_pool p, size_t max_ne0, int64_t real_tokens)
      : opt(o), gen(o), pool(std::move(p)), scratch(pool.size(), std::vector<float>(max_ne0)), n_real_tokens(real_tokens) {}

  void fill(const tensor_plan& t, int64_t first_row, int64_t n_rows, void* dst) {
    const size_t row_bytes = static_cast<size_t>(t.ne[0]) / block_size(t.type) * block_bytes(t.type);
    pool.parallel_for(static_cast<size_t>(n_rows), [&](size_t task, size_t thread) {
      float* x = scratch[thread].data();
      const int64_t r = first_row + static_cast<int64_t>(task);
      gen.row(t, r, x);
      // Padding rows keep only the shared bias channel 0: their logit is the offset every
      // token shares, and the FFN sparsity design holds even if one is fed as input.
      if (t.kind == tensor_kind::token_embd && r >= n_real_tokens) std::fill(x + 1, x + t.ne[0], 0.0f);
      auto q = plm::quant::quantize_row(t.type, x, static_cast<uint8_t*>(dst) + task * row_bytes, t.ne[0]);
      if (!q) {
        std::lock_guard<std::mutex> lock(error_mutex);
        if (!first_error)
          first_error = std::move(q).error().with_context("tensor '" + t.name + "' row " + std::to_string(r));
      }
    });
  }
};

/// Puts the model's metadata and (lazily generated) tensors into `w`.
inline result<std::shared_ptr<generation>> build(gguf::writer& w, const options& o) {
  PLM_TRY_VOID(validate(o));
  text::vocab_spec vocab;
  if (o.tokenizer_json.empty()) {
    vocab = text::default_byte_vocab();
  } else {
    PLM_TRY(vocab, text::vocab_from_hf_tokenizer_json(o.tokenizer_json));
  }
  if (vocab.tokens.size() > o.vocab)
    return make_error(errc::invalid_argument, "vocab = " + std::to_string(o.vocab) + " is smaller than the tokenizer's " +
                                                  std::to_string(vocab.tokens.size()) + " tokens");

  w.set_string("general.architecture", "plm");
  w.set_string("general.name", o.name);
  w.set_u32("general.file_type", llama_file_type(o.type));
  const bool quantized = o.type != weight_type::f32 && o.type != weight_type::f16 && o.type != weight_type::bf16;
  if (quantized) w.set_u32("general.quantization_version", 2);
  w.set_u32("plm.block_count", o.n_layer);
  w.set_u32("plm.context_length", o.ctx);
  w.set_u32("plm.embedding_length", o.n_embd);
  w.set_u32("plm.feed_forward_length", o.n_ff);
  w.set_u32("plm.attention.head_count", o.n_head);
  w.set_u32("plm.attention.head_count_kv", o.n_head);
  w.set_f32("plm.rope.freq_base", o.rope_theta);
  w.set_f32("plm.attention.layer_norm_rms_epsilon", o.eps);
  w.set_u32("plm.vocab_size", o.vocab);
  w.set_u32("plm.attention.kv_lora_rank", o.kv_lora_rank);
  w.set_u32("plm.attention.key_length", o.nope_dim + o.rope_dim);
  w.set_u32("plm.attention.value_length", o.v_dim);
  w.set_u32("plm.rope.dimension_count", o.rope_dim);
  PLM_TRY_VOID(text::write_vocab(w, vocab, o.vocab));

  const std::vector<tensor_plan> plan = plan_tensors(o);
  size_t max_ne0 = 0;
  for (const tensor_plan& t : plan) max_ne0 = std::max(max_ne0, static_cast<size_t>(t.ne[0]));
  size_t threads = o.n_threads ? o.n_threads : std::max(1u, std::thread::hardware_concurrency());
  auto pool = thread_pool::create(threads);
  if (!pool) pool = thread_pool::create(1);
  if (!pool) return std::move(pool).error();
  auto g = std::make_shared<generation>(o, std::move(*pool), max_ne0, static_cast<int64_t>(vocab.tokens.size()));
  for (const tensor_plan& t : plan) {
    std::vector<int64_t> ne(t.ne, t.ne + t.n_dims);
    PLM_TRY_VOID(w.add_tensor_rows(t.name, t.type, ne, [g, t](int64_t first, int64_t n, void* dst) { g->fill(t, first, n, dst); }));
  }
  return g;
}

}  // namespace detail

/// Writes the model to `path` (atomically: a failed write leaves no file).
inline result<void> write_model(const options& o, const std::string& path, progress_callback progress = {}) {
  gguf::writer w;
  PLM_TRY(auto g, detail::build(w, o));
  PLM_TRY_VOID(w.write_file(path, progress));
  if (g->first_error) {
    std::remove(path.c_str());
    return std::move(*g->first_error).with_context("writing '" + path + "'");
  }
  return ok();
}

/// The model file as bytes (small models, tests).
inline result<std::vector<uint8_t>> write_model_memory(const options& o, progress_callback progress = {}) {
  gguf::writer w;
  PLM_TRY(auto g, detail::build(w, o));
  PLM_TRY(auto bytes, w.write_memory(progress));
  if (g->first_error) return std::move(*g->first_error);
  return bytes;
}

}  // namespace plm::synth
