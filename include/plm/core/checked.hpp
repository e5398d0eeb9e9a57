// plm/core/checked.hpp - overflow-safe integer arithmetic for sizes read from files.
//
// Every count, length and offset that comes from a file goes through these
// before it is trusted: a hostile GGUF must not make `offset + size` wrap.
#pragma once

#include <cstdint>
#include <limits>
#include <type_traits>

namespace plm {

/// out = a + b; returns false (out unspecified) on overflow.
template <class T>
constexpr bool checked_add(T a, T b, T& out) noexcept {
  static_assert(std::is_integral<T>::value && std::is_unsigned<T>::value, "unsigned only");
  if (a > std::numeric_limits<T>::max() - b) return false;
  out = a + b;
  return true;
}

/// out = a * b; returns false (out unspecified) on overflow.
template <class T>
constexpr bool checked_mul(T a, T b, T& out) noexcept {
  static_assert(std::is_integral<T>::value && std::is_unsigned<T>::value, "unsigned only");
  if (a != 0 && b > std::numeric_limits<T>::max() / a) return false;
  out = a * b;
  return true;
}

/// Rounds `v` up to a multiple of `align` (a power of two); false on overflow.
template <class T>
constexpr bool checked_align_up(T v, T align, T& out) noexcept {
  static_assert(std::is_integral<T>::value && std::is_unsigned<T>::value, "unsigned only");
  T sum = 0;
  if (!checked_add<T>(v, align - 1, sum)) return false;
  out = sum & ~(align - 1);
  return true;
}

constexpr bool is_power_of_two(uint64_t v) noexcept { return v != 0 && (v & (v - 1)) == 0; }

}  // namespace plm
