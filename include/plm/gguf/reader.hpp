// plm/gguf/reader.hpp - validating, zero-copy reader of GGUF v2/v3 files.
//
// GGUF parsers are a classic attack surface (unchecked counts, offset + size
// past the end, alignment overflow, n_dims > 4, arrays of arrays), so open()
// validates every count, length, type id, shape and offset of the header
// against the bytes that are really there, with overflow-safe arithmetic,
// before anything is trusted. It costs O(metadata): the tensor data is neither
// copied nor touched (with mmap its pages are not even read). Afterwards all
// accessors are cheap and can no longer meet malformed bytes.
//
// Limits plm enforces beyond ggml's (see types.hpp): general.alignment must be
// a u32 power of two in [1, 65536]; every ne must be >= 1 (ggml rejects
// negative ne and divides by ne, so zero is no more usable there); tensor
// names are 1..63 bytes (ggml: < GGML_MAX_NAME = 64); keys are non-empty; bool
// values are 0 or 1; tensors may not overlap. ggml additionally requires
// tensors to be packed back to back in header order; plm does not.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <limits>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "plm/core/checked.hpp"
#include "plm/core/dtype.hpp"
#include "plm/core/mapped_file.hpp"
#include "plm/core/result.hpp"
#include "plm/core/tensor.hpp"
#include "plm/gguf/types.hpp"

namespace plm::gguf {

namespace detail {

// Smallest possible encoding of one metadata entry (8-byte key length, a
// 1-byte key, 4-byte type, 1-byte value) and of one tensor record (8-byte name
// length, 1-byte name, n_dims, one ne, type, offset): a count whose minimum
// encoding exceeds the remaining bytes is rejected before anything is reserved.
inline constexpr uint64_t min_kv_bytes = 8 + 1 + 4 + 1;
inline constexpr uint64_t min_tensor_bytes = 8 + 1 + 4 + 8 + 4 + 8;

inline std::string quoted(std::string_view s) {
  // Keys and names come from the file: print at most 80 bytes and escape
  // non-printables so an error message stays one readable line.
  std::string out = "'";
  const size_t n = std::min<size_t>(s.size(), 80);
  for (size_t i = 0; i < n; ++i) {
    const unsigned char c = static_cast<unsigned char>(s[i]);
    if (c >= 0x20 && c < 0x7f && c != '\\') {
      out += static_cast<char>(c);
    } else {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\x%02x", c);
      out += buf;
    }
  }
  if (s.size() > n) out += "...";
  return out + "'";
}

/// Bounds-checked little-endian cursor over the header bytes.
struct cursor {
  const uint8_t* data;
  size_t size;
  size_t pos;

  size_t remaining() const noexcept { return size - pos; }

  plm::error truncated(const char* what, uint64_t need) const {
    return make_error(errc::invalid_format, std::string("unexpected end of file reading ") + what + " at byte " +
                                                std::to_string(pos) + ": need " + std::to_string(need) +
                                                " bytes, " + std::to_string(remaining()) + " remain");
  }
  template <class T>
  result<T> read(const char* what) {
    if (remaining() < sizeof(T)) return truncated(what, sizeof(T));
    const T v = load<T>(data + pos);
    pos += sizeof(T);
    return v;
  }
  /// u64 length + bytes; the bytes stay in the file.
  result<std::string_view> read_string(const char* what) {
    if (remaining() < 8) return truncated(what, 8);
    const uint64_t len = load<uint64_t>(data + pos);
    if (len > remaining() - 8)
      return make_error(errc::invalid_format, std::string(what) + ": string length " + std::to_string(len) +
                                                  " at byte " + std::to_string(pos) + " exceeds the " +
                                                  std::to_string(remaining() - 8) + " bytes remaining");
    const std::string_view s(reinterpret_cast<const char*>(data + pos + 8), static_cast<size_t>(len));
    pos += 8 + static_cast<size_t>(len);
    return s;
  }
};

}  // namespace detail

/// A validated GGUF file (v2 or v3). Move-only; views it hands out (keys,
/// strings, tensor data) live as long as the file object.
class file {
 public:
  file(const file&) = delete;
  file& operator=(const file&) = delete;
  file(file&&) noexcept = default;
  file& operator=(file&&) noexcept = default;
  ~file() = default;

  /// Maps (or reads, per `opt`) the file at `path` and validates its header.
  static result<file> open(const std::string& path, const plm::map_options& opt = {}) {
    auto mf = plm::mapped_file::open(path, opt);
    if (!mf) return std::move(mf).error();
    file f;
    f.owned_ = std::move(*mf);
    f.data_ = f.owned_.data();
    f.size_ = f.owned_.size();
    auto r = f.parse();
    if (!r) return std::move(r).error().with_context("'" + path + "'");
    return f;
  }

  /// Validates `size` bytes at `data` without copying them; they must outlive the file object.
  static result<file> from_memory(const void* data, size_t size) {
    file f;
    f.data_ = static_cast<const uint8_t*>(data);
    f.size_ = data ? size : 0;
    auto r = f.parse();
    if (!r) return std::move(r).error();
    return f;
  }

  uint32_t version() const noexcept { return version_; }
  size_t alignment() const noexcept { return alignment_; }
  /// Byte offset of the data section (aligned end of the header).
  size_t data_offset() const noexcept { return data_offset_; }

  // ---- metadata -----------------------------------------------------------

  size_t n_kv() const noexcept { return kvs_.size(); }
  /// Key of entry i (file order); i < n_kv().
  std::string_view key(size_t i) const noexcept { return kvs_[i].key; }
  value_type type_of(size_t i) const noexcept { return kvs_[i].type; }
  /// Element type and count of entry i; count 0 and elem_type u8 when it is no array.
  array_info array_info_of(size_t i) const noexcept {
    const kv_entry& e = kvs_[i];
    return e.type == value_type::array ? array_info{e.elem_type, e.count} : array_info{value_type::u8, 0};
  }
  /// Index of `key` in file order, or npos.
  static constexpr size_t npos = static_cast<size_t>(-1);
  size_t find_key(std::string_view key) const noexcept {
    const kv_entry* e = find_kv(key);
    return e ? static_cast<size_t>(e - kvs_.data()) : npos;
  }
  bool has(std::string_view key) const noexcept { return find_kv(key) != nullptr; }

  result<value_type> type_of(std::string_view key) const {
    const kv_entry* e = find_kv(key);
    if (!e) return missing_key(key);
    return e->type;
  }

  /// Scalar or string value of `key`; the type must match exactly.
  template <class T>
  result<T> get(std::string_view key) const {
    static_assert(detail::is_value_type<T>::value,
                  "T must be one of uint8_t..int64_t, float, double, bool, std::string_view");
    const kv_entry* e = find_kv(key);
    if (!e) return missing_key(key);
    constexpr value_type want = detail::value_type_of<T>::value;
    if (e->type != want) return mismatch(*e, to_string(want));
    return scalar<T>(e->value_pos);
  }

  /// Like get<T>, but `fallback` when the key is absent (a wrong type is still an error).
  template <class T>
  result<T> get_or(std::string_view key, T fallback) const {
    if (!has(key)) return fallback;
    return get<T>(key);
  }

  /// Element type and length of the array at `key`.
  result<array_info> get_array_info(std::string_view key) const {
    const kv_entry* e = find_kv(key);
    if (!e) return missing_key(key);
    if (e->type != value_type::array) return mismatch(*e, "array");
    return array_info{e->elem_type, e->count};
  }

  /// The strings of a string array, as views into the file bytes.
  result<std::vector<std::string_view>> get_string_array(std::string_view key) const {
    const kv_entry* e = find_kv(key);
    if (!e) return missing_key(key);
    if (e->type != value_type::array || e->elem_type != value_type::string) return mismatch(*e, "array of string");
    std::vector<std::string_view> out;
    out.reserve(static_cast<size_t>(e->count));
    // Lengths were checked at open: this walk cannot leave the array.
    const uint8_t* p = data_ + e->value_pos;
    for (uint64_t i = 0; i < e->count; ++i) {
      const size_t len = static_cast<size_t>(detail::load<uint64_t>(p));
      out.emplace_back(reinterpret_cast<const char*>(p + 8), len);
      p += 8 + len;
    }
    return out;
  }

  /// A numeric or bool array; the element type must match exactly.
  template <class T>
  result<std::vector<T>> get_array(std::string_view key) const {
    static_assert(detail::is_numeric_value<T>, "use get_string_array for strings");
    const kv_entry* e = find_kv(key);
    if (!e) return missing_key(key);
    constexpr value_type want = detail::value_type_of<T>::value;
    if (e->type != value_type::array || e->elem_type != want)
      return mismatch(*e, std::string("array of ") + to_string(want));
    const size_t n = static_cast<size_t>(e->count);
    const uint8_t* p = data_ + e->value_pos;
    if constexpr (std::is_same<T, bool>::value) {
      std::vector<bool> out(n);
      for (size_t i = 0; i < n; ++i) out[i] = p[i] != 0;
      return out;
    } else {
      std::vector<T> out(n);
      if (n) std::memcpy(out.data(), p, n * sizeof(T));
      return out;
    }
  }

  /// Human-readable rendering of entry i's value (arrays: type, count and the first `max_items` items).
  std::string format_value(size_t i, size_t max_items = 8) const {
    const kv_entry& e = kvs_[i];
    if (e.type != value_type::array) return format_scalar(e.type, e.value_pos);
    std::string s = std::string("[") + to_string(e.elem_type) + " x " + std::to_string(e.count) + "]";
    if (e.count == 0 || max_items == 0) return s;
    s += " {";
    const uint8_t* p = data_ + e.value_pos;
    for (uint64_t k = 0; k < e.count && k < max_items; ++k) {
      if (k) s += ", ";
      const size_t pos = static_cast<size_t>(p - data_);
      s += format_scalar(e.elem_type, pos);
      p += e.elem_type == value_type::string ? 8 + static_cast<size_t>(detail::load<uint64_t>(p))
                                             : detail::scalar_size(e.elem_type);
    }
    if (e.count > max_items) s += ", ...";
    return s + "}";
  }

  // ---- tensors ------------------------------------------------------------

  /// All tensors in file order.
  const std::vector<tensor_info>& tensors() const noexcept { return tensors_; }

  /// The tensor called `name`, or nullptr. O(log n).
  const tensor_info* find_tensor(std::string_view name) const noexcept {
    auto it = std::lower_bound(tensor_index_.begin(), tensor_index_.end(), name,
                               [this](uint32_t i, std::string_view n) { return tensors_[i].name < n; });
    if (it == tensor_index_.end() || tensors_[*it].name != name) return nullptr;
    return &tensors_[*it];
  }

  /// Zero-copy view of the tensor called `name`; errc::missing if absent.
  result<plm::tensor_view> tensor(std::string_view name) const {
    const tensor_info* t = find_tensor(name);
    if (!t) return make_error(errc::missing, "tensor " + detail::quoted(name) + " not found");
    return view(*t);
  }

  /// Zero-copy view of a tensor of this file (contiguous strides).
  plm::tensor_view view(const tensor_info& t) const noexcept {
    plm::tensor_view v;
    v.name = t.name;
    v.type = t.type;
    v.n_dims = static_cast<int>(t.n_dims);
    for (int k = 0; k < plm::max_dims; ++k) v.ne[k] = t.ne[k];
    v.nb[0] = block_bytes(t.type);
    v.nb[1] = v.row_bytes();
    for (int k = 2; k < plm::max_dims; ++k) v.nb[k] = v.nb[k - 1] * static_cast<size_t>(v.ne[k - 1]);
    v.data = data_ + data_offset_ + t.offset;
    return v;
  }

  /// The whole file.
  const uint8_t* bytes() const noexcept { return data_; }
  size_t size() const noexcept { return size_; }
  /// True when the bytes are a mapping of the file (zero-copy), false when read or borrowed.
  bool is_mapped() const noexcept { return owned_.is_mapped(); }
  /// mapped_file::release() of bytes of this file (a no-op unless mapped).
  void release(const void* p, size_t n) const noexcept { owned_.release(p, n); }

 private:
  struct kv_entry {
    std::string_view key;
    value_type type;
    value_type elem_type;  // arrays only
    uint64_t count;        // arrays only
    size_t value_pos;      // byte offset of the value (arrays: of the first element)
  };

  file() = default;

  const kv_entry* find_kv(std::string_view key) const noexcept {
    auto it = std::lower_bound(kv_index_.begin(), kv_index_.end(), key,
                               [this](uint32_t i, std::string_view k) { return kvs_[i].key < k; });
    if (it == kv_index_.end() || kvs_[*it].key != key) return nullptr;
    return &kvs_[*it];
  }

  static plm::error missing_key(std::string_view key) {
    return make_error(errc::missing, "metadata key " + detail::quoted(key) + " not found");
  }
  static std::string describe_type(const kv_entry& e) {
    if (e.type == value_type::array) return std::string("array of ") + to_string(e.elem_type);
    return to_string(e.type);
  }
  static plm::error mismatch(const kv_entry& e, const std::string& expected) {
    return make_error(errc::type_mismatch, "metadata key " + detail::quoted(e.key) + ": expected " + expected +
                                               ", found " + describe_type(e));
  }

  template <class T>
  T scalar(size_t pos) const noexcept {
    if constexpr (std::is_same<T, std::string_view>::value) {
      const size_t len = static_cast<size_t>(detail::load<uint64_t>(data_ + pos));
      return std::string_view(reinterpret_cast<const char*>(data_ + pos + 8), len);
    } else if constexpr (std::is_same<T, bool>::value) {
      return data_[pos] != 0;
    } else {
      return detail::load<T>(data_ + pos);
    }
  }

  std::string format_scalar(value_type t, size_t pos) const {
    char buf[64];
    switch (t) {
      case value_type::u8: return std::to_string(scalar<uint8_t>(pos));
      case value_type::i8: return std::to_string(scalar<int8_t>(pos));
      case value_type::u16: return std::to_string(scalar<uint16_t>(pos));
      case value_type::i16: return std::to_string(scalar<int16_t>(pos));
      case value_type::u32: return std::to_string(scalar<uint32_t>(pos));
      case value_type::i32: return std::to_string(scalar<int32_t>(pos));
      case value_type::u64: return std::to_string(scalar<uint64_t>(pos));
      case value_type::i64: return std::to_string(scalar<int64_t>(pos));
      case value_type::f32: std::snprintf(buf, sizeof buf, "%.9g", static_cast<double>(scalar<float>(pos))); return buf;
      case value_type::f64: std::snprintf(buf, sizeof buf, "%.17g", scalar<double>(pos)); return buf;
      case value_type::boolean: return scalar<bool>(pos) ? "true" : "false";
      case value_type::string: return detail::quoted(scalar<std::string_view>(pos));
      case value_type::array: return "array";
    }
    return "?";
  }

  // ---- validation ---------------------------------------------------------

  static plm::error bad(std::string msg) { return make_error(errc::invalid_format, std::move(msg)); }

  result<void> parse() {
    detail::cursor c{data_, size_, 0};
    if (size_ < 4) return c.truncated("magic", 4);
    const uint32_t m = detail::load<uint32_t>(data_);
    if (m != magic) {
      char buf[96];
      std::snprintf(buf, sizeof buf, "bad magic: expected 'GGUF' (47 47 55 46), found %02x %02x %02x %02x", data_[0],
                    data_[1], data_[2], data_[3]);
      return bad(buf);
    }
    c.pos = 4;
    PLM_TRY(const uint32_t version, c.read<uint32_t>("version"));
    if (version != 2 && version != 3) {
      const uint32_t swapped = (version >> 24) | ((version >> 8) & 0xff00u) | ((version << 8) & 0xff0000u) | (version << 24);
      if (swapped == 2 || swapped == 3)
        return make_error(errc::unsupported, "big-endian GGUF (version " + std::to_string(swapped) +
                                                 " byte-swapped) is not supported: expected a little-endian file");
      return make_error(errc::unsupported, "GGUF version " + std::to_string(version) + " is not supported (expected 2 or 3)");
    }
    version_ = version;
    PLM_TRY(const uint64_t n_tensors, c.read<uint64_t>("n_tensors"));
    PLM_TRY(const uint64_t n_kv, c.read<uint64_t>("n_kv"));
    const uint64_t rest = c.remaining();
    // Both counts are i64 in the file; negative ones show up here as huge.
    if (n_kv > rest / detail::min_kv_bytes)
      return bad("n_kv = " + std::to_string(static_cast<int64_t>(n_kv)) + " cannot fit: each entry needs at least " +
                 std::to_string(detail::min_kv_bytes) + " bytes and " + std::to_string(rest) + " remain after the header");
    if (n_tensors > rest / detail::min_tensor_bytes)
      return bad("n_tensors = " + std::to_string(static_cast<int64_t>(n_tensors)) +
                 " cannot fit: each tensor record needs at least " + std::to_string(detail::min_tensor_bytes) +
                 " bytes and " + std::to_string(rest) + " remain after the header");
    if (n_kv * detail::min_kv_bytes + n_tensors * detail::min_tensor_bytes > rest)
      return bad("n_kv = " + std::to_string(n_kv) + " and n_tensors = " + std::to_string(n_tensors) +
                 " cannot both fit in the " + std::to_string(rest) + " bytes after the header");

    kvs_.reserve(static_cast<size_t>(n_kv));
    for (uint64_t i = 0; i < n_kv; ++i) {
      auto r = parse_kv(c, i);
      if (!r) return std::move(r).error();
    }
    PLM_TRY_VOID(build_kv_index());
    PLM_TRY_VOID(read_alignment());

    tensors_.reserve(static_cast<size_t>(n_tensors));
    for (uint64_t i = 0; i < n_tensors; ++i) {
      auto r = parse_tensor(c, i);
      if (!r) return std::move(r).error();
    }
    size_t data_offset = 0;
    if (!checked_align_up<size_t>(c.pos, alignment_, data_offset))
      return bad("data section offset overflows aligning byte " + std::to_string(c.pos) + " to " + std::to_string(alignment_));
    data_offset_ = data_offset;
    return check_tensors();
  }

  result<void> parse_kv(detail::cursor& c, uint64_t i) {
    const size_t start = c.pos;
    const std::string key_what = "key of metadata entry " + std::to_string(i);
    PLM_TRY(const std::string_view key, c.read_string(key_what.c_str()));
    if (key.empty()) return bad("metadata entry " + std::to_string(i) + " at byte " + std::to_string(start) + " has an empty key");
    const std::string where = "metadata key " + detail::quoted(key);
    const size_t type_pos = c.pos;
    PLM_TRY(const uint32_t type_id, c.read<uint32_t>("value type"));
    if (!detail::is_valid_value_type(type_id))
      return bad(where + ": unknown value type " + std::to_string(type_id) + " at byte " + std::to_string(type_pos) +
                 " (expected 0..12)");
    kv_entry e{key, static_cast<value_type>(type_id), value_type::u8, 0, c.pos};
    if (e.type == value_type::array) {
      const size_t elem_pos = c.pos;
      PLM_TRY(const uint32_t elem_id, c.read<uint32_t>("array element type"));
      if (!detail::is_valid_value_type(elem_id))
        return bad(where + ": unknown value type " + std::to_string(elem_id) + " for array elements at byte " +
                   std::to_string(elem_pos) + " (expected 0..12)");
      if (static_cast<value_type>(elem_id) == value_type::array)
        return bad(where + ": arrays of arrays are not supported (element type at byte " + std::to_string(elem_pos) + ")");
      e.elem_type = static_cast<value_type>(elem_id);
      const size_t count_pos = c.pos;
      PLM_TRY(e.count, c.read<uint64_t>("array count"));
      e.value_pos = c.pos;
      const uint64_t per = e.elem_type == value_type::string ? 8 : detail::scalar_size(e.elem_type);
      // Every element needs at least `per` bytes (a string its length field).
      if (e.count > c.remaining() / per)
        return bad(where + ": array count " + std::to_string(e.count) + " of " + to_string(e.elem_type) + " at byte " +
                   std::to_string(count_pos) + " needs at least " + (e.count > UINT64_MAX / per ? std::string("2^64") : std::to_string(e.count * per)) +
                   " bytes, " + std::to_string(c.remaining()) + " remain");
      if (e.elem_type == value_type::string) {
        const std::string what = where + " string element";
        for (uint64_t k = 0; k < e.count; ++k) {
          auto s = c.read_string(what.c_str());
          if (!s) return std::move(s).error();
        }
      } else {
        const size_t n = static_cast<size_t>(e.count * per);
        if (e.elem_type == value_type::boolean) {
          for (size_t k = 0; k < n; ++k)
            if (data_[c.pos + k] > 1)
              return bad(where + ": bool element " + std::to_string(k) + " is " + std::to_string(data_[c.pos + k]) +
                         " at byte " + std::to_string(c.pos + k) + " (expected 0 or 1)");
        }
        c.pos += n;
      }
    } else if (e.type == value_type::string) {
      auto s = c.read_string((where + " value").c_str());
      if (!s) return std::move(s).error();
    } else {
      const size_t n = detail::scalar_size(e.type);
      if (c.remaining() < n) return c.truncated((where + " value").c_str(), n);
      if (e.type == value_type::boolean && data_[c.pos] > 1)
        return bad(where + ": bool value is " + std::to_string(data_[c.pos]) + " at byte " + std::to_string(c.pos) +
                   " (expected 0 or 1)");
      c.pos += n;
    }
    kvs_.push_back(e);
    return ok();
  }

  /// Indices 0..n-1 sorted by name_of(i) (ties in file order), and the first
  /// position whose name equals its predecessor's (npos if none).
  template <class NameOf>
  static size_t sort_by_name(std::vector<uint32_t>& idx, size_t n, NameOf name_of) {
    idx.resize(n);
    for (size_t i = 0; i < n; ++i) idx[i] = static_cast<uint32_t>(i);
    std::sort(idx.begin(), idx.end(), [&](uint32_t a, uint32_t b) {
      const std::string_view na = name_of(a), nb = name_of(b);
      return na < nb || (na == nb && a < b);
    });
    for (size_t i = 1; i < n; ++i)
      if (name_of(idx[i - 1]) == name_of(idx[i])) return i;
    return npos;
  }

  result<void> build_kv_index() {
    const size_t d = sort_by_name(kv_index_, kvs_.size(), [this](uint32_t i) { return kvs_[i].key; });
    if (d != npos)
      return bad("duplicate key " + detail::quoted(kvs_[kv_index_[d]].key) + " (metadata entries " +
                 std::to_string(kv_index_[d - 1]) + " and " + std::to_string(kv_index_[d]) + ")");
    return ok();
  }

  result<void> read_alignment() {
    alignment_ = default_alignment;
    const kv_entry* e = find_kv("general.alignment");
    if (!e) return ok();
    if (e->type != value_type::u32) return mismatch(*e, "u32");
    const uint32_t a = scalar<uint32_t>(e->value_pos);
    if (a == 0 || a > max_alignment || !is_power_of_two(a))
      return bad("metadata key 'general.alignment' is " + std::to_string(a) +
                 ": expected a power of two in [1, " + std::to_string(max_alignment) + "]");
    alignment_ = a;
    return ok();
  }

  result<void> parse_tensor(detail::cursor& c, uint64_t i) {
    const size_t start = c.pos;
    const std::string name_what = "name of tensor " + std::to_string(i);
    PLM_TRY(const std::string_view name, c.read_string(name_what.c_str()));
    if (name.empty()) return bad("tensor " + std::to_string(i) + " at byte " + std::to_string(start) + " has an empty name");
    const std::string where = "tensor " + detail::quoted(name);
    if (name.size() > max_tensor_name)
      return bad(where + ": name is " + std::to_string(name.size()) + " bytes long (at most " +
                 std::to_string(max_tensor_name) + " allowed)");
    tensor_info t{};
    t.name = name;
    const size_t dims_pos = c.pos;
    PLM_TRY(t.n_dims, c.read<uint32_t>("tensor n_dims"));
    if (t.n_dims < 1 || t.n_dims > max_tensor_dims)
      return bad(where + ": n_dims = " + std::to_string(t.n_dims) + " at byte " + std::to_string(dims_pos) +
                 " (expected 1.." + std::to_string(max_tensor_dims) + ")");
    for (int k = 0; k < 4; ++k) t.ne[k] = 1;
    for (uint32_t k = 0; k < t.n_dims; ++k) {
      const size_t ne_pos = c.pos;
      PLM_TRY(t.ne[k], c.read<int64_t>("tensor ne"));
      if (t.ne[k] < 1)
        return bad(where + ": ne[" + std::to_string(k) + "] = " + std::to_string(t.ne[k]) + " at byte " +
                   std::to_string(ne_pos) + " (every dimension must be >= 1)");
    }
    const size_t type_pos = c.pos;
    PLM_TRY(const uint32_t type_id, c.read<uint32_t>("tensor type"));
    const plm::dtype_info* di = plm::find_dtype(type_id);
    if (!di)
      return make_error(errc::unsupported, where + ": unknown or unsupported ggml type id " + std::to_string(type_id) +
                                               " at byte " + std::to_string(type_pos));
    t.type = di->type;
    PLM_TRY(t.offset, c.read<uint64_t>("tensor offset"));

    uint64_t n_el = 1;
    for (int k = 0; k < 4; ++k) {
      if (!checked_mul<uint64_t>(n_el, static_cast<uint64_t>(t.ne[k]), n_el) ||
          n_el > static_cast<uint64_t>(std::numeric_limits<int64_t>::max()))
        return bad(where + ": number of elements of shape " + shape_string(t.ne, static_cast<int>(t.n_dims)) +
                   " overflows int64");
    }
    if (static_cast<uint64_t>(t.ne[0]) % di->block_size != 0)
      return bad(where + ": ne[0] = " + std::to_string(t.ne[0]) + " is not a multiple of the block size " +
                 std::to_string(di->block_size) + " of " + std::string(di->name));
    uint64_t n_bytes = static_cast<uint64_t>(t.ne[0]) / di->block_size;
    if (!checked_mul<uint64_t>(n_bytes, di->block_bytes, n_bytes) ||
        !checked_mul<uint64_t>(n_bytes, static_cast<uint64_t>(t.ne[1]), n_bytes) ||
        !checked_mul<uint64_t>(n_bytes, static_cast<uint64_t>(t.ne[2]), n_bytes) ||
        !checked_mul<uint64_t>(n_bytes, static_cast<uint64_t>(t.ne[3]), n_bytes))
      return bad(where + ": byte size of shape " + shape_string(t.ne, static_cast<int>(t.n_dims)) + " overflows");
    t.n_bytes = n_bytes;
    if (t.offset % alignment_ != 0)
      return bad(where + ": offset " + std::to_string(t.offset) + " is not a multiple of the alignment " +
                 std::to_string(alignment_));
    tensors_.push_back(t);
    return ok();
  }

  result<void> check_tensors() {
    const size_t d = sort_by_name(tensor_index_, tensors_.size(), [this](uint32_t i) { return tensors_[i].name; });
    if (d != npos)
      return bad("duplicate tensor name " + detail::quoted(tensors_[tensor_index_[d]].name) + " (tensors " +
                 std::to_string(tensor_index_[d - 1]) + " and " + std::to_string(tensor_index_[d]) + ")");
    const uint64_t data_size = data_offset_ <= size_ ? size_ - data_offset_ : 0;
    for (const tensor_info& t : tensors_) {
      uint64_t end = 0;
      if (!checked_add<uint64_t>(t.offset, t.n_bytes, end) || end > data_size || data_offset_ > size_)
        return bad("tensor " + detail::quoted(t.name) + ": data [" + std::to_string(t.offset) + ", " +
                   (checked_add<uint64_t>(t.offset, t.n_bytes, end) ? std::to_string(end) : std::string("overflow")) +
                   ") of the data section at byte " + std::to_string(data_offset_) + " extends past the end of the file (" +
                   std::to_string(size_) + " bytes, data section " + std::to_string(data_size) + " bytes)");
    }
    // Overlap check on offset order (ggml packs tensors back to back; plm
    // accepts any order but not two tensors sharing bytes).
    std::vector<uint32_t> by_offset(tensors_.size());
    for (size_t i = 0; i < tensors_.size(); ++i) by_offset[i] = static_cast<uint32_t>(i);
    std::sort(by_offset.begin(), by_offset.end(),
              [this](uint32_t a, uint32_t b) { return tensors_[a].offset < tensors_[b].offset; });
    for (size_t i = 1; i < by_offset.size(); ++i) {
      const tensor_info& a = tensors_[by_offset[i - 1]];
      const tensor_info& b = tensors_[by_offset[i]];
      if (a.offset + a.n_bytes > b.offset)
        return bad("tensors " + detail::quoted(a.name) + " [" + std::to_string(a.offset) + ", " +
                   std::to_string(a.offset + a.n_bytes) + ") and " + detail::quoted(b.name) + " [" +
                   std::to_string(b.offset) + ", " + std::to_string(b.offset + b.n_bytes) + ") overlap");
    }
    return ok();
  }

  plm::mapped_file owned_;      // empty for from_memory
  const uint8_t* data_ = nullptr;
  size_t size_ = 0;
  uint32_t version_ = 0;
  size_t alignment_ = default_alignment;
  size_t data_offset_ = 0;
  std::vector<kv_entry> kvs_;            // file order
  std::vector<uint32_t> kv_index_;       // indices into kvs_, sorted by key
  std::vector<tensor_info> tensors_;     // file order
  std::vector<uint32_t> tensor_index_;   // indices into tensors_, sorted by name
};

}  // namespace plm::gguf
