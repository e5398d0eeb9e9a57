// plm-synth - write a synthetic PLM model (random weights, real layout) as GGUF.
//
//   plm-synth -o model.gguf                       # PLM-1.8B shapes, Q8_0
//   plm-synth -o tiny.gguf --layers 2 --hidden 256 --heads 4 --ff 1024
//             --kv-lora-rank 64 --rope-dim 16 --nope-dim 32 --v-dim 32 --vocab 512 --type q4_k_m
//
// Exit status: 0 written, 1 the write failed, 2 bad command line.
#include <unistd.h>

#include <chrono>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <string_view>

#include "plm/synth/synth.hpp"

namespace {

void usage(std::FILE* out) {
  std::fprintf(out,
               "usage: plm-synth -o OUT.gguf [options]\n"
               "Writes a PLM-architecture GGUF with seeded random weights (defaults: PLM-1.8B shapes, Q8_0).\n"
               "\n"
               "  -o, --output PATH       file to write (required)\n"
               "  --layers N              blocks (32)\n"
               "  --hidden N              embedding width (2048)\n"
               "  --heads N               attention heads (16)\n"
               "  --ff N                  FFN width (8192)\n"
               "  --kv-lora-rank N        MLA latent width (512)\n"
               "  --rope-dim N            rotary part of each key/query head, even (64)\n"
               "  --nope-dim N            non-rotary part of each key/query head (128)\n"
               "  --v-dim N               value head width (128)\n"
               "  --vocab N               embedding rows, >= the tokenizer's tokens (151936)\n"
               "  --ctx N                 context length (4096)\n"
               "  --theta X               rope base frequency (100000)\n"
               "  --eps X                 RMSNorm epsilon (1e-6)\n"
               "  --type T                f32 f16 bf16 q8_0 q4_0 q4_k q5_k q6_k q4_k_m (q8_0)\n"
               "  --tensor-type NAME=T    type of one tensor or of every tensor ending in .NAME\n"
               "                          (e.g. ffn_down.weight=q6_k); repeatable; T any ggml weight type\n"
               "  --seed S                random seed (42)\n"
               "  --ffn-sparsity F        target fraction of zero ReLU^2 activations, 0.01..0.99 (0.5)\n"
               "  --tokenizer-json PATH   take the vocabulary from a Hugging Face tokenizer.json\n"
               "                          (default: plm's small built-in byte-level BPE vocabulary)\n"
               "  --name S                general.name (plm-synth)\n"
               "  --threads N             threads generating and quantizing (2; 0 = all)\n"
               "  --progress, --no-progress  progress bar on stderr (default: when stderr is a terminal)\n"
               "  -h, --help              this text\n");
}

[[noreturn]] void fail_usage(const std::string& msg) {
  std::fprintf(stderr, "plm-synth: %s\n(see plm-synth --help)\n", msg.c_str());
  std::exit(2);
}

uint64_t parse_uint(const std::string& flag, const char* s, uint64_t lo, uint64_t hi) {
  if (!*s || *s == '-' || *s == '+' || *s == ' ')
    fail_usage(flag + ": expected an integer in [" + std::to_string(lo) + ", " + std::to_string(hi) + "], found '" + s + "'");
  errno = 0;
  char* end = nullptr;
  const unsigned long long v = std::strtoull(s, &end, 10);
  if (errno == ERANGE || *end != '\0' || v < lo || v > hi)
    fail_usage(flag + ": expected an integer in [" + std::to_string(lo) + ", " + std::to_string(hi) + "], found '" + s + "'");
  return v;
}

double parse_real(const std::string& flag, const char* s) {
  errno = 0;
  char* end = nullptr;
  const double v = std::strtod(s, &end);
  if (!*s || errno == ERANGE || *end != '\0' || !std::isfinite(v))
    fail_usage(flag + ": expected a finite number, found '" + s + "'");
  return v;
}

std::string with_commas(uint64_t v) {
  std::string s = std::to_string(v);
  for (int i = static_cast<int>(s.size()) - 3; i > 0; i -= 3) s.insert(static_cast<size_t>(i), ",");
  return s;
}

}  // namespace

int main(int argc, char** argv) {
  plm::synth::options o;
  std::string out;
  int progress_mode = -1;  // -1 auto, 0 off, 1 on
  const uint64_t max_dim = 1u << 24;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "-h" || a == "--help") {
      usage(stdout);
      return 0;
    }
    if (a == "--progress") {
      progress_mode = 1;
      continue;
    }
    if (a == "--no-progress") {
      progress_mode = 0;
      continue;
    }
    if (a.empty() || a[0] != '-') fail_usage("unexpected argument '" + a + "'");
    if (i + 1 >= argc) fail_usage(a + ": missing value");
    const char* v = argv[++i];
    auto dim = [&](uint32_t& field) { field = static_cast<uint32_t>(parse_uint(a, v, 1, max_dim)); };
    if (a == "-o" || a == "--output") {
      if (!*v) fail_usage(a + ": empty path");
      out = v;
    } else if (a == "--layers") dim(o.n_layer);
    else if (a == "--hidden") dim(o.n_embd);
    else if (a == "--heads") dim(o.n_head);
    else if (a == "--ff") dim(o.n_ff);
    else if (a == "--kv-lora-rank") dim(o.kv_lora_rank);
    else if (a == "--rope-dim") dim(o.rope_dim);
    else if (a == "--nope-dim") dim(o.nope_dim);
    else if (a == "--v-dim") dim(o.v_dim);
    else if (a == "--vocab") dim(o.vocab);
    else if (a == "--ctx") dim(o.ctx);
    else if (a == "--theta") o.rope_theta = static_cast<float>(parse_real(a, v));
    else if (a == "--eps") o.eps = static_cast<float>(parse_real(a, v));
    else if (a == "--ffn-sparsity") o.ffn_sparsity = static_cast<float>(parse_real(a, v));
    else if (a == "--seed") o.seed = parse_uint(a, v, 0, UINT64_MAX);
    else if (a == "--threads") o.n_threads = static_cast<unsigned>(parse_uint(a, v, 0, 1024));
    else if (a == "--name") o.name = v;
    else if (a == "--tokenizer-json") o.tokenizer_json = v;
    else if (a == "--type") {
      if (!plm::synth::parse_weight_type(v, o.type))
        fail_usage("--type: expected one of f32 f16 bf16 q8_0 q4_0 q4_k q5_k q6_k q4_k_m, found '" + std::string(v) + "'");
    } else if (a == "--tensor-type") {
      const std::string s = v;
      const size_t eq = s.rfind('=');
      plm::dtype t{};
      if (eq == std::string::npos || eq == 0 || !plm::parse_dtype(std::string_view(s).substr(eq + 1), t))
        fail_usage("--tensor-type: expected NAME=TYPE with a ggml type name (e.g. ffn_down.weight=q6_K), found '" + s + "'");
      o.tensor_types.emplace_back(s.substr(0, eq), t);
    } else {
      fail_usage("unknown option '" + a + "'");
    }
  }
  if (out.empty()) fail_usage("missing -o OUT.gguf");
  if (auto r = plm::synth::validate(o); !r) fail_usage(r.error().message());
  if (!o.tokenizer_json.empty()) {
    std::FILE* tj = std::fopen(o.tokenizer_json.c_str(), "rb");
    if (!tj) fail_usage("--tokenizer-json: cannot open '" + o.tokenizer_json + "': " + std::strerror(errno));
    std::fclose(tj);
  }

  const bool show = progress_mode == 1 || (progress_mode == -1 && ::isatty(2));
  int last_pct = -1;
  plm::synth::progress_callback progress;
  if (show) {
    progress = [&last_pct](uint64_t done, uint64_t total) {
      const int pct = total ? static_cast<int>(done * 100 / total) : 100;
      if (pct == last_pct) return;
      last_pct = pct;
      char bar[41];
      for (int k = 0; k < 40; ++k) bar[k] = k < pct * 40 / 100 ? '#' : '.';
      bar[40] = '\0';
      std::fprintf(stderr, "\r[%s] %3d%%  %.0f / %.0f MB", bar, pct, done / 1e6, total / 1e6);
      std::fflush(stderr);
    };
  }
  const auto t0 = std::chrono::steady_clock::now();
  auto r = plm::synth::write_model(o, out, progress);
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  if (show) std::fprintf(stderr, "\n");
  if (!r) {
    std::fprintf(stderr, "plm-synth: %s\n", r.error().to_string().c_str());
    // Writing failed (1), or the options or the tokenizer file were unusable (2).
    return r.error().kind() == plm::errc::io_error ? 1 : 2;
  }
  const auto s = plm::synth::summarize(plm::synth::plan_tensors(o));
  uint64_t file_bytes = 0;
  if (std::FILE* f = std::fopen(out.c_str(), "rb")) {
    std::fseek(f, 0, SEEK_END);
    file_bytes = static_cast<uint64_t>(std::ftell(f));
    std::fclose(f);
  }
  std::string types;
  for (const auto& [t, n] : s.type_counts)
    types += (types.empty() ? "" : ", ") + std::string(plm::name(t)) + " x" + std::to_string(n);
  std::printf("wrote %s: PLM %u layers, hidden %u, heads %u, ff %u, kv_lora %u, rope %u, nope %u, v %u, vocab %u, ctx %u\n",
              out.c_str(), o.n_layer, o.n_embd, o.n_head, o.n_ff, o.kv_lora_rank, o.rope_dim, o.nope_dim, o.v_dim,
              o.vocab, o.ctx);
  std::printf("  type %s, seed %llu, ffn_sparsity %.2f\n", plm::synth::to_string(o.type),
              static_cast<unsigned long long>(o.seed), static_cast<double>(o.ffn_sparsity));
  std::printf("  %s parameters, %zu tensors (%s)\n", with_commas(s.n_params).c_str(), s.n_tensors, types.c_str());
  std::printf("  %s bytes of tensor data, %s bytes in the file, %.1f s\n", with_commas(s.tensor_bytes).c_str(),
              with_commas(file_bytes).c_str(), secs);
  return 0;
}
