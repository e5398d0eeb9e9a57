// plm-run - generate text with a PLM GGUF model (one prompt, or a ChatML chat).
//
//   plm-run -m MODEL.gguf -p "Once upon a time" [-n 128] [-c 4096] [-t 2]
//           [--temp 0.8] [--top-k 40] [--top-p 0.95] [--min-p 0.05] [--repeat-penalty 1.0] [--seed 0]
//           [-b 64] [--cache f16|f32] [--no-mmap] [--verbose] [--chat [--system TEXT]] [--prompt-cache FILE]
//
// --prompt-cache FILE: when FILE holds a saved session whose tokens are a prefix of
// the prompt, only the rest is evaluated; the prompt's state is saved there after prefill.
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <string>
#include <vector>

#include "plm/engine/engine.hpp"
#include "plm/engine/generate.hpp"

namespace {
void usage(const char* argv0) {
  std::fprintf(stderr,
               "usage: %s -m MODEL.gguf [-p PROMPT | --chat [--system TEXT]] [-n N_PREDICT] [-c N_CTX] [-t THREADS]\n"
               "       [--temp T] [--top-k K] [--top-p P] [--min-p P] [--repeat-penalty R] [--seed S]\n"
               "       [-b N_BATCH] [--cache f16|f32] [--no-mmap] [--verbose] [--prompt-cache FILE]\n",
               argv0);
}

struct args {
  std::string model, prompt, system, prompt_cache;
  int32_t n_predict = 128;
  int64_t n_ctx = 4096, n_threads = 2, n_batch = 64;
  plm::dtype cache = plm::dtype::f16;
  plm::sample::sampler_params sampling;
  bool chat = false, no_mmap = false, verbose = false;
};

bool parse(int argc, char** argv, args& a) {
  for (int i = 1; i < argc; ++i) {
    const std::string k = argv[i];
    auto next = [&]() -> const char* { return i + 1 < argc ? argv[++i] : nullptr; };
    const char* v = nullptr;
    if (k == "--chat") a.chat = true;
    else if (k == "--no-mmap") a.no_mmap = true;
    else if (k == "--verbose") a.verbose = true;
    else if (!(v = next())) return false;
    else if (k == "-m") a.model = v;
    else if (k == "-p") a.prompt = v;
    else if (k == "--system") a.system = v;
    else if (k == "--prompt-cache") a.prompt_cache = v;
    else if (k == "-n") a.n_predict = std::atoi(v);
    else if (k == "-c") a.n_ctx = std::atoll(v);
    else if (k == "-t") a.n_threads = std::atoll(v);
    else if (k == "-b") a.n_batch = std::atoll(v);
    else if (k == "--temp") a.sampling.temperature = std::strtof(v, nullptr);
    else if (k == "--top-k") a.sampling.top_k = std::atoi(v);
    else if (k == "--top-p") a.sampling.top_p = std::strtof(v, nullptr);
    else if (k == "--min-p") a.sampling.min_p = std::strtof(v, nullptr);
    else if (k == "--repeat-penalty") a.sampling.repeat_penalty = std::strtof(v, nullptr);
    else if (k == "--seed") a.sampling.seed = std::strtoull(v, nullptr, 10);
    else if (k == "--cache") {
      if (!plm::parse_dtype(v, a.cache)) return false;
    } else return false;
  }
  return !a.model.empty() && (a.chat || !a.prompt.empty());
}

bool stream(std::string_view piece) {
  std::fwrite(piece.data(), 1, piece.size(), stdout);
  std::fflush(stdout);
  return true;
}

void summary(const plm::session& s, double load_ms, const plm::generate_result& r, bool verbose) {
  const double pf = r.prefill_ms > 0 ? static_cast<double>(r.n_prompt) * 1e3 / r.prefill_ms : 0.0;
  const double dc = r.decode_ms > 0 ? static_cast<double>(r.tokens.size()) * 1e3 / r.decode_ms : 0.0;
  std::fprintf(stderr,
               "\n[load %.0f ms | prefill %lld tokens %.1f t/s | decode %zu tokens %.2f t/s | cache %.1f KiB/token, "
               "%lld/%lld positions | ffn sparsity %.1f%%]\n",
               load_ms, static_cast<long long>(r.n_prompt), pf, r.tokens.size(), dc,
               static_cast<double>(s.memory().cache_per_token) / 1024.0, static_cast<long long>(s.n_past()),
               static_cast<long long>(s.n_ctx()), 100.0 * s.ffn_sparsity());
  if (verbose)
    for (int64_t il = 0; il < s.model().params().n_layer; ++il)
      std::fprintf(stderr, "  layer %2lld: ffn sparsity %.1f%%\n", static_cast<long long>(il), 100.0 * s.ffn_sparsity(il));
}
}  // namespace

int main(int argc, char** argv) {
  args a;
  if (!parse(argc, argv, a)) {
    usage(argv[0]);
    return 1;
  }
  const auto t0 = std::chrono::steady_clock::now();
  plm::load_options lo;
  if (a.no_mmap) lo.map.mode = plm::load_mode::read;
  auto m = plm::model::load(a.model, lo);
  if (!m) {
    std::fprintf(stderr, "error: %s\n", m.error().to_string().c_str());
    return 1;
  }
  plm::session_options so;
  so.n_ctx = a.n_ctx;
  so.n_threads = a.n_threads;
  so.n_batch = a.n_batch;
  so.cache_type = a.cache;
  auto s = plm::session::create(*m, so);
  if (!s) {
    std::fprintf(stderr, "error: %s\n", s.error().to_string().c_str());
    return 1;
  }
  const double load_ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
  if (a.verbose) {
    const auto& p = s->memory();
    std::fprintf(stderr, "memory: weights %.1f MiB mapped + %.1f MiB owned, cache %.1f MiB, scratch %.1f MiB, logits %.1f MiB\n",
                 p.weights_mapped / 1048576.0, p.weights_owned / 1048576.0, p.cache / 1048576.0, p.scratch / 1048576.0,
                 p.logits / 1048576.0);
  }
  plm::generate_options g;
  g.n_predict = a.n_predict;
  g.sampling = a.sampling;
  g.on_piece = stream;

  if (!a.chat && !a.prompt_cache.empty()) {
    // Evaluate all but the last prompt token (reusing the saved prefix), save, then
    // let generate() evaluate the last one: its logits start the sampling.
    if (!m->has_tokenizer()) {
      std::fprintf(stderr, "error: --prompt-cache needs a model with a vocabulary\n");
      return 1;
    }
    auto ids = m->tokenizer().encode(a.prompt, true, m->tokenizer().add_bos());
    if (!ids || ids->empty()) {
      std::fprintf(stderr, "error: %s\n", ids ? "empty prompt" : ids.error().to_string().c_str());
      return 1;
    }
    const size_t n = ids->size();
    size_t common = 0;
    if (std::FILE* f = std::fopen(a.prompt_cache.c_str(), "rb")) {
      std::fclose(f);
      auto loaded = s->load_state(a.prompt_cache);
      if (!loaded) {
        std::fprintf(stderr, "prompt cache not used: %s\n", loaded.error().to_string().c_str());
      } else {
        // keep the longest common prefix (all of the file when it is a prefix of the prompt)
        while (common < static_cast<size_t>(s->n_past()) && common + 1 < n && s->tokens()[common] == (*ids)[common]) ++common;
        (void)s->truncate(static_cast<int64_t>(common));
        if (a.verbose) std::fprintf(stderr, "prompt cache: reused %zu of %zu prompt tokens\n", common, n);
      }
    }
    if (common + 1 < n) {
      auto pr = s->prefill(ids->data() + common, n - 1 - common);
      if (!pr) {
        std::fprintf(stderr, "error: %s\n", pr.error().to_string().c_str());
        return 1;
      }
    }
    if (auto sv = s->save(a.prompt_cache); !sv) std::fprintf(stderr, "warning: %s\n", sv.error().to_string().c_str());
    auto r = plm::generate(*s, std::vector<int32_t>(ids->end() - 1, ids->end()), g);
    if (!r) {
      std::fprintf(stderr, "\nerror: %s\n", r.error().to_string().c_str());
      return 1;
    }
    summary(*s, load_ms, *r, a.verbose);
    return 0;
  }

  if (!a.chat) {
    auto r = plm::generate(*s, a.prompt, g);
    if (!r) {
      std::fprintf(stderr, "\nerror: %s\n", r.error().to_string().c_str());
      return 1;
    }
    summary(*s, load_ms, *r, a.verbose);
    return 0;
  }

  // Chat: the whole conversation is re-rendered with the model's template each turn;
  // the session keeps the tokens it shares with the new rendering and evaluates the rest.
  if (!m->has_tokenizer()) {
    std::fprintf(stderr, "error: the model has no vocabulary\n");
    return 1;
  }
  const auto& tok = m->tokenizer();
  std::vector<plm::text::chat_message> messages;
  if (!a.system.empty()) messages.push_back({"system", a.system});
  std::vector<int32_t> history;  // tokens in the session's cache
  std::string line;
  std::fprintf(stderr, "chat: type a message, an empty line or EOF ends\n");
  while (true) {
    std::fprintf(stderr, "\n> ");
    if (!std::getline(std::cin, line) || line.empty()) break;
    messages.push_back({"user", line});
    auto text = tok.apply_chat_template(messages, true);
    if (!text) {
      std::fprintf(stderr, "error: %s\n", text.error().to_string().c_str());
      return 1;
    }
    auto ids = tok.encode(*text, true, tok.add_bos());
    if (!ids) {
      std::fprintf(stderr, "error: %s\n", ids.error().to_string().c_str());
      return 1;
    }
    size_t common = 0;
    while (common < history.size() && common < ids->size() && history[common] == (*ids)[common]) ++common;
    if (common == ids->size() && common > 0) --common;  // re-evaluate one token to get fresh logits
    (void)s->truncate(static_cast<int64_t>(common));
    history.resize(common);
    const std::vector<int32_t> rest(ids->begin() + static_cast<std::ptrdiff_t>(common), ids->end());
    auto r = plm::generate(*s, rest, g);
    if (!r) {
      std::fprintf(stderr, "\nerror: %s\n", r.error().to_string().c_str());
      return 1;
    }
    history.insert(history.end(), rest.begin(), rest.end());
    history.insert(history.end(), r->tokens.begin(), r->tokens.end());
    // the session holds every sampled token; the template closes the turn itself
    messages.push_back({"assistant", r->text});
    summary(*s, load_ms, *r, a.verbose);
  }
  return 0;
}
