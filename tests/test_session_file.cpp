// Session save/restore (issue 6 item 7): restoring a saved prompt must continue
// exactly like the original session, the file holds only n_past rows, and every
// mismatch (model, cache type, context, truncation, corruption) is rejected with
// the session left as it was.
#include <doctest/doctest.h>

#include <cstdio>
#include <cstring>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "engine_test_models.hpp"
#include "plm/engine/engine.hpp"

namespace {
plm_test::model_spec spec_with(uint32_t seed) {
  plm_test::model_spec spec;
  spec.n_vocab = 64, spec.n_embd = 128, spec.n_ff = 256, spec.kv_lora = 64, spec.nope = 32, spec.rope = 32, spec.v = 32;  // 64 + 32: a q8_0 cache needs a multiple of 32
  spec.seed = seed;
  return spec;
}
std::string write(uint32_t seed) {
  const std::string p = std::string(PLM_TEST_BINARY_DIR) + "/session_file_" + std::to_string(seed) + ".gguf";
  REQUIRE(plm_test::write_model(spec_with(seed), p));
  return p;
}
std::string tmp(const char* name) { return std::string(PLM_TEST_BINARY_DIR) + "/" + name; }
std::vector<uint8_t> slurp(const std::string& p) {
  std::ifstream in(p, std::ios::binary);
  return std::vector<uint8_t>(std::istreambuf_iterator<char>(in), {});
}
void spit(const std::string& p, const std::vector<uint8_t>& d) {
  std::ofstream out(p, std::ios::binary);
  out.write(reinterpret_cast<const char*>(d.data()), static_cast<std::streamsize>(d.size()));
}
const std::vector<int32_t> prompt = {3, 1, 4, 1, 5, 9, 2, 6, 5, 3, 5, 8, 9, 7, 9, 3, 2, 3, 8, 4};
}  // namespace

TEST_CASE("restore continues bit-identically; the file holds header + n_past rows per layer") {
  const std::string path = write(1);
  auto m = plm::model::load(path);
  REQUIRE(m);
  for (plm::dtype cache : {plm::dtype::f16, plm::dtype::f32, plm::dtype::q8_0}) {
    CAPTURE(plm::name(cache));
    plm::session_options so;
    so.n_ctx = 64;
    so.n_batch = 8;
    so.cache_type = cache;
    auto a = plm::session::create(*m, so);
    REQUIRE(a);
    REQUIRE(a->prefill(prompt));
    plm::sample::sampler_state st;
    st.rng.s[0] = 11, st.rng.s[1] = 22, st.rng.s[2] = 33, st.rng.s[3] = 44;
    st.recent = {7, 8, 9};
    const std::string f = tmp("session_ok.plms");
    REQUIRE(a->save(f, &st));

    // Size: computed here from the format, not by the library.
    const size_t row = static_cast<size_t>(spec_with(1).kv_lora + spec_with(1).rope);
    const size_t row_bytes = cache == plm::dtype::f32 ? row * 4 : cache == plm::dtype::f16 ? row * 2 : row / 32 * 34;
    const size_t header = 8 + 4 + 4 + 8 + 8 + 8 + 8 + 8 + 4 + 4 + 32;
    const size_t expect = header + prompt.size() * 4 + 3 * 4 +
                          prompt.size() * static_cast<size_t>(spec_with(1).n_layer) * row_bytes + 8;
    CHECK(slurp(f).size() == expect);
    CHECK(plm::session_file_bytes(20, spec_with(1).n_layer, row_bytes, 3) == expect);

    so.n_ctx = 48;  // a different (still sufficient) context is fine
    auto b = plm::session::create(*m, so);
    REQUIRE(b);
    plm::sample::sampler_state got;
    REQUIRE(b->load_state(f, &got));
    CHECK(b->n_past() == a->n_past());
    CHECK(std::memcmp(b->tokens(), prompt.data(), prompt.size() * 4) == 0);
    CHECK(got.rng == st.rng);
    CHECK(got.recent == st.recent);
    for (int32_t t : {10, 20, 30, 40}) {
      REQUIRE(a->decode(t));
      REQUIRE(b->decode(t));
      CHECK(std::memcmp(a->logits(), b->logits(), static_cast<size_t>(a->n_vocab()) * sizeof(float)) == 0);
    }
  }
}

TEST_CASE("session files from another model, cache type, a too small context, truncated or corrupt are rejected") {
  auto m1 = plm::model::load(write(1));
  auto m2 = plm::model::load(write(2));  // same shapes, other weights
  REQUIRE(m1);
  REQUIRE(m2);
  plm::session_options so;
  so.n_ctx = 64;
  auto a = plm::session::create(*m1, so);
  REQUIRE(a);
  REQUIRE(a->prefill(prompt));
  const std::string f = tmp("session_src.plms");
  REQUIRE(a->save(f));
  const std::vector<uint8_t> good = slurp(f);

  auto victim = plm::session::create(*m1, so);
  REQUIRE(victim);
  REQUIRE(victim->prefill(std::vector<int32_t>{1, 2, 3}));
  const auto unchanged = [&] {
    CHECK(victim->n_past() == 3);
    CHECK(victim->tokens()[2] == 3);
  };
  const auto expect = [&](plm::result<void> r, plm::errc kind, const char* text) {
    REQUIRE_FALSE(r);
    CHECK(r.error().kind() == kind);
    CHECK_MESSAGE(r.error().message().find(text) != std::string::npos, r.error().message());
  };

  auto other = plm::session::create(*m2, so);
  REQUIRE(other);
  expect(other->load_state(f), plm::errc::type_mismatch, "another model");
  CHECK(other->n_past() == 0);

  plm::session_options so32 = so;
  so32.cache_type = plm::dtype::f32;
  auto c32 = plm::session::create(*m1, so32);
  REQUIRE(c32);
  expect(c32->load_state(f), plm::errc::type_mismatch, "cache type f16 in the file, session has f32");

  plm::session_options small = so;
  small.n_ctx = 16;
  auto s16 = plm::session::create(*m1, small);
  REQUIRE(s16);
  expect(s16->load_state(f), plm::errc::context_overflow, "20 saved positions do not fit n_ctx 16");

  std::vector<uint8_t> cut(good.begin(), good.end() - 100);
  spit(tmp("session_cut.plms"), cut);
  expect(victim->load_state(tmp("session_cut.plms")), plm::errc::invalid_format, "truncated");
  unchanged();

  std::vector<uint8_t> flip = good;
  flip[flip.size() / 2] ^= 0x40;
  spit(tmp("session_flip.plms"), flip);
  expect(victim->load_state(tmp("session_flip.plms")), plm::errc::invalid_format, "checksum mismatch");
  unchanged();

  std::vector<uint8_t> magic = good;
  magic[0] = 'X';
  spit(tmp("session_magic.plms"), magic);
  expect(victim->load_state(tmp("session_magic.plms")), plm::errc::invalid_format, "not a plm session file");
  unchanged();

  std::vector<uint8_t> ver = good;
  ver[8] = 99;
  spit(tmp("session_ver.plms"), ver);
  expect(victim->load_state(tmp("session_ver.plms")), plm::errc::unsupported, "version 99");
  unchanged();

  expect(victim->load_state(tmp("no_such_session.plms")), plm::errc::io_error, "cannot open");
  unchanged();
}

TEST_CASE("PLM-1.8B figures: 1000 tokens of f16 latent cache vs llama.cpp's full K/V") {
  // PLM-1.8B: 32 layers, latent row 512 + 64 = 576 values; llama.cpp caches
  // K and V per head (16 heads × (192 + 128) = 5120 values) per layer.
  const size_t plm_rows = plm::session_file_bytes(1000, 32, 576 * 2);
  const size_t llama = size_t{1000} * 32 * 5120 * 2;
  MESSAGE("PLM-1.8B session file at 1000 tokens, f16: " << plm_rows << " B; llama.cpp K/V: " << llama << " B");
  CHECK(plm_rows - plm::session_file_bytes(0, 32, 576 * 2) == size_t{1000} * 4 + size_t{36864000});
  CHECK(llama / (plm_rows / 1000) >= 8);
}
