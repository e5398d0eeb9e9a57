// plm/gguf/writer.hpp - GGUF v3 writer (metadata of all 13 value types, tensors).
//
// Used to make test models and by plm-synth / plm-quantize. Tensor data is
// either referenced (a pointer that must outlive the write) or produced on
// demand by a callback while the file is written, so a multi-GB model never
// has to sit in memory: the row-chunked form needs only one chunk at a time.
//
// Keys and tensors are written in the order they were first given. Setting an
// existing key again replaces its value in place. The alignment is
// `general.alignment` when that key is set (set_alignment() sets it), else 32;
// every tensor starts at a multiple of it and is padded to one, as ggml does.
// Bad input (empty key or name, duplicate tensor name, ne[0] not a multiple
// of the block size, bad alignment...) is an error, never a malformed file.
#pragma once

#include <algorithm>
#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <functional>
#include <initializer_list>
#include <limits>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "plm/core/buffer.hpp"
#include "plm/core/checked.hpp"
#include "plm/core/dtype.hpp"
#include "plm/core/result.hpp"
#include "plm/core/tensor.hpp"
#include "plm/gguf/types.hpp"

namespace plm::gguf {

class writer {
 public:
  /// Fills all `n_bytes` of a tensor's data at `dst` (called once, during the write).
  using fill_fn = std::function<void(void* dst, size_t n_bytes)>;
  /// Fills rows [first_row, first_row + n_rows) (rows of ne[0] elements, all
  /// higher dims flattened) into `dst`; called in order, chunk by chunk.
  using fill_rows_fn = std::function<void(int64_t first_row, int64_t n_rows, void* dst)>;
  /// Reports progress of write_file/write_memory in tensor-data bytes.
  using progress_fn = std::function<void(uint64_t bytes_done, uint64_t bytes_total)>;

  // ---- metadata (set again = replace in place) -----------------------------
  void set_u8(std::string_view key, uint8_t v) { set_scalar(key, v); }
  void set_i8(std::string_view key, int8_t v) { set_scalar(key, v); }
  void set_u16(std::string_view key, uint16_t v) { set_scalar(key, v); }
  void set_i16(std::string_view key, int16_t v) { set_scalar(key, v); }
  void set_u32(std::string_view key, uint32_t v) { set_scalar(key, v); }
  void set_i32(std::string_view key, int32_t v) { set_scalar(key, v); }
  void set_u64(std::string_view key, uint64_t v) { set_scalar(key, v); }
  void set_i64(std::string_view key, int64_t v) { set_scalar(key, v); }
  void set_f32(std::string_view key, float v) { set_scalar(key, v); }
  void set_f64(std::string_view key, double v) { set_scalar(key, v); }
  void set_bool(std::string_view key, bool v) { set_scalar(key, v); }
  void set_string(std::string_view key, std::string_view v) {
    std::vector<uint8_t> b;
    put_string(b, v);
    set_raw(key, value_type::string, std::move(b));
  }
  /// Generic scalar setter: T is one of the reader's get<T> types.
  template <class T>
  void set(std::string_view key, T v) {
    static_assert(detail::is_value_type<T>::value, "unsupported metadata type");
    if constexpr (std::is_same<T, std::string_view>::value) set_string(key, v);
    else set_scalar(key, v);
  }

  /// Array of numbers or bools (exact element type T).
  template <class T>
  void set_array(std::string_view key, const std::vector<T>& v) {
    static_assert(detail::is_numeric_value<T>, "use set_string_array for strings");
    constexpr value_type et = detail::value_type_of<T>::value;
    std::vector<uint8_t> b;
    put_array_header(b, et, v.size());
    const size_t at = b.size();
    b.resize(at + v.size() * sizeof(T));
    if constexpr (std::is_same<T, bool>::value) {
      for (size_t i = 0; i < v.size(); ++i) b[at + i] = v[i] ? 1 : 0;
    } else if (!v.empty()) {
      std::memcpy(b.data() + at, v.data(), v.size() * sizeof(T));
    }
    set_raw(key, value_type::array, std::move(b));
  }
  void set_string_array(std::string_view key, const std::vector<std::string>& v) { set_strings(key, v); }
  void set_string_array(std::string_view key, const std::vector<std::string_view>& v) { set_strings(key, v); }
  /// set_string_array("k", {"a", "b"}) (would be ambiguous between the two vector forms).
  void set_string_array(std::string_view key, std::initializer_list<std::string_view> v) {
    set_strings(key, std::vector<std::string_view>(v));
  }

  bool has(std::string_view key) const noexcept { return find_kv(key) != nullptr; }
  /// Removes a key; false if absent.
  bool remove(std::string_view key) {
    for (auto it = kvs_.begin(); it != kvs_.end(); ++it)
      if (it->key == key) {
        kvs_.erase(it);
        return true;
      }
    return false;
  }
  size_t n_kv() const noexcept { return kvs_.size(); }

  /// Sets general.alignment (u32); must be a power of two in [1, 65536].
  result<void> set_alignment(size_t n) {
    if (n == 0 || n > max_alignment || !is_power_of_two(n))
      return make_error(errc::invalid_argument, "alignment " + std::to_string(n) + ": expected a power of two in [1, " +
                                                    std::to_string(max_alignment) + "]");
    set_u32("general.alignment", static_cast<uint32_t>(n));
    return ok();
  }
  /// The alignment the file will use, or an error if general.alignment was set to something invalid.
  result<size_t> alignment() const {
    const kv* e = find_kv("general.alignment");
    if (!e) return size_t{default_alignment};
    if (e->type != value_type::u32)
      return make_error(errc::type_mismatch, std::string("metadata key 'general.alignment': expected u32, found ") +
                                                 to_string(e->type));
    uint32_t a = 0;
    std::memcpy(&a, e->value.data(), 4);
    if (a == 0 || a > max_alignment || !is_power_of_two(a))
      return make_error(errc::invalid_argument, "metadata key 'general.alignment' is " + std::to_string(a) +
                                                    ": expected a power of two in [1, " + std::to_string(max_alignment) + "]");
    return size_t{a};
  }

  // ---- tensors ------------------------------------------------------------

  /// Tensor whose bytes are at `data` (n_bytes of the shape; must stay valid until the write).
  result<void> add_tensor(std::string_view name, plm::dtype type, const std::vector<int64_t>& ne, const void* data) {
    if (!data) return make_error(errc::invalid_argument, "tensor '" + std::string(name) + "': data is null");
    return add(name, type, ne, source{data, {}, {}});
  }
  /// Tensor whose bytes `fill` writes during the write (needs a buffer of the tensor's size then).
  result<void> add_tensor(std::string_view name, plm::dtype type, const std::vector<int64_t>& ne, fill_fn fill) {
    if (!fill) return make_error(errc::invalid_argument, "tensor '" + std::string(name) + "': fill function is empty");
    return add(name, type, ne, source{nullptr, std::move(fill), {}});
  }
  /// Tensor produced row chunk by row chunk: at most `chunk_bytes` (at least one row) is buffered.
  result<void> add_tensor_rows(std::string_view name, plm::dtype type, const std::vector<int64_t>& ne,
                               fill_rows_fn fill) {
    if (!fill) return make_error(errc::invalid_argument, "tensor '" + std::string(name) + "': fill function is empty");
    return add(name, type, ne, source{nullptr, {}, std::move(fill)});
  }
  size_t n_tensors() const noexcept { return tensors_.size(); }

  /// Bytes buffered per chunk for add_tensor_rows tensors (default 16 MiB, at least one row).
  void set_chunk_bytes(size_t n) noexcept { chunk_bytes_ = n ? n : 1; }

  /// Total size of the file that write_* will produce.
  result<uint64_t> file_size() const {
    PLM_TRY(const layout l, plan());
    return l.file_size;
  }

  // ---- output -------------------------------------------------------------

  /// Writes the file: to `path`.partial first, renamed to `path` on success
  /// (a failed write leaves no half file under the final name).
  result<void> write_file(const std::string& path, const progress_fn& progress = {}) const {
    PLM_TRY(const layout l, plan());
    const std::string tmp = path + ".partial";
    std::FILE* fp = std::fopen(tmp.c_str(), "wb");
    if (!fp) return make_error(errc::io_error, "cannot create '" + tmp + "': " + std::strerror(errno));
    std::vector<char> iobuf(1 << 20);
    std::setvbuf(fp, iobuf.data(), _IOFBF, iobuf.size());
    file_sink sink{fp};
    auto r = emit(l, sink, progress);
    const bool close_ok = std::fclose(fp) == 0;
    if (r && !close_ok) r = make_error(errc::io_error, "closing '" + tmp + "' failed: " + std::strerror(errno));
    if (r && std::rename(tmp.c_str(), path.c_str()) != 0)
      r = make_error(errc::io_error, "cannot rename '" + tmp + "' to '" + path + "': " + std::strerror(errno));
    if (!r) {
      std::remove(tmp.c_str());
      return std::move(r).error().with_context("writing '" + path + "'");
    }
    return ok();
  }

  /// The file as bytes (tests, small models).
  result<std::vector<uint8_t>> write_memory(const progress_fn& progress = {}) const {
    PLM_TRY(const layout l, plan());
    if (l.file_size > std::numeric_limits<size_t>::max())
      return make_error(errc::out_of_memory, "file of " + std::to_string(l.file_size) + " bytes does not fit in memory");
    vector_sink sink;
    sink.out.reserve(static_cast<size_t>(l.file_size));
    PLM_TRY_VOID(emit(l, sink, progress));
    return std::move(sink.out);
  }

 private:
  struct kv {
    std::string key;
    value_type type;
    std::vector<uint8_t> value;  // encoded as in the file (arrays: elem type, count, elements)
  };
  struct source {
    const void* data;
    fill_fn fill;
    fill_rows_fn fill_rows;
  };
  struct tensor {
    std::string name;
    plm::dtype type;
    uint32_t n_dims;
    int64_t ne[4];
    uint64_t n_bytes;
    uint64_t row_bytes;
    int64_t n_rows;
    source src;
  };
  struct layout {
    size_t alignment;
    std::vector<uint8_t> header;   // everything before the data section, padded
    std::vector<uint64_t> offsets;  // per tensor, relative to the data section
    uint64_t data_bytes;           // data section incl. padding
    uint64_t file_size;
  };

  struct file_sink {
    std::FILE* fp;
    result<void> write(const void* p, size_t n) {
      if (n && std::fwrite(p, 1, n, fp) != n) return make_error(errc::io_error, std::string("write failed: ") + std::strerror(errno));
      return ok();
    }
  };
  struct vector_sink {
    std::vector<uint8_t> out;
    result<void> write(const void* p, size_t n) {
      const uint8_t* b = static_cast<const uint8_t*>(p);
      out.insert(out.end(), b, b + n);
      return ok();
    }
  };

  template <class T>
  static void put(std::vector<uint8_t>& b, T v) {
    uint8_t tmp[sizeof(T)];
    std::memcpy(tmp, &v, sizeof(T));
    b.insert(b.end(), tmp, tmp + sizeof(T));
  }
  static void put_string(std::vector<uint8_t>& b, std::string_view s) {
    put<uint64_t>(b, s.size());
    b.insert(b.end(), s.begin(), s.end());
  }
  static void put_array_header(std::vector<uint8_t>& b, value_type et, size_t n) {
    put<uint32_t>(b, static_cast<uint32_t>(et));
    put<uint64_t>(b, n);
  }

  template <class T>
  void set_scalar(std::string_view key, T v) {
    std::vector<uint8_t> b;
    if constexpr (std::is_same<T, bool>::value) b.push_back(v ? 1 : 0);
    else put<T>(b, v);
    set_raw(key, detail::value_type_of<T>::value, std::move(b));
  }
  template <class S>
  void set_strings(std::string_view key, const std::vector<S>& v) {
    size_t total = 12;
    for (const auto& s : v) total += 8 + s.size();
    std::vector<uint8_t> b;
    b.reserve(total);
    put_array_header(b, value_type::string, v.size());
    for (const auto& s : v) put_string(b, std::string_view(s));
    set_raw(key, value_type::array, std::move(b));
  }
  void set_raw(std::string_view key, value_type t, std::vector<uint8_t> value) {
    for (kv& e : kvs_)
      if (e.key == key) {
        e.type = t;
        e.value = std::move(value);
        return;
      }
    kvs_.push_back(kv{std::string(key), t, std::move(value)});
  }
  const kv* find_kv(std::string_view key) const noexcept {
    for (const kv& e : kvs_)
      if (e.key == key) return &e;
    return nullptr;
  }

  result<void> add(std::string_view name, plm::dtype type, const std::vector<int64_t>& ne, source src) {
    const std::string where = "tensor '" + std::string(name) + "'";
    if (name.empty()) return make_error(errc::invalid_argument, "tensor name is empty");
    if (name.size() > max_tensor_name)
      return make_error(errc::invalid_argument, where + ": name is " + std::to_string(name.size()) +
                                                    " bytes long (at most " + std::to_string(max_tensor_name) + " allowed)");
    const plm::dtype_info* di = plm::find_dtype(static_cast<uint32_t>(type));
    if (!di) return make_error(errc::invalid_argument, where + ": unknown dtype id " + std::to_string(static_cast<uint32_t>(type)));
    if (ne.empty() || ne.size() > max_tensor_dims)
      return make_error(errc::invalid_argument, where + ": " + std::to_string(ne.size()) + " dimensions (expected 1.." +
                                                    std::to_string(max_tensor_dims) + ")");
    for (const tensor& t : tensors_)
      if (t.name == name) return make_error(errc::invalid_argument, "duplicate tensor name '" + std::string(name) + "'");
    tensor t{};
    t.name = std::string(name);
    t.type = type;
    t.n_dims = static_cast<uint32_t>(ne.size());
    for (int k = 0; k < 4; ++k) t.ne[k] = k < static_cast<int>(ne.size()) ? ne[static_cast<size_t>(k)] : 1;
    uint64_t n_el = 1;
    for (int k = 0; k < 4; ++k) {
      if (t.ne[k] < 1)
        return make_error(errc::invalid_argument, where + ": ne[" + std::to_string(k) + "] = " + std::to_string(t.ne[k]) +
                                                      " (every dimension must be >= 1)");
      if (!checked_mul<uint64_t>(n_el, static_cast<uint64_t>(t.ne[k]), n_el) ||
          n_el > static_cast<uint64_t>(std::numeric_limits<int64_t>::max()))
        return make_error(errc::invalid_argument, where + ": number of elements overflows int64");
    }
    if (static_cast<uint64_t>(t.ne[0]) % di->block_size != 0)
      return make_error(errc::invalid_argument, where + ": ne[0] = " + std::to_string(t.ne[0]) +
                                                    " is not a multiple of the block size " + std::to_string(di->block_size) +
                                                    " of " + std::string(di->name));
    t.row_bytes = static_cast<uint64_t>(t.ne[0]) / di->block_size * di->block_bytes;
    t.n_rows = t.ne[1] * t.ne[2] * t.ne[3];  // <= n_el, no overflow
    if (!checked_mul<uint64_t>(t.row_bytes, static_cast<uint64_t>(t.n_rows), t.n_bytes) ||
        t.n_bytes > std::numeric_limits<size_t>::max())
      return make_error(errc::invalid_argument, where + ": byte size overflows");
    t.src = std::move(src);
    tensors_.push_back(std::move(t));
    return ok();
  }

  result<layout> plan() const {
    layout l;
    PLM_TRY(l.alignment, alignment());
    std::vector<uint8_t>& h = l.header;
    put<uint32_t>(h, magic);
    put<uint32_t>(h, 3);
    put<uint64_t>(h, tensors_.size());
    put<uint64_t>(h, kvs_.size());
    for (const kv& e : kvs_) {
      if (e.key.empty()) return make_error(errc::invalid_argument, "metadata key is empty");
      put_string(h, e.key);
      put<uint32_t>(h, static_cast<uint32_t>(e.type));
      h.insert(h.end(), e.value.begin(), e.value.end());
    }
    uint64_t off = 0;
    for (const tensor& t : tensors_) {
      put_string(h, t.name);
      put<uint32_t>(h, t.n_dims);
      for (uint32_t k = 0; k < t.n_dims; ++k) put<int64_t>(h, t.ne[k]);
      put<uint32_t>(h, static_cast<uint32_t>(t.type));
      put<uint64_t>(h, off);
      l.offsets.push_back(off);
      uint64_t padded = 0;
      if (!checked_align_up<uint64_t>(t.n_bytes, l.alignment, padded) || !checked_add<uint64_t>(off, padded, off))
        return make_error(errc::invalid_argument, "total tensor data size overflows");
    }
    size_t header_padded = 0;
    if (!checked_align_up<size_t>(h.size(), l.alignment, header_padded))
      return make_error(errc::invalid_argument, "header size overflows");
    h.resize(header_padded, 0);
    l.data_bytes = off;
    if (!checked_add<uint64_t>(header_padded, off, l.file_size))
      return make_error(errc::invalid_argument, "file size overflows");
    return l;
  }

  template <class Sink>
  result<void> emit(const layout& l, Sink& sink, const progress_fn& progress) const {
    PLM_TRY_VOID(sink.write(l.header.data(), l.header.size()));
    static const uint8_t zeros[max_alignment] = {};
    aligned_buffer buf;  // reused across fill tensors
    uint64_t done = 0;
    for (const tensor& t : tensors_) {
      const std::string where = "tensor '" + t.name + "'";
      if (t.src.data) {
        // Big referenced tensors go out in pieces so progress moves.
        const uint8_t* p = static_cast<const uint8_t*>(t.src.data);
        uint64_t left = t.n_bytes;
        while (left) {
          const size_t n = static_cast<size_t>(std::min<uint64_t>(left, 64u << 20));
          PLM_TRY_VOID(sink.write(p, n));
          p += n;
          left -= n;
          done += n;
          if (progress) progress(done, l.data_bytes);
        }
      } else if (t.src.fill) {
        if (buf.size() < t.n_bytes) {
          buf.reset();
          PLM_TRY(buf, aligned_buffer::allocate(static_cast<size_t>(t.n_bytes)));
        } else {
          std::memset(buf.data(), 0, static_cast<size_t>(t.n_bytes));
        }
        t.src.fill(buf.data(), static_cast<size_t>(t.n_bytes));
        PLM_TRY_VOID(sink.write(buf.data(), static_cast<size_t>(t.n_bytes)));
        done += t.n_bytes;
        if (progress) progress(done, l.data_bytes);
      } else {
        const int64_t rows_per_chunk =
            std::max<int64_t>(1, static_cast<int64_t>(chunk_bytes_ / std::max<uint64_t>(1, t.row_bytes)));
        const int64_t chunk_rows = std::min<int64_t>(rows_per_chunk, t.n_rows);
        const size_t need = static_cast<size_t>(t.row_bytes) * static_cast<size_t>(chunk_rows);
        if (buf.size() < need) {
          buf.reset();
          PLM_TRY(buf, aligned_buffer::allocate(need));
        }
        for (int64_t r = 0; r < t.n_rows; r += chunk_rows) {
          const int64_t n = std::min<int64_t>(chunk_rows, t.n_rows - r);
          const size_t bytes = static_cast<size_t>(t.row_bytes) * static_cast<size_t>(n);
          std::memset(buf.data(), 0, bytes);
          t.src.fill_rows(r, n, buf.data());
          PLM_TRY_VOID(sink.write(buf.data(), bytes));
          done += bytes;
          if (progress) progress(done, l.data_bytes);
        }
      }
      const uint64_t pad = (l.alignment - t.n_bytes % l.alignment) % l.alignment;
      PLM_TRY_VOID(sink.write(zeros, static_cast<size_t>(pad)));
      done += pad;
    }
    if (progress) progress(l.data_bytes, l.data_bytes);
    return ok();
  }

  std::vector<kv> kvs_;
  std::vector<tensor> tensors_;
  size_t chunk_bytes_ = 16u << 20;
};

}  // namespace plm::gguf
