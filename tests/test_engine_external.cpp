// External check: the engine against numbers llama.cpp computed on two tiny PLM
// GGUFs written by an independent writer (tests/data/README.md). Perplexity of
// ppl-text.txt at -c 64 and the greedy continuation of a prompt exercise the
// RoPE convention, norm placement, kv_b split, softmax scale and tied output.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "plm/engine/engine.hpp"
#include "plm/engine/perplexity.hpp"

namespace {
std::string data(const std::string& f) { return std::string(PLM_TEST_DATA_DIR) + "/" + f; }

std::string read_text() {
  std::ifstream in(data("ppl-text.txt"), std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// README's rendering of generated text: token pieces concatenated, a lone byte that is
// not valid UTF-8 on its own shown as '?', control characters (one token here is the
// byte 0x18) not shown at all, as in the README's printout.
std::string render(const plm::text::tokenizer& tok, const std::vector<int32_t>& ids) {
  std::string s;
  for (int32_t id : ids) {
    auto p = tok.decode(&id, 1, true);
    REQUIRE(p);
    if (p->size() == 1 && static_cast<unsigned char>((*p)[0]) >= 0x80) s += '?';
    else
      for (char ch : *p)
        if (static_cast<unsigned char>(ch) >= 0x20) s += ch;
  }
  return s;
}

// Greedy continuation, stopped before the first step whose top-2 logit gap is below
// `tie` of the logit range: past a near-tie, an implementation that is correct within
// `tie` may legitimately continue differently (llama.cpp and plm round at different
// points: plm never materialises k_nope/v and so never quantizes ĉ for attn_kv_b).
std::vector<int32_t> greedy(plm::session& s, const std::vector<int32_t>& prompt, int n, double tie) {
  REQUIRE(s.prefill(prompt));
  std::vector<int32_t> out;
  for (int i = 0; i < n; ++i) {
    const float* lg = s.logits();
    int32_t best = 0, second = -1;
    float lo = lg[0], hi = lg[0];
    for (int32_t v = 1; v < s.n_vocab(); ++v) {
      lo = std::min(lo, lg[v]);
      hi = std::max(hi, lg[v]);
      if (lg[v] > lg[best]) {
        second = best;
        best = v;
      } else if (second < 0 || lg[v] > lg[second]) {
        second = v;
      }
    }
    if ((lg[best] - lg[second]) / (hi - lo) < tie) break;
    out.push_back(best);
    REQUIRE(s.decode(best));
  }
  return out;
}

struct fixture_case {
  const char* file;
  double ppl, err, rel_tol;
  double tie;         // top-2 gap (relative to the logit range) below which greedy comparison stops
  size_t min_greedy;  // tokens that must be generated before a near-tie may stop the comparison
  size_t n_compare;   // greedy tokens compared at most
};
}  // namespace

TEST_CASE("tiny fixtures: perplexity and greedy continuation match llama.cpp") {
  // llama.cpp's greedy texts (README): q8_0's equals f32's up to "M", then "[T337]".
  const std::string f32_text = "[T434]][T336][T501]?[T502][T424]B?[T498][T401]?[T401]?eses[T438][T411]?[T420]M[T427]?";
  const std::string q8_text = f32_text.substr(0, f32_text.find('M') + 1) + "[T337]";
  // q8_0: llama.cpp quantizes activations to Q8_0 before every matmul, so the README
  // promises PPL agreement only to ~1e-2. Greedy: the f32 file's closest top-2 gap is
  // 5.5e-4 of the logit range (step 10), so with f32's 1e-4 tie margin all 24 tokens are
  // compared. For q8_0 the two engines round at different points (plm absorbs W_UK in
  // f32 instead of quantizing the latent to Q8_0; the SIMD paths contract differently),
  // so their logits differ by 1e-3..1e-2 of the range: step 10's 5.5e-4 gap is inside
  // that noise on some ISAs, so exactly the 10 tokens before it are compared.
  const fixture_case cases[] = {
      {"plm-tiny-f32.gguf", 1581.5260, 136.32992, 1e-4, 1e-4, 24, 24},
      {"plm-tiny-q8_0.gguf", 1585.5607, 136.99267, 1e-2, 0.0, 10, 10},
  };
  for (const auto& c : cases) {
    CAPTURE(c.file);
    auto m = plm::model::load(data(c.file));
    REQUIRE(m);
    REQUIRE(m->has_tokenizer());
    const auto& tok = m->tokenizer();
    auto prompt = tok.encode("The robot sorted 412 screws.", true, false);
    REQUIRE(prompt);
    CHECK(*prompt == std::vector<int32_t>{51, 258, 220, 305, 65, 313, 264, 273, 83, 276, 220, 19, 16, 17, 264, 66, 260, 86, 82, 13});

    auto all = tok.encode(read_text(), true, tok.add_bos());
    REQUIRE(all);
    // llama.cpp reported 9 chunks of 64 for this file; score the same 9.
    REQUIRE(all->size() >= 9 * 64);
    all->resize(9 * 64);
    plm::session_options o;
    o.n_ctx = 64;
    o.n_batch = 64;
    o.logits_all = true;
    o.n_threads = 2;
    auto s = plm::session::create(*m, o);
    REQUIRE(s);
    auto r = plm::perplexity(*s, *all, 64, tok.add_bos() ? tok.bos_id() : -1);
    REQUIRE(r);
    MESSAGE("PPL = " << r->ppl << " +/- " << r->ppl_error << " (llama.cpp " << c.ppl << " +/- " << c.err << ")");
    CHECK(r->n_chunks == 9);
    CHECK(std::fabs(r->ppl - c.ppl) / c.ppl <= c.rel_tol);
    CHECK(std::fabs(r->ppl_error - c.err) / c.err <= 10 * c.rel_tol);

    plm::session_options g;
    g.n_ctx = 64;
    auto gs = plm::session::create(*m, g);
    REQUIRE(gs);
    const auto ids = greedy(*gs, *prompt, c.n_compare, c.tie);
    CHECK(ids.size() >= c.min_greedy);
    const auto text = render(tok, ids);
    MESSAGE("greedy (" << ids.size() << " tokens before any near-tie): " << text);
    const std::string& want = c.rel_tol < 1e-3 ? f32_text : q8_text;
    CHECK(want.compare(0, text.size(), text) == 0);  // a prefix of llama.cpp's text
    if (ids.size() == 24) CHECK(text == want);
  }
}
