// Second translation unit of test_odr_a (see there). Includes the public
// headers in a different order than the umbrella does, then the umbrella.
#include <plm/text/tokenizer.hpp>
#include <plm/sample/sampler.hpp>
#include <plm/core/thread_pool.hpp>
#include <plm/plm.hpp>

#include <string>

const void* odr_b_pool_thread_state_address() { return &plm::detail::current_pool_thread(); }

std::string odr_b_version() { return plm::version_string(); }

std::string odr_b_dtype_name() { return std::string(plm::name(plm::dtype::q4_k)); }

int odr_b_sample(const float* logits, size_t n) {
  plm::sample::sampler_params p;
  p.seed = 31337;
  auto s = plm::sample::sampler::create(p, n);
  if (!s) return -1;
  auto r = s->sample(logits, n);
  return r ? *r : -1;
}

// Called from inside a task of `pool` run by test_odr_a.cpp: the pool must see
// this as a nested call (shared thread-local state) and run it inline.
size_t odr_b_nested(plm::thread_pool& pool, size_t outer_thread) {
  size_t mismatches = 0;
  pool.parallel_for(4, [&](size_t, size_t thread) { mismatches += thread != outer_thread; });
  return mismatches;
}
