// Engine benchmarks: prefill and decode tokens/s at a cache depth, and the
// sparse vs dense FFN down projection at several sparsities, one thread (the
// engine's crossover comes from kernels::sparse_down_crossover, measured with 2).
//
// Model: $PLM_BENCH_MODEL (e.g. a PLM-1.8B-shaped file from plm-synth), else a
// 4-layer model with PLM's real widths synthesized into the temp directory.
// Threads: $PLM_BENCH_THREADS (default 2).
#include <benchmark/benchmark.h>

#include <cstdio>
#include <cstdlib>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "plm/core/buffer.hpp"
#include "plm/engine/engine.hpp"
#include "plm/kernels/activation.hpp"
#include "plm/kernels/attention.hpp"
#include "plm/kernels/matvec.hpp"
#include "plm/kernels/sparse_ffn.hpp"
#include "plm/quant/quantize.hpp"
#include "plm/synth/synth.hpp"

namespace {

const plm::model* bench_model() {
  static std::unique_ptr<plm::model> m = [] {
    std::string path;
    if (const char* p = std::getenv("PLM_BENCH_MODEL")) {
      path = p;
    } else {
      path = "/tmp/plm_bench_engine_4l_q8_0.gguf";
      plm::synth::options o;
      o.n_layer = 4;
      o.vocab = 32000;
      if (!plm::synth::write_model(o, path)) return std::unique_ptr<plm::model>();
    }
    auto r = plm::model::load(path);
    if (!r) {
      std::fprintf(stderr, "bench_engine: %s\n", r.error().to_string().c_str());
      return std::unique_ptr<plm::model>();
    }
    return std::make_unique<plm::model>(std::move(*r));
  }();
  return m.get();
}

int64_t bench_threads() {
  const char* t = std::getenv("PLM_BENCH_THREADS");
  return t ? std::atoll(t) : 2;
}

std::vector<int32_t> tokens(int64_t n, int64_t n_vocab) {
  std::mt19937 g(1);
  std::uniform_int_distribution<int32_t> d(0, static_cast<int32_t>(std::min<int64_t>(n_vocab, 32000) - 1));
  std::vector<int32_t> t(static_cast<size_t>(n));
  for (auto& x : t) x = d(g);
  return t;
}

// One session per cache depth, filled once (filling 2048 positions of a 1.8B model
// takes minutes on 2 cores) and rewound to that depth before each measurement.
plm::session* session_at(int64_t depth) {
  static std::vector<std::pair<int64_t, std::unique_ptr<plm::session>>> cache;
  for (auto& e : cache)
    if (e.first == depth) return e.second.get();
  const plm::model* m = bench_model();
  if (!m) return nullptr;
  plm::session_options o;
  o.n_ctx = depth + 512;
  o.n_threads = bench_threads();
  auto s = plm::session::create(*m, o);
  if (!s) return nullptr;
  const auto pre = tokens(depth, m->params().n_vocab);
  if (depth > 0 && !s->prefill(pre)) return nullptr;
  cache.emplace_back(depth, std::make_unique<plm::session>(std::move(*s)));
  return cache.back().second.get();
}

// Prefill of 512 tokens (n_batch 64) after `depth` tokens already in the cache.
void BM_prefill(benchmark::State& state) {
  const int64_t depth = state.range(0), n = 512;
  plm::session* s = session_at(depth);
  if (!s) return state.SkipWithError("no model or session");
  const auto toks = tokens(n, s->n_vocab());
  s->reset_stats();
  for (auto _ : state) {
    (void)s->truncate(depth);
    if (!s->prefill(toks)) return state.SkipWithError("prefill failed");
  }
  state.counters["tokens/s"] = benchmark::Counter(static_cast<double>(n) * static_cast<double>(state.iterations()),
                                                  benchmark::Counter::kIsRate);
  state.counters["ffn_sparsity"] = s->ffn_sparsity();
}

// One decode step after `depth` tokens in the cache (rewound every 32 steps).
void BM_decode(benchmark::State& state) {
  const int64_t depth = state.range(0);
  plm::session* s = session_at(depth);
  if (!s) return state.SkipWithError("no model or session");
  const auto toks = tokens(32, s->n_vocab());
  (void)s->truncate(depth);
  s->reset_stats();
  int64_t i = 0;
  for (auto _ : state) {
    if (s->n_past() >= depth + 32) (void)s->truncate(depth);
    if (!s->decode(toks[static_cast<size_t>(i++ % 32)])) return state.SkipWithError("decode failed");
  }
  state.counters["tokens/s"] = benchmark::Counter(static_cast<double>(state.iterations()), benchmark::Counter::kIsRate);
  state.counters["ffn_sparsity"] = s->ffn_sparsity();
  state.counters["cache_B/token"] = static_cast<double>(s->memory().cache_per_token);
}

// PLM-1.8B's down projection (8192 -> 2048, Q8_0), one thread: dense matvec over the
// GGUF layout vs the sparse kernel over the slice-major repack, at a given % of zeros.
struct down_fixture {
  std::vector<uint8_t> bytes;
  plm::tensor_view W;
  plm::aligned_buffer repack;
  plm::kernels::sparse_down sparse;
  down_fixture() {
    const int64_t n_in = 8192, n_out = 2048;
    std::mt19937 g(3);
    std::normal_distribution<float> nd(0.0f, 0.02f);
    std::vector<float> row(static_cast<size_t>(n_in));
    const size_t rb = static_cast<size_t>(n_in) / 32 * 34;
    bytes.resize(rb * static_cast<size_t>(n_out));
    for (int64_t r = 0; r < n_out; ++r) {
      for (auto& v : row) v = nd(g);
      (void)plm::quant::quantize_row(plm::dtype::q8_0, row.data(), bytes.data() + static_cast<size_t>(r) * rb, n_in);
    }
    W = plm::tensor_view::contiguous(plm::dtype::q8_0, {n_in, n_out}, bytes.data(), "ffn_down");
    repack = std::move(*plm::aligned_buffer::allocate(*plm::kernels::sparse_down_bytes(plm::dtype::q8_0, n_in, n_out)));
    plm::arena a(repack.data(), repack.size());
    sparse = *plm::kernels::repack_down(W, a);
  }
};
down_fixture& down() {
  static down_fixture f;
  return f;
}
std::vector<float> activation(int64_t n, double zero_fraction, std::vector<int32_t>& active, int64_t& n_active) {
  std::mt19937 g(7);
  std::uniform_real_distribution<double> u(0.0, 1.0);
  std::vector<float> a(static_cast<size_t>(n));
  for (auto& v : a) v = u(g) < zero_fraction ? -1.0f : static_cast<float>(u(g));
  active.resize(a.size());
  n_active = plm::kernels::relu_sqr_active(a.data(), n, active.data());
  return a;
}

void BM_down_sparse(benchmark::State& state) {
  auto& f = down();
  std::vector<int32_t> act;
  int64_t n_act = 0;
  const auto a = activation(8192, static_cast<double>(state.range(0)) / 100.0, act, n_act);
  std::vector<float> y(2048);
  for (auto _ : state) {
    plm::kernels::sparse_down_apply(f.sparse, a.data(), act.data(), n_act, y.data(), 0, 2048);
    benchmark::DoNotOptimize(y.data());
  }
  state.counters["active"] = static_cast<double>(n_act);
}

void BM_down_dense(benchmark::State& state) {
  auto& f = down();
  std::vector<int32_t> act;
  int64_t n_act = 0;
  const auto a = activation(8192, static_cast<double>(state.range(0)) / 100.0, act, n_act);
  std::vector<uint8_t> prep(plm::kernels::activation_bytes(plm::dtype::q8_0, 8192));
  std::vector<float> y(2048);
  for (auto _ : state) {
    plm::kernels::prepare_activation(plm::dtype::q8_0, a.data(), 8192, prep.data());
    plm::kernels::matvec(f.W, prep.data(), y.data(), 0, 2048);
    benchmark::DoNotOptimize(y.data());
  }
}

// Absorbed attention over an f16 latent cache, one thread: range(0) causal queries
// (1: a decode step, 8: a prefill block) ending at position range(1), for
// range(2) heads (16: all of PLM's; 8: one thread's share when decoding on 2).
void BM_latent_attention(benchmark::State& state) {
  const plm::kernels::latent_attention_shape sh{512, 64, 1.0f / 13.856406f};
  const int64_t nq = state.range(0), n_kv = state.range(1), H = state.range(2);
  std::mt19937 g(1);
  std::uniform_real_distribution<float> u(-1.0f, 1.0f);
  std::vector<float> rows(static_cast<size_t>(n_kv * sh.row()));
  for (auto& x : rows) x = u(g);
  std::vector<uint16_t> cache(rows.size());
  plm::kernels::f32_to_f16(rows.data(), cache.data(), static_cast<int64_t>(rows.size()));
  std::vector<float> ql(static_cast<size_t>(nq * H * 512)), qr(static_cast<size_t>(nq * H * 64)), out(ql.size());
  for (auto& x : ql) x = u(g);
  for (auto& x : qr) x = u(g);
  std::vector<float> scratch(plm::kernels::latent_attention_scratch(sh, H, nq));
  for (auto _ : state) {
    plm::kernels::latent_attention_causal(sh, nq, ql.data(), H * 512, qr.data(), H * 64, 64, cache.data(), plm::dtype::f16,
                                          n_kv - nq + 1, out.data(), H * 512, 0, H, scratch.data());
    benchmark::DoNotOptimize(out.data());
  }
  // multiply-adds: scores 576 and values 512 per (query, head, position)
  state.counters["GMAC/s"] = benchmark::Counter(static_cast<double>(nq * H * n_kv * 1088) * static_cast<double>(state.iterations()) * 1e-9,
                                                benchmark::Counter::kIsRate);
}

}  // namespace

BENCHMARK(BM_latent_attention)
    ->Args({1, 2048, 16})
    ->Args({8, 2048, 16})
    ->Args({1, 2048, 8})
    ->Args({1, 4096, 16})
    ->Args({1, 256, 16})
    ->Unit(benchmark::kMillisecond);
BENCHMARK(BM_down_dense)->Arg(0)->Arg(50)->Arg(90)->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_down_sparse)->Arg(0)->Arg(50)->Arg(70)->Arg(80)->Arg(90)->Arg(95)->Unit(benchmark::kMicrosecond);
// Real time: the work runs on the pool's threads, not only on the timing thread.
BENCHMARK(BM_prefill)->Arg(0)->Arg(2048)->Unit(benchmark::kMillisecond)->Iterations(2)->UseRealTime();
BENCHMARK(BM_decode)->Arg(0)->Arg(2048)->Unit(benchmark::kMillisecond)->Iterations(32)->UseRealTime();
