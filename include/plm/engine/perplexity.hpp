// plm/engine/perplexity.hpp - perplexity with exactly llama-perplexity's protocol.
//
// The text is tokenized once (BOS only if the vocabulary adds one), cut into
// chunks of n_ctx tokens (a shorter tail is dropped); each chunk is evaluated
// from an empty cache with its first token replaced by BOS when the vocabulary
// adds one; positions n_ctx/2 .. n_ctx−2 are scored on the next token;
// PPL = exp(mean NLL) and the ± is the standard error of the mean NLL
// propagated through exp: sqrt((E[nll²] − E[nll]²)/(count − 1))·PPL, as
// llama.cpp prints it ("Final estimate: PPL = %.4f +/- %.5f").
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <functional>
#include <vector>

#include "plm/core/result.hpp"
#include "plm/engine/engine.hpp"

namespace plm {

struct perplexity_result {
  double ppl = 0.0;          ///< exp(mean NLL)
  double ppl_error = 0.0;    ///< the "+/-" of llama-perplexity
  int64_t n_chunks = 0;
  int64_t n_scored = 0;      ///< predictions scored
  std::vector<double> chunk_ppl;  ///< running PPL after each chunk (what llama.cpp prints as [i]x)
};

/// Perplexity of `tokens` (already tokenized, with BOS when the vocabulary adds
/// one) in chunks of n_ctx. The session needs logits_all, n_ctx ≥ the chunk
/// and n_batch ≥ the chunk (so one prefill gives every chunk position).
/// `bos` ≥ 0 replaces each chunk's first token. `on_chunk(i, running_ppl)` is optional.
inline result<perplexity_result> perplexity(session& s, const std::vector<int32_t>& tokens, int64_t n_ctx, int32_t bos,
                                            const std::function<void(int64_t, double)>& on_chunk = {}) {
  if (n_ctx < 4) return make_error(errc::invalid_argument, "perplexity: chunk size " + std::to_string(n_ctx) + " < 4");
  if (!s.options().logits_all || s.options().n_batch < n_ctx || s.n_ctx() < n_ctx)
    return make_error(errc::invalid_argument, "perplexity: the session needs logits_all and n_ctx, n_batch >= " +
                                                  std::to_string(n_ctx));
  const int64_t n_chunk = static_cast<int64_t>(tokens.size()) / n_ctx;
  if (n_chunk < 1)
    return make_error(errc::invalid_argument, "perplexity: " + std::to_string(tokens.size()) + " tokens, need at least " +
                                                  std::to_string(n_ctx));
  const int64_t first = n_ctx / 2;
  const int64_t V = s.n_vocab();
  perplexity_result r;
  double nll = 0.0, nll2 = 0.0;
  std::vector<int32_t> chunk(static_cast<size_t>(n_ctx));
  for (int64_t i = 0; i < n_chunk; ++i) {
    const int64_t start = i * n_ctx;
    std::copy(tokens.begin() + start, tokens.begin() + start + n_ctx, chunk.begin());
    if (bos >= 0) chunk[0] = bos;
    s.clear();
    PLM_TRY_VOID(s.prefill(chunk));
    for (int64_t k = first; k < n_ctx - 1; ++k) {
      const float* lg = s.logits(k);
      float mx = lg[0];
      for (int64_t v = 1; v < V; ++v) mx = std::max(mx, lg[v]);
      double sum = 0.0;
      for (int64_t v = 0; v < V; ++v) sum += std::exp(lg[v] - mx);
      const int32_t next = tokens[static_cast<size_t>(start + k + 1)];
      const double lp = static_cast<double>(lg[next] - mx) - std::log(sum);
      nll += -lp;
      nll2 += lp * lp;
    }
    r.n_scored += n_ctx - 1 - first;
    r.n_chunks = i + 1;
    r.chunk_ppl.push_back(std::exp(nll / static_cast<double>(r.n_scored)));
    if (on_chunk) on_chunk(i, r.chunk_ppl.back());
  }
  const double cnt = static_cast<double>(r.n_scored);
  const double mean = nll / cnt;
  double var = nll2 / cnt - mean * mean;
  r.ppl = std::exp(mean);
  r.ppl_error = var > 0.0 && r.n_scored > 1 ? std::sqrt(var / (cnt - 1.0)) * r.ppl : 0.0;
  return r;
}

}  // namespace plm
