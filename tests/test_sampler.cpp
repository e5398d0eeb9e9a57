// Tests for plm::sample: rng known answers and state round trips, parameter
// validation, each stage on crafted logits, the full chain's statistics against
// independently computed distributions (fixed seeds: deterministic, cannot
// flake), reproducibility, state save/restore and zero heap use per sample.
#include <doctest/doctest.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdlib>
#include <limits>
#include <new>
#include <numeric>
#include <string>
#include <vector>

#include "alloc_counter.hpp"
#include "plm/sample/rng.hpp"
#include "plm/sample/sampler.hpp"

namespace {

using plm::sample::candidate;
using plm::sample::sampler;
using plm::sample::sampler_params;

sampler make_sampler(const sampler_params& p, size_t n_vocab) {
  auto r = sampler::create(p, n_vocab);
  REQUIRE_MESSAGE(r, (r ? std::string() : r.error().message()));
  return std::move(r).value();
}

// Plain sampling: no truncation, no penalties.
sampler_params plain(float temperature, uint64_t seed) {
  sampler_params p;
  p.temperature = temperature;
  p.top_k = 0;
  p.top_p = 1.0f;
  p.min_p = 0.0f;
  p.seed = seed;
  return p;
}

std::vector<candidate> by_id(const std::vector<float>& logits) {
  std::vector<candidate> c;
  for (size_t i = 0; i < logits.size(); ++i) c.push_back(candidate{static_cast<int32_t>(i), logits[i]});
  return c;
}

std::vector<int32_t> ids_of(const candidate* c, size_t n) {
  std::vector<int32_t> ids;
  for (size_t i = 0; i < n; ++i) ids.push_back(c[i].id);
  return ids;
}

std::vector<int32_t> sorted(std::vector<int32_t> v) {
  std::sort(v.begin(), v.end());
  return v;
}

// Pearson chi-square of observed counts against expected probabilities.
double chi_square(const std::vector<long>& observed, const std::vector<double>& p, long n) {
  double x2 = 0;
  for (size_t i = 0; i < p.size(); ++i) {
    const double e = p[i] * static_cast<double>(n);
    const double d = static_cast<double>(observed[i]) - e;
    x2 += d * d / e;
  }
  return x2;
}

std::vector<double> softmax_d(const std::vector<double>& l, double t) {
  double m = -1e300;
  for (double v : l) m = std::max(m, v);
  std::vector<double> p(l.size());
  double s = 0;
  for (size_t i = 0; i < l.size(); ++i) s += p[i] = std::exp((l[i] - m) / t);
  for (double& v : p) v /= s;
  return p;
}

}  // namespace

TEST_CASE("rng: xoshiro256** and splitmix64 known answers") {
  // Reference outputs of xoshiro256** from state {1, 2, 3, 4} (the published
  // test vector, also derivable by hand from the definition).
  plm::sample::rng g;
  plm::sample::rng_state st;
  st.s[0] = 1;
  st.s[1] = 2;
  st.s[2] = 3;
  st.s[3] = 4;
  REQUIRE(g.set_state(st));
  const uint64_t expect[] = {11520ull, 0ull, 1509978240ull, 1215971899390074240ull, 1216172134540287360ull,
                             607988272756665600ull};
  for (uint64_t e : expect) CHECK(g.next() == e);

  // splitmix64 from 0: first output is the well-known 0xe220a8397b1dcdaf.
  uint64_t x = 0;
  CHECK(plm::sample::splitmix64(x) == 0xe220a8397b1dcdafull);
  // Seeding fills the state with consecutive splitmix64 outputs.
  uint64_t y = 42;
  plm::sample::rng seeded(42);
  for (int i = 0; i < 4; ++i) CHECK(seeded.state().s[i] == plm::sample::splitmix64(y));
}

TEST_CASE("rng: state round trip, zero state rejected, uniform in [0, 1)") {
  plm::sample::rng a(7);
  for (int i = 0; i < 10; ++i) a.next();
  const plm::sample::rng_state saved = a.state();
  std::vector<uint64_t> first;
  for (int i = 0; i < 20; ++i) first.push_back(a.next());
  plm::sample::rng b(999);
  REQUIRE(b.set_state(saved));
  for (int i = 0; i < 20; ++i) CHECK(b.next() == first[i]);

  plm::sample::rng_state zero;
  auto r = b.set_state(zero);
  REQUIRE_FALSE(r);
  CHECK(r.error().kind() == plm::errc::invalid_argument);
  CHECK(b.state() != zero);

  plm::sample::rng u(3);
  double sum = 0, lo = 1, hi = 0;
  const int n = 100000;
  for (int i = 0; i < n; ++i) {
    const double v = u.uniform();
    sum += v;
    lo = std::min(lo, v);
    hi = std::max(hi, v);
  }
  CHECK(lo >= 0.0);
  CHECK(hi < 1.0);
  CHECK(std::fabs(sum / n - 0.5) < 0.01);  // sd of the mean is 0.0009
  CHECK(plm::sample::rng(1).next() != plm::sample::rng(2).next());
}

TEST_CASE("invalid parameters are rejected, naming the parameter and its range") {
  struct bad_case {
    const char* name;
    sampler_params p;
  };
  std::vector<bad_case> cases;
  auto add = [&](const char* name, auto mutate) {
    sampler_params p;
    mutate(p);
    cases.push_back({name, p});
  };
  const float nan = std::numeric_limits<float>::quiet_NaN();
  const float inf = std::numeric_limits<float>::infinity();
  add("temperature", [](sampler_params& p) { p.temperature = -0.1f; });
  add("temperature", [&](sampler_params& p) { p.temperature = nan; });
  add("temperature", [&](sampler_params& p) { p.temperature = inf; });
  add("top_k", [](sampler_params& p) { p.top_k = -1; });
  add("top_p", [](sampler_params& p) { p.top_p = 0.0f; });
  add("top_p", [](sampler_params& p) { p.top_p = 1.5f; });
  add("top_p", [&](sampler_params& p) { p.top_p = nan; });
  add("min_p", [](sampler_params& p) { p.min_p = -0.01f; });
  add("min_p", [](sampler_params& p) { p.min_p = 1.01f; });
  add("repeat_penalty", [](sampler_params& p) { p.repeat_penalty = 0.0f; });
  add("repeat_penalty", [](sampler_params& p) { p.repeat_penalty = -1.0f; });
  add("frequency_penalty", [&](sampler_params& p) { p.frequency_penalty = inf; });
  add("presence_penalty", [&](sampler_params& p) { p.presence_penalty = nan; });
  add("penalty_window", [](sampler_params& p) { p.penalty_window = -1; });
  add("penalty_window", [](sampler_params& p) { p.penalty_window = plm::sample::max_penalty_window + 1; });
  for (const auto& c : cases) {
    CAPTURE(c.name);
    auto r = sampler::create(c.p, 100);
    REQUIRE_FALSE(r);
    CHECK(r.error().kind() == plm::errc::invalid_argument);
    CHECK(r.error().message().find(c.name) != std::string::npos);
    CHECK(r.error().message().find("expected") != std::string::npos);
  }
  auto v0 = sampler::create(sampler_params{}, 0);
  REQUIRE_FALSE(v0);
  CHECK(v0.error().message().find("n_vocab") != std::string::npos);

  // Boundary values that are valid.
  sampler_params edge;
  edge.temperature = 0.0f;
  edge.top_p = 1.0f;
  edge.min_p = 1.0f;
  edge.top_k = 0;
  edge.penalty_window = 0;
  CHECK(sampler::create(edge, 1));
  edge.min_p = 0.0f;
  edge.penalty_window = plm::sample::max_penalty_window;
  CHECK(sampler::create(edge, 1));
}

TEST_CASE("greedy: argmax with lowest id on ties, masks respected, bad logits rejected") {
  sampler s = make_sampler(sampler_params::greedy(), 6);
  const float ninf = -std::numeric_limits<float>::infinity();
  std::vector<float> l = {0.5f, 2.0f, -1.0f, 2.0f, 1.0f, 2.0f};
  auto r = s.sample(l.data(), l.size(), nullptr, 0);
  REQUIRE(r);
  CHECK(*r == 1);
  l[1] = ninf;
  CHECK(*s.sample(l.data(), l.size(), nullptr, 0) == 3);
  std::vector<float> all_masked(6, ninf);
  auto m = s.sample(all_masked.data(), 6, nullptr, 0);
  REQUIRE_FALSE(m);
  CHECK(m.error().message().find("-inf") != std::string::npos);
  l[2] = std::numeric_limits<float>::quiet_NaN();
  auto n = s.sample(l.data(), l.size(), nullptr, 0);
  REQUIRE_FALSE(n);
  CHECK(n.error().message().find("logit[2]") != std::string::npos);
  l[2] = std::numeric_limits<float>::infinity();
  CHECK_FALSE(s.sample(l.data(), l.size(), nullptr, 0));
  l[2] = 0.0f;
  auto w = s.sample(l.data(), 5, nullptr, 0);
  REQUIRE_FALSE(w);
  CHECK(w.error().kind() == plm::errc::shape_mismatch);
  // Greedy consumes no randomness.
  const auto before = s.generator().state();
  CHECK(s.sample(l.data(), l.size(), nullptr, 0));
  CHECK(s.generator().state() == before);
}

TEST_CASE("top-k keeps exactly k, ties at the boundary go to the lower id") {
  std::vector<float> l = {1.0f, 3.0f, 2.0f, 3.0f, 2.0f, 0.5f};
  auto c = by_id(l);
  size_t n = plm::sample::apply_top_k(c.data(), c.size(), 3);
  CHECK(n == 3);
  CHECK(sorted(ids_of(c.data(), n)) == std::vector<int32_t>{1, 2, 3});
  c = by_id(l);
  CHECK(plm::sample::apply_top_k(c.data(), c.size(), 1) == 1);
  CHECK(c[0].id == 1);
  c = by_id(l);
  CHECK(plm::sample::apply_top_k(c.data(), c.size(), 0) == 6);
  CHECK(plm::sample::apply_top_k(c.data(), c.size(), 6) == 6);
  CHECK(plm::sample::apply_top_k(c.data(), c.size(), 100) == 6);
  std::vector<float> flat(10, 1.0f);
  c = by_id(flat);
  n = plm::sample::apply_top_k(c.data(), c.size(), 4);
  CHECK(sorted(ids_of(c.data(), n)) == std::vector<int32_t>{0, 1, 2, 3});

  // Through the sampler: only the top two ids ever come out.
  sampler_params p = plain(1.0f, 5);
  p.top_k = 2;
  sampler s = make_sampler(p, l.size());
  std::vector<long> hist(l.size(), 0);
  for (int i = 0; i < 2000; ++i) ++hist[static_cast<size_t>(*s.sample(l.data(), l.size()))];
  CHECK(hist[1] > 0);
  CHECK(hist[3] > 0);
  CHECK(hist[1] + hist[3] == 2000);
}

TEST_CASE("top-p keeps the shortest prefix whose mass reaches p") {
  // Probabilities 0.5, 0.3, 0.15, 0.05 on ids 2, 0, 3, 1 (shuffled on purpose).
  std::vector<float> l(4);
  l[2] = std::log(0.5f);
  l[0] = std::log(0.3f);
  l[3] = std::log(0.15f);
  l[1] = std::log(0.05f);
  struct expect_case {
    float p;
    std::vector<int32_t> kept;  // in rank order
  };
  const std::vector<expect_case> cases = {
      {0.10f, {2}},       {0.49f, {2}},          {0.51f, {2, 0}},      {0.79f, {2, 0}},
      {0.81f, {2, 0, 3}}, {0.94f, {2, 0, 3}}, {0.96f, {2, 0, 3, 1}},
  };
  for (const auto& e : cases) {
    CAPTURE(e.p);
    auto c = by_id(l);
    const size_t n = plm::sample::apply_top_p(c.data(), c.size(), e.p);
    CHECK(ids_of(c.data(), n) == e.kept);
  }
  auto c = by_id(l);
  CHECK(plm::sample::apply_top_p(c.data(), c.size(), 1.0f) == 4);

  // A wide, flat-ish distribution forces the sorted prefix to grow past its
  // first guess; compare with a full sort done here.
  std::vector<float> wide(5000);
  plm::sample::rng g(11);
  for (auto& v : wide) v = static_cast<float>(g.uniform() * 3.0);
  for (float p : {0.3f, 0.9f, 0.999f}) {
    CAPTURE(p);
    std::vector<double> probs(wide.begin(), wide.end());
    const double m = *std::max_element(probs.begin(), probs.end());
    double total = 0;
    for (auto& v : probs) total += v = std::exp(v - m);
    std::vector<size_t> order(wide.size());
    std::iota(order.begin(), order.end(), 0);
    std::sort(order.begin(), order.end(), [&](size_t a, size_t b) { return wide[a] > wide[b] || (wide[a] == wide[b] && a < b); });
    size_t expect_n = 0;
    double cum = 0;
    while (expect_n < order.size()) {
      cum += probs[order[expect_n++]];
      if (cum >= p * total) break;
    }
    auto cw = by_id(wide);
    const size_t n = plm::sample::apply_top_p(cw.data(), cw.size(), p);
    CHECK(n > 64);
    CHECK(n == expect_n);
    bool same = true;
    for (size_t i = 0; i < n; ++i) same = same && cw[i].id == static_cast<int32_t>(order[i]);
    CHECK(same);
  }
}

TEST_CASE("min-p keeps tokens with p >= min_p * p_max, whatever the logit offset") {
  std::vector<float> l = {std::log(0.5f), std::log(0.3f), std::log(0.15f), std::log(0.05f)};
  struct expect_case {
    float min_p;
    size_t kept;
  };
  for (const auto& e : std::vector<expect_case>{{0.0f, 4}, {0.09f, 4}, {0.11f, 3}, {0.29f, 3}, {0.31f, 2}, {0.61f, 1}, {1.0f, 1}}) {
    for (float offset : {0.0f, 100.0f, -50.0f}) {
      CAPTURE(e.min_p);
      CAPTURE(offset);
      std::vector<float> shifted = l;
      for (auto& v : shifted) v += offset;
      auto c = by_id(shifted);
      const size_t n = plm::sample::apply_min_p(c.data(), c.size(), e.min_p);
      CHECK(n == e.kept);
      // Order is preserved: survivors are the first ids here.
      for (size_t i = 0; i < n; ++i) CHECK(c[i].id == static_cast<int32_t>(i));
    }
  }
  // Relative, not absolute: in a flat distribution p_max is small, so the
  // same min_p keeps tokens that it would drop under a peaked one.
  std::vector<float> flat = {std::log(0.2f), std::log(0.2f), std::log(0.2f), std::log(0.2f), std::log(0.1f), std::log(0.1f)};
  auto c = by_id(flat);
  CHECK(plm::sample::apply_min_p(c.data(), c.size(), 0.45f) == 6);
  c = by_id(flat);
  CHECK(plm::sample::apply_min_p(c.data(), c.size(), 0.55f) == 4);
}

TEST_CASE("penalties follow llama.cpp: scale by sign, subtract count*freq + presence") {
  const std::vector<float> l = {2.0f, -2.0f, 1.0f, 0.5f, 0.0f};
  auto c = by_id(l);
  std::vector<int32_t> window = {0, 1, 0, 3};
  plm::sample::apply_penalties(c.data(), c.size(), window.data(), window.size(), 2.0f, 0.1f, 0.5f);
  CHECK(c[0].logit == doctest::Approx(2.0 / 2 - (2 * 0.1 + 0.5)));
  CHECK(c[1].logit == doctest::Approx(-2.0 * 2 - (1 * 0.1 + 0.5)));
  CHECK(c[2].logit == 1.0f);
  CHECK(c[3].logit == doctest::Approx(0.5 / 2 - (1 * 0.1 + 0.5)));
  CHECK(c[4].logit == 0.0f);
  // A logit of exactly 0 is "non-positive": multiplied (stays 0), then shifted.
  auto z = by_id(l);
  std::vector<int32_t> w4 = {4};
  plm::sample::apply_penalties(z.data(), z.size(), w4.data(), 1, 3.0f, 0.0f, 0.25f);
  CHECK(z[4].logit == doctest::Approx(-0.25));
  // Masked tokens stay masked; extreme penalties stay finite.
  std::vector<float> m = {-std::numeric_limits<float>::infinity(), 3e38f};
  auto cm = by_id(m);
  std::vector<int32_t> w01 = {0, 1};
  plm::sample::apply_penalties(cm.data(), cm.size(), w01.data(), 2, 1e-30f, -1e30f, 0.0f);
  CHECK(cm[0].logit == -std::numeric_limits<float>::infinity());
  CHECK(std::isfinite(cm[1].logit));

  // Through the sampler (greedy): the window decides which counts matter.
  sampler_params p = sampler_params::greedy();
  p.frequency_penalty = 0.2f;
  p.penalty_window = 5;
  const std::vector<float> two = {2.0f, 1.5f};
  const std::vector<int32_t> recent = {0, 0, 0, 0, 1};
  sampler s5 = make_sampler(p, 2);
  CHECK(*s5.sample(two.data(), 2, recent.data(), recent.size()) == 1);  // 2-0.8=1.2 < 1.5-0.2=1.3
  p.penalty_window = 1;
  sampler s1 = make_sampler(p, 2);
  CHECK(*s1.sample(two.data(), 2, recent.data(), recent.size()) == 0);  // only the last token counts
  // Out-of-range tokens in the used window are errors.
  const std::vector<int32_t> bad = {0, 7};
  auto r = s1.sample(two.data(), 2, bad.data(), bad.size());
  REQUIRE_FALSE(r);
  CHECK(r.error().kind() == plm::errc::out_of_range);
}

TEST_CASE("the internal window is a ring of the last penalty_window accepted tokens") {
  sampler_params p = sampler_params::greedy();
  p.presence_penalty = 1.0f;
  p.penalty_window = 3;
  sampler s = make_sampler(p, 3);
  const std::vector<float> l = {1.0f, 0.5f, 0.25f};
  CHECK(*s.sample(l.data(), 3) == 0);  // accepts 0 -> window {0}
  CHECK(*s.sample(l.data(), 3) == 1);  // 0 penalised to 0.0 -> 1 wins; window {0,1}
  CHECK(*s.sample(l.data(), 3) == 2);  // both penalised; window {0,1,2}
  // Push 2 twice more: window {2,2,2}, token 0 and 1 are free again.
  REQUIRE(s.accept(2));
  REQUIRE(s.accept(2));
  CHECK(s.state().recent == std::vector<int32_t>{2, 2, 2});
  CHECK(*s.sample(l.data(), 3) == 0);
  CHECK(s.state().recent == std::vector<int32_t>{2, 2, 0});
  CHECK_FALSE(s.accept(3));
  CHECK_FALSE(s.accept(-1));
  s.reset();
  CHECK(s.state().recent.empty());
}

TEST_CASE("same seed gives the same tokens; state save/restore resumes exactly") {
  const size_t n_vocab = 300;
  std::vector<std::vector<float>> steps(120, std::vector<float>(n_vocab));
  plm::sample::rng g(77);
  for (auto& st : steps)
    for (auto& v : st) v = static_cast<float>(g.uniform() * 6.0 - 3.0);
  sampler_params p;  // defaults: temperature 0.8, top_k 40, top_p 0.95, min_p 0.05
  p.repeat_penalty = 1.1f;
  p.presence_penalty = 0.2f;
  p.seed = 1234;
  auto run = [&](sampler& s, size_t from, size_t to) {
    std::vector<int32_t> out;
    for (size_t i = from; i < to; ++i) out.push_back(*s.sample(steps[i].data(), n_vocab));
    return out;
  };
  sampler a = make_sampler(p, n_vocab);
  sampler b = make_sampler(p, n_vocab);
  const auto ta = run(a, 0, 120);
  CHECK(ta == run(b, 0, 120));
  p.seed = 4321;
  sampler c = make_sampler(p, n_vocab);
  CHECK(ta != run(c, 0, 120));

  // Save after 60 tokens, continue, restore into a fresh sampler, continue.
  p.seed = 1234;
  sampler d = make_sampler(p, n_vocab);
  run(d, 0, 60);
  const plm::sample::sampler_state saved = d.state();
  CHECK(saved.recent.size() == 60);
  const auto rest = run(d, 60, 120);
  CHECK(rest == std::vector<int32_t>(ta.begin() + 60, ta.end()));
  p.seed = 999;  // the seed is irrelevant once a state is restored
  sampler e = make_sampler(p, n_vocab);
  REQUIRE(e.set_state(saved));
  CHECK(run(e, 60, 120) == rest);

  // Invalid states are rejected and leave the sampler unchanged.
  plm::sample::sampler_state bad = saved;
  bad.recent.push_back(static_cast<int32_t>(n_vocab));
  const auto before = e.state();
  CHECK_FALSE(e.set_state(bad));
  bad = saved;
  bad.recent.assign(65, 0);
  CHECK_FALSE(e.set_state(bad));
  bad = saved;
  bad.rng = plm::sample::rng_state{};
  CHECK_FALSE(e.set_state(bad));
  CHECK(e.state().recent == before.recent);
  CHECK(e.state().rng == before.rng);
}

TEST_CASE("sampling frequencies match the target distribution (chi-square, fixed seed)") {
  const std::vector<double> ld = {0.3, -1.2, 2.0, 0.9, 0.0, -0.4, 1.5, -2.5};
  std::vector<float> l(ld.begin(), ld.end());
  const long n = 200000;

  // Critical values of chi-square at p = 0.001: df 7 -> 24.32, df 2 -> 13.82.
  SUBCASE("full distribution, temperature 0.7") {
    sampler s = make_sampler(plain(0.7f, 2024), l.size());
    std::vector<long> hist(l.size(), 0);
    for (long i = 0; i < n; ++i) ++hist[static_cast<size_t>(*s.sample(l.data(), l.size(), nullptr, 0))];
    const double x2 = chi_square(hist, softmax_d(ld, 0.7), n);
    MESSAGE("chi-square (df 7) = " << x2);
    CHECK(x2 < 24.32);
    // Sensitivity: the same counts are far from the temperature-1 distribution.
    CHECK(chi_square(hist, softmax_d(ld, 1.0), n) > 1000);
  }
  SUBCASE("top-k 3 then temperature 1.3: renormalised over the three best") {
    sampler_params p = plain(1.3f, 99);
    p.top_k = 3;
    sampler s = make_sampler(p, l.size());
    std::vector<long> hist(l.size(), 0);
    for (long i = 0; i < n; ++i) ++hist[static_cast<size_t>(*s.sample(l.data(), l.size(), nullptr, 0))];
    // The three best logits are ids 2 (2.0), 6 (1.5), 3 (0.9).
    const std::vector<double> top = {ld[2], ld[6], ld[3]};
    const auto pt = softmax_d(top, 1.3);
    const std::vector<long> obs = {hist[2], hist[6], hist[3]};
    CHECK(obs[0] + obs[1] + obs[2] == n);
    const double x2 = chi_square(obs, pt, n);
    MESSAGE("chi-square (df 2) = " << x2);
    CHECK(x2 < 13.82);
  }
}

TEST_CASE("sample() allocates nothing on the heap") {
  const size_t n_vocab = 5000;
  std::vector<float> l(n_vocab);
  plm::sample::rng g(5);
  for (auto& v : l) v = static_cast<float>(g.uniform() * 4.0);
  std::vector<int32_t> recent(100);
  for (size_t i = 0; i < recent.size(); ++i) recent[i] = static_cast<int32_t>((i * 37) % n_vocab);

  sampler_params p;
  p.top_k = 0;
  p.top_p = 0.9f;  // wide nucleus: exercises the growing partial sort
  p.min_p = 0.01f;
  p.repeat_penalty = 1.3f;
  p.frequency_penalty = 0.1f;
  p.presence_penalty = 0.1f;
  sampler s = make_sampler(p, n_vocab);
  p.temperature = 0.0f;
  sampler greedy = make_sampler(p, n_vocab);
  p.temperature = 0.8f;
  p.top_k = 40;
  sampler topk = make_sampler(p, n_vocab);
  for (int32_t t : recent) REQUIRE(s.accept(t));

  const long before = plm_test::allocations();
  long sum = 0;
  for (int i = 0; i < 100; ++i) {
    auto a = s.sample(l.data(), n_vocab);
    auto b = s.sample(l.data(), n_vocab, recent.data(), recent.size());
    auto c = greedy.sample(l.data(), n_vocab, recent.data(), recent.size());
    auto d = topk.sample(l.data(), n_vocab);
    auto e = s.accept(3);
    sum += (a ? *a : -1) + (b ? *b : -1) + (c ? *c : -1) + (d ? *d : -1) + (e ? 0 : -1);
  }
  const long after = plm_test::allocations();
  CHECK(after - before == 0);
  CHECK(sum >= 0);  // every call succeeded
  // The counter works.
  const long b2 = plm_test::allocations();
  std::vector<int> v(3);
  CHECK(plm_test::allocations() - b2 == 1);
}
