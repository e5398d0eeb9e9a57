// plm/sample/sampler.hpp - turns a logit vector into the next token.
//
// The chain follows llama.cpp's default order so that the same parameters mean
// the same thing in both:
//   penalties (repetition / frequency / presence over the last N tokens)
//   -> top-k -> top-p -> min-p -> temperature -> categorical draw,
// and greedy argmax (lowest id on ties) when temperature <= 0. Truncation runs
// on the untempered distribution and temperature only reshapes the survivors:
// a high temperature then cannot let the nucleus swell into the noise tail.
//
// The sampler is pure given (logits, rng state, recent tokens): no clock, no
// global state. All buffers are allocated in create(); sample() never touches
// the heap (except to build an error message). Its state (rng + penalty
// window) is a plain struct so sessions can be saved and resumed exactly.
//
// Each stage is also a free function over a candidate array, usable and
// testable on its own.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <string>
#include <vector>

#include "plm/core/buffer.hpp"
#include "plm/core/result.hpp"
#include "plm/sample/rng.hpp"

namespace plm {
namespace sample {

/// One token under consideration: its id and its current (possibly penalised) logit.
struct candidate {
  int32_t id;
  float logit;
};

/// Sampling parameters. Defaults are llama.cpp's (penalties off).
struct sampler_params {
  float temperature = 0.8f;        ///< >= 0; 0 means greedy (argmax, lowest id on ties)
  int32_t top_k = 40;              ///< >= 0; keep the k most likely tokens; 0 = off
  float top_p = 0.95f;             ///< in (0, 1]; keep the smallest prefix with mass >= top_p; 1 = off
  float min_p = 0.05f;             ///< in [0, 1]; drop tokens with p < min_p * p_max; 0 = off
  float repeat_penalty = 1.0f;     ///< > 0; divides positive / multiplies negative logits of seen tokens; 1 = off
  float frequency_penalty = 0.0f;  ///< finite; subtracts count * frequency_penalty
  float presence_penalty = 0.0f;   ///< finite; subtracts presence_penalty once per seen token
  int32_t penalty_window = 64;     ///< in [0, max_penalty_window]; how many recent tokens penalties look at
  uint64_t seed = 0;               ///< rng seed; fixed by default so runs are reproducible

  /// Parameters for plain greedy decoding (no penalties, no randomness).
  static sampler_params greedy() {
    sampler_params p;
    p.temperature = 0.0f;
    return p;
  }
};

/// Largest accepted penalty window (it is preallocated twice in int32).
inline constexpr int32_t max_penalty_window = 1 << 16;

/// Everything a sampler carries from one token to the next.
struct sampler_state {
  rng_state rng;                ///< generator state
  std::vector<int32_t> recent;  ///< accepted tokens, oldest first, at most penalty_window
};

namespace detail {
// Strict total order "more likely first, then lower id": makes every
// selection (top-k ties, sort order) deterministic.
inline bool ranks_before(const candidate& a, const candidate& b) noexcept {
  return a.logit > b.logit || (a.logit == b.logit && a.id < b.id);
}
inline float max_logit(const candidate* c, size_t n) noexcept {
  float m = -std::numeric_limits<float>::infinity();
  for (size_t i = 0; i < n; ++i) m = std::max(m, c[i].logit);
  return m;
}
}  // namespace detail

/// Applies repetition / frequency / presence penalties (llama.cpp semantics) to
/// `by_id`, which must be indexed by token id (by_id[t].id == t, n_vocab long).
/// `window` holds the recent tokens (all < n_vocab) and is sorted in place to
/// count them. For a token seen `count` > 0 times: logit <= 0 is multiplied by
/// `repeat`, logit > 0 divided by it, then count * freq + presence is subtracted.
inline void apply_penalties(candidate* by_id, size_t n_vocab, int32_t* window, size_t n_window, float repeat,
                            float freq, float presence) noexcept {
  std::sort(window, window + n_window);
  for (size_t i = 0; i < n_window;) {
    size_t j = i + 1;
    while (j < n_window && window[j] == window[i]) ++j;
    const int32_t token = window[i];
    const size_t count = j - i;
    i = j;
    if (token < 0 || static_cast<size_t>(token) >= n_vocab) continue;  // validated by callers; never index out
    float& l = by_id[token].logit;
    if (l == -std::numeric_limits<float>::infinity()) continue;  // a mask stays a mask
    // In double, then clamped: extreme (valid) penalties must not turn a
    // finite logit into inf or NaN, which would poison the softmax.
    double v = l;
    if (v <= 0.0) v *= repeat;
    else v /= repeat;
    v -= static_cast<double>(count) * freq + static_cast<double>(presence);
    const double lim = std::numeric_limits<float>::max();
    l = static_cast<float>(std::min(lim, std::max(-lim, v)));
  }
}

/// Keeps the k highest-ranked candidates (ties at the boundary: lower id wins),
/// in unspecified order. Returns the new count. k == 0 or k >= n keeps all.
inline size_t apply_top_k(candidate* c, size_t n, size_t k) noexcept {
  if (k == 0 || k >= n) return n;
  std::nth_element(c, c + k, c + n, detail::ranks_before);
  return k;
}

/// Nucleus filter: sorts candidates by rank and keeps the shortest prefix whose
/// softmax mass (at temperature 1) reaches p (at least one). p >= 1 keeps all
/// (order then unspecified). Only the kept prefix is sorted, grown
/// geometrically, so a peaked distribution over a large vocabulary costs O(n).
inline size_t apply_top_p(candidate* c, size_t n, float p) noexcept {
  if (p >= 1.0f || n <= 1) return n;
  const float m = detail::max_logit(c, n);
  double total = 0.0;
  for (size_t i = 0; i < n; ++i) total += std::exp(static_cast<double>(c[i].logit - m));
  const double target = static_cast<double>(p) * total;
  double cum = 0.0;
  size_t done = 0;  // c[0, done) is sorted and summed into cum
  size_t prefix = std::min<size_t>(n, 64);
  for (;;) {
    // The total order makes the top `done` identical after a wider re-sort.
    std::partial_sort(c, c + prefix, c + n, detail::ranks_before);
    for (; done < prefix; ++done) {
      cum += std::exp(static_cast<double>(c[done].logit - m));
      if (cum >= target) return done + 1;
    }
    if (prefix == n) return n;
    prefix = n / 8 < prefix ? n : prefix * 8;
  }
}

/// Keeps candidates whose probability is at least min_p times the largest one,
/// i.e. logit >= max_logit + log(min_p), preserving order. min_p <= 0 keeps all;
/// the most likely candidate always stays.
inline size_t apply_min_p(candidate* c, size_t n, float min_p) noexcept {
  if (min_p <= 0.0f || n <= 1) return n;
  const float threshold = detail::max_logit(c, n) + std::log(min_p);
  size_t kept = 0;
  for (size_t i = 0; i < n; ++i)
    if (c[i].logit >= threshold) c[kept++] = c[i];
  return kept;
}

/// Id of the highest logit among n candidates (lowest id on ties), -1 if all
/// are -inf or n == 0.
inline int32_t argmax(const candidate* c, size_t n) noexcept {
  int32_t best = -1;
  float best_logit = -std::numeric_limits<float>::infinity();
  for (size_t i = 0; i < n; ++i) {
    if (c[i].logit > best_logit || (best >= 0 && c[i].logit == best_logit && c[i].id < best)) {
      best = c[i].id;
      best_logit = c[i].logit;
    }
  }
  return best;
}

/// Draws one id from softmax(logit / temperature) over n >= 1 finite candidates
/// using one rng draw; temperature > 0. Overwrites the logits with unnormalised
/// weights. Walks candidates in array order, so the result is a pure function
/// of (array, rng state).
inline int32_t draw(candidate* c, size_t n, float temperature, rng& g) noexcept {
  const float m = detail::max_logit(c, n);
  double total = 0.0;
  for (size_t i = 0; i < n; ++i) {
    // Divide rather than multiply by 1/T: for a tiny T, 1/T is inf and 0 * inf
    // would be NaN for the top candidate.
    const float w = std::exp((c[i].logit - m) / temperature);
    c[i].logit = w;
    total += w;
  }
  const double u = g.uniform() * total;
  double cum = 0.0;
  int32_t last_positive = c[0].id;
  for (size_t i = 0; i < n; ++i) {
    if (c[i].logit <= 0.0f) continue;
    last_positive = c[i].id;
    cum += c[i].logit;
    if (u < cum) return c[i].id;
  }
  return last_positive;  // u within rounding of total
}

/// Configured sampler chain with its rng and penalty window.
class sampler {
 public:
  /// Validates params and preallocates every buffer for a vocabulary of n_vocab.
  static result<sampler> create(const sampler_params& params, size_t n_vocab) {
    PLM_TRY_VOID(validate(params, n_vocab));
    sampler s;
    s.params_ = params;
    s.n_vocab_ = n_vocab;
    s.rng_.reseed(params.seed);
    PLM_TRY(s.candidates_, aligned_buffer::allocate(n_vocab * sizeof(candidate)));
    const size_t window_bytes = static_cast<size_t>(params.penalty_window) * sizeof(int32_t);
    PLM_TRY(s.ring_, aligned_buffer::allocate(window_bytes));
    PLM_TRY(s.scratch_, aligned_buffer::allocate(window_bytes));
    return s;
  }

  /// Checks parameters without creating anything; the message names the
  /// offending parameter, its value and the valid range.
  static result<void> validate(const sampler_params& p, size_t n_vocab) {
    auto bad = [](const char* what, double v, const char* range) {
      return make_error(errc::invalid_argument,
                        std::string("sampler: ") + what + " = " + std::to_string(v) + ", expected " + range);
    };
    if (!(p.temperature >= 0.0f) || !std::isfinite(p.temperature))
      return bad("temperature", p.temperature, "a finite value >= 0 (0 = greedy)");
    if (p.top_k < 0) return bad("top_k", p.top_k, ">= 0 (0 = off)");
    if (!(p.top_p > 0.0f && p.top_p <= 1.0f)) return bad("top_p", p.top_p, "0 < top_p <= 1 (1 = off)");
    if (!(p.min_p >= 0.0f && p.min_p <= 1.0f)) return bad("min_p", p.min_p, "0 <= min_p <= 1 (0 = off)");
    if (!(p.repeat_penalty > 0.0f) || !std::isfinite(p.repeat_penalty))
      return bad("repeat_penalty", p.repeat_penalty, "a finite value > 0 (1 = off)");
    if (!std::isfinite(p.frequency_penalty)) return bad("frequency_penalty", p.frequency_penalty, "a finite value");
    if (!std::isfinite(p.presence_penalty)) return bad("presence_penalty", p.presence_penalty, "a finite value");
    if (p.penalty_window < 0 || p.penalty_window > max_penalty_window)
      return bad("penalty_window", p.penalty_window, "0 <= penalty_window <= 65536 (0 = off)");
    if (n_vocab == 0 || n_vocab > static_cast<size_t>(std::numeric_limits<int32_t>::max()))
      return make_error(errc::invalid_argument,
                        "sampler: n_vocab = " + std::to_string(n_vocab) + ", expected 1 <= n_vocab <= 2147483647");
    return ok();
  }

  sampler(sampler&&) noexcept = default;
  sampler& operator=(sampler&&) noexcept = default;

  /// Samples with the penalty window taken from `recent` (the last
  /// penalty_window of its n_recent tokens), leaving the internal window alone.
  /// Consumes one rng draw unless greedy. Errors: n_vocab differs from create's,
  /// a logit is NaN or +inf, every logit is -inf, or a used recent token is out
  /// of range.
  result<int32_t> sample(const float* logits, size_t n_vocab, const int32_t* recent, size_t n_recent) {
    if (recent == nullptr && n_recent != 0)
      return make_error(errc::invalid_argument, "sampler: recent is null but n_recent = " + std::to_string(n_recent));
    const size_t w = std::min(n_recent, static_cast<size_t>(params_.penalty_window));
    const int32_t* used = recent + (n_recent - w);
    int32_t* scratch = reinterpret_cast<int32_t*>(scratch_.data());
    for (size_t i = 0; i < w; ++i) {
      if (used[i] < 0 || static_cast<size_t>(used[i]) >= n_vocab_)
        return make_error(errc::out_of_range, "sampler: recent token [" + std::to_string(n_recent - w + i) +
                                                  "] = " + std::to_string(used[i]) + ", expected 0 <= id < " +
                                                  std::to_string(n_vocab_));
      scratch[i] = used[i];
    }
    return run(logits, n_vocab, w);
  }

  /// Samples using the internal window of accepted tokens, then accepts the
  /// result (the usual generation loop: feed prompt tokens to accept() first).
  result<int32_t> sample(const float* logits, size_t n_vocab) {
    int32_t* scratch = reinterpret_cast<int32_t*>(scratch_.data());
    const int32_t* ring = reinterpret_cast<const int32_t*>(ring_.data());
    for (size_t i = 0; i < ring_count_; ++i) scratch[i] = ring[i];  // order irrelevant for counting
    auto r = run(logits, n_vocab, ring_count_);
    if (r) push(*r);
    return r;
  }

  /// Appends a token (prompt or generated) to the penalty window.
  result<void> accept(int32_t token) {
    if (token < 0 || static_cast<size_t>(token) >= n_vocab_)
      return make_error(errc::out_of_range, "sampler: accepted token " + std::to_string(token) +
                                                ", expected 0 <= id < " + std::to_string(n_vocab_));
    push(token);
    return ok();
  }

  /// Clears the penalty window and reseeds the rng from params().seed.
  void reset() noexcept {
    ring_head_ = 0;
    ring_count_ = 0;
    rng_.reseed(params_.seed);
  }

  /// Copy of the state (allocates the vector: call it when saving, not per token).
  sampler_state state() const {
    sampler_state st;
    st.rng = rng_.state();
    st.recent.resize(ring_count_);
    const size_t cap = static_cast<size_t>(params_.penalty_window);
    const int32_t* ring = reinterpret_cast<const int32_t*>(ring_.data());
    for (size_t i = 0; i < ring_count_; ++i) st.recent[i] = ring[(ring_head_ + cap - ring_count_ + i) % cap];
    return st;
  }

  /// Restores a state from state(). Validated: rng not all zero, at most
  /// penalty_window tokens, each < n_vocab. On error nothing changes.
  result<void> set_state(const sampler_state& st) {
    if (st.recent.size() > static_cast<size_t>(params_.penalty_window))
      return make_error(errc::out_of_range, "sampler state: " + std::to_string(st.recent.size()) +
                                                " recent tokens, expected at most penalty_window = " +
                                                std::to_string(params_.penalty_window));
    for (size_t i = 0; i < st.recent.size(); ++i)
      if (st.recent[i] < 0 || static_cast<size_t>(st.recent[i]) >= n_vocab_)
        return make_error(errc::out_of_range, "sampler state: recent token [" + std::to_string(i) + "] = " +
                                                  std::to_string(st.recent[i]) + ", expected 0 <= id < " +
                                                  std::to_string(n_vocab_));
    PLM_TRY_VOID(rng_.set_state(st.rng));
    int32_t* ring = reinterpret_cast<int32_t*>(ring_.data());
    for (size_t i = 0; i < st.recent.size(); ++i) ring[i] = st.recent[i];
    ring_count_ = st.recent.size();
    ring_head_ = params_.penalty_window == 0 ? 0 : ring_count_ % static_cast<size_t>(params_.penalty_window);
    return ok();
  }

  const sampler_params& params() const noexcept { return params_; }
  size_t n_vocab() const noexcept { return n_vocab_; }
  /// The generator (e.g. to inspect or share its state).
  rng& generator() noexcept { return rng_; }

 private:
  sampler() = default;

  bool penalties_on() const noexcept {
    return params_.penalty_window > 0 &&
           (params_.repeat_penalty != 1.0f || params_.frequency_penalty != 0.0f || params_.presence_penalty != 0.0f);
  }

  void push(int32_t token) noexcept {
    const size_t cap = static_cast<size_t>(params_.penalty_window);
    if (cap == 0) return;
    reinterpret_cast<int32_t*>(ring_.data())[ring_head_] = token;
    ring_head_ = (ring_head_ + 1) % cap;
    if (ring_count_ < cap) ++ring_count_;
  }

  // The chain. scratch_ holds the n_window window tokens (already validated).
  result<int32_t> run(const float* logits, size_t n_vocab, size_t n_window) {
    if (n_vocab != n_vocab_)
      return make_error(errc::shape_mismatch, "sampler: got " + std::to_string(n_vocab) +
                                                  " logits, expected n_vocab = " + std::to_string(n_vocab_));
    if (logits == nullptr) return make_error(errc::invalid_argument, "sampler: logits is null");
    candidate* c = reinterpret_cast<candidate*>(candidates_.data());  // [n_vocab]
    constexpr float inf = std::numeric_limits<float>::infinity();
    for (size_t i = 0; i < n_vocab; ++i) {
      const float l = logits[i];
      if (std::isnan(l) || l == inf)
        return make_error(errc::invalid_argument, "sampler: logit[" + std::to_string(i) + "] = " + std::to_string(l) +
                                                      ", expected a finite value or -inf");
      c[i] = candidate{static_cast<int32_t>(i), l};
    }
    if (penalties_on() && n_window > 0)
      apply_penalties(c, n_vocab, reinterpret_cast<int32_t*>(scratch_.data()), n_window, params_.repeat_penalty,
                      params_.frequency_penalty, params_.presence_penalty);

    if (params_.temperature <= 0.0f) {
      const int32_t id = argmax(c, n_vocab);
      if (id < 0) return make_error(errc::invalid_argument, "sampler: every logit is -inf, expected at least one finite");
      return id;
    }

    size_t n = 0;  // drop masked tokens so no stage has to think about -inf
    for (size_t i = 0; i < n_vocab; ++i)
      if (c[i].logit > -inf) c[n++] = c[i];
    if (n == 0) return make_error(errc::invalid_argument, "sampler: every logit is -inf, expected at least one finite");

    n = apply_top_k(c, n, static_cast<size_t>(params_.top_k));
    n = apply_top_p(c, n, params_.top_p);
    n = apply_min_p(c, n, params_.min_p);
    return draw(c, n, params_.temperature, rng_);
  }

  sampler_params params_;
  size_t n_vocab_ = 0;
  rng rng_;
  aligned_buffer candidates_;  // [n_vocab] candidate: working copy of the logits
  aligned_buffer ring_;        // [penalty_window] int32: accepted tokens, ring buffer
  aligned_buffer scratch_;     // [penalty_window] int32: window copy, sorted to count
  size_t ring_head_ = 0;       // next write position in ring_
  size_t ring_count_ = 0;      // valid tokens in ring_ (<= penalty_window)
};

}  // namespace sample
}  // namespace plm
