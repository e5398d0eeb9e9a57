// tests/fuzz/harness_gguf.hpp - fuzz harness for the GGUF reader on arbitrary bytes.
//
// gguf::file::from_memory must reject or accept any byte string without
// reading outside it. What it accepts must then be safe to use through every
// accessor: every key found again by name, every value readable with its own
// type and refused (type_mismatch) with another, every array readable, and
// every tensor view inside the file - its first and last byte are read so
// that AddressSanitizer flags a view that is not. The reader's own promises
// (unique keys and names, aligned offsets, no overlapping tensors) are checked
// here independently of its implementation.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "fuzz/harness_common.hpp"
#include "plm/gguf/reader.hpp"

namespace plm_fuzz {

namespace detail {

// get<T> of a scalar entry whose stored type is `stored`: must succeed when T
// is that type and fail with type_mismatch otherwise.
template <class T>
bool scalar_access_ok(const plm::gguf::file& f, std::string_view key, plm::gguf::value_type stored) {
  const auto r = f.get<T>(key);
  const bool same = plm::gguf::detail::value_type_of<T>::value == stored;
  if (same) return r.has_value();
  return !r.has_value() && r.error().kind() == plm::errc::type_mismatch;
}

template <class T>
bool array_access_ok(const plm::gguf::file& f, std::string_view key, plm::gguf::array_info info) {
  const auto r = f.get_array<T>(key);
  const bool same = plm::gguf::detail::value_type_of<T>::value == info.elem_type;
  if (same) return r.has_value() && r->size() == info.count;
  return !r.has_value() && r.error().kind() == plm::errc::type_mismatch;
}

}  // namespace detail

inline outcome check_gguf(const uint8_t* data, size_t size) {
  outcome out;
  namespace gguf = plm::gguf;
  using gguf::value_type;
  auto opened = gguf::file::from_memory(data, size);
  if (!opened) {
    PLM_FUZZ_CHECK(!opened.error().message().empty(), "rejection without a message");
    return out;
  }
  const gguf::file& f = *opened;
  PLM_FUZZ_CHECK(f.version() == 2 || f.version() == 3, "accepted version " + std::to_string(f.version()));
  PLM_FUZZ_CHECK(f.alignment() >= 1 && f.alignment() <= gguf::max_alignment &&
                     (f.alignment() & (f.alignment() - 1)) == 0,
                 "alignment " + std::to_string(f.alignment()));
  PLM_FUZZ_CHECK(f.data_offset() % f.alignment() == 0, "data section not aligned");
  PLM_FUZZ_CHECK(f.bytes() == data && f.size() == size, "file does not describe the bytes it was given");

  // ---- metadata ----
  for (size_t i = 0; i < f.n_kv(); ++i) {
    const std::string_view key = f.key(i);
    PLM_FUZZ_CHECK(!key.empty(), "empty key accepted");
    PLM_FUZZ_CHECK(key.data() >= reinterpret_cast<const char*>(data) &&
                       key.data() + key.size() <= reinterpret_cast<const char*>(data) + size,
                   "key view outside the file");
    PLM_FUZZ_CHECK(f.find_key(key) == i, "find_key(key(" + std::to_string(i) + ")) is not " + std::to_string(i));
    PLM_FUZZ_CHECK(f.has(key), "has(key) false");
    const value_type t = f.type_of(i);
    const auto t2 = f.type_of(key);
    PLM_FUZZ_CHECK(t2.has_value() && *t2 == t, "type_of(key) disagrees with type_of(i)");
    (void)f.format_value(i);
    (void)f.format_value(i, 0);
    (void)f.format_value(i, 1000);
    if (t == value_type::array) {
      const gguf::array_info ai = f.array_info_of(i);
      const auto ai2 = f.get_array_info(key);
      PLM_FUZZ_CHECK(ai2.has_value() && ai2->count == ai.count && ai2->elem_type == ai.elem_type,
                     "get_array_info disagrees with array_info_of");
      PLM_FUZZ_CHECK(ai.elem_type != value_type::array, "array of arrays accepted");
      const auto strs = f.get_string_array(key);
      if (ai.elem_type == value_type::string) {
        PLM_FUZZ_CHECK(strs.has_value() && strs->size() == ai.count, "string array unreadable");
        for (const std::string_view s : *strs) {
          PLM_FUZZ_CHECK(s.data() >= reinterpret_cast<const char*>(data) &&
                             s.data() + s.size() <= reinterpret_cast<const char*>(data) + size,
                         "string array element outside the file");
          touch(s.data(), s.size());
        }
      } else {
        PLM_FUZZ_CHECK(!strs.has_value() && strs.error().kind() == plm::errc::type_mismatch,
                       "get_string_array on a numeric array did not fail with type_mismatch");
      }
      const bool arrays_ok =
          detail::array_access_ok<uint8_t>(f, key, ai) && detail::array_access_ok<int8_t>(f, key, ai) &&
          detail::array_access_ok<uint16_t>(f, key, ai) && detail::array_access_ok<int16_t>(f, key, ai) &&
          detail::array_access_ok<uint32_t>(f, key, ai) && detail::array_access_ok<int32_t>(f, key, ai) &&
          detail::array_access_ok<uint64_t>(f, key, ai) && detail::array_access_ok<int64_t>(f, key, ai) &&
          detail::array_access_ok<float>(f, key, ai) && detail::array_access_ok<double>(f, key, ai) &&
          detail::array_access_ok<bool>(f, key, ai);
      PLM_FUZZ_CHECK(arrays_ok, "get_array<T> on '" + std::string(key) + "' broke its contract");
      const auto scalar = f.get<uint32_t>(key);
      PLM_FUZZ_CHECK(!scalar.has_value() && scalar.error().kind() == plm::errc::type_mismatch,
                     "get<u32> on an array did not fail with type_mismatch");
    } else {
      const gguf::array_info ai = f.array_info_of(i);
      PLM_FUZZ_CHECK(ai.count == 0, "array_info_of a scalar has a count");
      const bool scalars_ok =
          detail::scalar_access_ok<uint8_t>(f, key, t) && detail::scalar_access_ok<int8_t>(f, key, t) &&
          detail::scalar_access_ok<uint16_t>(f, key, t) && detail::scalar_access_ok<int16_t>(f, key, t) &&
          detail::scalar_access_ok<uint32_t>(f, key, t) && detail::scalar_access_ok<int32_t>(f, key, t) &&
          detail::scalar_access_ok<uint64_t>(f, key, t) && detail::scalar_access_ok<int64_t>(f, key, t) &&
          detail::scalar_access_ok<float>(f, key, t) && detail::scalar_access_ok<double>(f, key, t) &&
          detail::scalar_access_ok<bool>(f, key, t) && detail::scalar_access_ok<std::string_view>(f, key, t);
      PLM_FUZZ_CHECK(scalars_ok, "get<T> on '" + std::string(key) + "' broke its contract");
      if (t == value_type::string) {
        const auto s = f.get<std::string_view>(key);
        PLM_FUZZ_CHECK(s->data() >= reinterpret_cast<const char*>(data) &&
                           s->data() + s->size() <= reinterpret_cast<const char*>(data) + size,
                       "string value outside the file");
        touch(s->data(), s->size());
      }
      if (t == value_type::boolean) {
        const auto b = f.get_or<bool>(key, false);
        PLM_FUZZ_CHECK(b.has_value(), "get_or<bool> failed on a bool");
      }
      const auto arr = f.get_array_info(key);
      PLM_FUZZ_CHECK(!arr.has_value() && arr.error().kind() == plm::errc::type_mismatch,
                     "get_array_info on a scalar did not fail with type_mismatch");
    }
  }
  {
    const auto absent = f.get<uint32_t>("plm.fuzz.key that no file has\x01");
    PLM_FUZZ_CHECK(!absent.has_value() && absent.error().kind() == plm::errc::missing, "absent key not missing");
    const auto fallback = f.get_or<uint32_t>("plm.fuzz.key that no file has\x01", 7u);
    PLM_FUZZ_CHECK(fallback.has_value() && *fallback == 7u, "get_or fallback");
  }
  const auto alignment_kv = f.get<uint32_t>("general.alignment");
  if (alignment_kv.has_value())
    PLM_FUZZ_CHECK(*alignment_kv == f.alignment(), "alignment() is not general.alignment");
  else
    PLM_FUZZ_CHECK(f.alignment() == gguf::default_alignment, "alignment() without general.alignment");

  // ---- tensors ----
  const auto& ts = f.tensors();
  std::vector<std::pair<uint64_t, uint64_t>> ranges;  // [begin, end) in the file
  ranges.reserve(ts.size());
  for (const gguf::tensor_info& t : ts) {
    PLM_FUZZ_CHECK(!t.name.empty() && t.name.size() <= gguf::max_tensor_name, "tensor name length");
    PLM_FUZZ_CHECK(t.n_dims >= 1 && t.n_dims <= 4, "tensor n_dims " + std::to_string(t.n_dims));
    for (int k = 0; k < 4; ++k) {
      PLM_FUZZ_CHECK(t.ne[k] >= 1, "tensor ne < 1");
      if (k >= static_cast<int>(t.n_dims)) PLM_FUZZ_CHECK(t.ne[k] == 1, "unused dimension is not 1");
    }
    PLM_FUZZ_CHECK(plm::find_dtype(static_cast<uint32_t>(t.type)) != nullptr, "tensor of unknown type");
    PLM_FUZZ_CHECK(t.offset % f.alignment() == 0, "tensor offset not aligned");
    PLM_FUZZ_CHECK(f.find_tensor(t.name) == &t, "find_tensor(name) is another tensor");
    const auto tv = f.tensor(t.name);
    PLM_FUZZ_CHECK(tv.has_value(), "tensor(name) failed for a listed tensor");
    const plm::tensor_view v = f.view(t);
    PLM_FUZZ_CHECK(v.data == tv->data && v.n_bytes() == tv->n_bytes(), "tensor(name) and view(t) differ");
    PLM_FUZZ_CHECK(v.n_bytes() == t.n_bytes, "view bytes " + std::to_string(v.n_bytes()) + " != tensor_info bytes " +
                                                 std::to_string(t.n_bytes));
    PLM_FUZZ_CHECK(t.n_bytes > 0, "tensor of zero bytes");
    const uint64_t begin = static_cast<uint64_t>(static_cast<const uint8_t*>(v.data) - data);
    PLM_FUZZ_CHECK(begin >= f.data_offset() && begin <= size && t.n_bytes <= size - begin,
                   "tensor data outside the file");
    // The last byte of the last row, reached the way kernels reach it (row strides).
    touch(v.data, v.n_bytes());
    touch(v.row(v.n_rows() - 1), v.row_bytes());
    ranges.emplace_back(begin, begin + t.n_bytes);
  }
  PLM_FUZZ_CHECK(!f.find_tensor(std::string_view("\x01no such tensor")), "found an absent tensor");
  PLM_FUZZ_CHECK(!f.tensor("\x01no such tensor").has_value(), "tensor() of an absent name succeeded");
  std::sort(ranges.begin(), ranges.end());
  for (size_t i = 1; i < ranges.size(); ++i)
    PLM_FUZZ_CHECK(ranges[i - 1].second <= ranges[i].first, "accepted overlapping tensors");
  out.accepted = true;
  return out;
}

}  // namespace plm_fuzz
