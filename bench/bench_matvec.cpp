// Matrix-vector (decode) and matrix-matrix (prefill) kernel benchmarks on the
// shapes of PLM-1.8B, one thread, plus a memory-read roofline measured in the
// same run.
//
// Decode is memory-bound: the figure of merit is weight bytes read per second
// ("bytes_per_second"), to compare with BM_roofline_read (a streaming sum over
// 1 GiB). "cold" benchmarks cycle through enough copies of the matrix (>= 512
// MiB in total) that every read comes from DRAM, as when running a 1.2 GB model
// (this machine's L3 may otherwise hold a whole matrix); "hot" ones reread one
// copy (cache-resident: shows the kernel's compute limit).
//
//   ./bench/bench_matvec --benchmark_filter='cold|roofline'
//   ./bench/bench_matvec --benchmark_filter=q4_k
#include <benchmark/benchmark.h>

#include <xsimd/xsimd.hpp>

#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "plm/core/buffer.hpp"
#include "plm/core/tensor.hpp"
#include "plm/kernels/matvec.hpp"
#include "plm/quant/half.hpp"
#include "plm/quant/quantize.hpp"
#include "bench_weights.hpp"

namespace {

using plm::dtype;

using plm_bench::fill_weights;
using plm_bench::splitmix;

struct bench_matrix {
  plm::aligned_buffer buf;
  std::vector<plm::tensor_view> copies;
  size_t bytes = 0;  // one copy
};

// tiled: the load-time 16-row tile repack of q8_0 / q4_0 / q4_K / q6_K / f16 (kernels/tiled.hpp), as the
// engine runs them. Bytes counted are the GGUF matrix's (q4_K tiles hold 2.8% more).
bench_matrix make_matrix(dtype t, int64_t n_in, int64_t n_out, bool cold, bool tiled = false) {
  bench_matrix m;
  m.bytes = plm::quant::row_bytes(t, n_in) * static_cast<size_t>(n_out);
  const plm::tensor_view shape = plm::tensor_view::contiguous(t, {n_in, n_out}, nullptr);
  const size_t held = tiled ? plm::kernels::tiled_bytes(shape) : m.bytes;
  const size_t min_total = size_t{512} << 20;
  const size_t n_copies = cold ? (min_total + held - 1) / held : 1;
  const size_t stride = (held + 4095) / 4096 * 4096;
  auto r = plm::aligned_buffer::allocate(stride * n_copies);
  if (!r) return m;
  m.buf = std::move(*r);
  for (size_t c = 0; c < n_copies; ++c) {
    uint8_t* p = m.buf.data() + c * stride;
    if (c == 0) {
      fill_weights(t, p, m.bytes, 1234);
      if (tiled) {
        std::vector<uint8_t> tmp(held);
        plm::kernels::tile_weights(plm::tensor_view::contiguous(t, {n_in, n_out}, p), tmp.data());
        std::memcpy(p, tmp.data(), held);
      }
    } else {
      std::memcpy(p, m.buf.data(), held);
    }
    m.copies.push_back(plm::tensor_view::contiguous(t, {n_in, n_out}, p));
    if (tiled) m.copies.back().layout = plm::tensor_layout::tiles16;
  }
  return m;
}

std::vector<uint8_t> prepared_input(dtype t, int64_t n, int64_t n_tok) {
  const size_t stride = plm::kernels::activation_bytes(t, n);
  std::vector<uint8_t> act(stride * static_cast<size_t>(n_tok));
  std::vector<float> x(static_cast<size_t>(n));
  uint64_t s = 99;
  for (int64_t k = 0; k < n_tok; ++k) {
    for (auto& v : x) v = static_cast<float>(static_cast<int>(splitmix(s) % 2001) - 1000) * 1e-3f;
    plm::kernels::prepare_activation(t, x.data(), n, act.data() + stride * static_cast<size_t>(k));
  }
  return act;
}

// args: n_in, n_out, cold (0/1), reference kernel (0/1)
void BM_matvec(benchmark::State& state, dtype t, bool tiled = false) {
  const int64_t n_in = state.range(0), n_out = state.range(1);
  const bool cold = state.range(2) != 0, use_ref = state.range(3) != 0 && !tiled;
  bench_matrix m = make_matrix(t, n_in, n_out, cold, tiled);
  if (m.copies.empty()) {
    state.SkipWithError("allocation failed");
    return;
  }
  const std::vector<uint8_t> act = prepared_input(t, n_in, 1);
  std::vector<float> y(static_cast<size_t>(n_out));
  size_t c = 0;
  for (auto _ : state) {
    const plm::tensor_view& W = m.copies[c];
    if (++c == m.copies.size()) c = 0;
    if (use_ref) plm::kernels::ref::matvec(W, act.data(), y.data(), 0, n_out);
    else plm::kernels::matvec(W, act.data(), y.data(), 0, n_out);
    benchmark::DoNotOptimize(y.data());
    benchmark::ClobberMemory();
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations()) * static_cast<int64_t>(m.bytes));
  state.counters["GMAC/s"] = benchmark::Counter(static_cast<double>(state.iterations()) * static_cast<double>(n_in * n_out) * 1e-9,
                                               benchmark::Counter::kIsRate);
  state.SetLabel(std::string(plm::kernels::kernel_isa()) + (tiled ? " tiled" : "") + (use_ref ? " ref" : "") +
                 (cold ? " cold" : " hot"));
}

// Prefill: n_tok prepared tokens through one matrix (hot: compute-bound).
void BM_matmul(benchmark::State& state, dtype t, bool tiled = false) {
  const int64_t n_in = state.range(0), n_out = state.range(1), n_tok = state.range(2);
  bench_matrix m = make_matrix(t, n_in, n_out, false, tiled);
  if (m.copies.empty()) {
    state.SkipWithError("allocation failed");
    return;
  }
  const std::vector<uint8_t> act = prepared_input(t, n_in, n_tok);
  std::vector<float> Y(static_cast<size_t>(n_out * n_tok));
  for (auto _ : state) {
    plm::kernels::matmul(m.copies[0], act.data(), n_tok, Y.data(), n_out, 0, n_out);
    benchmark::DoNotOptimize(Y.data());
    benchmark::ClobberMemory();
  }
  state.counters["GFLOP/s"] = benchmark::Counter(
      static_cast<double>(state.iterations()) * 2.0 * static_cast<double>(n_in * n_out * n_tok) * 1e-9,
      benchmark::Counter::kIsRate);
  state.SetLabel(std::string(plm::kernels::kernel_isa()) + (tiled ? " tiled" : ""));
}

// Activation preparation (quantizing x to q8_K / q8_0) per token.
void BM_prepare(benchmark::State& state, dtype t) {
  const int64_t n = state.range(0);
  std::vector<float> x(static_cast<size_t>(n), 0.5f);
  for (size_t i = 0; i < x.size(); ++i) x[i] = static_cast<float>(i % 97) * 0.01f - 0.4f;
  std::vector<uint8_t> act(plm::kernels::activation_bytes(t, n));
  for (auto _ : state) {
    plm::kernels::prepare_activation(t, x.data(), n, act.data());
    benchmark::DoNotOptimize(act.data());
  }
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations()) * n);
}

// Memory-read roofline: sum of a 1 GiB buffer with SIMD loads and four
// accumulators, bytes read per second. Decode cannot beat this per thread.
void BM_roofline_read(benchmark::State& state) {
  const size_t bytes = size_t{1} << 30;
  auto r = plm::aligned_buffer::allocate(bytes);
  if (!r) {
    state.SkipWithError("allocation failed");
    return;
  }
  plm::aligned_buffer buf = std::move(*r);
  std::memset(buf.data(), 1, bytes);
  const float* p = reinterpret_cast<const float*>(buf.data());
  const size_t n = bytes / sizeof(float);
  using batch = xsimd::batch<float>;
  constexpr size_t w = batch::size;
  for (auto _ : state) {
    batch s0(0.0f), s1(0.0f), s2(0.0f), s3(0.0f);
    for (size_t i = 0; i < n; i += 4 * w) {
      s0 += batch::load_aligned(p + i);
      s1 += batch::load_aligned(p + i + w);
      s2 += batch::load_aligned(p + i + 2 * w);
      s3 += batch::load_aligned(p + i + 3 * w);
    }
    benchmark::DoNotOptimize(xsimd::hadd((s0 + s1) + (s2 + s3)));
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations()) * static_cast<int64_t>(bytes));
}
BENCHMARK(BM_roofline_read)->Unit(benchmark::kMillisecond)->MinTime(1.0);

// memcpy of 512 MiB: bytes read (not read + written) per second.
void BM_roofline_memcpy(benchmark::State& state) {
  const size_t bytes = size_t{512} << 20;
  auto a = plm::aligned_buffer::allocate(bytes);
  auto b = plm::aligned_buffer::allocate(bytes);
  if (!a || !b) {
    state.SkipWithError("allocation failed");
    return;
  }
  std::memset(a->data(), 1, bytes);
  std::memset(b->data(), 2, bytes);
  for (auto _ : state) {
    std::memcpy(b->data(), a->data(), bytes);
    benchmark::ClobberMemory();
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations()) * static_cast<int64_t>(bytes));
}
BENCHMARK(BM_roofline_memcpy)->Unit(benchmark::kMillisecond)->MinTime(1.0);

// PLM-1.8B projections as (n_in, n_out): attn_q 2048->3072, attn_kv_a 2048->576,
// attn_output 2048->2048, ffn_up 2048->8192, ffn_down 8192->2048, attn_kv_b 512->4096.
void plm_shapes(benchmark::internal::Benchmark* b) {
  for (auto s : {std::pair<int64_t, int64_t>{2048, 3072}, {2048, 576}, {2048, 2048}, {2048, 8192}, {8192, 2048},
                 {512, 4096}})
    b->Args({s.first, s.second, 1, 0});
  b->Args({2048, 8192, 0, 0});  // hot
  b->Args({2048, 2048, 1, 1});  // scalar reference, for the speed-up
  b->ArgNames({"in", "out", "cold", "ref"});
  b->Unit(benchmark::kMicrosecond);
}

#define PLM_BENCH_TYPE(T)                                                                                  \
  BENCHMARK_CAPTURE(BM_matvec, T, dtype::T)->Apply(plm_shapes);                                            \
  BENCHMARK_CAPTURE(BM_matmul, T, dtype::T)->Args({2048, 2048, 64})->ArgNames({"in", "out", "tok"})->Unit( \
      benchmark::kMillisecond);

PLM_BENCH_TYPE(f32)
BENCHMARK_CAPTURE(BM_matvec, q8_0_tiled, dtype::q8_0, true)->Apply(plm_shapes);
BENCHMARK_CAPTURE(BM_matmul, q8_0_tiled, dtype::q8_0, true)->Args({2048, 2048, 64})->ArgNames({"in", "out", "tok"})->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_matvec, q4_0_tiled, dtype::q4_0, true)->Apply(plm_shapes);
BENCHMARK_CAPTURE(BM_matmul, q4_0_tiled, dtype::q4_0, true)->Args({2048, 2048, 64})->ArgNames({"in", "out", "tok"})->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_matvec, q4_k_tiled, dtype::q4_k, true)->Apply(plm_shapes);
BENCHMARK_CAPTURE(BM_matmul, q4_k_tiled, dtype::q4_k, true)->Args({2048, 2048, 64})->ArgNames({"in", "out", "tok"})->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_matvec, q6_k_tiled, dtype::q6_k, true)->Apply(plm_shapes);
BENCHMARK_CAPTURE(BM_matmul, q6_k_tiled, dtype::q6_k, true)->Args({2048, 2048, 64})->ArgNames({"in", "out", "tok"})->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_matvec, f16_tiled, dtype::f16, true)->Apply(plm_shapes);
BENCHMARK_CAPTURE(BM_matmul, f16_tiled, dtype::f16, true)->Args({2048, 2048, 64})->ArgNames({"in", "out", "tok"})->Unit(benchmark::kMillisecond);
PLM_BENCH_TYPE(f16)
PLM_BENCH_TYPE(bf16)
PLM_BENCH_TYPE(q8_0)
PLM_BENCH_TYPE(q4_0)
PLM_BENCH_TYPE(q4_k)
PLM_BENCH_TYPE(q5_k)
PLM_BENCH_TYPE(q6_k)
PLM_BENCH_TYPE(q3_k)
PLM_BENCH_TYPE(q2_k)

#undef PLM_BENCH_TYPE

BENCHMARK_CAPTURE(BM_prepare, q8_k, dtype::q4_k)->Arg(2048)->Arg(8192);
BENCHMARK_CAPTURE(BM_prepare, q8_0, dtype::q8_0)->Arg(2048)->Arg(8192);

}  // namespace
