// Kernel benchmarks on PLM-1.8B's real shapes, one kernel family at a time:
// matvec (decode) and matmul over 64 tokens (prefill) for f32/f16/q8_0/q4_0/
// q4_K/q6_K, the sparse down projection at 0/50/90% zero activations (beside
// matvec/*/down_8192x2048, the dense kernel it competes with), the per-step
// dequantization of attn_kv_b's W_UK rows for every row type, an Eigen
// f32 GEMV/GEMM baseline on the same shapes, and a streaming memory read
// (the roofline every decode figure is bounded by), all in one program so they
// share one machine state.
//
// Counters: "bytes_per_second" = weight bytes read per second (compare with
// BM_roofline_read); "GFLOP/s" = 2·n_in·n_out·tokens per second. Matvec weights
// are cycled through copies totalling >= 256 MiB so reads come from DRAM, as
// they do for a 1-2 GB model (one 2048x576 matrix would otherwise live in L2).
//
//   ./bench/bench_kernels_plm --benchmark_filter='matvec/q8_0|roofline'
//   ./bench/bench_kernels_plm --benchmark_filter=sparse
#include <benchmark/benchmark.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include "bench_weights.hpp"
#include "plm/core/buffer.hpp"
#include "plm/core/tensor.hpp"
#include "plm/kernels/matvec.hpp"
#include "plm/kernels/sparse_ffn.hpp"
#include "plm/quant/dequantize.hpp"
#include "plm/quant/half.hpp"
#include "plm/quant/quantize.hpp"

#if PLM_BENCH_HAVE_EIGEN
#include <Eigen/Dense>
#endif

namespace {

using plm::dtype;

// PLM-1.8B projections as (n_in, n_out): attn_q, attn_kv_a, kv_b, attn_output, ffn_up, logits.
struct shape {
  const char* name;
  int64_t n_in, n_out;
};
constexpr shape k_shapes[] = {
    {"q_2048x3072", 2048, 3072},     {"kv_a_2048x576", 2048, 576}, {"kv_b_512x4096", 512, 4096},
    {"out_2048x2048", 2048, 2048},   {"up_2048x8192", 2048, 8192}, {"down_8192x2048", 8192, 2048},
    {"logits_2048x151936", 2048, 151936},
};
constexpr dtype k_types[] = {dtype::f32, dtype::f16, dtype::q8_0, dtype::q4_0, dtype::q4_k, dtype::q6_k};
constexpr size_t k_cold_bytes = size_t{256} << 20;
constexpr int64_t k_prefill_tokens = 64;

using plm_bench::fill_weights;
uint64_t mix(uint64_t& s) { return plm_bench::splitmix(s); }

struct matrices {
  plm::aligned_buffer buf;                // [copies][n_out rows][row bytes]
  std::vector<plm::tensor_view> copies;
  size_t bytes = 0;                       // one copy
};

matrices make(dtype t, int64_t n_in, int64_t n_out, size_t min_total) {
  matrices m;
  m.bytes = plm::quant::row_bytes(t, n_in) * static_cast<size_t>(n_out);
  const size_t n = std::max<size_t>(1, (min_total + m.bytes - 1) / m.bytes);
  auto b = plm::aligned_buffer::allocate(n * m.bytes);
  if (!b) return m;
  m.buf = std::move(*b);
  for (size_t c = 0; c < n; ++c) {
    uint8_t* p = m.buf.data() + c * m.bytes;
    fill_weights(t, p, m.bytes, 7 + c);
    m.copies.push_back(plm::tensor_view::contiguous(t, {n_in, n_out}, p, "W"));
  }
  return m;
}

std::vector<float> random_floats(size_t n, uint64_t seed) {
  std::vector<float> v(n);
  for (auto& x : v) x = static_cast<float>(static_cast<int>(mix(seed) % 2001) - 1000) * 1e-3f;
  return v;
}

// ---- matvec (decode) --------------------------------------------------------

void BM_matvec(benchmark::State& st, dtype t, shape s) {
  // The logits matrix alone is 0.3-1.2 GB: one copy already streams from DRAM.
  auto m = make(t, s.n_in, s.n_out, k_cold_bytes);
  if (m.copies.empty()) { st.SkipWithError("allocation failed"); return; }
  const auto x = random_floats(static_cast<size_t>(s.n_in), 3);
  std::vector<uint8_t> prep(plm::kernels::activation_bytes(t, s.n_in));
  std::vector<float> y(static_cast<size_t>(s.n_out));
  size_t c = 0;
  for (auto _ : st) {
    plm::kernels::prepare_activation(t, x.data(), s.n_in, prep.data());
    plm::kernels::matvec(m.copies[c], prep.data(), y.data(), 0, s.n_out);
    benchmark::DoNotOptimize(y.data());
    c = c + 1 == m.copies.size() ? 0 : c + 1;
  }
  st.SetBytesProcessed(static_cast<int64_t>(st.iterations()) * static_cast<int64_t>(m.bytes));
  st.counters["GFLOP/s"] = benchmark::Counter(2.0 * static_cast<double>(s.n_in * s.n_out) * static_cast<double>(st.iterations()) / 1e9,
                                              benchmark::Counter::kIsRate);
}

// ---- matmul (prefill, 64 tokens) -------------------------------------------

void BM_matmul(benchmark::State& st, dtype t, shape s) {
  auto m = make(t, s.n_in, s.n_out, 0);
  if (m.copies.empty()) { st.SkipWithError("allocation failed"); return; }
  const auto x = random_floats(static_cast<size_t>(s.n_in * k_prefill_tokens), 5);
  const size_t stride = plm::kernels::activation_bytes(t, s.n_in);
  std::vector<uint8_t> prep(stride * k_prefill_tokens);
  std::vector<float> y(static_cast<size_t>(s.n_out * k_prefill_tokens));
  for (auto _ : st) {
    for (int64_t i = 0; i < k_prefill_tokens; ++i)
      plm::kernels::prepare_activation(t, x.data() + i * s.n_in, s.n_in, prep.data() + static_cast<size_t>(i) * stride);
    plm::kernels::matmul(m.copies[0], prep.data(), k_prefill_tokens, y.data(), s.n_out, 0, s.n_out);
    benchmark::DoNotOptimize(y.data());
  }
  st.SetBytesProcessed(static_cast<int64_t>(st.iterations()) * static_cast<int64_t>(m.bytes));
  st.counters["GFLOP/s"] = benchmark::Counter(
      2.0 * static_cast<double>(s.n_in * s.n_out * k_prefill_tokens) * static_cast<double>(st.iterations()) / 1e9,
      benchmark::Counter::kIsRate);
}

// ---- W_UK rows of attn_kv_b (absorbed query) ---------------------------------

// What a decode step does per layer for a kv_b type without a direct
// rows-combination kernel: dequantize each head's 128 W_UK rows (512 wide) to
// f32 (16 heads, the V rows between them skipped), from L2 as in the engine
// after the first touch. Counter: f32 values written per second.
void BM_wuk_rows(benchmark::State& st, dtype t) {
  const int64_t heads = 16, nope = 128, dv = 128, width = 512;
  auto m = make(t, width, heads * (nope + dv), 0);
  if (m.copies.empty()) { st.SkipWithError("allocation failed"); return; }
  const plm::tensor_view& w = m.copies[0];
  std::vector<float> rows(static_cast<size_t>(nope * width));
  for (auto _ : st) {
    for (int64_t h = 0; h < heads; ++h)
      for (int64_t j = 0; j < nope; ++j)
        plm::quant::dequantize_row(t, w.row(h * (nope + dv) + j), rows.data() + j * width, width);
    benchmark::DoNotOptimize(rows.data());
  }
  st.SetItemsProcessed(static_cast<int64_t>(st.iterations()) * heads * nope * width);
}

// ---- sparse down projection -------------------------------------------------

void BM_sparse_down(benchmark::State& st, dtype t, int sparsity_pct) {
  const int64_t n_in = 8192, n_out = 2048;  // ffn_down: 8192 neurons -> 2048 outputs
  auto w = make(t, n_in, n_out, 0);
  if (w.copies.empty()) { st.SkipWithError("allocation failed"); return; }
  auto need = plm::kernels::sparse_down_bytes(t, n_in, n_out);
  if (!need) { st.SkipWithError(need.error().message().c_str()); return; }
  // Copies of the repack totalling >= 256 MiB, so reads come from DRAM.
  const size_t n_copies = std::max<size_t>(1, (k_cold_bytes + *need - 1) / *need);
  auto mem = plm::aligned_buffer::allocate(*need * n_copies);
  if (!mem) { st.SkipWithError("allocation failed"); return; }
  std::vector<plm::kernels::sparse_down> packs;
  for (size_t c = 0; c < n_copies; ++c) {
    plm::arena a(mem->data() + c * *need, *need);
    auto d = plm::kernels::repack_down(w.copies[0], a);
    if (!d) { st.SkipWithError(d.error().message().c_str()); return; }
    packs.push_back(*d);
  }
  // Activations with exactly sparsity_pct % zeros at random positions, like relu² output.
  uint64_t seed = 11;
  std::vector<float> a(static_cast<size_t>(n_in));
  std::vector<int32_t> active;
  for (int64_t j = 0; j < n_in; ++j) {
    const bool zero = static_cast<int>(mix(seed) % 100) < sparsity_pct;
    a[static_cast<size_t>(j)] = zero ? 0.0f : static_cast<float>(mix(seed) % 1000) * 1e-3f;
    if (!zero) active.push_back(static_cast<int32_t>(j));
  }
  std::vector<float> y(static_cast<size_t>(n_out));
  size_t c = 0;
  for (auto _ : st) {
    plm::kernels::sparse_down_apply(packs[c], a.data(), active.data(), static_cast<int64_t>(active.size()), y.data(), 0, n_out);
    benchmark::DoNotOptimize(y.data());
    c = c + 1 == packs.size() ? 0 : c + 1;
  }
  // Bytes the kernel reads: the active pieces and the scales of every group with an active neuron.
  const double density = static_cast<double>(active.size()) / static_cast<double>(n_in);
  st.counters["density"] = density;
  st.counters["dense_bytes_equiv_per_s"] = benchmark::Counter(static_cast<double>(w.bytes) * static_cast<double>(st.iterations()),
                                                              benchmark::Counter::kIsRate);
  st.SetBytesProcessed(static_cast<int64_t>(plm::kernels::sparse_down_read_bytes(packs[0], density) * static_cast<double>(st.iterations())));
}

// ---- Eigen f32 baseline ------------------------------------------------------

#if PLM_BENCH_HAVE_EIGEN
using row_major = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;

void BM_eigen_gemv(benchmark::State& st, shape s) {
  auto m = make(dtype::f32, s.n_in, s.n_out, k_cold_bytes);
  if (m.copies.empty()) { st.SkipWithError("allocation failed"); return; }
  const auto xv = random_floats(static_cast<size_t>(s.n_in), 3);
  Eigen::Map<const Eigen::VectorXf> x(xv.data(), s.n_in);
  Eigen::VectorXf y(s.n_out);
  size_t c = 0;
  for (auto _ : st) {
    Eigen::Map<const row_major> W(static_cast<const float*>(m.copies[c].data), s.n_out, s.n_in);
    y.noalias() = W * x;
    benchmark::DoNotOptimize(y.data());
    c = c + 1 == m.copies.size() ? 0 : c + 1;
  }
  st.SetBytesProcessed(static_cast<int64_t>(st.iterations()) * static_cast<int64_t>(m.bytes));
  st.counters["GFLOP/s"] = benchmark::Counter(2.0 * static_cast<double>(s.n_in * s.n_out) * static_cast<double>(st.iterations()) / 1e9,
                                              benchmark::Counter::kIsRate);
}

void BM_eigen_gemm(benchmark::State& st, shape s) {
  auto m = make(dtype::f32, s.n_in, s.n_out, 0);
  if (m.copies.empty()) { st.SkipWithError("allocation failed"); return; }
  const auto xv = random_floats(static_cast<size_t>(s.n_in * k_prefill_tokens), 5);
  Eigen::Map<const row_major> W(static_cast<const float*>(m.copies[0].data), s.n_out, s.n_in);
  Eigen::Map<const Eigen::MatrixXf> X(xv.data(), s.n_in, k_prefill_tokens);  // one token per column
  Eigen::MatrixXf Y(s.n_out, k_prefill_tokens);
  for (auto _ : st) {
    Y.noalias() = W * X;
    benchmark::DoNotOptimize(Y.data());
  }
  st.SetBytesProcessed(static_cast<int64_t>(st.iterations()) * static_cast<int64_t>(m.bytes));
  st.counters["GFLOP/s"] = benchmark::Counter(
      2.0 * static_cast<double>(s.n_in * s.n_out * k_prefill_tokens) * static_cast<double>(st.iterations()) / 1e9,
      benchmark::Counter::kIsRate);
}
#endif

// ---- memory-read roofline ------------------------------------------------------

// Streaming read of 1 GiB (>> LLC) by Arg(0) threads: the bandwidth ceiling of decode.
void BM_roofline_read(benchmark::State& st) {
  const size_t n = (size_t{1} << 30) / 8;
  static std::vector<uint64_t> buf;  // shared by the thread-count variants; written once so pages are backed
  if (buf.size() != n) {
    buf.assign(n, 0);
    for (size_t i = 0; i < n; ++i) buf[i] = i;
  }
  const int n_threads = static_cast<int>(st.range(0));
  std::vector<uint64_t> sink(static_cast<size_t>(n_threads) * 8);
  for (auto _ : st) {
    std::vector<std::thread> th;
    for (int k = 0; k < n_threads; ++k)
      th.emplace_back([&, k] {
        const size_t lo = n * static_cast<size_t>(k) / static_cast<size_t>(n_threads) / 8 * 8;
        const size_t hi = n * static_cast<size_t>(k + 1) / static_cast<size_t>(n_threads) / 8 * 8;
        uint64_t acc[8] = {0, 0, 0, 0, 0, 0, 0, 0};  // independent chains: bandwidth-, not latency-bound
        for (size_t i = lo; i < hi; i += 8)
          for (int j = 0; j < 8; ++j) acc[j] += buf[i + static_cast<size_t>(j)];
        for (int j = 1; j < 8; ++j) acc[0] += acc[j];
        sink[static_cast<size_t>(k) * 8] = acc[0];
      });
    for (auto& t : th) t.join();
    benchmark::DoNotOptimize(sink.data());
  }
  st.SetBytesProcessed(static_cast<int64_t>(st.iterations()) * static_cast<int64_t>(n * 8));
}
BENCHMARK(BM_roofline_read)->Arg(1)->Arg(2)->UseRealTime()->Unit(benchmark::kMillisecond);

const bool registered = [] {
  for (dtype t : k_types) {
    const std::string tn(plm::name(t));
    for (const auto& s : k_shapes) {
      benchmark::RegisterBenchmark(("matvec/" + tn + "/" + s.name).c_str(), BM_matvec, t, s)->Unit(benchmark::kMicrosecond);
      if (std::string(s.name).rfind("logits", 0) != 0)  // prefill computes logits for the last token only
        benchmark::RegisterBenchmark(("matmul64/" + tn + "/" + s.name).c_str(), BM_matmul, t, s)->Unit(benchmark::kMicrosecond);
    }
    for (int sp : {0, 50, 90})
      benchmark::RegisterBenchmark(("sparse_down/" + tn + "/sparsity" + std::to_string(sp)).c_str(), BM_sparse_down, t, sp)
          ->Unit(benchmark::kMicrosecond);
  }
  for (dtype t : {dtype::f16, dtype::bf16, dtype::q8_0, dtype::q4_0, dtype::q4_1, dtype::q5_0, dtype::q5_1, dtype::q2_k,
                  dtype::q3_k, dtype::q4_k, dtype::q5_k, dtype::q6_k})
    benchmark::RegisterBenchmark(("wuk_rows/" + std::string(plm::name(t))).c_str(), BM_wuk_rows, t)
        ->Unit(benchmark::kMicrosecond);
#if PLM_BENCH_HAVE_EIGEN
  for (const auto& s : k_shapes) {
    benchmark::RegisterBenchmark((std::string("eigen_gemv/f32/") + s.name).c_str(), BM_eigen_gemv, s)->Unit(benchmark::kMicrosecond);
    if (std::string(s.name).rfind("logits", 0) != 0)
      benchmark::RegisterBenchmark((std::string("eigen_gemm64/f32/") + s.name).c_str(), BM_eigen_gemm, s)
          ->Unit(benchmark::kMicrosecond);
  }
#endif
  return true;
}();

}  // namespace
