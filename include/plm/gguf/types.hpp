// plm/gguf/types.hpp - value types, limits and small records of the GGUF container.
//
// Shared by the reader and the writer so that both agree, in one place, on the
// type ids, their sizes on disk and the limits plm enforces (alignment range,
// tensor-name length). Layout facts: docs/plm-spec.md section 7.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>
#include <type_traits>

#include "plm/core/dtype.hpp"

#if defined(__BYTE_ORDER__) && defined(__ORDER_BIG_ENDIAN__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
#error "plm reads and writes little-endian GGUF files and assumes a little-endian host"
#endif

namespace plm::gguf {

/// Metadata value type ids as stored in the file (gguf_type).
enum class value_type : uint32_t {
  u8 = 0,
  i8 = 1,
  u16 = 2,
  i16 = 3,
  u32 = 4,
  i32 = 5,
  f32 = 6,
  boolean = 7,
  string = 8,
  array = 9,
  u64 = 10,
  i64 = 11,
  f64 = 12,
};

/// Stable short name used in error messages ("u32", "string", "array", ...).
inline const char* to_string(value_type t) noexcept {
  switch (t) {
    case value_type::u8: return "u8";
    case value_type::i8: return "i8";
    case value_type::u16: return "u16";
    case value_type::i16: return "i16";
    case value_type::u32: return "u32";
    case value_type::i32: return "i32";
    case value_type::f32: return "f32";
    case value_type::boolean: return "bool";
    case value_type::string: return "string";
    case value_type::array: return "array";
    case value_type::u64: return "u64";
    case value_type::i64: return "i64";
    case value_type::f64: return "f64";
  }
  return "unknown";
}

/// "GGUF" read as a little-endian u32.
inline constexpr uint32_t magic = 0x46554747u;
/// Alignment of the data section and of every tensor when general.alignment is absent.
inline constexpr uint32_t default_alignment = 32;
/// Largest general.alignment plm accepts. ggml accepts any power of two; plm
/// bounds it at 64 KiB (the largest common page size) because a larger value
/// only serves to make a file mostly padding.
inline constexpr uint32_t max_alignment = 65536;
/// Longest tensor name in bytes: ggml stores names in char[GGML_MAX_NAME = 64]
/// with a terminating NUL and rejects names of 64 bytes or more.
inline constexpr size_t max_tensor_name = 63;
/// Dimensions of a tensor: 1..max_dims (ggml's GGML_MAX_DIMS).
inline constexpr uint32_t max_tensor_dims = 4;

/// Element type and length of an array value.
struct array_info {
  value_type elem_type;
  uint64_t count;
};

/// One tensor of the file, as validated by the reader.
struct tensor_info {
  std::string_view name;  ///< points into the file bytes
  plm::dtype type;
  uint32_t n_dims;        ///< 1..4
  int64_t ne[4];          ///< ne[0] innermost; unused dims are 1; every ne >= 1
  uint64_t offset;        ///< relative to the data section, a multiple of the alignment
  uint64_t n_bytes;       ///< bytes of data (without padding)
};

namespace detail {

inline constexpr uint32_t n_value_types = 13;

constexpr bool is_valid_value_type(uint32_t id) noexcept { return id < n_value_types; }

/// Bytes of one value on disk; 0 for the variable-size string and array.
constexpr size_t scalar_size(value_type t) noexcept {
  switch (t) {
    case value_type::u8:
    case value_type::i8:
    case value_type::boolean: return 1;
    case value_type::u16:
    case value_type::i16: return 2;
    case value_type::u32:
    case value_type::i32:
    case value_type::f32: return 4;
    case value_type::u64:
    case value_type::i64:
    case value_type::f64: return 8;
    case value_type::string:
    case value_type::array: return 0;
  }
  return 0;
}

/// C++ type <-> value type (exact: no widening, get<int64_t> on a u32 fails).
template <class T>
struct value_type_of;
template <> struct value_type_of<uint8_t> { static constexpr value_type value = value_type::u8; };
template <> struct value_type_of<int8_t> { static constexpr value_type value = value_type::i8; };
template <> struct value_type_of<uint16_t> { static constexpr value_type value = value_type::u16; };
template <> struct value_type_of<int16_t> { static constexpr value_type value = value_type::i16; };
template <> struct value_type_of<uint32_t> { static constexpr value_type value = value_type::u32; };
template <> struct value_type_of<int32_t> { static constexpr value_type value = value_type::i32; };
template <> struct value_type_of<float> { static constexpr value_type value = value_type::f32; };
template <> struct value_type_of<bool> { static constexpr value_type value = value_type::boolean; };
template <> struct value_type_of<uint64_t> { static constexpr value_type value = value_type::u64; };
template <> struct value_type_of<int64_t> { static constexpr value_type value = value_type::i64; };
template <> struct value_type_of<double> { static constexpr value_type value = value_type::f64; };
template <> struct value_type_of<std::string_view> { static constexpr value_type value = value_type::string; };

template <class T, class = void>
struct is_value_type : std::false_type {};
template <class T>
struct is_value_type<T, std::void_t<decltype(value_type_of<T>::value)>> : std::true_type {};

/// Numeric (or bool) types that can be array elements read by memcpy.
template <class T>
inline constexpr bool is_numeric_value = is_value_type<T>::value && !std::is_same<T, std::string_view>::value;

/// Unaligned little-endian load (the host is little-endian, checked above).
template <class T>
inline T load(const uint8_t* p) noexcept {
  T v;
  std::memcpy(&v, p, sizeof(T));
  return v;
}

}  // namespace detail
}  // namespace plm::gguf
