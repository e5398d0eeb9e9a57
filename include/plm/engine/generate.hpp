// plm/engine/generate.hpp - text in, streamed text out: the usual generation loop.
//
// generate() appends a prompt to a session (tokens, or text tokenized with the
// model's vocabulary), then samples up to n_predict tokens with plm's sampler
// chain, streaming each completed UTF-8 piece to a callback. It stops at an
// end-of-generation token, a stop string (never emitted, not even in part),
// the callback's request, a full context, or a cancel flag. The per-token path
// is the session's (allocation-free); generate() itself allocates its result.
#pragma once

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "plm/core/result.hpp"
#include "plm/engine/engine.hpp"
#include "plm/sample/sampler.hpp"
#include "plm/text/tokenizer.hpp"

namespace plm {

/// Why generation ended.
enum class stop_reason {
  n_predict,     ///< n_predict tokens were generated
  end_of_text,   ///< the model produced an end-of-generation token (not emitted)
  stop_string,   ///< a stop string appeared (cut from the text)
  callback,      ///< on_piece returned false
  context_full,  ///< the session's context is full
};

struct generate_options {
  int32_t n_predict = 128;                     ///< most tokens to generate; < 0: until another stop
  sample::sampler_params sampling;             ///< temperature, top-k/p, min-p, penalties, seed
  std::vector<std::string> stop;               ///< stop strings
  bool parse_special = true;                   ///< text prompts: "<|im_start|>" etc. become special tokens
  std::function<bool(std::string_view piece)> on_piece;  ///< streamed text; return false to stop
  cancel_flag cancel = nullptr;                ///< polled during prefill and between tokens
};

struct generate_result {
  std::string text;              ///< generated text (stop string and end token excluded)
  std::vector<int32_t> tokens;   ///< generated tokens (the end token excluded)
  stop_reason reason = stop_reason::n_predict;
  int64_t n_prompt = 0;          ///< prompt tokens evaluated
  double prefill_ms = 0.0;       ///< time to evaluate the prompt
  double decode_ms = 0.0;        ///< time of the generation loop (sampling included)
};

namespace detail {
// Bytes at the end of `s` that could still grow into one of the stop strings.
inline size_t stop_holdback(std::string_view s, const std::vector<std::string>& stops) {
  size_t keep = 0;
  for (const auto& st : stops)
    for (size_t k = std::min(st.size() - 1, s.size()); k > keep; --k)
      if (s.substr(s.size() - k) == std::string_view(st).substr(0, k)) {
        keep = k;
        break;
      }
  return keep;
}
}  // namespace detail

/// Evaluates `prompt` (appended at n_past) and generates. Errors: the model has
/// no vocabulary, bad sampler parameters (invalid_argument naming the parameter),
/// prompt ids out of range or context overflow (session unchanged), cancelled.
inline result<generate_result> generate(session& s, const std::vector<int32_t>& prompt, const generate_options& opt = {}) {
  if (!s.model().has_tokenizer()) return make_error(errc::missing, "generate: the model has no vocabulary");
  for (const auto& st : opt.stop)
    if (st.empty()) return make_error(errc::invalid_argument, "generate: empty stop string");
  const auto& tok = s.model().tokenizer();
  PLM_TRY(auto smp, sample::sampler::create(opt.sampling, static_cast<size_t>(s.n_vocab())));
  using clock = std::chrono::steady_clock;
  generate_result r;
  const auto t0 = clock::now();
  if (!prompt.empty()) {
    PLM_TRY_VOID(s.prefill(prompt, opt.cancel));
  } else if (s.n_logits() == 0) {
    return make_error(errc::invalid_argument, "generate: empty prompt and nothing evaluated yet");
  }
  for (int32_t t : prompt) PLM_TRY_VOID(smp.accept(t));
  r.n_prompt = static_cast<int64_t>(prompt.size());
  const auto t1 = clock::now();
  r.prefill_ms = std::chrono::duration<double, std::milli>(t1 - t0).count();

  text::decoder dec(tok);
  size_t emitted = 0;  // bytes of r.text already passed to on_piece
  bool stopped_by_callback = false;
  auto emit_upto = [&](size_t end) {
    if (end > emitted && opt.on_piece && !stopped_by_callback) {
      if (!opt.on_piece(std::string_view(r.text).substr(emitted, end - emitted))) stopped_by_callback = true;
    }
    emitted = std::max(emitted, end);
  };
  r.reason = stop_reason::n_predict;
  for (int32_t i = 0; opt.n_predict < 0 || i < opt.n_predict; ++i) {
    if (opt.cancel && opt.cancel->load(std::memory_order_relaxed)) return make_error(errc::cancelled, "generation cancelled");
    PLM_TRY(int32_t id, smp.sample(s.logits(), static_cast<size_t>(s.n_vocab())));
    if (tok.is_eog(id)) {
      r.reason = stop_reason::end_of_text;
      break;
    }
    r.tokens.push_back(id);
    r.text += dec.feed(id);
    // stop strings
    bool hit = false;
    for (const auto& st : opt.stop) {
      const size_t from = emitted > st.size() ? emitted - st.size() : 0;
      const size_t at = r.text.find(st, from);
      if (at != std::string::npos) {
        r.text.resize(at);
        hit = true;
      }
    }
    if (hit) {
      emit_upto(r.text.size());
      r.reason = stop_reason::stop_string;
      break;
    }
    emit_upto(r.text.size() - detail::stop_holdback(r.text, opt.stop));
    if (stopped_by_callback) {
      r.reason = stop_reason::callback;
      break;
    }
    if (s.n_past() >= s.n_ctx()) {
      r.reason = stop_reason::context_full;
      break;
    }
    PLM_TRY_VOID(s.decode(id));
  }
  if (r.reason != stop_reason::stop_string && r.reason != stop_reason::callback) {
    r.text += dec.flush();
    emit_upto(r.text.size());
  }
  r.decode_ms = std::chrono::duration<double, std::milli>(clock::now() - t1).count();
  return r;
}

/// As above with a text prompt, tokenized with the model's vocabulary (BOS added
/// when the vocabulary asks for it and the session is empty).
inline result<generate_result> generate(session& s, std::string_view prompt, const generate_options& opt = {}) {
  if (!s.model().has_tokenizer()) return make_error(errc::missing, "generate: the model has no vocabulary");
  const auto& tok = s.model().tokenizer();
  PLM_TRY(auto ids, tok.encode(prompt, opt.parse_special, tok.add_bos() && s.n_past() == 0));
  return generate(s, ids, opt);
}

}  // namespace plm
