// GGUF reader benchmarks: opening must cost O(metadata), not O(file size).
//
// Writes (once per run, in $TMPDIR or /tmp, with the streaming writer) a
// PLM-1.8B-shaped Q8_0 file (~1.94 GB of tensor data, 290 tensors, a
// 151,936-token vocabulary and 151,387 merges) and a file with the same
// metadata but no tensor data, then times file::open on both: equal times mean
// the tensor data is not touched. Also times a tiny file, the tokenizer's
// get_string_array calls and tensor lookup. Skips the big file (with a
// message) when the disk has less than 3 GB free.
#include <benchmark/benchmark.h>

#include <sys/statvfs.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "plm/gguf/reader.hpp"
#include "plm/gguf/writer.hpp"

namespace {

namespace gguf = plm::gguf;

std::string temp_dir() {
  const char* t = std::getenv("TMPDIR");
  return (t && *t) ? t : "/tmp";
}

void add_vocab(gguf::writer& w) {
  std::vector<std::string> tokens(151936), merges(151387);
  for (size_t i = 0; i < tokens.size(); ++i) tokens[i] = "tok" + std::to_string(i);
  for (size_t i = 0; i < merges.size(); ++i) merges[i] = "m" + std::to_string(i) + " x" + std::to_string(i % 977);
  w.set_string("tokenizer.ggml.model", "gpt2");
  w.set_string_array("tokenizer.ggml.tokens", tokens);
  w.set_array<int32_t>("tokenizer.ggml.token_type", std::vector<int32_t>(tokens.size(), 1));
  w.set_string_array("tokenizer.ggml.merges", merges);
}

void add_hparams(gguf::writer& w) {
  w.set_string("general.architecture", "plm");
  w.set_u32("general.file_type", 7);
  w.set_u32("plm.block_count", 32);
  w.set_u32("plm.embedding_length", 2048);
  w.set_u32("plm.feed_forward_length", 8192);
}

// PLM-1.8B tensors (spec 2.1) in Q8_0, norms F32; data is a cheap pattern.
bool add_plm_tensors(gguf::writer& w) {
  auto fill = [](int64_t first_row, int64_t, void* dst) { std::memset(dst, static_cast<int>(first_row & 0x3f), 1); };
  auto add = [&](const std::string& name, plm::dtype t, std::vector<int64_t> ne) {
    return static_cast<bool>(w.add_tensor_rows(name, t, ne, fill));
  };
  const auto q = plm::dtype::q8_0, f = plm::dtype::f32;
  bool ok = add("token_embd.weight", q, {2048, 151936}) && add("output_norm.weight", f, {2048});
  for (int l = 0; l < 32 && ok; ++l) {
    const std::string b = "blk." + std::to_string(l) + ".";
    ok = add(b + "attn_norm.weight", f, {2048}) && add(b + "attn_q.weight", q, {2048, 3072}) &&
         add(b + "attn_kv_a_mqa.weight", q, {2048, 576}) && add(b + "attn_kv_a_norm.weight", f, {512}) &&
         add(b + "attn_kv_b.weight", q, {512, 4096}) && add(b + "attn_output.weight", q, {2048, 2048}) &&
         add(b + "ffn_norm.weight", f, {2048}) && add(b + "ffn_up.weight", q, {2048, 8192}) &&
         add(b + "ffn_down.weight", q, {8192, 2048});
  }
  return ok;
}

struct files {
  std::string big, meta_only, tiny;
  bool big_ok = false;
  std::string skip_reason;

  files() {
    const std::string dir = temp_dir();
    const std::string tag = std::to_string(static_cast<long>(::getpid()));
    big = dir + "/plm-bench-gguf-big-" + tag + ".gguf";
    meta_only = dir + "/plm-bench-gguf-meta-" + tag + ".gguf";
    tiny = dir + "/plm-bench-gguf-tiny-" + tag + ".gguf";

    gguf::writer t;
    t.set_string("general.architecture", "plm");
    static float x[64] = {};
    (void)t.add_tensor("w", plm::dtype::f32, {64}, x);
    if (!t.write_file(tiny)) tiny.clear();

    gguf::writer m;
    add_hparams(m);
    add_vocab(m);
    if (!m.write_file(meta_only)) meta_only.clear();

    struct statvfs st {};
    const bool have_space = ::statvfs(dir.c_str(), &st) == 0 &&
                            static_cast<unsigned long long>(st.f_bavail) * st.f_frsize > 3ull * 1000 * 1000 * 1000;
    if (!have_space) {
      skip_reason = "less than 3 GB free in " + dir + ": big-file benchmark skipped";
      return;
    }
    gguf::writer w;
    add_hparams(w);
    add_vocab(w);
    if (!add_plm_tensors(w)) {
      skip_reason = "could not describe the PLM tensors";
      return;
    }
    auto r = w.write_file(big);
    if (!r) {
      skip_reason = "writing " + big + " failed: " + r.error().to_string();
      std::remove(big.c_str());
      return;
    }
    big_ok = true;
  }
  ~files() {
    for (const std::string* p : {&big, &meta_only, &tiny})
      if (!p->empty()) std::remove(p->c_str());
  }
};

files& the_files() {
  static files f;
  return f;
}

void open_bench(benchmark::State& state, const std::string& path, const std::string& skip) {
  if (path.empty() || !skip.empty()) {
    state.SkipWithError(skip.empty() ? "file could not be written" : skip.c_str());
    return;
  }
  size_t size = 0, n_tensors = 0, n_kv = 0;
  for (auto _ : state) {
    auto f = gguf::file::open(path);
    if (!f) {
      state.SkipWithError(f.error().to_string().c_str());
      return;
    }
    size = f->size();
    n_tensors = f->tensors().size();
    n_kv = f->n_kv();
    benchmark::DoNotOptimize(f->tensors().data());
  }
  state.counters["file_MB"] = static_cast<double>(size) / 1e6;
  state.counters["tensors"] = static_cast<double>(n_tensors);
  state.counters["kv"] = static_cast<double>(n_kv);
}

void BM_open_tiny(benchmark::State& state) { open_bench(state, the_files().tiny, ""); }
void BM_open_metadata_only(benchmark::State& state) { open_bench(state, the_files().meta_only, ""); }
void BM_open_plm_1_8b_q8_0(benchmark::State& state) {
  open_bench(state, the_files().big_ok ? the_files().big : std::string(), the_files().skip_reason);
}

void BM_get_string_array_tokens_and_merges(benchmark::State& state) {
  auto f = gguf::file::open(the_files().meta_only);
  if (!f) {
    state.SkipWithError("metadata file missing");
    return;
  }
  size_t n = 0;
  for (auto _ : state) {
    auto t = f->get_string_array("tokenizer.ggml.tokens");
    auto m = f->get_string_array("tokenizer.ggml.merges");
    n = t->size() + m->size();
    benchmark::DoNotOptimize(t->data());
    benchmark::DoNotOptimize(m->data());
  }
  state.counters["strings"] = static_cast<double>(n);
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations()) * static_cast<int64_t>(n));
}

void BM_find_tensor(benchmark::State& state) {
  if (!the_files().big_ok) {
    state.SkipWithError(the_files().skip_reason.c_str());
    return;
  }
  auto f = gguf::file::open(the_files().big);
  if (!f) return;
  std::vector<std::string> names;
  for (const auto& t : f->tensors()) names.emplace_back(t.name);
  size_t i = 0;
  for (auto _ : state) {
    benchmark::DoNotOptimize(f->find_tensor(names[i]));
    i = (i + 1) % names.size();
  }
}

}  // namespace

BENCHMARK(BM_open_tiny)->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_open_metadata_only)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_open_plm_1_8b_q8_0)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_get_string_array_tokens_and_merges)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_find_tensor);
