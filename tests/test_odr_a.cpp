// Two translation units (this file and odr_b.cpp) include <plm/plm.hpp> and are
// linked into one program. A header that defines a non-inline function or
// variable fails to link; one that gives each TU its own copy of state meant
// to be shared (statics, thread-locals) fails the checks below.
#include <doctest/doctest.h>

#include <plm/plm.hpp>

#include <atomic>
#include <string>
#include <vector>

const void* odr_b_pool_thread_state_address();
std::string odr_b_version();
std::string odr_b_dtype_name();
int odr_b_sample(const float* logits, size_t n);
size_t odr_b_nested(plm::thread_pool& pool, size_t outer_thread);

TEST_CASE("both translation units see the same inline entities") {
  CHECK(odr_b_pool_thread_state_address() == &plm::detail::current_pool_thread());
  CHECK(odr_b_version() == plm::version_string());
  CHECK(odr_b_dtype_name() == std::string(plm::name(plm::dtype::q4_k)));

  std::vector<float> logits = {0.1f, 2.0f, -1.0f, 1.5f, 0.7f, 0.0f};
  plm::sample::sampler_params p;
  p.seed = 31337;
  auto s = plm::sample::sampler::create(p, logits.size());
  REQUIRE(s);
  auto r = s->sample(logits.data(), logits.size());
  REQUIRE(r);
  CHECK(odr_b_sample(logits.data(), logits.size()) == *r);
}

TEST_CASE("a parallel_for nested through the other TU runs inline") {
  auto pool = plm::thread_pool::create(3);
  REQUIRE(pool);
  std::atomic<size_t> mismatches{0};
  pool->parallel_for(6, [&](size_t, size_t thread) { mismatches += odr_b_nested(*pool, thread); });
  CHECK(mismatches.load() == 0);
}
