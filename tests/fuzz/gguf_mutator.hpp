// tests/fuzz/gguf_mutator.hpp - structure-aware mutations of GGUF files for libFuzzer.
//
// Byte flips in a GGUF mostly break a length field, so the reader rejects the
// file long before the model loader or the vocabulary builder sees it. This
// mutator parses a valid input into a document (keys with typed values,
// tensors with shapes and data), changes it the way a wrong or malicious
// converter would - an hparam set to a boundary value, a key of another type,
// a dropped or renamed tensor, a shape or type changed, a whole model
// re-shaped consistently to new dimensions (so loads succeed with unusual
// sizes), NaN/Inf in weights, tokens and merges shuffled - and serialises it
// again. Inputs that do not parse get libFuzzer's byte mutations. Used only by
// the fuzz targets (LLVMFuzzerCustomMutator); the inputs stay plain GGUF files.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <limits>
#include <random>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "plm/core/checked.hpp"
#include "plm/core/dtype.hpp"
#include "plm/gguf/reader.hpp"
#include "plm/quant/half.hpp"

namespace plm_fuzz::mut {

using plm::gguf::value_type;

struct kv_item {
  std::string key;
  value_type type = value_type::u8;
  value_type elem = value_type::u8;  // arrays only
  std::vector<std::string> strs;     // string value, or string array elements
  std::vector<uint8_t> raw;          // scalar bytes, or numeric array elements back to back
};

struct tensor_item {
  std::string name;
  uint32_t type = 0;
  uint32_t n_dims = 1;
  int64_t ne[4] = {1, 1, 1, 1};
  std::vector<uint8_t> data;
};

struct doc {
  uint32_t version = 3;
  std::vector<kv_item> kvs;
  std::vector<tensor_item> tensors;

  kv_item* find(std::string_view key) {
    for (auto& k : kvs)
      if (k.key == key) return &k;
    return nullptr;
  }
  tensor_item* find_tensor(std::string_view name) {
    for (auto& t : tensors)
      if (t.name == name) return &t;
    return nullptr;
  }
};

inline size_t elem_size(value_type t) { return plm::gguf::detail::scalar_size(t); }

inline bool is_integer(value_type t) {
  switch (t) {
    case value_type::u8: case value_type::i8: case value_type::u16: case value_type::i16: case value_type::u32:
    case value_type::i32: case value_type::u64: case value_type::i64: return true;
    default: return false;
  }
}
inline bool is_signed(value_type t) {
  return t == value_type::i8 || t == value_type::i16 || t == value_type::i32 || t == value_type::i64;
}

/// Integer stored in `size` little-endian bytes at p (sign-extended for signed types).
inline int64_t load_int(const uint8_t* p, value_type t) {
  uint64_t u = 0;
  const size_t n = elem_size(t);
  std::memcpy(&u, p, n);
  if (is_signed(t) && n < 8 && (u >> (8 * n - 1)) & 1) u |= ~uint64_t(0) << (8 * n);
  return static_cast<int64_t>(u);
}
inline void store_int(uint8_t* p, value_type t, int64_t v) {
  const uint64_t u = static_cast<uint64_t>(v);
  std::memcpy(p, &u, elem_size(t));
}

// ---- parse / serialise ----------------------------------------------------

namespace detail {
template <class T>
void get_scalar_raw(const plm::gguf::file& f, std::string_view key, std::vector<uint8_t>& raw) {
  const auto v = f.get<T>(key);
  raw.resize(sizeof(T));
  if constexpr (std::is_same<T, bool>::value) raw[0] = v.has_value() && *v ? 1 : 0;
  else if (v.has_value()) std::memcpy(raw.data(), &*v, sizeof(T));
}
template <class T>
void get_array_raw(const plm::gguf::file& f, std::string_view key, std::vector<uint8_t>& raw) {
  const auto v = f.get_array<T>(key);
  if (!v.has_value()) return;
  if constexpr (std::is_same<T, bool>::value) {
    raw.resize(v->size());
    for (size_t i = 0; i < v->size(); ++i) raw[i] = (*v)[i] ? 1 : 0;
  } else {
    raw.resize(v->size() * sizeof(T));
    if (!v->empty()) std::memcpy(raw.data(), v->data(), raw.size());
  }
}
template <class Fn>
void by_type(value_type t, Fn&& fn) {
  switch (t) {
    case value_type::u8: fn(uint8_t{}); break;
    case value_type::i8: fn(int8_t{}); break;
    case value_type::u16: fn(uint16_t{}); break;
    case value_type::i16: fn(int16_t{}); break;
    case value_type::u32: fn(uint32_t{}); break;
    case value_type::i32: fn(int32_t{}); break;
    case value_type::f32: fn(float{}); break;
    case value_type::boolean: fn(bool{}); break;
    case value_type::u64: fn(uint64_t{}); break;
    case value_type::i64: fn(int64_t{}); break;
    case value_type::f64: fn(double{}); break;
    default: break;
  }
}
}  // namespace detail

/// The document of a file the reader accepted.
inline doc read_doc(const plm::gguf::file& f) {
  doc d;
  d.version = f.version();
  for (size_t i = 0; i < f.n_kv(); ++i) {
    kv_item k;
    k.key = std::string(f.key(i));
    k.type = f.type_of(i);
    if (k.type == value_type::string) {
      k.strs.emplace_back(*f.get<std::string_view>(k.key));
    } else if (k.type == value_type::array) {
      k.elem = f.array_info_of(i).elem_type;
      if (k.elem == value_type::string) {
        for (const auto s : *f.get_string_array(k.key)) k.strs.emplace_back(s);
      } else {
        detail::by_type(k.elem, [&](auto tag) { detail::get_array_raw<decltype(tag)>(f, k.key, k.raw); });
      }
    } else {
      detail::by_type(k.type, [&](auto tag) { detail::get_scalar_raw<decltype(tag)>(f, k.key, k.raw); });
    }
    d.kvs.push_back(std::move(k));
  }
  for (const auto& t : f.tensors()) {
    tensor_item ti;
    ti.name = std::string(t.name);
    ti.type = static_cast<uint32_t>(t.type);
    ti.n_dims = t.n_dims;
    for (int j = 0; j < 4; ++j) ti.ne[j] = t.ne[j];
    const uint8_t* p = static_cast<const uint8_t*>(f.view(t).data);
    ti.data.assign(p, p + t.n_bytes);
    d.tensors.push_back(std::move(ti));
  }
  return d;
}

/// Bytes of a tensor of this shape and type, or false (unknown type, ragged rows, overflow, > cap).
inline bool tensor_bytes(uint32_t type, const int64_t ne[4], uint64_t cap, uint64_t& out) {
  const plm::dtype_info* di = plm::find_dtype(type);
  if (!di) return false;
  for (int k = 0; k < 4; ++k)
    if (ne[k] < 1) return false;
  if (ne[0] % di->block_size != 0) return false;
  uint64_t n = static_cast<uint64_t>(ne[0]) / di->block_size * di->block_bytes;
  for (int k = 1; k < 4; ++k)
    if (!plm::checked_mul<uint64_t>(n, static_cast<uint64_t>(ne[k]), n)) return false;
  if (n > cap) return false;
  out = n;
  return true;
}

inline std::vector<uint8_t> write_doc(const doc& d) {
  std::vector<uint8_t> b;
  auto put = [&](const void* p, size_t n) {
    const auto* c = static_cast<const uint8_t*>(p);
    b.insert(b.end(), c, c + n);
  };
  auto put32 = [&](uint32_t v) { put(&v, 4); };
  auto put64 = [&](uint64_t v) { put(&v, 8); };
  auto put_str = [&](const std::string& s) {
    put64(s.size());
    put(s.data(), s.size());
  };
  uint64_t alignment = plm::gguf::default_alignment;
  for (const auto& k : d.kvs)
    if (k.key == "general.alignment" && k.type == value_type::u32 && k.raw.size() == 4) {
      uint32_t a;
      std::memcpy(&a, k.raw.data(), 4);
      if (a >= 1 && a <= plm::gguf::max_alignment && (a & (a - 1)) == 0) alignment = a;
    }
  put32(plm::gguf::magic);
  put32(d.version);
  put64(d.tensors.size());
  put64(d.kvs.size());
  for (const auto& k : d.kvs) {
    put_str(k.key);
    put32(static_cast<uint32_t>(k.type));
    if (k.type == value_type::string) {
      put_str(k.strs.empty() ? std::string() : k.strs[0]);
    } else if (k.type == value_type::array) {
      put32(static_cast<uint32_t>(k.elem));
      if (k.elem == value_type::string) {
        put64(k.strs.size());
        for (const auto& s : k.strs) put_str(s);
      } else {
        const size_t es = std::max<size_t>(1, elem_size(k.elem));
        put64(k.raw.size() / es);
        put(k.raw.data(), k.raw.size() / es * es);
      }
    } else {
      std::vector<uint8_t> v = k.raw;
      v.resize(elem_size(k.type), 0);
      put(v.data(), v.size());
    }
  }
  uint64_t off = 0;
  for (const auto& t : d.tensors) {
    put_str(t.name);
    put32(t.n_dims);
    for (uint32_t j = 0; j < t.n_dims && j < 4; ++j) put64(static_cast<uint64_t>(t.ne[j]));
    put32(t.type);
    put64(off);
    off += (t.data.size() + alignment - 1) / alignment * alignment;
  }
  b.resize((b.size() + alignment - 1) / alignment * alignment, 0);
  for (const auto& t : d.tensors) {
    put(t.data.data(), t.data.size());
    b.resize((b.size() + alignment - 1) / alignment * alignment, 0);
  }
  return b;
}

// ---- mutations ------------------------------------------------------------

using rng_t = std::mt19937_64;

inline size_t pick(rng_t& r, size_t n) { return n ? static_cast<size_t>(r() % n) : 0; }

/// Integers worth trying for a count or a dimension.
inline int64_t interesting_int(rng_t& r) {
  static constexpr int64_t v[] = {0, 1, 2, 3, 4, 7, 8, 15, 16, 17, 31, 32, 33, 63, 64, 65, 127, 128, 129, 255, 256, 257,
                                  511, 512, 1000, 4096, 65535, 65536, (1 << 24), (1 << 24) + 1, 0x7fffffff,
                                  int64_t(0x80000000), int64_t(0xffffffff), -1, -2, int64_t(1) << 32,
                                  std::numeric_limits<int64_t>::max(), std::numeric_limits<int64_t>::min()};
  return v[pick(r, sizeof v / sizeof v[0])];
}

/// A value from the document itself (an hparam, a dimension, a count): swapping
/// two real values is the commonest converter mistake.
inline int64_t doc_int(const doc& d, rng_t& r) {
  std::vector<int64_t> vals;
  for (const auto& k : d.kvs)
    if (is_integer(k.type) && k.raw.size() == elem_size(k.type)) vals.push_back(load_int(k.raw.data(), k.type));
  for (const auto& t : d.tensors)
    for (uint32_t j = 0; j < t.n_dims && j < 4; ++j) vals.push_back(t.ne[j]);
  if (vals.empty()) return interesting_int(r);
  return vals[pick(r, vals.size())];
}

inline int64_t new_int(const doc& d, rng_t& r, int64_t cur) {
  const uint64_t u = static_cast<uint64_t>(cur);  // wrap, as the stored field would
  switch (pick(r, 7)) {
    case 0: return interesting_int(r);
    case 1: return static_cast<int64_t>(u + 1);
    case 2: return static_cast<int64_t>(u - 1);
    case 3: return static_cast<int64_t>(u * 2);
    case 4: return cur / 2;
    case 5: return doc_int(d, r);
    default: return static_cast<int64_t>(pick(r, 300));
  }
}

inline double interesting_real(rng_t& r) {
  static constexpr double v[] = {0.0, -0.0, 1.0, -1.0, 1e-30, 1e-45, 1e30, 1e38, 3.5e38, -1e-6,
                                 std::numeric_limits<double>::infinity(), -std::numeric_limits<double>::infinity(),
                                 std::numeric_limits<double>::quiet_NaN(), 1e6, 10000.0};
  return v[pick(r, sizeof v / sizeof v[0])];
}

inline void mutate_string(std::string& s, const doc& d, rng_t& r) {
  switch (pick(r, 6)) {
    case 0: s.clear(); break;
    case 1:
      if (!s.empty()) s.resize(pick(r, s.size()));
      break;
    case 2:
      if (!s.empty()) s[pick(r, s.size())] = static_cast<char>(r());
      break;
    case 3: s += s; break;
    case 4: {  // another string of the document
      std::vector<const std::string*> all;
      for (const auto& k : d.kvs)
        for (const auto& x : k.strs) all.push_back(&x);
      for (const auto& t : d.tensors) all.push_back(&t.name);
      if (!all.empty()) s = *all[pick(r, all.size())];
      break;
    }
    default: s.insert(pick(r, s.size() + 1), 1, static_cast<char>(r())); break;
  }
}

inline void mutate_kv_value(kv_item& k, const doc& d, rng_t& r) {
  if (k.type == value_type::string) {
    if (k.strs.empty()) k.strs.emplace_back();
    mutate_string(k.strs[0], d, r);
  } else if (k.type == value_type::array && k.elem == value_type::string) {
    auto& v = k.strs;
    switch (pick(r, 8)) {
      case 0:
        if (!v.empty()) mutate_string(v[pick(r, v.size())], d, r);
        break;
      case 1:
        if (!v.empty()) v.erase(v.begin() + static_cast<std::ptrdiff_t>(pick(r, v.size())));
        break;
      case 2:
        if (!v.empty()) v.insert(v.begin() + static_cast<std::ptrdiff_t>(pick(r, v.size() + 1)), v[pick(r, v.size())]);
        break;
      case 3:
        if (v.size() > 1) std::swap(v[pick(r, v.size())], v[pick(r, v.size())]);
        break;
      case 4:
        if (!v.empty()) v.resize(pick(r, v.size()));
        break;
      case 5:  // a new token: two existing ones joined (or a merge of them)
        if (!v.empty()) v.push_back(v[pick(r, v.size())] + (r() & 1 ? " " : "") + v[pick(r, v.size())]);
        break;
      case 6:
        if (!v.empty()) v[pick(r, v.size())] = v[pick(r, v.size())];
        break;
      default: v.clear(); break;
    }
  } else if (k.type == value_type::array) {
    const size_t es = std::max<size_t>(1, elem_size(k.elem));
    const size_t n = k.raw.size() / es;
    switch (pick(r, 4)) {
      case 0:
        if (n) {
          uint8_t* p = k.raw.data() + pick(r, n) * es;
          if (is_integer(k.elem)) store_int(p, k.elem, new_int(d, r, load_int(p, k.elem)));
          else if (k.elem == value_type::boolean) *p = static_cast<uint8_t>(r() & 1);
          else if (k.elem == value_type::f32) { const float f = static_cast<float>(interesting_real(r)); std::memcpy(p, &f, 4); }
          else { const double f = interesting_real(r); std::memcpy(p, &f, 8); }
        }
        break;
      case 1: k.raw.resize(pick(r, n + 1) * es); break;
      case 2:
        if (n) k.raw.insert(k.raw.end(), k.raw.begin(), k.raw.begin() + static_cast<std::ptrdiff_t>(es));
        break;
      default:  // every element the same interesting value (e.g. all token types control)
        if (is_integer(k.elem)) {
          const int64_t v = pick(r, 8);
          for (size_t i = 0; i < n; ++i) store_int(k.raw.data() + i * es, k.elem, v);
        }
        break;
    }
  } else if (is_integer(k.type)) {
    k.raw.resize(elem_size(k.type));
    store_int(k.raw.data(), k.type, new_int(d, r, load_int(k.raw.data(), k.type)));
  } else if (k.type == value_type::f32) {
    const float f = static_cast<float>(interesting_real(r));
    k.raw.resize(4);
    std::memcpy(k.raw.data(), &f, 4);
  } else if (k.type == value_type::f64) {
    const double f = interesting_real(r);
    k.raw.resize(8);
    std::memcpy(k.raw.data(), &f, 8);
  } else if (k.type == value_type::boolean) {
    k.raw.assign(1, static_cast<uint8_t>(r() & 1));
  }
}

/// Same value, another type (u32 -> i32/u64/i64/u8/f32/string, ...): writers differ.
inline void retype_kv(kv_item& k, rng_t& r) {
  static constexpr value_type targets[] = {value_type::u8,  value_type::i8,  value_type::u16, value_type::i16,
                                           value_type::u32, value_type::i32, value_type::u64, value_type::i64,
                                           value_type::f32, value_type::f64, value_type::boolean, value_type::string};
  const value_type to = targets[pick(r, sizeof targets / sizeof targets[0])];
  if (k.type == value_type::array) {
    if (k.elem == value_type::string || to == value_type::string) return;
    const size_t from_es = std::max<size_t>(1, elem_size(k.elem)), to_es = elem_size(to);
    std::vector<uint8_t> raw(k.raw.size() / from_es * to_es, 0);
    for (size_t i = 0; i < k.raw.size() / from_es; ++i) {
      const int64_t v = is_integer(k.elem) ? load_int(k.raw.data() + i * from_es, k.elem) : 0;
      if (is_integer(to)) store_int(raw.data() + i * to_es, to, v);
      else if (to == value_type::boolean) raw[i] = v != 0;
    }
    k.elem = to;
    k.raw = std::move(raw);
    return;
  }
  int64_t iv = 0;
  double dv = 0;
  if (is_integer(k.type) && k.raw.size() == elem_size(k.type)) iv = load_int(k.raw.data(), k.type), dv = double(iv);
  if (k.type == value_type::f32 && k.raw.size() == 4) { float f; std::memcpy(&f, k.raw.data(), 4); dv = f; iv = std::isfinite(f) && std::fabs(f) < 1e18 ? int64_t(f) : 0; }
  if (k.type == value_type::f64 && k.raw.size() == 8) { std::memcpy(&dv, k.raw.data(), 8); iv = std::isfinite(dv) && std::fabs(dv) < 1e18 ? int64_t(dv) : 0; }
  k.type = to;
  k.strs.clear();
  k.raw.assign(elem_size(to), 0);
  if (is_integer(to)) store_int(k.raw.data(), to, iv);
  else if (to == value_type::f32) { const float f = static_cast<float>(dv); std::memcpy(k.raw.data(), &f, 4); }
  else if (to == value_type::f64) std::memcpy(k.raw.data(), &dv, 8);
  else if (to == value_type::boolean) k.raw[0] = iv != 0;
  else if (to == value_type::string) k.strs.push_back(std::to_string(iv));
}

/// Fills new bytes of a float tensor with small values; quantized blocks of zeros are valid (scale 0).
inline void fill_tensor(tensor_item& t, size_t from, rng_t& r) {
  const auto type = static_cast<plm::dtype>(t.type);
  std::uniform_real_distribution<float> u(-0.5f, 0.5f);
  if (type == plm::dtype::f32) {
    for (size_t i = from / 4 * 4; i + 4 <= t.data.size(); i += 4) { const float f = u(r); std::memcpy(&t.data[i], &f, 4); }
  } else if (type == plm::dtype::f16 || type == plm::dtype::bf16) {
    for (size_t i = from / 2 * 2; i + 2 <= t.data.size(); i += 2) {
      const float f = u(r);
      const uint16_t h = type == plm::dtype::f16 ? plm::fp32_to_fp16(f) : plm::fp32_to_bf16(f);
      std::memcpy(&t.data[i], &h, 2);
    }
  }
}

/// Resizes t's data to its shape (keeping the old bytes as a prefix); false if the shape is unusable.
inline bool fit_data(tensor_item& t, uint64_t cap, rng_t& r) {
  uint64_t n = 0;
  if (!tensor_bytes(t.type, t.ne, cap, n)) return false;
  const size_t old = t.data.size();
  t.data.resize(static_cast<size_t>(n), 0);
  if (n > old) fill_tensor(t, old, r);
  return true;
}

/// Writes NaN / Inf / huge / subnormal values (or block scales) into part of a tensor.
inline void poison_tensor(tensor_item& t, rng_t& r) {
  if (t.data.empty()) return;
  const auto* di = plm::find_dtype(t.type);
  if (!di) return;
  static constexpr uint32_t f32_bits[] = {0x7fc00000u, 0x7f800000u, 0xff800000u, 0x7f7fffffu, 0x00000001u, 0x80000000u};
  static constexpr uint16_t f16_bits[] = {0x7e00, 0x7c00, 0xfc00, 0x7bff, 0x0001, 0x8000};
  const size_t stride = di->block_bytes;  // one element (plain types) or one block (scale first for q4_0/q5_0/q8_0/...)
  const size_t n_units = t.data.size() / stride;
  if (n_units == 0) return;
  const size_t first = pick(r, n_units), count = 1 + pick(r, std::min<size_t>(n_units - first, 64));
  for (size_t i = first; i < first + count; ++i) {
    uint8_t* p = &t.data[i * stride];
    const auto type = static_cast<plm::dtype>(t.type);
    if (type == plm::dtype::f32) std::memcpy(p, &f32_bits[pick(r, 6)], 4);
    else if (stride >= 2) std::memcpy(p, &f16_bits[pick(r, 6)], 2);
    else *p = static_cast<uint8_t>(r());
  }
  // K-quants keep their fp16 super-block scales at the end (q6_K) or start (q4_K/q5_K): hit both.
  if (di->block_size == 256 && stride >= 4) {
    uint8_t* p = &t.data[pick(r, n_units) * stride + stride - 2];
    std::memcpy(p, &f16_bits[pick(r, 6)], 2);
  }
}

inline int64_t get_hp(doc& d, const char* key, int64_t fallback) {
  kv_item* k = d.find(key);
  if (!k || !is_integer(k->type) || k->raw.size() != elem_size(k->type)) return fallback;
  return load_int(k->raw.data(), k->type);
}
inline void set_hp(doc& d, const char* key, int64_t v) {
  kv_item* k = d.find(key);
  if (!k || !is_integer(k->type) || k->raw.size() != elem_size(k->type)) return;
  store_int(k->raw.data(), k->type, v);
}

/// Changes one PLM dimension and re-shapes every tensor to match, so the file
/// stays loadable with new, often odd, sizes. False if it cannot (not a PLM file, too big).
inline bool reshape_model(doc& d, rng_t& r, uint64_t cap) {
  if (!d.find("plm.embedding_length") || !d.find_tensor("token_embd.weight")) return false;
  int64_t n_layer = get_hp(d, "plm.block_count", 1), n_embd = get_hp(d, "plm.embedding_length", 64);
  int64_t n_ff = get_hp(d, "plm.feed_forward_length", 128), n_head = get_hp(d, "plm.attention.head_count", 2);
  int64_t kvr = get_hp(d, "plm.attention.kv_lora_rank", 32), hk = get_hp(d, "plm.attention.key_length", 24);
  int64_t hv = get_hp(d, "plm.attention.value_length", 16), rot = get_hp(d, "plm.rope.dimension_count", 8);
  int64_t n_vocab = d.find_tensor("token_embd.weight")->ne[1];
  // Earlier mutations may have left any value in these keys: start from sane ones
  // (a block_count of 2^30 would otherwise clone a billion layers here).
  const auto sane = [](int64_t v, int64_t lo, int64_t hi, int64_t fallback) { return v >= lo && v <= hi ? v : fallback; };
  n_layer = sane(n_layer, 1, 4, 1);
  n_embd = sane(n_embd, 1, 256, 32);
  n_ff = sane(n_ff, 1, 1024, 64);
  n_head = sane(n_head, 1, 8, 2);
  kvr = sane(kvr, 1, 256, 16);
  rot = rot % 2 == 0 ? sane(rot, 2, 64, 8) : 8;
  hk = sane(hk, rot + 1, rot + 64, rot + 16);
  hv = sane(hv, 1, 128, 16);
  n_vocab = sane(n_vocab, 1, 4096, 300);
  const int64_t small = 1 + static_cast<int64_t>(pick(r, 40));
  switch (pick(r, 9)) {
    case 0: n_layer = 1 + static_cast<int64_t>(pick(r, 3)); break;
    case 1: n_embd = 1 + static_cast<int64_t>(pick(r, 96)); break;
    case 2: n_ff = small * (r() & 1 ? 1 : 8); break;
    case 3: n_head = 1 + static_cast<int64_t>(pick(r, 4)); break;
    case 4: kvr = small; break;
    case 5: rot = 2 * (1 + static_cast<int64_t>(pick(r, 8))); hk = rot + 1 + static_cast<int64_t>(pick(r, 24)); break;
    case 6: hk = rot + 1 + static_cast<int64_t>(pick(r, 24)); break;
    case 7: hv = small; break;
    default: n_vocab = 1 + static_cast<int64_t>(pick(r, 600)); break;
  }
  set_hp(d, "plm.block_count", n_layer);
  set_hp(d, "plm.embedding_length", n_embd);
  set_hp(d, "plm.feed_forward_length", n_ff);
  set_hp(d, "plm.attention.head_count", n_head);
  set_hp(d, "plm.attention.head_count_kv", n_head);
  set_hp(d, "plm.attention.kv_lora_rank", kvr);
  set_hp(d, "plm.attention.key_length", hk);
  set_hp(d, "plm.attention.value_length", hv);
  set_hp(d, "plm.rope.dimension_count", rot);
  set_hp(d, "plm.vocab_size", n_vocab);
  // A tokenizer larger than the new embedding is a (correct) rejection every time: shrink it.
  if (kv_item* toks = d.find("tokenizer.ggml.tokens"); toks && toks->strs.size() > static_cast<size_t>(n_vocab)) {
    toks->strs.resize(static_cast<size_t>(n_vocab));
    if (kv_item* types = d.find("tokenizer.ggml.token_type"); types && types->type == value_type::array)
      types->raw.resize(std::min(types->raw.size(), static_cast<size_t>(n_vocab) * std::max<size_t>(1, elem_size(types->elem))));
  }

  // Layers: drop those past n_layer, clone the last one for new ones.
  int64_t have = 0;
  while (d.find_tensor("blk." + std::to_string(have) + ".attn_norm.weight")) ++have;
  if (have == 0) return false;
  d.tensors.erase(std::remove_if(d.tensors.begin(), d.tensors.end(),
                                 [&](const tensor_item& t) {
                                   if (t.name.rfind("blk.", 0) != 0) return false;
                                   return std::atoll(t.name.c_str() + 4) >= n_layer;
                                 }),
                  d.tensors.end());
  const std::string src = "blk." + std::to_string(std::min(have, n_layer) - 1) + ".";
  std::vector<tensor_item> clones;
  for (int64_t il = have; il < n_layer; ++il)
    for (const auto& t : d.tensors)
      if (t.name.rfind(src, 0) == 0) {
        tensor_item c = t;
        c.name = "blk." + std::to_string(il) + "." + t.name.substr(src.size());
        clones.push_back(std::move(c));
      }
  for (auto& c : clones) d.tensors.push_back(std::move(c));

  const int64_t nope = hk - rot;
  for (auto& t : d.tensors) {
    const std::string& n = t.name;
    auto ends = [&](const char* s) {
      const size_t k = std::strlen(s);
      return n.size() >= k && n.compare(n.size() - k, k, s) == 0;
    };
    int64_t ne0 = 0, ne1 = 0;
    if (n == "token_embd.weight" || n == "output.weight") ne0 = n_embd, ne1 = n_vocab;
    else if (ends(".attn_q.weight")) ne0 = n_embd, ne1 = n_head * hk;
    else if (ends(".attn_kv_a_mqa.weight")) ne0 = n_embd, ne1 = kvr + rot;
    else if (ends(".attn_kv_b.weight")) ne0 = kvr, ne1 = n_head * (nope + hv);
    else if (ends(".attn_output.weight")) ne0 = n_head * hv, ne1 = n_embd;
    else if (ends(".ffn_up.weight")) ne0 = n_embd, ne1 = n_ff;
    else if (ends(".ffn_down.weight")) ne0 = n_ff, ne1 = n_embd;
    else if (ends(".attn_kv_a_norm.weight")) ne0 = kvr;
    else if (ends("_norm.weight")) ne0 = n_embd;
    else continue;
    const int64_t old[4] = {t.ne[0], t.ne[1], t.ne[2], t.ne[3]};
    t.ne[0] = ne0;
    t.ne[1] = ne1 ? ne1 : 1;
    t.n_dims = ne1 ? 2 : 1;
    if (std::equal(old, old + 4, t.ne)) continue;
    const plm::dtype_info* di = plm::find_dtype(t.type);
    if (!di || ne0 % di->block_size != 0) t.type = static_cast<uint32_t>(r() & 1 ? plm::dtype::f32 : plm::dtype::f16);
    t.data.clear();  // old bytes would land in the wrong rows anyway
    if (!fit_data(t, cap, r)) return false;
  }
  uint64_t total = 0;
  for (const auto& t : d.tensors) total += t.data.size();
  return total <= cap;
}

/// One structural mutation of `d`; false if nothing applicable was done.
inline bool mutate_doc(doc& d, rng_t& r, uint64_t cap) {
  switch (pick(r, 12)) {
    case 0:
    case 1:
    case 2:
      if (d.kvs.empty()) return false;
      mutate_kv_value(d.kvs[pick(r, d.kvs.size())], d, r);
      return true;
    case 3:
      if (d.kvs.empty()) return false;
      retype_kv(d.kvs[pick(r, d.kvs.size())], r);
      return true;
    case 4:
      if (d.kvs.empty()) return false;
      if (r() & 1) {
        d.kvs.erase(d.kvs.begin() + static_cast<std::ptrdiff_t>(pick(r, d.kvs.size())));
      } else {  // one key's value under another key
        const kv_item& from = d.kvs[pick(r, d.kvs.size())];
        kv_item& to = d.kvs[pick(r, d.kvs.size())];
        const std::string key = to.key;
        to = from;
        to.key = key;
      }
      return true;
    case 5:
    case 6:
      return reshape_model(d, r, cap);
    case 7: {  // one dimension of one tensor
      if (d.tensors.empty()) return false;
      tensor_item& t = d.tensors[pick(r, d.tensors.size())];
      const size_t j = pick(r, 4);
      if (r() % 4 == 0) t.n_dims = std::max<uint32_t>(1, std::min<uint32_t>(4, t.n_dims + (r() & 1 ? 1 : -1)));
      else if (j < t.n_dims) t.ne[j] = new_int(d, r, t.ne[j]);
      for (uint32_t k = t.n_dims; k < 4; ++k) t.ne[k] = 1;
      if (!fit_data(t, cap, r)) return false;
      return true;
    }
    case 8: {  // another weight type
      if (d.tensors.empty()) return false;
      tensor_item& t = d.tensors[pick(r, d.tensors.size())];
      const auto& table = plm::detail::dtype_table;
      t.type = static_cast<uint32_t>(table[pick(r, sizeof table / sizeof table[0])].type);
      t.data.clear();
      return fit_data(t, cap, r);
    }
    case 9: {  // drop, rename or duplicate a tensor
      if (d.tensors.empty()) return false;
      const size_t i = pick(r, d.tensors.size());
      switch (pick(r, 3)) {
        case 0: d.tensors.erase(d.tensors.begin() + static_cast<std::ptrdiff_t>(i)); break;
        case 1: mutate_string(d.tensors[i].name, d, r); break;
        default: {
          tensor_item c = d.tensors[i];
          c.name = r() & 1 ? "output.weight" : "blk." + std::to_string(pick(r, 4)) + ".ffn_down.weight";
          d.tensors.push_back(std::move(c));
        }
      }
      return true;
    }
    case 10:
      if (d.tensors.empty()) return false;
      poison_tensor(d.tensors[pick(r, d.tensors.size())], r);
      return true;
    default:
      d.version = r() % 8 ? (r() & 1 ? 2 : 3) : static_cast<uint32_t>(r());
      return true;
  }
}

/// LLVMFuzzerCustomMutator body: structural mutation of a parseable GGUF,
/// else `fallback` (LLVMFuzzerMutate). Returns the new size.
template <class Fallback>
size_t custom_mutate(uint8_t* data, size_t size, size_t max_size, unsigned seed, Fallback&& fallback) {
  rng_t r(seed);
  if (r() % 4 == 0) return fallback(data, size, max_size);
  auto f = plm::gguf::file::from_memory(data, size);
  if (!f) return fallback(data, size, max_size);
  doc d = read_doc(*f);
  bool changed = false;
  const size_t n_ops = 1 + pick(r, 3);
  for (size_t i = 0; i < n_ops; ++i) changed = mutate_doc(d, r, max_size) || changed;
  if (!changed) return fallback(data, size, max_size);
  const std::vector<uint8_t> out = write_doc(d);
  if (out.size() > max_size) return fallback(data, size, max_size);
  std::memcpy(data, out.data(), out.size());
  return out.size();
}

}  // namespace plm_fuzz::mut
