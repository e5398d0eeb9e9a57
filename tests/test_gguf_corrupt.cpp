// Malformed GGUF files: every case must be rejected with its own error kind
// and message (so a case that fails for the wrong reason fails the test), and
// nothing may crash (run under ASan/UBSan too). The cases are made by patching
// a valid file from the writer at the byte positions of the fields involved.
#include <doctest/doctest.h>

#include <cstdint>
#include <cstring>
#include <functional>
#include <string>
#include <vector>

#include "plm/gguf/reader.hpp"
#include "plm/gguf/writer.hpp"

using plm::dtype;
using plm::errc;
namespace gguf = plm::gguf;

namespace {

using bytes_t = std::vector<uint8_t>;

bool contains(const std::string& s, const std::string& sub) { return s.find(sub) != std::string::npos; }

// The valid base file every case starts from.
bytes_t base_file() {
  gguf::writer w;
  w.set_string("general.architecture", "test");
  REQUIRE(w.set_alignment(32));  // present as a key so that it can be corrupted
  w.set_array<uint32_t>("t.arr", {1, 2, 3});
  w.set_string_array("t.strs", std::vector<std::string>{"alpha", "beta"});
  w.set_bool("t.bool", true);
  w.set_u32("dup.a", 1);
  w.set_u32("dup.b", 2);
  static float f32_data[64] = {};
  static uint8_t q8_data[2 * 34] = {};
  REQUIRE(w.add_tensor("w0", dtype::f32, {8, 2}, f32_data));
  REQUIRE(w.add_tensor("w1", dtype::q8_0, {32, 2}, q8_data));
  REQUIRE(w.add_tensor("tn.a", dtype::f32, {4}, f32_data));
  REQUIRE(w.add_tensor("tn.b", dtype::f32, {4}, f32_data));
  auto b = w.write_memory();
  REQUIRE(b);
  return *b;
}

// Position just after the length-prefixed string `s` in `b` (the field that
// follows a key or tensor name).
size_t after(const bytes_t& b, const std::string& s) {
  bytes_t needle(8 + s.size());
  const uint64_t n = s.size();
  std::memcpy(needle.data(), &n, 8);
  std::memcpy(needle.data() + 8, s.data(), s.size());
  for (size_t i = 0; i + needle.size() <= b.size(); ++i)
    if (std::memcmp(b.data() + i, needle.data(), needle.size()) == 0) return i + needle.size();
  FAIL("string not found in base file: " << s);
  return 0;
}
template <class T>
void poke(bytes_t& b, size_t pos, T v) {
  REQUIRE(pos + sizeof(T) <= b.size());
  std::memcpy(b.data() + pos, &v, sizeof(T));
}

// Field positions of tensor `name`, a 2-D or 1-D tensor record.
size_t ndims_pos(const bytes_t& b, const std::string& name) { return after(b, name); }
size_t ne_pos(const bytes_t& b, const std::string& name, int k) { return after(b, name) + 4 + 8 * k; }
size_t type_pos(const bytes_t& b, const std::string& name, int n_dims) { return after(b, name) + 4 + 8 * n_dims; }
size_t offset_pos(const bytes_t& b, const std::string& name, int n_dims) { return type_pos(b, name, n_dims) + 4; }

struct corrupt_case {
  const char* what;
  std::function<void(bytes_t&)> mutate;
  errc kind;
  const char* message;  // substring the error message must contain
};

void check_rejected(const bytes_t& b, errc kind, const std::string& message) {
  auto f = gguf::file::from_memory(b.data(), b.size());
  REQUIRE_FALSE(f);
  CHECK_MESSAGE(f.error().kind() == kind, f.error().to_string());
  CHECK_MESSAGE(contains(f.error().message(), message), f.error().to_string());
}

}  // namespace

TEST_CASE("the base file is valid") {
  const bytes_t b = base_file();
  auto f = gguf::file::from_memory(b.data(), b.size());
  REQUIRE_MESSAGE(f, f.error().to_string());
  CHECK(f->tensors().size() == 4);
  CHECK(*f->get<bool>("t.bool"));
}

TEST_CASE("corrupt-file table: each case fails with its own kind and message") {
  constexpr uint64_t big = uint64_t(1) << 40;
  const std::vector<corrupt_case> cases = {
      {"bad magic", [](bytes_t& b) { b[0] = 'X'; }, errc::invalid_format, "bad magic: expected 'GGUF'"},
      {"version 1", [](bytes_t& b) { poke<uint32_t>(b, 4, 1); }, errc::unsupported, "GGUF version 1 is not supported"},
      {"version 4", [](bytes_t& b) { poke<uint32_t>(b, 4, 4); }, errc::unsupported, "GGUF version 4 is not supported"},
      {"version 0", [](bytes_t& b) { poke<uint32_t>(b, 4, 0); }, errc::unsupported, "GGUF version 0"},
      {"big-endian v3", [](bytes_t& b) { poke<uint32_t>(b, 4, 0x03000000u); }, errc::unsupported, "big-endian"},
      {"huge n_tensors", [](bytes_t& b) { poke<uint64_t>(b, 8, big); }, errc::invalid_format, "n_tensors = 1099511627776 cannot fit"},
      {"negative n_tensors", [](bytes_t& b) { poke<int64_t>(b, 8, -1); }, errc::invalid_format, "n_tensors = -1 cannot fit"},
      {"huge n_kv", [](bytes_t& b) { poke<uint64_t>(b, 16, big); }, errc::invalid_format, "n_kv = 1099511627776 cannot fit"},
      {"n_kv max", [](bytes_t& b) { poke<uint64_t>(b, 16, ~uint64_t(0)); }, errc::invalid_format, "n_kv = -1 cannot fit"},
      {"huge key length", [](bytes_t& b) { poke<uint64_t>(b, 24, big); }, errc::invalid_format,
       "key of metadata entry 0: string length 1099511627776 at byte 24 exceeds"},
      {"key length max", [](bytes_t& b) { poke<uint64_t>(b, 24, ~uint64_t(0)); }, errc::invalid_format, "string length 18446744073709551615"},
      {"huge string value length", [](bytes_t& b) { poke<uint64_t>(b, after(b, "general.architecture") + 4, big); },
       errc::invalid_format, "metadata key 'general.architecture' value: string length 1099511627776"},
      {"huge array count", [](bytes_t& b) { poke<uint64_t>(b, after(b, "t.arr") + 8, big); }, errc::invalid_format,
       "metadata key 't.arr': array count 1099511627776 of u32"},
      {"array count max", [](bytes_t& b) { poke<uint64_t>(b, after(b, "t.arr") + 8, ~uint64_t(0)); }, errc::invalid_format,
       "array count 18446744073709551615"},
      {"huge string-array count", [](bytes_t& b) { poke<uint64_t>(b, after(b, "t.strs") + 8, big); },
       errc::invalid_format, "metadata key 't.strs': array count 1099511627776 of string"},
      {"huge string in string array", [](bytes_t& b) { poke<uint64_t>(b, after(b, "t.strs") + 16, big); },
       errc::invalid_format, "metadata key 't.strs' string element: string length 1099511627776"},
      {"array of arrays", [](bytes_t& b) { poke<uint32_t>(b, after(b, "t.arr") + 4, 9); }, errc::invalid_format,
       "metadata key 't.arr': arrays of arrays are not supported"},
      {"unknown array element type", [](bytes_t& b) { poke<uint32_t>(b, after(b, "t.arr") + 4, 200); },
       errc::invalid_format, "metadata key 't.arr': unknown value type 200 for array elements"},
      {"unknown value type", [](bytes_t& b) { poke<uint32_t>(b, after(b, "dup.a"), 13); }, errc::invalid_format,
       "metadata key 'dup.a': unknown value type 13"},
      {"bool value 2", [](bytes_t& b) { b[after(b, "t.bool") + 4] = 2; }, errc::invalid_format,
       "metadata key 't.bool': bool value is 2"},
      {"alignment 0", [](bytes_t& b) { poke<uint32_t>(b, after(b, "general.alignment") + 4, 0); }, errc::invalid_format,
       "'general.alignment' is 0: expected a power of two in [1, 65536]"},
      {"alignment 3", [](bytes_t& b) { poke<uint32_t>(b, after(b, "general.alignment") + 4, 3); }, errc::invalid_format,
       "'general.alignment' is 3: expected a power of two"},
      {"alignment 2^17", [](bytes_t& b) { poke<uint32_t>(b, after(b, "general.alignment") + 4, 1u << 17); },
       errc::invalid_format, "'general.alignment' is 131072"},
      {"alignment as i32", [](bytes_t& b) { poke<uint32_t>(b, after(b, "general.alignment"), 5); }, errc::type_mismatch,
       "metadata key 'general.alignment': expected u32, found i32"},
      // Base offsets: w0 0 (64 B), w1 64 (68 B, padded to 96), tn.a 160: aligned to 32, not to 64.
      {"alignment 64 misaligns offsets", [](bytes_t& b) { poke<uint32_t>(b, after(b, "general.alignment") + 4, 64); },
       errc::invalid_format, "tensor 'tn.a': offset 160 is not a multiple of the alignment 64"},
      {"n_dims 0", [](bytes_t& b) { poke<uint32_t>(b, ndims_pos(b, "w0"), 0); }, errc::invalid_format,
       "tensor 'w0': n_dims = 0"},
      {"n_dims 5", [](bytes_t& b) { poke<uint32_t>(b, ndims_pos(b, "w0"), 5); }, errc::invalid_format,
       "tensor 'w0': n_dims = 5"},
      {"negative ne", [](bytes_t& b) { poke<int64_t>(b, ne_pos(b, "w0", 1), -2); }, errc::invalid_format,
       "tensor 'w0': ne[1] = -2"},
      {"zero ne", [](bytes_t& b) { poke<int64_t>(b, ne_pos(b, "w0", 0), 0); }, errc::invalid_format,
       "tensor 'w0': ne[0] = 0"},
      {"ne product overflow",
       [](bytes_t& b) {
         poke<int64_t>(b, ne_pos(b, "w0", 0), int64_t(1) << 32);
         poke<int64_t>(b, ne_pos(b, "w0", 1), int64_t(1) << 31);
       },
       errc::invalid_format, "tensor 'w0': number of elements of shape [4294967296, 2147483648] overflows"},
      {"byte size overflow",  // 2^62 elements fit int64, 2^62 * 4 bytes do not
       [](bytes_t& b) {
         poke<int64_t>(b, ne_pos(b, "w0", 0), int64_t(1) << 31);
         poke<int64_t>(b, ne_pos(b, "w0", 1), int64_t(1) << 31);
       },
       errc::invalid_format, "tensor 'w0': byte size of shape [2147483648, 2147483648] overflows"},
      {"unknown type id 4", [](bytes_t& b) { poke<uint32_t>(b, type_pos(b, "w0", 2), 4); }, errc::unsupported,
       "tensor 'w0': unknown or unsupported ggml type id 4"},
      {"unknown type id 1000", [](bytes_t& b) { poke<uint32_t>(b, type_pos(b, "w0", 2), 1000); }, errc::unsupported,
       "ggml type id 1000"},
      {"ne0 not multiple of block size", [](bytes_t& b) { poke<int64_t>(b, ne_pos(b, "w1", 0), 48); },
       errc::invalid_format, "tensor 'w1': ne[0] = 48 is not a multiple of the block size 32 of q8_0"},
      {"offset misaligned", [](bytes_t& b) { poke<uint64_t>(b, offset_pos(b, "w1", 2), 68); }, errc::invalid_format,
       "tensor 'w1': offset 68 is not a multiple of the alignment 32"},
      {"offset past the end", [](bytes_t& b) { poke<uint64_t>(b, offset_pos(b, "tn.b", 1), big); },
       errc::invalid_format, "tensor 'tn.b': data [1099511627776, 1099511627792) of the data section"},
      {"offset + size overflows",
       [](bytes_t& b) {
         poke<int64_t>(b, ne_pos(b, "tn.b", 0), 64);
         poke<uint64_t>(b, offset_pos(b, "tn.b", 1), ~uint64_t(31));
       },
       errc::invalid_format, "tensor 'tn.b': data [18446744073709551584, overflow) of the data section"},
      {"size past the end", [](bytes_t& b) { poke<int64_t>(b, ne_pos(b, "tn.b", 0), 64); }, errc::invalid_format,
       "extends past the end of the file"},
      {"tensors overlap", [](bytes_t& b) { poke<uint64_t>(b, offset_pos(b, "w1", 2), 32); }, errc::invalid_format,
       "tensors 'w0' [0, 64) and 'w1' [32, 100) overlap"},
      {"duplicate key", [](bytes_t& b) { b[after(b, "dup.b") - 1] = 'a'; }, errc::invalid_format,
       "duplicate key 'dup.a' (metadata entries 5 and 6)"},
      {"duplicate tensor name", [](bytes_t& b) { b[after(b, "tn.b") - 1] = 'a'; }, errc::invalid_format,
       "duplicate tensor name 'tn.a' (tensors 2 and 3)"},
  };
  const bytes_t base = base_file();
  for (const corrupt_case& c : cases) {
    const std::string what = c.what;
    CAPTURE(what);
    bytes_t b = base;
    c.mutate(b);
    check_rejected(b, c.kind, c.message);
  }
}

TEST_CASE("records the writer cannot produce: empty key, empty or too long tensor name") {
  // A hand-built minimal file: one key, one 1-D f32 tensor of 4 elements.
  auto build = [](const std::string& key, const std::string& tname) {
    bytes_t b;
    auto put = [&b](const void* p, size_t n) { b.insert(b.end(), static_cast<const uint8_t*>(p), static_cast<const uint8_t*>(p) + n); };
    auto u32 = [&](uint32_t v) { put(&v, 4); };
    auto u64 = [&](uint64_t v) { put(&v, 8); };
    auto str = [&](const std::string& s) { u64(s.size()); put(s.data(), s.size()); };
    u32(gguf::magic);
    u32(3);
    u64(1);  // n_tensors
    u64(1);  // n_kv
    str(key);
    u32(4);
    u32(7);
    str(tname);
    u32(1);
    u64(4);
    u32(0);
    u64(0);
    b.resize((b.size() + 31) / 32 * 32 + 16, 0);
    return b;
  };
  const bytes_t good = build("k", std::string(63, 't'));
  CHECK(gguf::file::from_memory(good.data(), good.size()));
  check_rejected(build("", "t"), errc::invalid_format, "metadata entry 0 at byte 24 has an empty key");
  check_rejected(build("k", ""), errc::invalid_format, "tensor 0 at byte 41 has an empty name");
  check_rejected(build("k", std::string(64, 't')), errc::invalid_format, "name is 64 bytes long (at most 63 allowed)");
}

TEST_CASE("version 2 files are read like version 3") {
  bytes_t b = base_file();
  poke<uint32_t>(b, 4, 2);
  auto f = gguf::file::from_memory(b.data(), b.size());
  REQUIRE_MESSAGE(f, f.error().to_string());
  CHECK(f->version() == 2);
}

TEST_CASE("a file with no tensors may end right after its metadata") {
  gguf::writer w;
  w.set_string("general.architecture", "x");
  auto b = w.write_memory();
  REQUIRE(b);
  const size_t unpadded = 24 + 8 + 20 + 4 + 8 + 1;
  REQUIRE(b->size() >= unpadded);
  auto f = gguf::file::from_memory(b->data(), unpadded);
  REQUIRE_MESSAGE(f, f.error().to_string());
  CHECK(f->tensors().empty());
  check_rejected(bytes_t(b->begin(), b->begin() + unpadded - 1), errc::invalid_format,
                 "metadata key 'general.architecture' value: string length 1 at byte 56 exceeds the 0 bytes remaining");
  auto empty = gguf::file::from_memory(nullptr, 0);
  REQUIRE_FALSE(empty);
  CHECK(contains(empty.error().message(), "unexpected end of file reading magic at byte 0"));
}

TEST_CASE("truncation at every byte: rejected exactly when data is cut, never a crash") {
  const bytes_t base = base_file();
  auto full = gguf::file::from_memory(base.data(), base.size());
  REQUIRE(full);
  uint64_t data_end = 0;
  for (const auto& t : full->tensors()) data_end = std::max<uint64_t>(data_end, t.offset + t.n_bytes);
  const size_t needed = full->data_offset() + static_cast<size_t>(data_end);
  const size_t header_end = offset_pos(base, "tn.b", 1) + 8;
  REQUIRE(header_end <= full->data_offset());

  for (size_t len = 0; len <= base.size(); ++len) {
    CAPTURE(len);
    // A copy of exactly `len` bytes so that ASan sees any read past the end.
    const bytes_t cut(base.begin(), base.begin() + static_cast<std::ptrdiff_t>(len));
    auto f = gguf::file::from_memory(cut.data(), cut.size());
    if (len >= needed) {
      CHECK_MESSAGE(f, f.error().to_string());  // only padding is missing
      continue;
    }
    REQUIRE_FALSE(f);
    CHECK(f.error().kind() == errc::invalid_format);
    const std::string& m = f.error().message();
    CHECK_MESSAGE((contains(m, "unexpected end of file") || contains(m, "cannot fit") || contains(m, "cannot both fit") ||
                   contains(m, "exceeds the") || contains(m, "array count") || contains(m, "past the end")),
                  m);
    // Section boundaries fail for the reason that section gives.
    if (len == 0) CHECK(contains(m, "reading magic"));
    if (len == 4) CHECK(contains(m, "reading version"));
    if (len == 8) CHECK(contains(m, "reading n_tensors"));
    if (len == 16) CHECK(contains(m, "reading n_kv"));
    if (len == 24) CHECK(contains(m, "n_kv = 7 cannot fit"));
    if (len >= header_end) CHECK(contains(m, "extends past the end of the file"));
  }
}

TEST_CASE("random byte corruption never crashes; what opens stays readable") {
  const bytes_t base = base_file();
  uint64_t s = 0x9e3779b97f4a7c15ull;
  auto next = [&s]() {
    s += 0x9e3779b97f4a7c15ull;
    uint64_t z = s;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
  };
  const size_t header = offset_pos(base, "tn.b", 1) + 8;
  int opened = 0;
  for (int iter = 0; iter < 20000; ++iter) {
    bytes_t b = base;
    const int n_flips = 1 + static_cast<int>(next() % 4);
    for (int k = 0; k < n_flips; ++k) {
      const size_t pos = static_cast<size_t>(next() % header);
      b[pos] = (next() & 1) ? static_cast<uint8_t>(next()) : static_cast<uint8_t>(b[pos] ^ (1u << (next() % 8)));
    }
    if (next() % 4 == 0) b.resize(static_cast<size_t>(next() % b.size()));
    auto f = gguf::file::from_memory(b.data(), b.size());
    if (!f) {
      CHECK_FALSE(f.error().message().empty());
      continue;
    }
    ++opened;
    // Everything an opened file hands out must be inside the buffer.
    for (size_t i = 0; i < f->n_kv(); ++i) {
      (void)f->format_value(i, 1000);
      const std::string key(f->key(i));
      if (f->type_of(i) != gguf::value_type::array || f->array_info_of(i).elem_type != gguf::value_type::string) continue;
      const auto strs = f->get_string_array(key);
      REQUIRE(strs);
      for (std::string_view sv : *strs)
          CHECK((reinterpret_cast<const uint8_t*>(sv.data()) >= b.data() &&
                 reinterpret_cast<const uint8_t*>(sv.data()) + sv.size() <= b.data() + b.size()));
    }
    for (const auto& t : f->tensors()) {
      const plm::tensor_view v = f->view(t);
      const uint8_t* p = static_cast<const uint8_t*>(v.data);
      CHECK((p >= b.data() && p + v.n_bytes() <= b.data() + b.size()));
    }
  }
  CHECK(opened > 0);  // some corruptions hit only values and still open
}
