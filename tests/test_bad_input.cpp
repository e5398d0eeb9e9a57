// Rows of docs/bad-input.md that no other test backed: a missing file, a file
// that is not GGUF, invalid UTF-8 in a prompt, a prompt longer than the
// context, zero threads and n_ctx 0 at session creation.
#include <doctest/doctest.h>

#include <fstream>
#include <string>
#include <vector>

#include "plm/engine/engine.hpp"

namespace {
std::string data(const char* f) { return std::string(PLM_TEST_DATA_DIR) + "/" + f; }
template <class R>
void expect(const R& r, plm::errc kind, const char* text) {
  REQUIRE_FALSE(r);
  CHECK(r.error().kind() == kind);
  CHECK_MESSAGE(r.error().message().find(text) != std::string::npos, r.error().message());
}
}  // namespace

TEST_CASE("bad-input table: missing file and a file that is not GGUF") {
  auto missing = plm::model::load(data("no-such-model.gguf"));
  expect(missing, plm::errc::io_error, "no-such-model.gguf");
  // README.md of the test data is text, not GGUF.
  auto text = plm::model::load(data("README.md"));
  expect(text, plm::errc::invalid_format, "bad magic");
  auto planned = plm::plan_model(data("no-such-model.gguf"));
  expect(planned, plm::errc::io_error, "no-such-model.gguf");
}

TEST_CASE("bad-input table: invalid UTF-8 in a prompt is encoded byte by byte, nothing dropped") {
  auto m = plm::model::load(data("plm-tiny-f32.gguf"));
  REQUIRE(m);
  REQUIRE(m->has_tokenizer());
  const std::string bad = "ok \xFF\xC3 \xE2\x82 end\x80";
  auto ids = m->tokenizer().encode(bad);
  REQUIRE(ids);
  auto back = m->tokenizer().decode(*ids);
  REQUIRE(back);
  CHECK(*back == bad);
}

TEST_CASE("bad-input table: prompt longer than the context, zero threads, n_ctx 0") {
  auto m = plm::model::load(data("plm-tiny-f32.gguf"));
  REQUIRE(m);
  plm::session_options o;
  o.n_ctx = 4;
  auto s = plm::session::create(*m, o);
  REQUIRE(s);
  expect(s->prefill(std::vector<int32_t>{1, 2, 3, 4, 5}), plm::errc::context_overflow, "5 new > n_ctx 4");
  CHECK(s->n_past() == 0);
  o.n_threads = 0;
  expect(plm::session::create(*m, o), plm::errc::invalid_argument, "n_threads = 0");
  o.n_threads = 1;
  o.n_ctx = 0;
  expect(plm::session::create(*m, o), plm::errc::invalid_argument, "n_ctx = 0");
}

TEST_CASE("bad-input table: hostile block_count and misaligned tensor data (fuzz findings F3, F2)") {
  const std::string dir = std::string(PLM_TEST_DATA_DIR) + "/../fuzz/regressions/model_load/";
  // block_count = 2^24 with one block of tensors: rejected before anything is sized by it.
  auto huge = plm::model::load(dir + "oom-block-count-16777216-one-layer.gguf");
  expect(huge, plm::errc::missing, "plm.block_count is 16777216");
  auto huge_plan = plm::plan_model(dir + "oom-block-count-16777216-one-layer.gguf");
  expect(huge_plan, plm::errc::missing, "9 per block + 2");
  // general.alignment = 1 puts f32/f16 data at odd addresses.
  auto odd = plm::model::load(dir + "misaligned-tensor-data-general-alignment-1.gguf");
  expect(odd, plm::errc::unsupported, "is not aligned to");
}
