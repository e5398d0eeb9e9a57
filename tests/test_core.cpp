#include <doctest/doctest.h>

#include <cstdio>
#include <cstring>
#include <limits>
#include <string>

#include "plm/core/buffer.hpp"
#include "plm/core/checked.hpp"
#include "plm/core/dtype.hpp"
#include "plm/core/mapped_file.hpp"
#include "plm/core/result.hpp"
#include "plm/core/tensor.hpp"

namespace {
plm::result<int> twice_positive(int x) {
  if (x < 0) return plm::make_error(plm::errc::out_of_range, "expected x >= 0, found " + std::to_string(x));
  return 2 * x;
}
plm::result<std::string> chained(int x) {
  PLM_TRY(int y, twice_positive(x));
  return std::to_string(y);
}
}  // namespace

TEST_CASE("result carries a value or an error with kind and message") {
  auto a = chained(21);
  REQUIRE(a);
  CHECK(*a == "42");
  auto b = chained(-1);
  REQUIRE_FALSE(b);
  CHECK(b.error().kind() == plm::errc::out_of_range);
  CHECK(b.error().message() == "expected x >= 0, found -1");
  CHECK(b.error().to_string() == "out_of_range: expected x >= 0, found -1");
  plm::result<void> v = plm::ok();
  CHECK(v);
}

TEST_CASE("checked arithmetic detects overflow") {
  uint64_t out = 0;
  CHECK(plm::checked_add<uint64_t>(1, 2, out));
  CHECK(out == 3);
  CHECK_FALSE(plm::checked_add<uint64_t>(std::numeric_limits<uint64_t>::max(), 1, out));
  CHECK_FALSE(plm::checked_mul<uint64_t>(uint64_t(1) << 33, uint64_t(1) << 31, out));
  CHECK(plm::checked_align_up<uint64_t>(33, 32, out));
  CHECK(out == 64);
  CHECK_FALSE(plm::checked_align_up<uint64_t>(std::numeric_limits<uint64_t>::max() - 3, 32, out));
  CHECK(plm::is_power_of_two(64));
  CHECK_FALSE(plm::is_power_of_two(0));
  CHECK_FALSE(plm::is_power_of_two(48));
}

TEST_CASE("dtype table matches ggml block sizes") {
  CHECK(plm::block_bytes(plm::dtype::q8_0) == 34);
  CHECK(plm::block_bytes(plm::dtype::q6_k) == 210);
  CHECK(plm::block_size(plm::dtype::q4_0) == 32);
  CHECK(plm::find_dtype(4) == nullptr);   // removed Q4_2
  CHECK(plm::find_dtype(999) == nullptr);
  plm::dtype t{};
  CHECK(plm::parse_dtype("Q4_K", t));
  CHECK(t == plm::dtype::q4_k);
  CHECK_FALSE(plm::parse_dtype("q4_k_m", t));
}

TEST_CASE("aligned_buffer: heap and mapped sizes are aligned, zeroed, writable and move cleanly") {
  const size_t t = plm::aligned_buffer::map_threshold;
  for (size_t size : {size_t{1}, size_t{4095}, t - 1, t, t + 3, 3 * t + 12345}) {
    CAPTURE(size);
    auto buf = plm::aligned_buffer::allocate(size);
    REQUIRE(buf);
    CHECK(buf->size() == size);
    CHECK(reinterpret_cast<uintptr_t>(buf->data()) % plm::buffer_alignment == 0);
#if defined(__unix__) || defined(__APPLE__)
    if (size >= t) CHECK(reinterpret_cast<uintptr_t>(buf->data()) % plm::aligned_buffer::huge_page == 0);
#endif
    size_t nonzero = 0;
    for (size_t i = 0; i < size; i += 997) nonzero += buf->data()[i] != 0;
    nonzero += buf->data()[size - 1] != 0;
    CHECK(nonzero == 0);
    std::memset(buf->data(), 0xab, size);  // every byte writable (ASan / a fault would tell)
    plm::aligned_buffer moved(std::move(*buf));
    CHECK(buf->data() == nullptr);
    CHECK(moved.size() == size);
    CHECK(moved.data()[size - 1] == 0xab);
    plm::aligned_buffer other = std::move(moved);  // move-assign over an empty one, then both destroyed
    CHECK(other.data()[0] == 0xab);
    other = plm::aligned_buffer();
    CHECK(other.empty());
  }
}

TEST_CASE("arena hands out aligned ranges and reports exhaustion") {
  auto buf = plm::aligned_buffer::allocate(256);
  REQUIRE(buf);
  CHECK(reinterpret_cast<uintptr_t>(buf->data()) % plm::buffer_alignment == 0);
  plm::arena a(buf->data(), buf->size());
  void* p = a.take(10);
  void* q = a.take(10);
  REQUIRE(p);
  REQUIRE(q);
  CHECK(reinterpret_cast<uintptr_t>(q) % 64 == 0);
  CHECK(a.used() == 74);
  CHECK(a.take(200) == nullptr);
  CHECK(a.used() == 74);
}

TEST_CASE("mapped_file maps, reads, and reports missing files") {
  const std::string path = std::string(PLM_TEST_BINARY_DIR) + "/core_mapped.bin";
  std::FILE* f = std::fopen(path.c_str(), "wb");
  REQUIRE(f);
  std::fputs("hello plm", f);
  std::fclose(f);
  for (auto mode : {plm::load_mode::mmap, plm::load_mode::read}) {
    plm::map_options opt;
    opt.mode = mode;
    auto m = plm::mapped_file::open(path, opt);
    REQUIRE(m);
    CHECK(m->size() == 9);
    CHECK(std::string(reinterpret_cast<const char*>(m->data()), m->size()) == "hello plm");
    CHECK(m->is_mapped() == (mode == plm::load_mode::mmap));
  }
  auto missing = plm::mapped_file::open(path + ".does-not-exist");
  REQUIRE_FALSE(missing);
  CHECK(missing.error().kind() == plm::errc::io_error);
  CHECK(missing.error().message().find("does-not-exist") != std::string::npos);
}

TEST_CASE("tensor_view computes rows and bytes in ggml order") {
  auto t = plm::tensor_view::contiguous(plm::dtype::q8_0, {64, 3}, nullptr, "w");
  CHECK(t.n_dims == 2);
  CHECK(t.row_bytes() == 68);
  CHECK(t.n_bytes() == 204);
  CHECK(plm::shape_string(t) == "[64, 3]");
}
