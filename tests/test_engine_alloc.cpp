// The session's promises about memory: the plan is computed before anything is
// allocated, create() allocates exactly that, and prefill/decode never touch
// the heap (global operator new is replaced by a counter in this program).
#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "alloc_counter.hpp"
#include "engine_test_models.hpp"
#include "plm/engine/engine.hpp"

TEST_CASE("64 decode steps allocate nothing; allocated bytes equal the memory plan") {
  for (plm::dtype wt : {plm::dtype::f32, plm::dtype::q8_0}) {
    CAPTURE(plm::name(wt));
    plm_test::model_spec spec;
    spec.n_vocab = 64, spec.n_embd = 128, spec.n_ff = 256, spec.kv_lora = 64, spec.nope = 32, spec.rope = 16, spec.v = 32;
    spec.matrix_type = wt;
    const std::string path = std::string(PLM_TEST_BINARY_DIR) + "/engine_alloc_" + std::string(plm::name(wt)) + ".gguf";
    REQUIRE(plm_test::write_model(spec, path));
    auto m = plm::model::load(path);
    REQUIRE(m);
    for (int64_t threads : {1, 2}) {
      for (plm::dtype cache : {plm::dtype::f16, plm::dtype::f32}) {
        plm::session_options o;
        o.n_ctx = 96;
        o.n_threads = threads;
        o.cache_type = cache;
        o.n_batch = 16;
        const plm::memory_plan p = plm::plan(*m, o);
        CHECK(p.cache == static_cast<size_t>(spec.n_layer * o.n_ctx * (spec.kv_lora + spec.rope)) *
                             (cache == plm::dtype::f16 ? 2u : 4u));
        CHECK(p.cache_per_token == static_cast<size_t>(spec.n_layer * (spec.kv_lora + spec.rope)) *
                                       (cache == plm::dtype::f16 ? 2u : 4u));
        CHECK(p.logits >= static_cast<size_t>(spec.n_vocab) * 4);
        CHECK(p.weights_owned == m->owned_bytes());
        CHECK(p.total() == p.weights_mapped + p.weights_owned + p.cache + p.scratch + p.logits);
        auto s = plm::session::create(*m, o);
        REQUIRE(s);
        CHECK(s->allocated_bytes() == p.session());
        CHECK(s->memory().session() == p.session());
        std::vector<int32_t> prompt = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20};
        const long before = plm_test::allocations();
        REQUIRE(s->prefill(prompt.data(), prompt.size()));
        int32_t t = 5;
        for (int i = 0; i < 64; ++i) {
          REQUIRE(s->decode(t));
          t = static_cast<int32_t>((t * 7 + 3) % spec.n_vocab);
        }
        const long during = plm_test::allocations() - before;
        CHECK(during == 0);
        CHECK(s->n_past() == 84);
      }
    }
  }
}
