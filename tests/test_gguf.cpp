// Tests of the GGUF reader and writer: round trips of every value type and
// several dtypes, the independently written fixtures in tests/data, typed
// accessor errors, writer validation. Malformed files: test_gguf_corrupt.cpp.
#include <doctest/doctest.h>

#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "plm/gguf/reader.hpp"
#include "plm/gguf/writer.hpp"

using plm::dtype;
using plm::errc;
namespace gguf = plm::gguf;

namespace {

std::vector<uint8_t> pattern_bytes(size_t n, uint32_t seed) {
  std::vector<uint8_t> v(n);
  uint32_t x = seed * 2654435761u + 1;
  for (auto& b : v) {
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    b = static_cast<uint8_t>(x);
  }
  return v;
}

bool contains(const std::string& s, const std::string& sub) { return s.find(sub) != std::string::npos; }

float f16_to_f32(uint16_t h) {
  // Independent of plm/quant: plain IEEE half decoding for fixture checks.
  const int sign = (h >> 15) & 1, exp = (h >> 10) & 31, mant = h & 1023;
  float v;
  if (exp == 0) v = std::ldexp(static_cast<float>(mant), -24);
  else if (exp == 31) v = mant ? NAN : INFINITY;
  else v = std::ldexp(static_cast<float>(mant + 1024), exp - 25);
  return sign ? -v : v;
}

std::string tmp_path(const char* name) { return std::string(PLM_TEST_BINARY_DIR) + "/" + name; }

}  // namespace

TEST_CASE("value_type names") {
  CHECK(std::string(gguf::to_string(gguf::value_type::u32)) == "u32");
  CHECK(std::string(gguf::to_string(gguf::value_type::boolean)) == "bool");
  CHECK(std::string(gguf::to_string(gguf::value_type::array)) == "array");
  CHECK(std::string(gguf::to_string(static_cast<gguf::value_type>(77))) == "unknown");
}

TEST_CASE("round trip: every value type, scalar and array, in order") {
  gguf::writer w;
  w.set_u8("t.u8", 200);
  w.set_i8("t.i8", -100);
  w.set_u16("t.u16", 60000);
  w.set_i16("t.i16", -30000);
  w.set_u32("t.u32", 4000000000u);
  w.set_i32("t.i32", -2000000000);
  w.set_f32("t.f32", 3.25f);
  w.set_bool("t.bool", true);
  w.set_string("t.string", "héllo\n");
  w.set_u64("t.u64", 0xfedcba9876543210ull);
  w.set_i64("t.i64", -0x123456789abcdefll);
  w.set_f64("t.f64", -1.0 / 3.0);
  w.set_array<uint8_t>("a.u8", {1, 2, 255});
  w.set_array<int8_t>("a.i8", {-1, 0, 127});
  w.set_array<uint16_t>("a.u16", {65535, 7});
  w.set_array<int16_t>("a.i16", {-32768, 32767});
  w.set_array<uint32_t>("a.u32", {1, 2, 3, 4});
  w.set_array<int32_t>("a.i32", {-5, 5});
  w.set_array<float>("a.f32", {0.5f, -1e30f, 1e-30f});
  w.set_array<bool>("a.bool", {true, false, true});
  w.set_string_array("a.string", std::vector<std::string>{"a", "", "xyz", std::string("n\0l", 3)});
  w.set_array<uint64_t>("a.u64", {~0ull});
  w.set_array<int64_t>("a.i64", {INT64_MIN, INT64_MAX});
  w.set_array<double>("a.f64", {1e300, -0.0});
  w.set_array<int32_t>("a.empty", {});
  w.set_string("t.string", "replaced");  // replace keeps position

  auto bytes = w.write_memory();
  REQUIRE(bytes);
  auto f = gguf::file::from_memory(bytes->data(), bytes->size());
  REQUIRE_MESSAGE(f, f.error().to_string());
  CHECK(f->version() == 3);
  CHECK(f->alignment() == 32);
  REQUIRE(f->n_kv() == 25);
  const char* order[] = {"t.u8",  "t.i8",    "t.u16",  "t.i16",  "t.u32",  "t.i32",  "t.f32",   "t.bool", "t.string",
                         "t.u64", "t.i64",   "t.f64",  "a.u8",   "a.i8",   "a.u16",  "a.i16",   "a.u32",  "a.i32",
                         "a.f32", "a.bool",  "a.string", "a.u64", "a.i64",  "a.f64",  "a.empty"};
  for (size_t i = 0; i < 25; ++i) CHECK(f->key(i) == order[i]);
  CHECK(f->type_of(0) == gguf::value_type::u8);
  CHECK(f->type_of(8) == gguf::value_type::string);
  CHECK(f->type_of(12) == gguf::value_type::array);

  CHECK(*f->get<uint8_t>("t.u8") == 200);
  CHECK(*f->get<int8_t>("t.i8") == -100);
  CHECK(*f->get<uint16_t>("t.u16") == 60000);
  CHECK(*f->get<int16_t>("t.i16") == -30000);
  CHECK(*f->get<uint32_t>("t.u32") == 4000000000u);
  CHECK(*f->get<int32_t>("t.i32") == -2000000000);
  CHECK(*f->get<float>("t.f32") == 3.25f);
  CHECK(*f->get<bool>("t.bool") == true);
  CHECK(*f->get<std::string_view>("t.string") == "replaced");
  CHECK(*f->get<uint64_t>("t.u64") == 0xfedcba9876543210ull);
  CHECK(*f->get<int64_t>("t.i64") == -0x123456789abcdefll);
  CHECK(*f->get<double>("t.f64") == -1.0 / 3.0);

  CHECK(*f->get_array<uint8_t>("a.u8") == std::vector<uint8_t>{1, 2, 255});
  CHECK(*f->get_array<int8_t>("a.i8") == std::vector<int8_t>{-1, 0, 127});
  CHECK(*f->get_array<uint16_t>("a.u16") == std::vector<uint16_t>{65535, 7});
  CHECK(*f->get_array<int16_t>("a.i16") == std::vector<int16_t>{-32768, 32767});
  CHECK(*f->get_array<uint32_t>("a.u32") == std::vector<uint32_t>{1, 2, 3, 4});
  CHECK(*f->get_array<int32_t>("a.i32") == std::vector<int32_t>{-5, 5});
  CHECK(*f->get_array<float>("a.f32") == std::vector<float>{0.5f, -1e30f, 1e-30f});
  CHECK(*f->get_array<bool>("a.bool") == std::vector<bool>{true, false, true});
  auto strs = f->get_string_array("a.string");
  REQUIRE(strs);
  REQUIRE(strs->size() == 4);
  CHECK((*strs)[0] == "a");
  CHECK((*strs)[1].empty());
  CHECK((*strs)[2] == "xyz");
  CHECK((*strs)[3] == std::string_view("n\0l", 3));
  CHECK(*f->get_array<uint64_t>("a.u64") == std::vector<uint64_t>{~0ull});
  CHECK(*f->get_array<int64_t>("a.i64") == std::vector<int64_t>{INT64_MIN, INT64_MAX});
  auto f64s = f->get_array<double>("a.f64");
  REQUIRE(f64s);
  CHECK((*f64s)[0] == 1e300);
  CHECK(std::signbit((*f64s)[1]));
  CHECK(f->get_array<int32_t>("a.empty")->empty());
  auto ai = f->get_array_info("a.string");
  REQUIRE(ai);
  CHECK(ai->elem_type == gguf::value_type::string);
  CHECK(ai->count == 4);
  CHECK(f->array_info_of(f->find_key("a.f32")).count == 3);
  CHECK(f->tensors().empty());

  // format_value is for dumps; check a few renderings.
  CHECK(f->format_value(f->find_key("t.u32")) == "4000000000");
  CHECK(f->format_value(f->find_key("t.bool")) == "true");
  CHECK(f->format_value(f->find_key("a.u32"), 2) == "[u32 x 4] {1, 2, ...}");
  CHECK(f->format_value(f->find_key("t.string")) == "'replaced'");

  // Writing the same content twice gives identical bytes.
  auto again = w.write_memory();
  REQUIRE(again);
  CHECK(*again == *bytes);
}

TEST_CASE("typed accessors: exact type required, errors name key, expected and found") {
  gguf::writer w;
  w.set_u32("k.u32", 7);
  w.set_f32("k.f32", 1.5f);
  w.set_array<int32_t>("k.arr", {1, 2});
  w.set_string_array("k.strs", {"x"});
  auto bytes = w.write_memory();
  REQUIRE(bytes);
  auto f = gguf::file::from_memory(bytes->data(), bytes->size());
  REQUIRE(f);

  auto miss = f->get<uint32_t>("no.such.key");
  REQUIRE_FALSE(miss);
  CHECK(miss.error().kind() == errc::missing);
  CHECK(contains(miss.error().message(), "'no.such.key'"));
  CHECK(f->type_of("no.such.key").error().kind() == errc::missing);
  CHECK(*f->type_of("k.f32") == gguf::value_type::f32);
  CHECK(f->has("k.u32"));
  CHECK_FALSE(f->has("k.u3"));
  CHECK(f->find_key("zzz") == gguf::file::npos);

  auto wrong = f->get<int32_t>("k.u32");  // no implicit widening or sign change
  REQUIRE_FALSE(wrong);
  CHECK(wrong.error().kind() == errc::type_mismatch);
  CHECK(wrong.error().message() == "metadata key 'k.u32': expected i32, found u32");
  CHECK(f->get<uint64_t>("k.u32").error().message() == "metadata key 'k.u32': expected u64, found u32");
  CHECK(f->get<double>("k.f32").error().message() == "metadata key 'k.f32': expected f64, found f32");
  CHECK(f->get<uint32_t>("k.arr").error().message() == "metadata key 'k.arr': expected u32, found array of i32");

  auto arr = f->get_array<uint32_t>("k.arr");
  REQUIRE_FALSE(arr);
  CHECK(arr.error().kind() == errc::type_mismatch);
  CHECK(arr.error().message() == "metadata key 'k.arr': expected array of u32, found array of i32");
  CHECK(f->get_array<int32_t>("k.u32").error().message() == "metadata key 'k.u32': expected array of i32, found u32");
  CHECK(f->get_string_array("k.arr").error().message() ==
        "metadata key 'k.arr': expected array of string, found array of i32");
  CHECK(f->get_string_array("nope").error().kind() == errc::missing);
  CHECK(f->get_array_info("k.u32").error().kind() == errc::type_mismatch);
  CHECK(f->get_array<float>("nope").error().kind() == errc::missing);

  CHECK(*f->get_or<uint32_t>("absent", 99) == 99);
  CHECK(*f->get_or<uint32_t>("k.u32", 99) == 7);
  CHECK(f->get_or<float>("k.u32", 1.0f).error().kind() == errc::type_mismatch);
}

TEST_CASE("round trip: tensors of several dtypes and ranks, data forms, alignment") {
  for (size_t align : {size_t(32), size_t(1), size_t(64), size_t(4096)}) {
    CAPTURE(align);
    struct spec {
      const char* name;
      dtype type;
      std::vector<int64_t> ne;
    };
    const std::vector<spec> specs = {
        {"a.f32", dtype::f32, {5}},
        {"b.f16", dtype::f16, {3, 7}},
        {"c.q8_0", dtype::q8_0, {64, 3}},
        {"d.q4_k", dtype::q4_k, {256, 2, 2}},
        {"e.bf16", dtype::bf16, {2, 3, 4, 5}},
        {"f.q6_k", dtype::q6_k, {512, 1}},
        {"g.q4_0", dtype::q4_0, {32, 1, 1, 3}},
        {"h.i32", dtype::i32, {9}},
    };
    gguf::writer w;
    if (align != 32) REQUIRE(w.set_alignment(align));
    w.set_string("general.architecture", "test");
    std::vector<std::vector<uint8_t>> payloads;
    payloads.reserve(specs.size());  // the fill lambdas hold references into it
    for (size_t i = 0; i < specs.size(); ++i) {
      const spec& s = specs[i];
      int64_t rows = 1;
      for (size_t k = 1; k < s.ne.size(); ++k) rows *= s.ne[k];
      const size_t row_bytes = static_cast<size_t>(s.ne[0]) / plm::block_size(s.type) * plm::block_bytes(s.type);
      payloads.push_back(pattern_bytes(row_bytes * static_cast<size_t>(rows), static_cast<uint32_t>(i + 1)));
      const std::vector<uint8_t>& p = payloads.back();
      // Exercise all three data forms.
      if (i % 3 == 0) {
        REQUIRE(w.add_tensor(s.name, s.type, s.ne, p.data()));
      } else if (i % 3 == 1) {
        REQUIRE(w.add_tensor(s.name, s.type, s.ne, [&p](void* dst, size_t n) {
          REQUIRE(n == p.size());
          std::memcpy(dst, p.data(), n);
        }));
      } else {
        REQUIRE(w.add_tensor_rows(s.name, s.type, s.ne, [&p, row_bytes](int64_t r0, int64_t nr, void* dst) {
          std::memcpy(dst, p.data() + static_cast<size_t>(r0) * row_bytes, static_cast<size_t>(nr) * row_bytes);
        }));
      }
    }
    w.set_chunk_bytes(100);  // several chunks for the row-filled tensors
    auto bytes = w.write_memory();
    REQUIRE(bytes);
    CHECK(bytes->size() == *w.file_size());
    CHECK(bytes->size() % align == 0);
    auto f = gguf::file::from_memory(bytes->data(), bytes->size());
    REQUIRE_MESSAGE(f, f.error().to_string());
    CHECK(f->alignment() == align);
    CHECK(f->data_offset() % align == 0);
    if (align != 32) CHECK(*f->get<uint32_t>("general.alignment") == align);
    else CHECK_FALSE(f->has("general.alignment"));
    REQUIRE(f->tensors().size() == specs.size());
    uint64_t expect_offset = 0;
    for (size_t i = 0; i < specs.size(); ++i) {
      const gguf::tensor_info& t = f->tensors()[i];
      CHECK(t.name == specs[i].name);  // file order kept
      CHECK(t.type == specs[i].type);
      CHECK(t.n_dims == specs[i].ne.size());
      for (size_t k = 0; k < 4; ++k) CHECK(t.ne[k] == (k < specs[i].ne.size() ? specs[i].ne[k] : 1));
      CHECK(t.offset == expect_offset);
      CHECK(t.offset % align == 0);
      CHECK(t.n_bytes == payloads[i].size());
      expect_offset += (t.n_bytes + align - 1) / align * align;
      auto v = f->tensor(specs[i].name);
      REQUIRE(v);
      CHECK(v->n_bytes() == payloads[i].size());
      CHECK(v->nb[0] == plm::block_bytes(t.type));
      CHECK(v->nb[1] == v->row_bytes());
      CHECK(std::memcmp(v->data, payloads[i].data(), payloads[i].size()) == 0);
      CHECK(f->find_tensor(specs[i].name) == &t);
    }
    CHECK(f->find_tensor("missing") == nullptr);
    auto m = f->tensor("missing");
    REQUIRE_FALSE(m);
    CHECK(m.error().kind() == errc::missing);
    CHECK(contains(m.error().message(), "'missing'"));
  }
}

TEST_CASE("write_file and open: mmap and read modes give the same file; no partial left") {
  gguf::writer w;
  w.set_string("general.architecture", "test");
  std::vector<float> data(64 * 4);
  for (size_t i = 0; i < data.size(); ++i) data[i] = static_cast<float>(i) * 0.5f;
  REQUIRE(w.add_tensor("w", dtype::f32, {64, 4}, data.data()));
  const std::string path = tmp_path("gguf_roundtrip.gguf");
  uint64_t last_done = 0, last_total = 0;
  REQUIRE(w.write_file(path, [&](uint64_t d, uint64_t t) {
    last_done = d;
    last_total = t;
  }));
  CHECK(last_total == 1024);
  CHECK(last_done == last_total);
  CHECK(std::fopen((path + ".partial").c_str(), "rb") == nullptr);
  for (plm::load_mode mode : {plm::load_mode::mmap, plm::load_mode::read}) {
    plm::map_options opt;
    opt.mode = mode;
    auto f = gguf::file::open(path, opt);
    REQUIRE_MESSAGE(f, f.error().to_string());
    CHECK(f->is_mapped() == (mode == plm::load_mode::mmap));
    auto v = f->tensor("w");
    REQUIRE(v);
    CHECK(std::memcmp(v->data, data.data(), data.size() * 4) == 0);
    CHECK(reinterpret_cast<const float*>(v->row(3))[1] == data[3 * 64 + 1]);
    // Moving the file keeps views valid (the bytes do not move).
    gguf::file moved = std::move(*f);
    CHECK(moved.find_tensor("w")->n_bytes == 1024);
    CHECK(*moved.get<std::string_view>("general.architecture") == "test");
  }
  std::remove(path.c_str());

  auto nf = gguf::file::open(tmp_path("does-not-exist.gguf"));
  REQUIRE_FALSE(nf);
  CHECK(nf.error().kind() == errc::io_error);
  auto bad_dir = w.write_file(tmp_path("no-such-dir/x.gguf"));
  REQUIRE_FALSE(bad_dir);
  CHECK(bad_dir.error().kind() == errc::io_error);
}

TEST_CASE("writer rejects bad input with errors") {
  gguf::writer w;
  float d[512] = {};
  REQUIRE(w.add_tensor("ok", dtype::f32, {4}, d));
  auto dup = w.add_tensor("ok", dtype::f32, {4}, d);
  REQUIRE_FALSE(dup);
  CHECK(dup.error().kind() == errc::invalid_argument);
  CHECK(contains(dup.error().message(), "duplicate tensor name 'ok'"));
  auto blk = w.add_tensor("q", dtype::q8_0, {48, 2}, d);
  REQUIRE_FALSE(blk);
  CHECK(contains(blk.error().message(), "not a multiple of the block size 32"));
  CHECK(contains(w.add_tensor("k", dtype::q4_k, {128}, d).error().message(), "block size 256"));
  CHECK(contains(w.add_tensor("", dtype::f32, {4}, d).error().message(), "empty"));
  CHECK(contains(w.add_tensor(std::string(64, 'n'), dtype::f32, {4}, d).error().message(), "at most 63"));
  CHECK(w.add_tensor(std::string(63, 'n'), dtype::f32, {4}, d));
  CHECK(contains(w.add_tensor("z", dtype::f32, {}, d).error().message(), "0 dimensions"));
  CHECK(contains(w.add_tensor("z", dtype::f32, {1, 1, 1, 1, 1}, d).error().message(), "5 dimensions"));
  CHECK(contains(w.add_tensor("z", dtype::f32, {4, 0}, d).error().message(), "ne[1] = 0"));
  CHECK(contains(w.add_tensor("z", dtype::f32, {-4}, d).error().message(), "ne[0] = -4"));
  CHECK(contains(w.add_tensor("z", dtype::f32, {1ll << 40, 1ll << 40}, d).error().message(), "overflows"));
  CHECK(contains(w.add_tensor("z", static_cast<dtype>(4), {4}, d).error().message(), "unknown dtype"));
  CHECK(contains(w.add_tensor("z", dtype::f32, {4}, static_cast<const void*>(nullptr)).error().message(), "null"));
  CHECK(contains(w.add_tensor("z", dtype::f32, {4}, gguf::writer::fill_fn{}).error().message(), "empty"));
  CHECK(w.n_tensors() == 2);

  for (size_t a : {size_t(0), size_t(3), size_t(48), size_t(131072)}) {
    auto r = w.set_alignment(a);
    REQUIRE_FALSE(r);
    CHECK(r.error().kind() == errc::invalid_argument);
    CHECK(contains(r.error().message(), "power of two"));
  }
  CHECK(*w.alignment() == 32);
  w.set_u32("general.alignment", 24);  // bypassing set_alignment is caught at write
  auto wr = w.write_memory();
  REQUIRE_FALSE(wr);
  CHECK(contains(wr.error().message(), "general.alignment"));
  w.set_u64("general.alignment", 64);
  CHECK(w.write_memory().error().kind() == errc::type_mismatch);
  CHECK(w.remove("general.alignment"));
  CHECK_FALSE(w.remove("general.alignment"));
  w.set_u32("", 1);
  CHECK(contains(w.write_memory().error().message(), "key is empty"));
}

// ---- the independently written fixtures (tests/data/README.md) -----------

namespace {
struct tiny_hparams {
  // From tests/data/README.md: 2 layers, hidden 256, 4 heads, ff 1024,
  // kv_lora_rank 64, rope 16, nope 32, v 32, vocab 512, ctx 512.
  uint32_t n_layer = 2, n_embd = 256, n_head = 4, n_ff = 1024, kv_lora = 64, rope = 16, nope = 32, v = 32,
           vocab = 512, ctx = 512;
};

void check_tiny_fixture(const char* file_name, dtype matrix_type, uint32_t file_type) {
  const tiny_hparams hp;
  auto f = gguf::file::open(std::string(PLM_TEST_DATA_DIR) + "/" + file_name);
  REQUIRE_MESSAGE(f, f.error().to_string());
  CHECK(f->version() == 3);
  CHECK(*f->get<std::string_view>("general.architecture") == "plm");
  CHECK(*f->get<uint32_t>("general.file_type") == file_type);
  CHECK(*f->get<uint32_t>("plm.block_count") == hp.n_layer);
  CHECK(*f->get<uint32_t>("plm.context_length") == hp.ctx);
  CHECK(*f->get<uint32_t>("plm.embedding_length") == hp.n_embd);
  CHECK(*f->get<uint32_t>("plm.feed_forward_length") == hp.n_ff);
  CHECK(*f->get<uint32_t>("plm.attention.head_count") == hp.n_head);
  CHECK(*f->get<uint32_t>("plm.attention.head_count_kv") == hp.n_head);
  CHECK(*f->get<uint32_t>("plm.attention.kv_lora_rank") == hp.kv_lora);
  CHECK(*f->get<uint32_t>("plm.attention.key_length") == hp.nope + hp.rope);
  CHECK(*f->get<uint32_t>("plm.attention.value_length") == hp.v);
  CHECK(*f->get<uint32_t>("plm.rope.dimension_count") == hp.rope);
  CHECK(*f->get<uint32_t>("plm.vocab_size") == hp.vocab);
  CHECK(*f->get<float>("plm.rope.freq_base") == 100000.0f);
  CHECK(*f->get<float>("plm.attention.layer_norm_rms_epsilon") == 1e-6f);
  CHECK(*f->get<std::string_view>("tokenizer.ggml.model") == "gpt2");
  auto toks = f->get_string_array("tokenizer.ggml.tokens");
  REQUIRE(toks);
  CHECK(toks->size() == hp.vocab);
  CHECK(f->get_array<int32_t>("tokenizer.ggml.token_type")->size() == hp.vocab);
  CHECK(f->get_string_array("tokenizer.ggml.merges")->size() == 75);

  struct expect {
    std::string name;
    int64_t ne0, ne1;  // ne1 0 = 1-D
  };
  std::vector<expect> want = {{"token_embd.weight", hp.n_embd, hp.vocab}, {"output_norm.weight", hp.n_embd, 0}};
  for (uint32_t l = 0; l < hp.n_layer; ++l) {
    const std::string b = "blk." + std::to_string(l) + ".";
    want.push_back({b + "attn_norm.weight", hp.n_embd, 0});
    want.push_back({b + "attn_q.weight", hp.n_embd, hp.n_head * (hp.nope + hp.rope)});
    want.push_back({b + "attn_kv_a_mqa.weight", hp.n_embd, hp.kv_lora + hp.rope});
    want.push_back({b + "attn_kv_a_norm.weight", hp.kv_lora, 0});
    want.push_back({b + "attn_kv_b.weight", hp.kv_lora, hp.n_head * (hp.nope + hp.v)});
    want.push_back({b + "attn_output.weight", hp.n_head * hp.v, hp.n_embd});
    want.push_back({b + "ffn_norm.weight", hp.n_embd, 0});
    want.push_back({b + "ffn_up.weight", hp.n_embd, hp.n_ff});
    want.push_back({b + "ffn_down.weight", hp.n_ff, hp.n_embd});
  }
  CHECK(f->tensors().size() == 2 + 9 * hp.n_layer);
  CHECK(f->tensors().size() == want.size());
  CHECK(f->find_tensor("output.weight") == nullptr);  // tied embeddings
  for (const expect& e : want) {
    CAPTURE(e.name);
    const gguf::tensor_info* t = f->find_tensor(e.name);
    REQUIRE(t != nullptr);
    CHECK(t->n_dims == (e.ne1 ? 2u : 1u));
    CHECK(t->ne[0] == e.ne0);
    CHECK(t->ne[1] == (e.ne1 ? e.ne1 : 1));
    CHECK(t->type == (e.ne1 ? matrix_type : dtype::f32));
  }
}
}  // namespace

TEST_CASE("fixture plm-tiny-f32.gguf") { check_tiny_fixture("plm-tiny-f32.gguf", dtype::f32, 0); }
TEST_CASE("fixture plm-tiny-q8_0.gguf") { check_tiny_fixture("plm-tiny-q8_0.gguf", dtype::q8_0, 7); }

TEST_CASE("fixtures agree: q8_0 blocks dequantize to the f32 weights (tensor views point at the right bytes)") {
  auto f32 = gguf::file::open(std::string(PLM_TEST_DATA_DIR) + "/plm-tiny-f32.gguf");
  auto q8 = gguf::file::open(std::string(PLM_TEST_DATA_DIR) + "/plm-tiny-q8_0.gguf");
  REQUIRE(f32);
  REQUIRE(q8);
  for (const char* name : {"token_embd.weight", "blk.1.ffn_down.weight", "blk.0.attn_kv_b.weight"}) {
    CAPTURE(name);
    auto a = f32->tensor(name);
    auto b = q8->tensor(name);
    REQUIRE(a);
    REQUIRE(b);
    REQUIRE(a->ne[0] == b->ne[0]);
    REQUIRE(a->ne[1] == b->ne[1]);
    double max_err_over_d = 0;
    for (int64_t r : {int64_t(0), a->ne[1] / 2, a->ne[1] - 1}) {
      const float* x = reinterpret_cast<const float*>(a->row(r));
      const uint8_t* blk = b->row(r);
      for (int64_t j0 = 0; j0 < a->ne[0]; j0 += 32, blk += 34) {
        uint16_t dh;
        std::memcpy(&dh, blk, 2);
        const float d = f16_to_f32(dh);
        REQUIRE(d > 0);
        for (int j = 0; j < 32; ++j) {
          const float y = d * static_cast<float>(static_cast<int8_t>(blk[2 + j]));
          max_err_over_d = std::max(max_err_over_d, std::fabs(static_cast<double>(y - x[j0 + j])) / d);
        }
      }
    }
    // Half a step from rounding q, plus up to 127 * 2^-11 steps from rounding d to f16.
    CHECK(max_err_over_d <= 0.57);
  }
}

namespace {
// Copies every metadata entry of `f` into `w` through the typed accessors.
void copy_metadata(const gguf::file& f, gguf::writer& w) {
  for (size_t i = 0; i < f.n_kv(); ++i) {
    const std::string_view k = f.key(i);
    switch (f.type_of(i)) {
      case gguf::value_type::u8: w.set_u8(k, *f.get<uint8_t>(k)); break;
      case gguf::value_type::i8: w.set_i8(k, *f.get<int8_t>(k)); break;
      case gguf::value_type::u16: w.set_u16(k, *f.get<uint16_t>(k)); break;
      case gguf::value_type::i16: w.set_i16(k, *f.get<int16_t>(k)); break;
      case gguf::value_type::u32: w.set_u32(k, *f.get<uint32_t>(k)); break;
      case gguf::value_type::i32: w.set_i32(k, *f.get<int32_t>(k)); break;
      case gguf::value_type::f32: w.set_f32(k, *f.get<float>(k)); break;
      case gguf::value_type::boolean: w.set_bool(k, *f.get<bool>(k)); break;
      case gguf::value_type::string: w.set_string(k, *f.get<std::string_view>(k)); break;
      case gguf::value_type::u64: w.set_u64(k, *f.get<uint64_t>(k)); break;
      case gguf::value_type::i64: w.set_i64(k, *f.get<int64_t>(k)); break;
      case gguf::value_type::f64: w.set_f64(k, *f.get<double>(k)); break;
      case gguf::value_type::array: {
        const auto info = f.array_info_of(i);
        switch (info.elem_type) {
          case gguf::value_type::string: w.set_string_array(k, *f.get_string_array(k)); break;
          case gguf::value_type::i32: w.set_array<int32_t>(k, *f.get_array<int32_t>(k)); break;
          case gguf::value_type::u32: w.set_array<uint32_t>(k, *f.get_array<uint32_t>(k)); break;
          case gguf::value_type::f32: w.set_array<float>(k, *f.get_array<float>(k)); break;
          default: FAIL("fixture has an array type this copy does not handle");
        }
        break;
      }
    }
  }
}
}  // namespace

TEST_CASE("the writer reproduces the independently written fixtures byte for byte") {
  for (const char* name : {"plm-tiny-f32.gguf", "plm-tiny-q8_0.gguf"}) {
    CAPTURE(name);
    const std::string path = std::string(PLM_TEST_DATA_DIR) + "/" + name;
    auto f = gguf::file::open(path);
    REQUIRE(f);
    gguf::writer w;
    copy_metadata(*f, w);
    for (const auto& t : f->tensors()) {
      const std::vector<int64_t> ne(t.ne, t.ne + t.n_dims);
      REQUIRE(w.add_tensor(t.name, t.type, ne, f->view(t).data));
    }
    auto bytes = w.write_memory();
    REQUIRE(bytes);
    REQUIRE(bytes->size() == f->size());
    CHECK(std::memcmp(bytes->data(), f->bytes(), f->size()) == 0);
  }
}
