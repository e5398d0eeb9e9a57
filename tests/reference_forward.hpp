// tests/reference_forward.hpp - naive PLM forward pass, the engine's oracle.
//
// Written from plm-spec §2.2 alone, independent of plm's kernels and engine:
// every weight is dequantized to double (plm::quant::dequantize_row, whose own
// tests check it bit for bit against the block formats), attention is the
// expanded per-head MHA llama.cpp runs (k_nope and v materialised from the
// latent through attn_kv_b, keys [q_nope|q_pe]·[k_nope|k_pe], scale
// 1/sqrt(key_length)), the FFN is dense, RoPE angles are exact double
// p·base^(-2i/n_rot), and all sums are double. `cache_type` f16 / q8_0 rounds ĉ
// and the roped k_pe (one [ĉ | k_pe] row, q8_0 in blocks of 32) where the
// engine's cache would, to test such a cache against the same numbers it stores.
#pragma once

#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

#include "plm/core/result.hpp"
#include "plm/gguf/reader.hpp"
#include "plm/quant/dequantize.hpp"
#include "plm/quant/half.hpp"
#include "plm/quant/quantize.hpp"

namespace plm_test {

struct ref_matrix {
  int64_t rows = 0, cols = 0;
  std::vector<double> v;  // [rows][cols]
  std::vector<double> mul(const std::vector<double>& x) const {
    std::vector<double> y(static_cast<size_t>(rows), 0.0);
    for (int64_t r = 0; r < rows; ++r) {
      double s = 0.0;
      const double* w = v.data() + r * cols;
      for (int64_t c = 0; c < cols; ++c) s += w[c] * x[static_cast<size_t>(c)];
      y[static_cast<size_t>(r)] = s;
    }
    return y;
  }
};

class reference_model {
 public:
  int64_t n_vocab = 0, n_embd = 0, n_layer = 0, n_head = 0, n_ff = 0, kv_lora = 0, dk = 0, dv = 0, n_rot = 0;
  double base = 0, eps = 0;
  /// Fraction of u ≤ 0 (exact zeros after relu²) per layer over the last run.
  std::vector<double> sparsity;

  static plm::result<reference_model> load(const std::string& path) {
    PLM_TRY(auto f, plm::gguf::file::open(path));
    reference_model m;
    auto u = [&](const char* k) -> plm::result<int64_t> {
      PLM_TRY(uint32_t x, f.get<uint32_t>(std::string("plm.") + k));
      return static_cast<int64_t>(x);
    };
    PLM_TRY(m.n_embd, u("embedding_length"));
    PLM_TRY(m.n_layer, u("block_count"));
    PLM_TRY(m.n_head, u("attention.head_count"));
    PLM_TRY(m.n_ff, u("feed_forward_length"));
    PLM_TRY(m.kv_lora, u("attention.kv_lora_rank"));
    PLM_TRY(m.dk, u("attention.key_length"));
    PLM_TRY(m.dv, u("attention.value_length"));
    PLM_TRY(m.n_rot, u("rope.dimension_count"));
    PLM_TRY(float b, f.get<float>("plm.rope.freq_base"));
    PLM_TRY(float e, f.get<float>("plm.attention.layer_norm_rms_epsilon"));
    m.base = b;
    m.eps = e;
    auto mat = [&](const std::string& name) -> plm::result<ref_matrix> {
      PLM_TRY(auto t, f.tensor(name));
      ref_matrix r;
      r.cols = t.ne[0];
      r.rows = t.ne[1];
      r.v.resize(static_cast<size_t>(r.rows * r.cols));
      std::vector<float> row(static_cast<size_t>(r.cols));
      for (int64_t i = 0; i < r.rows; ++i) {
        if (!plm::quant::dequantize_row(t.type, t.row(i), row.data(), r.cols))
          return plm::make_error(plm::errc::unsupported, "reference: cannot dequantize " + name);
        for (int64_t c = 0; c < r.cols; ++c) r.v[static_cast<size_t>(i * r.cols + c)] = row[static_cast<size_t>(c)];
      }
      return r;
    };
    PLM_TRY(m.embd_, mat("token_embd.weight"));
    m.n_vocab = m.embd_.rows;
    PLM_TRY(m.out_norm_, mat("output_norm.weight"));
    for (int64_t il = 0; il < m.n_layer; ++il) {
      const std::string p = "blk." + std::to_string(il) + ".";
      layer L;
      PLM_TRY(L.attn_norm, mat(p + "attn_norm.weight"));
      PLM_TRY(L.q, mat(p + "attn_q.weight"));
      PLM_TRY(L.kva, mat(p + "attn_kv_a_mqa.weight"));
      PLM_TRY(L.kv_norm, mat(p + "attn_kv_a_norm.weight"));
      PLM_TRY(L.kvb, mat(p + "attn_kv_b.weight"));
      PLM_TRY(L.o, mat(p + "attn_output.weight"));
      PLM_TRY(L.ffn_norm, mat(p + "ffn_norm.weight"));
      PLM_TRY(L.up, mat(p + "ffn_up.weight"));
      PLM_TRY(L.down, mat(p + "ffn_down.weight"));
      m.layers_.push_back(std::move(L));
    }
    return m;
  }

  /// Logits (double) at every position of `tokens`, evaluated from position 0.
  std::vector<std::vector<double>> run(const std::vector<int32_t>& tokens, plm::dtype cache_type = plm::dtype::f32) {
    const int64_t T = static_cast<int64_t>(tokens.size());
    const int64_t nope = dk - n_rot;
    std::vector<std::vector<double>> x(static_cast<size_t>(T));
    for (int64_t t = 0; t < T; ++t)
      x[static_cast<size_t>(t)].assign(embd_.v.begin() + tokens[static_cast<size_t>(t)] * n_embd,
                                       embd_.v.begin() + (tokens[static_cast<size_t>(t)] + 1) * n_embd);
    sparsity.assign(static_cast<size_t>(n_layer), 0.0);
    for (int64_t il = 0; il < n_layer; ++il) {
      const layer& L = layers_[static_cast<size_t>(il)];
      std::vector<std::vector<double>> q(static_cast<size_t>(T)), kn(static_cast<size_t>(T)), vv(static_cast<size_t>(T)),
          kpe(static_cast<size_t>(T));
      for (int64_t t = 0; t < T; ++t) {
        const auto h = norm(x[static_cast<size_t>(t)], L.attn_norm);
        q[static_cast<size_t>(t)] = L.q.mul(h);
        auto ckv = L.kva.mul(h);
        std::vector<double> c(ckv.begin(), ckv.begin() + kv_lora), kp(ckv.begin() + kv_lora, ckv.end());
        c = norm(c, L.kv_norm);
        rope(kp.data(), t);
        for (int64_t hh = 0; hh < n_head; ++hh) rope(q[static_cast<size_t>(t)].data() + hh * dk + nope, t);
        if (cache_type == plm::dtype::f16) {
          for (auto& v : c) v = plm::fp16_to_fp32(plm::fp32_to_fp16(static_cast<float>(v)));
          for (auto& v : kp) v = plm::fp16_to_fp32(plm::fp32_to_fp16(static_cast<float>(v)));
        } else if (cache_type == plm::dtype::q8_0) {
          std::vector<float> row(c.begin(), c.end());
          row.insert(row.end(), kp.begin(), kp.end());
          std::vector<plm::quant::block_q8_0> blk(row.size() / 32);
          plm::quant::quantize_row_q8_0_ref(row.data(), blk.data(), static_cast<int64_t>(row.size()));
          plm::quant::dequantize_row_q8_0(blk.data(), row.data(), static_cast<int64_t>(row.size()));
          for (size_t i = 0; i < c.size(); ++i) c[i] = row[i];
          for (size_t i = 0; i < kp.size(); ++i) kp[i] = row[c.size() + i];
        }
        const auto kv = L.kvb.mul(c);  // [n_head][nope + dv]
        kn[static_cast<size_t>(t)] = kv;
        kpe[static_cast<size_t>(t)] = kp;
      }
      for (int64_t t = 0; t < T; ++t) {
        std::vector<double> cat(static_cast<size_t>(n_head * dv), 0.0);
        for (int64_t hh = 0; hh < n_head; ++hh) {
          std::vector<double> s(static_cast<size_t>(t + 1));
          double mx = -1e300;
          for (int64_t u = 0; u <= t; ++u) {
            double d = 0.0;
            const auto& qt = q[static_cast<size_t>(t)];
            const auto& ku = kn[static_cast<size_t>(u)];
            for (int64_t j = 0; j < nope; ++j) d += qt[static_cast<size_t>(hh * dk + j)] * ku[static_cast<size_t>(hh * (nope + dv) + j)];
            for (int64_t j = 0; j < n_rot; ++j)
              d += qt[static_cast<size_t>(hh * dk + nope + j)] * kpe[static_cast<size_t>(u)][static_cast<size_t>(j)];
            s[static_cast<size_t>(u)] = d / std::sqrt(static_cast<double>(dk));
            mx = std::max(mx, s[static_cast<size_t>(u)]);
          }
          double z = 0.0;
          for (auto& v : s) z += (v = std::exp(v - mx));
          for (int64_t u = 0; u <= t; ++u)
            for (int64_t j = 0; j < dv; ++j)
              cat[static_cast<size_t>(hh * dv + j)] +=
                  s[static_cast<size_t>(u)] / z * kn[static_cast<size_t>(u)][static_cast<size_t>(hh * (nope + dv) + nope + j)];
        }
        const auto o = L.o.mul(cat);
        for (int64_t i = 0; i < n_embd; ++i) x[static_cast<size_t>(t)][static_cast<size_t>(i)] += o[static_cast<size_t>(i)];
      }
      size_t zeros = 0;
      for (int64_t t = 0; t < T; ++t) {
        auto up = L.up.mul(norm(x[static_cast<size_t>(t)], L.ffn_norm));
        for (auto& v : up) {
          zeros += v <= 0.0 ? 1 : 0;
          v = v > 0.0 ? v * v : 0.0;
        }
        const auto d = L.down.mul(up);
        for (int64_t i = 0; i < n_embd; ++i) x[static_cast<size_t>(t)][static_cast<size_t>(i)] += d[static_cast<size_t>(i)];
      }
      sparsity[static_cast<size_t>(il)] = static_cast<double>(zeros) / static_cast<double>(T * n_ff);
    }
    std::vector<std::vector<double>> logits(static_cast<size_t>(T));
    for (int64_t t = 0; t < T; ++t) logits[static_cast<size_t>(t)] = embd_.mul(norm(x[static_cast<size_t>(t)], out_norm_));
    return logits;
  }

 private:
  struct layer {
    ref_matrix attn_norm, q, kva, kv_norm, kvb, o, ffn_norm, up, down;
  };
  ref_matrix embd_, out_norm_;
  std::vector<layer> layers_;

  std::vector<double> norm(const std::vector<double>& v, const ref_matrix& w) const {
    double ss = 0.0;
    for (double a : v) ss += a * a;
    const double sc = 1.0 / std::sqrt(ss / static_cast<double>(v.size()) + eps);
    std::vector<double> y(v.size());
    for (size_t i = 0; i < v.size(); ++i) y[i] = v[i] * sc * w.v[i];
    return y;
  }
  void rope(double* x, int64_t pos) const {
    for (int64_t i = 0; i < n_rot / 2; ++i) {
      const double th = static_cast<double>(pos) * std::pow(base, -2.0 * static_cast<double>(i) / static_cast<double>(n_rot));
      const double c = std::cos(th), s = std::sin(th), a = x[2 * i], b = x[2 * i + 1];
      x[2 * i] = a * c - b * s;
      x[2 * i + 1] = a * s + b * c;
    }
  }
};

}  // namespace plm_test
