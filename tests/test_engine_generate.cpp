// generate(): sampling loop over a session with the tiny fixture's vocabulary:
// greedy equals argmax decoding, streamed pieces concatenate to the text, stop
// strings are cut and never streamed, callback and context stops, bad sampler
// parameters are reported before anything is evaluated.
#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "plm/engine/engine.hpp"
#include "plm/engine/generate.hpp"

namespace {
plm::model load_tiny() {
  auto m = plm::model::load(std::string(PLM_TEST_DATA_DIR) + "/plm-tiny-f32.gguf");
  REQUIRE(m);
  return std::move(*m);
}
plm::session make_session(const plm::model& m, int64_t n_ctx = 128) {
  plm::session_options o;
  o.n_ctx = n_ctx;
  auto s = plm::session::create(m, o);
  REQUIRE(s);
  return std::move(*s);
}
}  // namespace

TEST_CASE("greedy generate equals argmax decoding and streams its text") {
  const auto m = load_tiny();
  auto s = make_session(m);
  plm::generate_options g;
  g.n_predict = 16;
  g.sampling = plm::sample::sampler_params::greedy();
  std::string streamed;
  g.on_piece = [&](std::string_view p) {
    streamed += p;
    return true;
  };
  auto r = plm::generate(s, "The robot sorted 412 screws.", g);
  REQUIRE(r);
  CHECK(r->reason == plm::stop_reason::n_predict);
  CHECK(r->tokens.size() == 16);
  CHECK(streamed == r->text);
  CHECK(r->n_prompt == 20);
  CHECK(s.n_past() == 36);

  auto s2 = make_session(m);
  auto prompt = m.tokenizer().encode("The robot sorted 412 screws.", true, false);
  REQUIRE(prompt);
  REQUIRE(s2.prefill(*prompt));
  for (int32_t want : r->tokens) {
    int32_t best = 0;
    for (int32_t v = 1; v < s2.n_vocab(); ++v) best = s2.logits()[v] > s2.logits()[best] ? v : best;
    CHECK(best == want);
    REQUIRE(s2.decode(best));
  }
}

TEST_CASE("stop strings are cut and never streamed; callback and context stops") {
  const auto m = load_tiny();
  plm::generate_options g;
  g.n_predict = 24;
  g.sampling = plm::sample::sampler_params::greedy();
  auto s0 = make_session(m);
  auto full = plm::generate(s0, "The robot sorted 412 screws.", g);
  REQUIRE(full);
  const std::string stop = "eses";  // appears in this continuation (tests/data/README.md)
  const size_t at = full->text.find(stop);
  REQUIRE(at != std::string::npos);

  auto s1 = make_session(m);
  std::string streamed;
  g.stop = {stop, "never-appears"};
  g.on_piece = [&](std::string_view p) {
    streamed += p;
    return true;
  };
  auto r = plm::generate(s1, "The robot sorted 412 screws.", g);
  REQUIRE(r);
  CHECK(r->reason == plm::stop_reason::stop_string);
  CHECK(r->text == full->text.substr(0, at));
  CHECK(streamed == r->text);

  auto s2 = make_session(m);
  int calls = 0;
  g.stop.clear();
  g.on_piece = [&](std::string_view) { return ++calls < 3; };
  auto c = plm::generate(s2, "The robot sorted 412 screws.", g);
  REQUIRE(c);
  CHECK(c->reason == plm::stop_reason::callback);
  CHECK(calls == 3);

  auto s3 = make_session(m, 24);
  g.on_piece = {};
  auto f = plm::generate(s3, "The robot sorted 412 screws.", g);
  REQUIRE(f);
  CHECK(f->reason == plm::stop_reason::context_full);
  CHECK(s3.n_past() == 24);
}

TEST_CASE("bad sampler parameters and prompt overflow are errors that leave the session alone") {
  const auto m = load_tiny();
  auto s = make_session(m, 16);
  plm::generate_options g;
  g.sampling.top_p = 1.5f;
  auto r = plm::generate(s, "The robot", g);
  REQUIRE_FALSE(r);
  CHECK(r.error().kind() == plm::errc::invalid_argument);
  CHECK(r.error().message().find("top_p") != std::string::npos);
  g.sampling = plm::sample::sampler_params::greedy();
  g.sampling.temperature = -1.0f;
  CHECK_FALSE(plm::generate(s, "The robot", g));
  CHECK(s.n_past() == 0);
  g.sampling = plm::sample::sampler_params::greedy();
  auto o = plm::generate(s, "The robot sorted 412 screws. The robot sorted 412 screws.", g);
  REQUIRE_FALSE(o);
  CHECK(o.error().kind() == plm::errc::context_overflow);
  CHECK(s.n_past() == 0);
}
