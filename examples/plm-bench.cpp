// plm-bench - prefill / decode speed of a PLM GGUF model, llama-bench style, with
// the memory-bandwidth roofline measured in the same run.
//
//   plm-bench -m MODEL.gguf[,MODEL2.gguf] [-t 2] [-p 512] [-n 128] [-d 0,2048,4096] [-r 5]
//             [-o md|json] [--plot out.png] [--cache f16|f32|q8_0] [--bw-mib 1024]
//             [--sparse-max-density auto|X]
//
// Decode is memory-bound, so each decode figure is also given as a fraction of
// its roofline: (bytes read per token / bandwidth) / (time per token). Bytes
// read per token are counted from the model's tensors as the engine uses them:
// every matrix once, except ffn_down, where only active neurons' repacked
// columns are read when the measured density lets the engine take the sparse
// path; plus the latent cache rows at that depth and the logits matrix.
// Bandwidth is a streaming read of a buffer much larger than the LLC by the
// same number of threads.
//
// Depth d: d random tokens (ordinary vocabulary tokens) are prefilled (not timed) before decode is timed.
// The cache is filled once to the largest depth and cut back with truncate()
// for smaller depths, so filling costs one prefill per model and thread count.
//
// Exit status: 0 done, 1 a model failed to load or run, 2 bad command line.
#include <sys/resource.h>
#include <time.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdarg>
#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <random>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "plm/engine/engine.hpp"
#include "plm/kernels/matvec.hpp"

namespace {

using clock_type = std::chrono::steady_clock;

double seconds_since(clock_type::time_point t0) {
  return std::chrono::duration<double>(clock_type::now() - t0).count();
}

/// CPU time of the calling thread: on a shared machine, tokens per CPU-second of
/// the thread that drives the pool approximate the rate on an idle one (work is
/// split evenly over the threads, and this thread runs its share of each region).
double thread_cpu_seconds() {
  timespec ts{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) * 1e-9;
}

void usage(std::FILE* out) {
  std::fprintf(out,
               "usage: plm-bench -m MODEL.gguf[,MODEL2...] [options]\n"
               "  -m, --model LIST     GGUF files (comma list)\n"
               "  -t, --threads LIST   thread counts (2)\n"
               "  -p, --n-prompt LIST  prompt lengths for prefill tests pp<N> (512; 0 = none)\n"
               "  -n, --n-gen LIST     decoded tokens for tg<N> tests (128; 0 = none)\n"
               "  -d, --n-depth LIST   tokens in the cache before decode is timed (0)\n"
               "  -r, --repetitions N  repetitions of each test (5)\n"
               "  -o, --output FMT     md or json (md)\n"
               "  --plot PNG           draw decode tok/s vs depth with gnuplot\n"
               "  --plot-cpu           plot tokens per CPU-second of the timing thread instead of wall\n"
               "                       clock (the idle-machine estimate, for runs on a shared machine)\n"
               "  --cache T            latent cache type f16, f32, q8_0 (f16)\n"
               "  -b, --batch N        prefill chunk (64)\n"
               "  --bw-mib N           bandwidth test buffer in MiB (1024)\n"
               "  --sparse-max-density X  decode takes the sparse FFN down projection when at most\n"
               "                       this fraction of a layer's neurons is active (0 = never,\n"
               "                       1 = always); auto = each layer's crossover by bytes (auto)\n"
               "  --seed S             random token seed (1)\n"
               "  --from-json LIST     run nothing: read earlier `-o json` outputs (comma list) and\n"
               "                       print / plot them together (combines runs of several models)\n"
               "  -h, --help           this text\n");
}

[[noreturn]] void fail_usage(const std::string& msg) {
  std::fprintf(stderr, "plm-bench: %s\n(see plm-bench --help)\n", msg.c_str());
  std::exit(2);
}

std::vector<std::string> split(const std::string& s) {
  std::vector<std::string> out;
  std::string cur;
  std::stringstream ss(s);
  while (std::getline(ss, cur, ','))
    if (!cur.empty()) out.push_back(cur);
  return out;
}

int64_t parse_int(const std::string& flag, const std::string& s, int64_t lo, int64_t hi) {
  char* end = nullptr;
  errno = 0;
  const long long v = std::strtoll(s.c_str(), &end, 10);
  if (s.empty() || *end != '\0' || errno != 0 || v < lo || v > hi)
    fail_usage(flag + ": '" + s + "' is not an integer in [" + std::to_string(lo) + ", " + std::to_string(hi) + "]");
  return v;
}

// "auto" (-1: the engine's per-layer choice) or a fraction in [0, 1].
float parse_density(const std::string& flag, const std::string& s) {
  if (s == "auto") return -1.0f;
  char* end = nullptr;
  errno = 0;
  const double v = std::strtod(s.c_str(), &end);
  if (s.empty() || *end != '\0' || errno != 0 || !(v >= 0.0 && v <= 1.0))
    fail_usage(flag + ": '" + s + "' is neither 'auto' nor a number in [0, 1]");
  return static_cast<float>(v);
}

std::vector<int64_t> parse_list(const std::string& flag, const char* s, int64_t lo, int64_t hi) {
  if (s == nullptr) fail_usage(flag + " needs a value");
  std::vector<int64_t> out;
  for (const auto& p : split(s)) out.push_back(parse_int(flag, p, lo, hi));
  if (out.empty()) fail_usage(flag + ": empty list");
  return out;
}

struct options {
  std::vector<std::string> models, from_json;
  std::vector<int64_t> threads{2}, prompt{512}, gen{128}, depth{0};
  int64_t reps = 5, batch = 64, bw_mib = 1024;
  uint64_t seed = 1;
  std::string output = "md", plot;
  bool plot_cpu = false;
  plm::dtype cache = plm::dtype::f16;
  float sparse_max_density = -1.0f;  // auto
};

options parse(int argc, char** argv) {
  options o;
  for (int i = 1; i < argc; ++i) {
    const std::string k = argv[i];
    auto next = [&]() -> const char* { return i + 1 < argc ? argv[++i] : nullptr; };
    auto need = [&](const char* v) -> std::string {
      if (v == nullptr) fail_usage(k + " needs a value");
      return v;
    };
    if (k == "-h" || k == "--help") { usage(stdout); std::exit(0); }
    else if (k == "-m" || k == "--model") o.models = split(need(next()));
    else if (k == "-t" || k == "--threads") o.threads = parse_list(k, next(), 1, 1024);
    else if (k == "-p" || k == "--n-prompt") o.prompt = parse_list(k, next(), 0, 1 << 20);
    else if (k == "-n" || k == "--n-gen") o.gen = parse_list(k, next(), 0, 1 << 20);
    else if (k == "-d" || k == "--n-depth") o.depth = parse_list(k, next(), 0, 1 << 22);
    else if (k == "-r" || k == "--repetitions") o.reps = parse_int(k, need(next()), 1, 1000);
    else if (k == "-b" || k == "--batch") o.batch = parse_int(k, need(next()), 1, 65536);
    else if (k == "--bw-mib") o.bw_mib = parse_int(k, need(next()), 1, 1 << 20);
    else if (k == "--sparse-max-density") o.sparse_max_density = parse_density(k, need(next()));
    else if (k == "--seed") o.seed = static_cast<uint64_t>(parse_int(k, need(next()), 0, INT64_MAX));
    else if (k == "-o" || k == "--output") {
      o.output = need(next());
      if (o.output != "md" && o.output != "json") fail_usage("-o: expected md or json, got '" + o.output + "'");
    } else if (k == "--plot") o.plot = need(next());
    else if (k == "--from-json") o.from_json = split(need(next()));
    else if (k == "--plot-cpu") o.plot_cpu = true;
    else if (k == "--cache") {
      const std::string v = need(next());
      if (!plm::parse_dtype(v, o.cache) ||
          (o.cache != plm::dtype::f16 && o.cache != plm::dtype::f32 && o.cache != plm::dtype::q8_0))
        fail_usage("--cache: expected f16, f32 or q8_0, got '" + v + "'");
    } else fail_usage("unknown argument '" + k + "'");
  }
  if (o.models.empty() && o.from_json.empty()) fail_usage("no model (-m)");
  std::sort(o.depth.begin(), o.depth.end());
  o.depth.erase(std::unique(o.depth.begin(), o.depth.end()), o.depth.end());
  return o;
}

// ---- measurements ---------------------------------------------------------

/// Streaming read bandwidth (bytes/s) of `buf` by n threads, best of 5 passes:
/// `wall` from the elapsed time, `cpu` from the slowest thread's own CPU time
/// (on a shared machine the wall figure counts time the threads were not running).
struct bandwidth {
  double wall = 0, cpu = 0;
};
bandwidth measure_bandwidth(const uint64_t* buf, size_t n_words, int64_t n_threads) {
  std::vector<uint64_t> sinks(static_cast<size_t>(n_threads) * 8, 0);  // one cache line per thread
  std::vector<double> cpu(static_cast<size_t>(n_threads) * 8, 0);
  bandwidth best;
  for (int pass = 0; pass < 5; ++pass) {
    std::vector<std::thread> th;
    const auto t0 = clock_type::now();
    for (int64_t k = 0; k < n_threads; ++k) {
      th.emplace_back([&, k] {
        const double c0 = thread_cpu_seconds();
        const size_t lo = n_words * static_cast<size_t>(k) / static_cast<size_t>(n_threads) / 8 * 8;
        const size_t hi = n_words * static_cast<size_t>(k + 1) / static_cast<size_t>(n_threads) / 8 * 8;
        // Eight independent xor chains: the compiler vectorises this into wide loads
        // with no dependency on memory latency, so the loop is bandwidth-bound.
        uint64_t a[8] = {0, 0, 0, 0, 0, 0, 0, 0};
        for (size_t i = lo; i < hi; i += 8)
          for (int j = 0; j < 8; ++j) a[j] ^= buf[i + static_cast<size_t>(j)];
        uint64_t s = 0;
        for (int j = 0; j < 8; ++j) s ^= a[j];
        sinks[static_cast<size_t>(k) * 8] = s;
        cpu[static_cast<size_t>(k) * 8] = thread_cpu_seconds() - c0;
      });
    }
    for (auto& t : th) t.join();
    const double dt = seconds_since(t0);
    double slowest = 0;
    for (int64_t k = 0; k < n_threads; ++k) slowest = std::max(slowest, cpu[static_cast<size_t>(k) * 8]);
    const double bytes = static_cast<double>(n_words * 8);
    best.wall = std::max(best.wall, bytes / dt);
    if (slowest > 0) best.cpu = std::max(best.cpu, bytes / slowest);
  }
  uint64_t s = 0;
  for (auto v : sinks) s ^= v;
  if (s == 0x5EED) std::fprintf(stderr, " ");  // keeps the reads observable
  return best;
}

size_t peak_rss_bytes() {
  std::ifstream f("/proc/self/status");
  std::string line;
  while (std::getline(f, line))
    if (line.rfind("VmHWM:", 0) == 0) return static_cast<size_t>(std::strtoull(line.c_str() + 6, nullptr, 10)) * 1024;
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  return static_cast<size_t>(ru.ru_maxrss) * 1024;
}

/// Weight bytes one decode step reads: every matrix the step multiplies by, with
/// ffn_down counted as the engine reads it at the measured per-layer density.
size_t decode_weight_bytes(const plm::session& s) {
  const auto& m = s.model();
  const auto& w = m.weights();
  const auto& hp = m.params();
  size_t bytes = w.output.n_bytes() + w.token_embd.row_bytes() + static_cast<size_t>(hp.n_embd) * 4;
  for (int64_t il = 0; il < hp.n_layer; ++il) {
    const auto& L = w.layers[static_cast<size_t>(il)];
    bytes += L.attn_q.n_bytes() + L.attn_kv_a.n_bytes() + L.attn_kv_b.n_bytes() +
             L.attn_output.n_bytes() + L.ffn_up.n_bytes();
    bytes += static_cast<size_t>(2 * hp.n_embd + hp.kv_lora_rank) * 4;  // norms
    const double density = 1.0 - s.ffn_sparsity(il);
    const auto& d = L.ffn_down_sparse;
    if (w.sparse_ffn && plm::network::sparse_down_pays(L, static_cast<float>(density), s.options().sparse_max_density)) {
      const double b = plm::kernels::sparse_down_read_bytes(d, density);
      bytes += static_cast<size_t>(b);
    } else {
      bytes += L.ffn_down.n_bytes();
    }
  }
  return bytes;
}

struct stats {
  double mean = 0, sd = 0;
};
stats mean_sd(const std::vector<double>& v) {
  stats s;
  if (v.empty()) return s;
  for (double x : v) s.mean += x;
  s.mean /= static_cast<double>(v.size());
  if (v.size() > 1) {
    double q = 0;
    for (double x : v) q += (x - s.mean) * (x - s.mean);
    s.sd = std::sqrt(q / static_cast<double>(v.size() - 1));
  }
  return s;
}
double percentile(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  const size_t i = std::min(v.size() - 1, static_cast<size_t>(std::ceil(p * static_cast<double>(v.size()))) - (p > 0 ? 1 : 0));
  return v[i];
}

/// One row of the result table.
struct record {
  std::string model, type, isa;
  double size_gib = 0, params_b = 0;
  int64_t threads = 0;
  std::string test;        // pp512, tg128
  int64_t n = 0, depth = 0;
  stats tps;               // tokens/s
  double tps_cpu = 0;      // tokens per CPU-second of the timing thread (idle-machine estimate)
  double ttft_ms = 0;      // prefill: time to first token (prompt evaluated, logits ready)
  double p50_ms = 0, p99_ms = 0;  // decode per-token latency
  double sparsity = 0;     // decode: measured fraction of zero relu² activations
  double bytes_per_tok = 0, bw = 0, roofline = 0;
  double bw_cpu = 0;       // bandwidth from the reading threads' CPU time
  double roofline_cpu = 0; // (bytes/token / bw_cpu) / (CPU-time per token): the idle-machine estimate
  size_t kv_per_tok = 0, peak_rss = 0;
};

std::string type_of(const plm::model& m) {
  // The type of the bulk of the weights (ffn_up, the biggest per layer), plus the embedding's when it differs.
  const auto& w = m.weights();
  std::string t(plm::name(w.layers[0].ffn_up.type));
  const std::string e(plm::name(w.token_embd.type));
  if (w.layers[0].ffn_down.type != w.layers[0].ffn_up.type) t += "/" + std::string(plm::name(w.layers[0].ffn_down.type));
  if (e != plm::name(w.layers[0].ffn_up.type)) t += " (embd " + e + ")";
  return t;
}

std::string basename_of(const std::string& p) {
  const auto k = p.find_last_of('/');
  return k == std::string::npos ? p : p.substr(k + 1);
}

bool run_model(const options& o, const std::string& path, const plm::aligned_buffer& bwbuf,
               std::vector<record>& out) {
  std::fprintf(stderr, "plm-bench: loading %s\n", path.c_str());
  auto m = plm::model::load(path);
  if (!m) {
    std::fprintf(stderr, "plm-bench: %s\n", m.error().message().c_str());
    return false;
  }
  const auto& hp = m->params();
  std::mt19937_64 rng(o.seed);
  // Random ids of ordinary tokens when the file has a vocabulary: padding rows
  // ([PAD…], type unused; plm-synth writes them as never-trained padding, all
  // zero but the bias channel) and control tokens never occur in real text.
  std::vector<int32_t> ids;
  if (m->has_tokenizer())
    for (int32_t id = 0; id < m->tokenizer().n_vocab() && id < hp.n_vocab; ++id)
      if (m->tokenizer().type(id) == plm::text::token_type::normal) ids.push_back(id);
  if (ids.empty())
    for (int32_t id = 0; id < hp.n_vocab; ++id) ids.push_back(id);
  std::uniform_int_distribution<size_t> pick(0, ids.size() - 1);
  auto tok = [&](std::mt19937_64& g) { return ids[pick(g)]; };
  auto random_tokens = [&](int64_t n) {
    std::vector<int32_t> v(static_cast<size_t>(n));
    for (auto& t : v) t = tok(rng);
    return v;
  };
  size_t n_params = 0;
  for (const auto& ti : m->file().tensors()) {
    size_t e = 1;
    for (uint32_t k = 0; k < ti.n_dims; ++k) e *= static_cast<size_t>(ti.ne[k]);
    n_params += e;
  }
  record base;
  base.model = basename_of(path);
  base.type = type_of(*m);
  base.isa = plm::kernels::kernel_isa();
  base.size_gib = static_cast<double>(m->mapped_bytes()) / (1024.0 * 1024.0 * 1024.0);
  base.params_b = static_cast<double>(n_params) / 1e9;

  const int64_t max_p = *std::max_element(o.prompt.begin(), o.prompt.end());
  const int64_t max_n = *std::max_element(o.gen.begin(), o.gen.end());
  const int64_t max_d = o.depth.back();
  const int64_t n_ctx = std::max<int64_t>({max_p, max_d + max_n, 1});

  for (int64_t nt : o.threads) {
    std::fprintf(stderr, "plm-bench: %s, %lld threads: measuring bandwidth\n", base.model.c_str(), static_cast<long long>(nt));
    const bandwidth bwm = measure_bandwidth(reinterpret_cast<const uint64_t*>(bwbuf.data()), bwbuf.size() / 8, nt);
    const double bw = bwm.wall;
    plm::session_options so;
    so.n_ctx = n_ctx;
    so.n_threads = nt;
    so.cache_type = o.cache;
    so.n_batch = o.batch;
    so.sparse_max_density = o.sparse_max_density;
    auto s = plm::session::create(*m, so);
    if (!s) {
      std::fprintf(stderr, "plm-bench: %s\n", s.error().message().c_str());
      return false;
    }
    base.threads = nt;
    base.bw = bw;
    base.bw_cpu = bwm.cpu;
    base.kv_per_tok = s->memory().cache_per_token;

    // Warm-up: touches the mapped weights once so the first repetition is not a page-fault benchmark.
    {
      auto w = random_tokens(std::min<int64_t>(8, n_ctx));
      if (auto r = s->prefill(w); !r) { std::fprintf(stderr, "plm-bench: %s\n", r.error().message().c_str()); return false; }
      s->clear();
    }

    for (int64_t p : o.prompt) {
      if (p == 0) continue;
      std::fprintf(stderr, "plm-bench: %s pp%lld\n", base.model.c_str(), static_cast<long long>(p));
      std::vector<double> tps, ttft;
      double cpu = 0;
      for (int64_t r = 0; r < o.reps; ++r) {
        s->clear();
        const auto toks = random_tokens(p);
        const double c0 = thread_cpu_seconds();
        const auto t0 = clock_type::now();
        if (auto e = s->prefill(toks); !e) { std::fprintf(stderr, "plm-bench: %s\n", e.error().message().c_str()); return false; }
        const double dt = seconds_since(t0);
        cpu += thread_cpu_seconds() - c0;
        tps.push_back(static_cast<double>(p) / dt);
        ttft.push_back(dt * 1e3);
      }
      record rec = base;
      rec.test = "pp" + std::to_string(p);
      rec.n = p;
      rec.tps = mean_sd(tps);
      rec.ttft_ms = mean_sd(ttft).mean;
      rec.tps_cpu = static_cast<double>(p * o.reps) / cpu;
      rec.peak_rss = peak_rss_bytes();
      out.push_back(rec);
    }

    // Decode: fill to the largest depth once, then go down through the depths with truncate().
    s->clear();
    if (max_d > 0) {
      std::fprintf(stderr, "plm-bench: %s filling the cache to depth %lld (not timed)\n", base.model.c_str(), static_cast<long long>(max_d));
      const auto fill = random_tokens(max_d);
      if (auto e = s->prefill(fill); !e) { std::fprintf(stderr, "plm-bench: %s\n", e.error().message().c_str()); return false; }
    }
    std::vector<record> tg;  // measured deepest first, reported by increasing depth
    for (auto di = o.depth.rbegin(); di != o.depth.rend(); ++di) {
      const int64_t d = *di;
      for (int64_t n : o.gen) {
        if (n == 0) continue;
        std::fprintf(stderr, "plm-bench: %s tg%lld @ d%lld\n", base.model.c_str(), static_cast<long long>(n), static_cast<long long>(d));
        std::vector<double> tps, lat;
        double cpu = 0;
        s->reset_stats();
        for (int64_t r = 0; r < o.reps; ++r) {
          if (auto e = s->truncate(d); !e) { std::fprintf(stderr, "plm-bench: %s\n", e.error().message().c_str()); return false; }
          const auto toks = random_tokens(n);
          const double c0 = thread_cpu_seconds();
          const auto t0 = clock_type::now();
          for (int64_t i = 0; i < n; ++i) {
            const auto ti = clock_type::now();
            if (auto e = s->decode(toks[static_cast<size_t>(i)]); !e) {
              std::fprintf(stderr, "plm-bench: %s\n", e.error().message().c_str());
              return false;
            }
            lat.push_back(seconds_since(ti) * 1e3);
          }
          tps.push_back(static_cast<double>(n) / seconds_since(t0));
          cpu += thread_cpu_seconds() - c0;
        }
        record rec = base;
        rec.test = "tg" + std::to_string(n);
        rec.n = n;
        rec.depth = d;
        rec.tps = mean_sd(tps);
        rec.tps_cpu = static_cast<double>(n * o.reps) / cpu;
        rec.p50_ms = percentile(lat, 0.50);
        rec.p99_ms = percentile(lat, 0.99);
        rec.sparsity = s->ffn_sparsity();
        // The cache rows attended at position d + i average to d + n/2 over a run.
        const double cache_rows = static_cast<double>(d) + static_cast<double>(n + 1) / 2.0;
        rec.bytes_per_tok = static_cast<double>(decode_weight_bytes(*s)) + cache_rows * static_cast<double>(rec.kv_per_tok);
        rec.roofline = (rec.bytes_per_tok / bw) / (1.0 / rec.tps.mean);
        rec.roofline_cpu = bwm.cpu > 0 ? (rec.bytes_per_tok / bwm.cpu) / (1.0 / rec.tps_cpu) : 0.0;
        rec.peak_rss = peak_rss_bytes();
        tg.push_back(rec);
      }
    }
    out.insert(out.end(), tg.rbegin(), tg.rend());
  }
  return true;
}

// ---- output ---------------------------------------------------------------

std::string fmt(const char* f, ...) __attribute__((format(printf, 1, 2)));
std::string fmt(const char* f, ...) {
  char b[512];
  va_list ap;
  va_start(ap, f);
  std::vsnprintf(b, sizeof b, f, ap);
  va_end(ap);
  return b;
}

void print_md(const std::vector<record>& rs) {
  std::printf("| model | type | size | params | backend | threads | test | t/s | t/s CPU | TTFT ms | p50 ms | p99 ms | "
              "FFN sparsity | KV B/tok | B read/tok | BW GB/s | roofline | BW CPU GB/s | roofline CPU | peak RSS |\n");
  std::printf("| --- | --- | ---: | ---: | --- | ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |\n");
  for (const auto& r : rs) {
    const bool tg = r.test[0] == 't';
    const std::string test = tg && r.depth > 0 ? r.test + " @ d" + std::to_string(r.depth) : r.test;
    std::printf("| %s | %s | %.2f GiB | %.2f B | %s | %lld | %s | %.2f ± %.2f | %.2f | %s | %s | %s | %s | %zu | %s | %.1f | %s | %.1f | %s | %.2f GiB |\n",
                r.model.c_str(), r.type.c_str(), r.size_gib, r.params_b, r.isa.c_str(), static_cast<long long>(r.threads),
                test.c_str(), r.tps.mean, r.tps.sd, r.tps_cpu, tg ? "" : fmt("%.0f", r.ttft_ms).c_str(),
                tg ? fmt("%.2f", r.p50_ms).c_str() : "", tg ? fmt("%.2f", r.p99_ms).c_str() : "",
                tg ? fmt("%.3f", r.sparsity).c_str() : "", r.kv_per_tok,
                tg ? fmt("%.1f MB", r.bytes_per_tok / 1e6).c_str() : "", r.bw / 1e9,
                tg ? fmt("%.0f%%", r.roofline * 100).c_str() : "",
                r.bw_cpu / 1e9, tg ? fmt("%.0f%%", r.roofline_cpu * 100).c_str() : "", static_cast<double>(r.peak_rss) / (1 << 30));
  }
}

std::string json_str(const std::string& s) {
  std::string o = "\"";
  for (char c : s) {
    if (c == '"' || c == '\\') o += '\\';
    if (static_cast<unsigned char>(c) < 0x20) { o += fmt("\\u%04x", c); continue; }
    o += c;
  }
  return o + "\"";
}

void print_json(const std::vector<record>& rs) {
  std::printf("[\n");
  for (size_t i = 0; i < rs.size(); ++i) {
    const auto& r = rs[i];
    std::printf("  {\"model\": %s, \"type\": %s, \"size_bytes\": %.0f, \"n_params\": %.0f, \"isa\": %s, \"n_threads\": %lld, "
                "\"test\": %s, \"n\": %lld, \"depth\": %lld, \"avg_ts\": %.4f, \"stddev_ts\": %.4f, \"cpu_ts\": %.4f, \"ttft_ms\": %.3f, "
                "\"p50_ms\": %.4f, \"p99_ms\": %.4f, \"ffn_sparsity\": %.5f, \"kv_bytes_per_token\": %zu, "
                "\"bytes_read_per_token\": %.0f, \"bandwidth_bytes_per_s\": %.0f, \"roofline_fraction\": %.4f, "
                "\"bandwidth_cpu_bytes_per_s\": %.0f, \"roofline_fraction_cpu\": %.4f, \"peak_rss_bytes\": %zu}%s\n",
                json_str(r.model).c_str(), json_str(r.type).c_str(), r.size_gib * 1024.0 * 1024.0 * 1024.0, r.params_b * 1e9,
                json_str(r.isa).c_str(), static_cast<long long>(r.threads), json_str(r.test).c_str(),
                static_cast<long long>(r.n), static_cast<long long>(r.depth), r.tps.mean, r.tps.sd, r.tps_cpu, r.ttft_ms, r.p50_ms,
                r.p99_ms, r.sparsity, r.kv_per_tok, r.bytes_per_tok, r.bw, r.roofline, r.bw_cpu, r.roofline_cpu, r.peak_rss,
                i + 1 < rs.size() ? "," : "");
  }
  std::printf("]\n");
}

/// Decode tok/s vs depth, one line per (model, threads, tg<N>), through gnuplot.
bool plot(const std::vector<record>& rs, const std::string& png, bool cpu) {
  if (std::system("command -v gnuplot >/dev/null 2>&1") != 0) {
    std::fprintf(stderr, "plm-bench: --plot needs gnuplot on PATH (Debian: apt-get install gnuplot-nox); no plot written\n");
    return false;
  }
  std::vector<std::string> keys;
  for (const auto& r : rs)
    if (r.test[0] == 't') {
      const std::string k = r.model + " " + r.test + " t" + std::to_string(r.threads);
      if (std::find(keys.begin(), keys.end(), k) == keys.end()) keys.push_back(k);
    }
  if (keys.empty()) {
    std::fprintf(stderr, "plm-bench: --plot: no decode results to plot\n");
    return false;
  }
  std::string script = fmt("set terminal pngcairo size 900,560 noenhanced\nset output '%s'\n", png.c_str());
  script += std::string("set title 'plm decode speed vs context depth") +
            (cpu ? " (tokens per CPU-second of the timing thread)'\n" : "'\n") +
            "set xlabel 'tokens in the cache (depth)'\nset ylabel 'decode tokens/s'\nset grid\nset key below\nset yrange [0:*]\n";
  script += "plot ";
  for (size_t k = 0; k < keys.size(); ++k)
    script += fmt("'-' using 1:2:3 with yerrorlines title '%s'%s", keys[k].c_str(), k + 1 < keys.size() ? ", " : "\n");
  for (const auto& k : keys) {
    for (const auto& r : rs)
      if (r.test[0] == 't' && r.model + " " + r.test + " t" + std::to_string(r.threads) == k)
        script += fmt("%lld %.4f %.4f\n", static_cast<long long>(r.depth), cpu ? r.tps_cpu : r.tps.mean, cpu ? 0.0 : r.tps.sd);
    script += "e\n";
  }
  FILE* g = popen("gnuplot", "w");
  if (g == nullptr) {
    std::fprintf(stderr, "plm-bench: could not start gnuplot\n");
    return false;
  }
  std::fwrite(script.data(), 1, script.size(), g);
  const int rc = pclose(g);
  if (rc != 0) {
    std::fprintf(stderr, "plm-bench: gnuplot failed (status %d); pngcairo terminal missing?\n", rc);
    return false;
  }
  std::fprintf(stderr, "plm-bench: wrote %s\n", png.c_str());
  return true;
}

// Reads the records of an earlier `-o json` run (this program's own format: one
// object per line, flat keys) back.
bool read_json(const std::string& path, std::vector<record>& out) {
  std::ifstream f(path);
  if (!f) {
    std::fprintf(stderr, "plm-bench: cannot open '%s'\n", path.c_str());
    return false;
  }
  std::string line;
  size_t n = 0;
  while (std::getline(f, line)) {
    if (line.find("{\"model\"") == std::string::npos) continue;
    auto str = [&](const char* key) -> std::string {
      const auto k = line.find(std::string("\"") + key + "\": \"");
      if (k == std::string::npos) return "";
      const auto b = k + std::strlen(key) + 5;
      return line.substr(b, line.find('"', b) - b);
    };
    auto num = [&](const char* key) -> double {
      const auto k = line.find(std::string("\"") + key + "\": ");
      return k == std::string::npos ? 0.0 : std::strtod(line.c_str() + k + std::strlen(key) + 4, nullptr);
    };
    record r;
    r.model = str("model");
    r.type = str("type");
    r.isa = str("isa");
    r.test = str("test");
    if (r.test.empty()) continue;
    r.size_gib = num("size_bytes") / (1024.0 * 1024.0 * 1024.0);
    r.params_b = num("n_params") / 1e9;
    r.threads = static_cast<int64_t>(num("n_threads"));
    r.n = static_cast<int64_t>(num("n"));
    r.depth = static_cast<int64_t>(num("depth"));
    r.tps = {num("avg_ts"), num("stddev_ts")};
    r.tps_cpu = num("cpu_ts");
    r.ttft_ms = num("ttft_ms");
    r.p50_ms = num("p50_ms");
    r.p99_ms = num("p99_ms");
    r.sparsity = num("ffn_sparsity");
    r.kv_per_tok = static_cast<size_t>(num("kv_bytes_per_token"));
    r.bytes_per_tok = num("bytes_read_per_token");
    r.bw = num("bandwidth_bytes_per_s");
    r.roofline = num("roofline_fraction");
    r.bw_cpu = num("bandwidth_cpu_bytes_per_s");
    r.roofline_cpu = num("roofline_fraction_cpu");
    r.peak_rss = static_cast<size_t>(num("peak_rss_bytes"));
    out.push_back(r);
    ++n;
  }
  if (n == 0) std::fprintf(stderr, "plm-bench: no records in '%s'\n", path.c_str());
  return n > 0;
}

}  // namespace

int main(int argc, char** argv) {
  const options o = parse(argc, argv);
  if (!o.from_json.empty()) {
    std::vector<record> rs;
    for (const auto& p : o.from_json)
      if (!read_json(p, rs)) return 1;
    if (o.output == "json") print_json(rs);
    else print_md(rs);
    return !o.plot.empty() && !plot(rs, o.plot, o.plot_cpu) ? 1 : 0;
  }
  // [bw_mib MiB] read-only stream source, written once so every page is backed;
  // the same kind of memory as the engine's repacked weights (huge pages where
  // the system gives them), so the roofline is the bandwidth the weights could get.
  auto bw = plm::aligned_buffer::allocate(static_cast<size_t>(o.bw_mib) * 1024 * 1024);
  if (!bw) {
    std::fprintf(stderr, "plm-bench: bandwidth buffer: %s\n", bw.error().message().c_str());
    return 1;
  }
  auto* words = reinterpret_cast<uint64_t*>(bw->data());
  for (size_t i = 0; i < bw->size() / 8; ++i) words[i] = i * 0x9E3779B97F4A7C15ull;
  std::vector<record> rs;
  int status = 0;
  for (const auto& path : o.models)
    if (!run_model(o, path, *bw, rs)) status = 1;
  if (o.output == "json") print_json(rs);
  else print_md(rs);
  if (!o.plot.empty() && !plot(rs, o.plot, o.plot_cpu)) status = status ? status : 1;
  return status;
}
