// plm-perplexity - perplexity of a text file, llama-perplexity's protocol and output.
//
//   plm-perplexity -m MODEL.gguf -f TEXT.txt [-c 512] [-t THREADS] [--cache f16|f32]
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>
#include <string>

#include "plm/engine/engine.hpp"
#include "plm/engine/perplexity.hpp"

int main(int argc, char** argv) {
  std::string model_path, text_path;
  int64_t n_ctx = 512, n_threads = 1;
  plm::dtype cache = plm::dtype::f16;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    const bool has = i + 1 < argc;
    if (a == "-m" && has) model_path = argv[++i];
    else if (a == "-f" && has) text_path = argv[++i];
    else if (a == "-c" && has) n_ctx = std::atoll(argv[++i]);
    else if (a == "-t" && has) n_threads = std::atoll(argv[++i]);
    else if (a == "--cache" && has) {
      if (!plm::parse_dtype(argv[++i], cache)) {
        std::fprintf(stderr, "unknown cache type '%s'\n", argv[i]);
        return 1;
      }
    } else {
      std::fprintf(stderr, "usage: %s -m MODEL.gguf -f TEXT [-c N_CTX] [-t THREADS] [--cache f16|f32]\n", argv[0]);
      return 1;
    }
  }
  if (model_path.empty() || text_path.empty()) {
    std::fprintf(stderr, "usage: %s -m MODEL.gguf -f TEXT [-c N_CTX] [-t THREADS] [--cache f16|f32]\n", argv[0]);
    return 1;
  }
  std::ifstream in(text_path, std::ios::binary);
  if (!in) {
    std::fprintf(stderr, "cannot read '%s'\n", text_path.c_str());
    return 1;
  }
  std::stringstream ss;
  ss << in.rdbuf();
  const std::string text = ss.str();

  auto m = plm::model::load(model_path);
  if (!m) {
    std::fprintf(stderr, "error: %s\n", m.error().to_string().c_str());
    return 1;
  }
  if (!m->has_tokenizer()) {
    std::fprintf(stderr, "error: '%s' has no vocabulary (tokenizer.ggml.*)\n", model_path.c_str());
    return 1;
  }
  const auto& tok = m->tokenizer();
  auto tokens = tok.encode(text, true, tok.add_bos());
  if (!tokens) {
    std::fprintf(stderr, "error: %s\n", tokens.error().to_string().c_str());
    return 1;
  }
  const int64_t n_chunk = static_cast<int64_t>(tokens->size()) / n_ctx;
  std::fprintf(stderr, "tokenized %zu tokens; %lld chunks of %lld\n", tokens->size(), static_cast<long long>(n_chunk),
               static_cast<long long>(n_ctx));
  plm::session_options o;
  o.n_ctx = n_ctx;
  o.n_batch = n_ctx;
  o.n_threads = n_threads;
  o.cache_type = cache;
  o.logits_all = true;
  auto s = plm::session::create(*m, o);
  if (!s) {
    std::fprintf(stderr, "error: %s\n", s.error().to_string().c_str());
    return 1;
  }
  const auto t0 = std::chrono::steady_clock::now();
  auto r = plm::perplexity(*s, *tokens, n_ctx, tok.add_bos() ? tok.bos_id() : -1, [](int64_t i, double p) {
    std::printf("[%lld]%.4f,", static_cast<long long>(i + 1), p);
    std::fflush(stdout);
  });
  std::printf("\n");
  if (!r) {
    std::fprintf(stderr, "error: %s\n", r.error().to_string().c_str());
    return 1;
  }
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  std::printf("Final estimate: PPL = %.4f +/- %.5f\n", r->ppl, r->ppl_error);
  std::fprintf(stderr, "%lld chunks, %lld predictions scored, %.2f s (%.1f tokens/s)\n", static_cast<long long>(r->n_chunks),
               static_cast<long long>(r->n_scored), secs, static_cast<double>(r->n_chunks * n_ctx) / secs);
  return 0;
}
