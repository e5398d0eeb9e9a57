// Weight and session memory modes (issue 6 item 6): mmap (plain, prefaulted,
// mlocked), read into owned memory, and caller-supplied buffers must give the
// same logits bit for bit, and the caller-buffer mode must not touch the heap
// after load (global operator new is replaced by a counter in this program).
#include <doctest/doctest.h>

#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "alloc_counter.hpp"
#include "engine_test_models.hpp"
#include "plm/engine/engine.hpp"

namespace {
plm_test::model_spec small_spec() {
  plm_test::model_spec spec;
  spec.n_vocab = 64, spec.n_embd = 128, spec.n_ff = 256, spec.kv_lora = 64, spec.nope = 32, spec.rope = 16, spec.v = 32;
  spec.matrix_type = plm::dtype::q8_0;
  return spec;
}
std::string model_path() {
  static const std::string path = [] {
    const std::string p = std::string(PLM_TEST_BINARY_DIR) + "/memory_modes_q8_0.gguf";
    REQUIRE(plm_test::write_model(small_spec(), p));
    return p;
  }();
  return path;
}
const std::vector<int32_t> prompt = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20};

// Logits after the prompt and after each of `steps` greedy decode steps, concatenated.
std::vector<float> run(plm::session& s, int steps) {
  std::vector<float> out;
  REQUIRE(s.prefill(prompt));
  for (int i = 0; i <= steps; ++i) {
    const float* l = s.logits();
    out.insert(out.end(), l, l + s.n_vocab());
    if (i == steps) break;
    REQUIRE(s.decode(static_cast<int32_t>((i * 7 + 3) % s.n_vocab())));
  }
  return out;
}

struct free_deleter {
  void operator()(void* p) const { std::free(p); }
};
void* aligned(size_t n) {
  void* p = nullptr;
  REQUIRE(posix_memalign(&p, 64, n == 0 ? 64 : n) == 0);
  return p;
}
}  // namespace

TEST_CASE("mmap, prefault+mlock, read and caller buffers give bit-identical logits") {
  plm::session_options so;
  so.n_ctx = 64;
  so.n_batch = 8;
  auto ref_model = plm::model::load(model_path());
  REQUIRE(ref_model);
  auto ref_s = plm::session::create(*ref_model, so);
  REQUIRE(ref_s);
  const std::vector<float> ref = run(*ref_s, 8);

  auto owned = plm::plan_model(model_path());
  REQUIRE(owned);
  CHECK(*owned == ref_model->owned_bytes());
  CHECK(*owned > 0);

  for (int mode = 0; mode < 4; ++mode) {
    CAPTURE(mode);
    plm::load_options lo;
    if (mode == 1) lo.map.prefault = true, lo.map.lock = true;
    if (mode == 2) lo.map.mode = plm::load_mode::read;
    std::unique_ptr<void, free_deleter> wbuf(aligned(*owned)), sbuf;
    if (mode == 3) lo.weight_buffer = {wbuf.get(), *owned};
    auto m = plm::model::load(model_path(), lo);
    if (!m && mode == 1 && m.error().kind() == plm::errc::io_error) {
      MESSAGE("mlock refused here (RLIMIT_MEMLOCK): " << m.error().message());
      lo.map.lock = false;
      m = plm::model::load(model_path(), lo);
    }
    REQUIRE(m);
    CHECK(m->uses_caller_weight_buffer() == (mode == 3));
    plm::result<plm::session> s = plm::make_error(plm::errc::missing, "unset");
    if (mode == 3) {
      const size_t need = plm::plan(*m, so).session();
      sbuf.reset(aligned(need));
      s = plm::session::create(*m, so, sbuf.get(), need);
      REQUIRE(s);
      CHECK(s->allocated_bytes() == 0);
    } else {
      s = plm::session::create(*m, so);
    }
    REQUIRE(s);
    const std::vector<float> got = run(*s, 8);
    REQUIRE(got.size() == ref.size());
    CHECK(std::memcmp(got.data(), ref.data(), ref.size() * sizeof(float)) == 0);
  }
}

TEST_CASE("caller-buffer mode with a caller pool: no heap allocation for the session after load") {
  const auto owned = plm::plan_model(model_path());
  REQUIRE(owned);
  std::unique_ptr<void, free_deleter> wbuf(aligned(*owned));
  plm::load_options lo;
  lo.weight_buffer = {wbuf.get(), *owned};
  auto m = plm::model::load(model_path(), lo);
  REQUIRE(m);
  // Threads are started once, up front (that allocates); sessions then borrow them.
  auto pool = plm::thread_pool::create(2);
  REQUIRE(pool);
  plm::session_options so;
  so.n_ctx = 64;
  so.n_batch = 8;
  so.n_threads = 2;
  so.pool = &*pool;
  const size_t need = plm::plan(*m, so).session();
  std::unique_ptr<void, free_deleter> sbuf(aligned(need));
  int32_t tokens[20];
  for (int i = 0; i < 20; ++i) tokens[i] = prompt[static_cast<size_t>(i)];

  const long before = plm_test::allocations();
  {
    auto s = plm::session::create(*m, so, sbuf.get(), need);
    const long at_create = plm_test::allocations() - before;
    CHECK(at_create == 0);
    REQUIRE(s);
    REQUIRE(s->prefill(tokens, 20));
    int32_t t = 5;
    for (int i = 0; i < 32; ++i) {
      REQUIRE(s->decode(t));
      t = static_cast<int32_t>((t * 7 + 3) % s->n_vocab());
    }
    CHECK(plm_test::allocations() - before == at_create);
    CHECK(s->n_past() == 52);
  }
}

TEST_CASE("too small and misaligned caller buffers are rejected with the needed size / alignment") {
  const auto owned = plm::plan_model(model_path());
  REQUIRE(owned);
  std::unique_ptr<void, free_deleter> wbuf(aligned(*owned + 64));
  plm::load_options lo;
  lo.weight_buffer = {wbuf.get(), *owned - 1};
  auto small = plm::model::load(model_path(), lo);
  REQUIRE_FALSE(small);
  CHECK(small.error().kind() == plm::errc::out_of_memory);
  CHECK(small.error().message().find("needed " + std::to_string(*owned) + " bytes, given " + std::to_string(*owned - 1)) !=
        std::string::npos);
  lo.weight_buffer = {static_cast<uint8_t*>(wbuf.get()) + 8, *owned};
  auto mis = plm::model::load(model_path(), lo);
  REQUIRE_FALSE(mis);
  CHECK(mis.error().kind() == plm::errc::invalid_argument);
  CHECK(mis.error().message().find("aligned to 64 bytes") != std::string::npos);

  auto m = plm::model::load(model_path());
  REQUIRE(m);
  plm::session_options so;
  so.n_ctx = 32;
  const size_t need = plm::plan(*m, so).session();
  std::unique_ptr<void, free_deleter> sbuf(aligned(need + 64));
  auto s1 = plm::session::create(*m, so, sbuf.get(), need - 1);
  REQUIRE_FALSE(s1);
  CHECK(s1.error().kind() == plm::errc::out_of_memory);
  CHECK(s1.error().message().find("needed " + std::to_string(need) + " bytes, given " + std::to_string(need - 1)) !=
        std::string::npos);
  auto s2 = plm::session::create(*m, so, static_cast<uint8_t*>(sbuf.get()) + 4, need);
  REQUIRE_FALSE(s2);
  CHECK(s2.error().kind() == plm::errc::invalid_argument);
  CHECK(s2.error().message().find("aligned to 64 bytes") != std::string::npos);
  auto s3 = plm::session::create(*m, so, nullptr, need);
  REQUIRE_FALSE(s3);
  CHECK(s3.error().kind() == plm::errc::invalid_argument);
}

TEST_CASE("caller-buffer load: the count of small allocations does not depend on the model's dimensions") {
  // What load() itself still allocates in caller-buffer mode (mmap): the GGUF
  // metadata and tensor directory (keys, strings, tensor infos), the vector of
  // per-layer views and the per-layer ffn_down type list. None of it scales with
  // n_embd/n_ff, which this checks:
  // two models with the same layer count, vocabulary and names but 4x the width.
  long counts[2] = {0, 0};
  for (int i = 0; i < 2; ++i) {
    plm_test::model_spec spec = small_spec();
    if (i == 1) spec.n_embd *= 4, spec.n_ff *= 4;
    const std::string path = std::string(PLM_TEST_BINARY_DIR) + "/memory_modes_width" + std::to_string(i) + ".gguf";
    REQUIRE(plm_test::write_model(spec, path));
    const auto owned = plm::plan_model(path);
    REQUIRE(owned);
    std::unique_ptr<void, free_deleter> wbuf(aligned(*owned));
    plm::load_options lo;
    lo.weight_buffer = {wbuf.get(), *owned};
    const long before = plm_test::allocations();
    {
      auto m = plm::model::load(path, lo);
      REQUIRE(m);
      counts[i] = plm_test::allocations() - before;
    }
  }
  MESSAGE("allocations in caller-buffer load: " << counts[0] << " (width x1), " << counts[1] << " (width x4)");
  CHECK(counts[0] == counts[1]);
}

TEST_CASE("a caller pool whose size differs from n_threads is rejected") {
  auto m = plm::model::load(model_path());
  REQUIRE(m);
  auto pool = plm::thread_pool::create(3);
  REQUIRE(pool);
  plm::session_options so;
  so.n_ctx = 64;
  so.n_threads = 2;
  so.pool = &*pool;
  auto s = plm::session::create(*m, so);
  REQUIRE_FALSE(s);
  CHECK(s.error().kind() == plm::errc::invalid_argument);
  CHECK(s.error().message().find("pool has 3 threads, expected n_threads = 2") != std::string::npos);
}
