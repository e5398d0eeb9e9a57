// Tokenizer benchmarks: vocabulary load time and encode/decode throughput.
//
// The PLM-vocabulary benchmarks need the vocab-only GGUF that
// test_tokenizer_conformance leaves in the build tree
// (<build>/tests/tokenizer-ref/plm-vocab-qwen2.gguf; run that test first) or a
// GGUF named by the PLM_VOCAB_GGUF environment variable (a real PLM model file
// works too). Without one they report an error and the small-vocabulary
// benchmarks still run.
//
//   ./bench/bench_tokenizer --benchmark_filter=PLM
#include <benchmark/benchmark.h>

#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "plm/gguf/reader.hpp"
#include "plm/text/tokenizer.hpp"
#include "plm/text/vocab_builder.hpp"

namespace {

std::string exe_dir() {
  char buf[4096];
  const ssize_t n = readlink("/proc/self/exe", buf, sizeof buf - 1);
  if (n <= 0) return ".";
  std::string p(buf, static_cast<size_t>(n));
  return p.substr(0, p.find_last_of('/'));
}

std::string vocab_gguf_path() {
  if (const char* env = std::getenv("PLM_VOCAB_GGUF")) return env;
  for (const std::string& p : {exe_dir() + "/../tests/tokenizer-ref/plm-vocab-qwen2.gguf",
                               std::string("tests/tokenizer-ref/plm-vocab-qwen2.gguf")}) {
    if (std::ifstream(p)) return p;
  }
  return {};
}

// English prose and CJK text of about `bytes` bytes (the samples repeated).
std::string english_text(size_t bytes) {
  std::string base = plm::text::detail::bpe_training_text;
  const std::string src = __FILE__;  // <repo>/bench/bench_tokenizer.cpp
  std::ifstream f(src.substr(0, src.find_last_of('/')) + "/../tests/data/ppl-text.txt");
  if (f) {
    std::ostringstream ss;
    ss << f.rdbuf();
    base += ss.str();
  }
  std::string out;
  while (out.size() < bytes) out += base;
  return out;
}

std::string cjk_text(size_t bytes) {
  const std::string base =
      "深度学习模型需要大量的数据和计算资源来进行训练，而边缘设备上的推理则需要更小、更快的模型。"
      "机器人把螺丝按大小分类，然后按长度分类。今天天气很好，我们去公园散步吧。"
      "日本語のテキストをトークン化します。東京は日本の首都です。ロボットはネジを大きさで分けました。"
      "한국어 텍스트를 토큰화합니다. 서울은 대한민국의 수도입니다.\n";
  std::string out;
  while (out.size() < bytes) out += base;
  return out;
}

struct plm_vocab {
  std::unique_ptr<plm::gguf::file> file;
  std::unique_ptr<plm::text::tokenizer> tok;
  std::string error;
};

const plm_vocab& get_plm_vocab() {
  static plm_vocab v = [] {
    plm_vocab r;
    const std::string path = vocab_gguf_path();
    if (path.empty()) {
      r.error = "no PLM vocabulary GGUF: run test_tokenizer_conformance first or set PLM_VOCAB_GGUF";
      return r;
    }
    auto f = plm::gguf::file::open(path);
    if (!f) {
      r.error = f.error().message();
      return r;
    }
    r.file = std::make_unique<plm::gguf::file>(std::move(f).value());
    auto t = plm::text::tokenizer::from_gguf(*r.file);
    if (!t) {
      r.error = t.error().message();
      return r;
    }
    r.tok = std::make_unique<plm::text::tokenizer>(std::move(t).value());
    return r;
  }();
  return v;
}

const plm::text::tokenizer& small_vocab() {
  static plm::text::tokenizer tok = plm::text::tokenizer::from_spec(plm::text::default_byte_vocab()).value();
  return tok;
}

// The PLM tokenizer, or nullptr after marking the benchmark skipped.
const plm::text::tokenizer* plm_tokenizer_or_skip(benchmark::State& state) {
  const plm_vocab& v = get_plm_vocab();
  if (!v.tok) state.SkipWithError(v.error.c_str());
  return v.tok.get();
}

void encode_bench(benchmark::State& state, const plm::text::tokenizer& tok, const std::string& text) {
  std::vector<int32_t> ids;
  for (auto _ : state) {
    ids.clear();
    auto r = tok.encode_append(text, ids, true, false);
    benchmark::DoNotOptimize(r);
    benchmark::DoNotOptimize(ids.data());
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * text.size()));
  state.counters["tokens"] = static_cast<double>(ids.size());
  state.counters["bytes/token"] = static_cast<double>(text.size()) / static_cast<double>(ids.size());
}

void BM_PLM_load_vocab(benchmark::State& state) {
  if (!plm_tokenizer_or_skip(state)) return;
  const plm_vocab& v = get_plm_vocab();
  for (auto _ : state) {
    auto t = plm::text::tokenizer::from_gguf(*v.file);
    benchmark::DoNotOptimize(t);
  }
  state.counters["tokens"] = v.tok->n_vocab();
  state.counters["merges"] = v.tok->vocab().n_merges();
}
BENCHMARK(BM_PLM_load_vocab)->Unit(benchmark::kMillisecond);

void BM_PLM_open_and_load_vocab(benchmark::State& state) {
  const std::string path = vocab_gguf_path();
  if (path.empty()) {
    state.SkipWithError("no PLM vocabulary GGUF");
    return;
  }
  for (auto _ : state) {
    auto f = plm::gguf::file::open(path);
    auto t = plm::text::tokenizer::from_gguf(*f);
    benchmark::DoNotOptimize(t);
  }
}
BENCHMARK(BM_PLM_open_and_load_vocab)->Unit(benchmark::kMillisecond);

void BM_PLM_encode_english(benchmark::State& state) {
  if (const auto* tok = plm_tokenizer_or_skip(state)) encode_bench(state, *tok, english_text(1 << 20));
}
BENCHMARK(BM_PLM_encode_english)->Unit(benchmark::kMillisecond);

void BM_PLM_encode_cjk(benchmark::State& state) {
  if (const auto* tok = plm_tokenizer_or_skip(state)) encode_bench(state, *tok, cjk_text(1 << 20));
}
BENCHMARK(BM_PLM_encode_cjk)->Unit(benchmark::kMillisecond);

void BM_PLM_stream_decode(benchmark::State& state) {
  const auto* tok = plm_tokenizer_or_skip(state);
  if (!tok) return;
  const std::string text = english_text(1 << 20) + cjk_text(1 << 18);
  const std::vector<int32_t> ids = tok->encode(text, true, false).value();
  for (auto _ : state) {
    plm::text::decoder dec(*tok);
    size_t n = 0;
    for (const int32_t id : ids) n += dec.feed(id).size();
    n += dec.flush().size();
    benchmark::DoNotOptimize(n);
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * text.size()));
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations() * ids.size()));
}
BENCHMARK(BM_PLM_stream_decode)->Unit(benchmark::kMillisecond);

void BM_small_vocab_encode_english(benchmark::State& state) {
  encode_bench(state, small_vocab(), english_text(1 << 20));
}
BENCHMARK(BM_small_vocab_encode_english)->Unit(benchmark::kMillisecond);

void BM_small_vocab_build(benchmark::State& state) {
  for (auto _ : state) {
    auto spec = plm::text::default_byte_vocab();
    benchmark::DoNotOptimize(spec);
  }
}
BENCHMARK(BM_small_vocab_build)->Unit(benchmark::kMillisecond);

}  // namespace
