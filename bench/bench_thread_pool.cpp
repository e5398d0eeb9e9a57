// Thread pool benchmarks: what one parallel_for costs.
//
// A decode step issues a few hundred parallel loops, so the fixed cost of
// waking the workers and waiting for them must stay in the microseconds.
// dispatch/*: an empty job per thread (pure overhead), with the default
// spin-then-sleep waiting and with spinning disabled (every wake-up goes
// through the condition variable), against starting std::threads per call.
// sum/*: a memory-bound reduction over 4 MiB split into 64 tasks (bytes/s).
// Arguments are thread counts; counts above the machine's cores measure
// oversubscription, not scaling.
#include <benchmark/benchmark.h>

#include <thread>
#include <vector>

#include "plm/core/thread_pool.hpp"

namespace {

plm::thread_pool make_pool(size_t n, uint32_t spin) {
  plm::thread_pool_options o;
  o.spin_iterations = spin;
  auto r = plm::thread_pool::create(n, o);
  if (!r) std::abort();
  return std::move(r).value();
}

void dispatch(benchmark::State& state, uint32_t spin) {
  const size_t n = static_cast<size_t>(state.range(0));
  plm::thread_pool pool = make_pool(n, spin);
  std::vector<size_t> hits(n, 0);
  for (auto _ : state) {
    pool.parallel_for(n, [&](size_t task, size_t) { ++hits[task]; });
    benchmark::ClobberMemory();
  }
  state.counters["calls/s"] = benchmark::Counter(static_cast<double>(state.iterations()), benchmark::Counter::kIsRate);
}

void BM_dispatch_spin(benchmark::State& state) { dispatch(state, plm::thread_pool_options{}.spin_iterations); }
void BM_dispatch_nospin(benchmark::State& state) { dispatch(state, 0); }

void BM_dispatch_std_thread(benchmark::State& state) {
  const size_t n = static_cast<size_t>(state.range(0));
  std::vector<size_t> hits(n, 0);
  std::vector<std::thread> threads;
  threads.reserve(n);
  for (auto _ : state) {
    for (size_t t = 1; t < n; ++t) threads.emplace_back([&hits, t] { ++hits[t]; });
    ++hits[0];
    for (auto& t : threads) t.join();
    threads.clear();
    benchmark::ClobberMemory();
  }
}

void BM_sum(benchmark::State& state) {
  const size_t n_threads = static_cast<size_t>(state.range(0));
  const size_t n = size_t(1) << 20;  // 4 MiB of floats
  const size_t n_tasks = 64;
  std::vector<float> x(n, 1.0f);
  std::vector<float> partial(n_tasks, 0.0f);
  plm::thread_pool pool = make_pool(n_threads, plm::thread_pool_options{}.spin_iterations);
  for (auto _ : state) {
    pool.parallel_for_range(n, n / n_tasks, [&](size_t b, size_t e) {
      float acc = 0;
      for (size_t i = b; i < e; ++i) acc += x[i];
      partial[b / (n / n_tasks)] = acc;
    });
    benchmark::DoNotOptimize(partial.data());
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations()) * static_cast<int64_t>(n * sizeof(float)));
}

}  // namespace

BENCHMARK(BM_dispatch_spin)->Arg(1)->Arg(2)->Arg(4)->UseRealTime();
BENCHMARK(BM_dispatch_nospin)->Arg(1)->Arg(2)->Arg(4)->UseRealTime();
BENCHMARK(BM_dispatch_std_thread)->Arg(2)->Arg(4)->UseRealTime();
BENCHMARK(BM_sum)->Arg(1)->Arg(2)->Arg(4)->UseRealTime();
