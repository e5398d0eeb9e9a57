// plm/synth/random.hpp - portable, counter-based random numbers for synthetic weights.
//
// Synthetic models must be byte-identical for a given seed on every platform
// and for every thread count. So: no std::*_distribution (their output differs
// between standard libraries) and no sequential stream shared by rows. Each
// row of each tensor gets its own SplitMix64 stream, keyed by
// (seed, FNV-1a hash of the tensor name, row), and normals are made with
// integer arithmetic only: the Irwin-Hall sum of the four 16-bit lanes of one
// 64-bit output, i.e. a sum of 4 uniforms, centred and scaled to unit variance
// (bounded at +-2 sqrt(3) = +-3.46 sigma; close enough to Gaussian for test
// weights, and exact integer math up to one final multiplication).
#pragma once

#include <cstdint>
#include <string_view>

namespace plm::synth {

/// SplitMix64's finaliser (Steele, Lea, Flood 2014): a bijective 64-bit mix.
constexpr uint64_t mix64(uint64_t z) noexcept {
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

inline constexpr uint64_t golden_gamma = 0x9e3779b97f4a7c15ull;

/// FNV-1a 64-bit hash of a name.
constexpr uint64_t fnv1a64(std::string_view s) noexcept {
  uint64_t h = 0xcbf29ce484222325ull;
  for (const char c : s) {
    h ^= static_cast<uint8_t>(c);
    h *= 0x100000001b3ull;
  }
  return h;
}

/// SplitMix64 stream: state += gamma, output mix64(state).
class splitmix64 {
 public:
  explicit constexpr splitmix64(uint64_t state) noexcept : state_(state) {}
  constexpr uint64_t next() noexcept {
    state_ += golden_gamma;
    return mix64(state_);
  }
  /// Irwin-Hall(4) integer in [-131070, 131070] with variance 4 * (65536^2 - 1) / 12:
  /// multiply by irwin_hall_unit for a unit-variance value.
  constexpr int32_t next_irwin_hall() noexcept {
    const uint64_t r = next();
    const int32_t s = static_cast<int32_t>(r & 0xffff) + static_cast<int32_t>((r >> 16) & 0xffff) +
                      static_cast<int32_t>((r >> 32) & 0xffff) + static_cast<int32_t>(r >> 48);
    return s - 131070;  // the sum of the four lane means, 4 * 32767.5
  }

 private:
  uint64_t state_;
};

/// sqrt(3) / 65536 (rounded to double) turns next_irwin_hall() into unit variance:
/// Var(sum of 4 uniform lanes on 0..65535) = 4 * (65536^2 - 1) / 12 ~ (65536^2 / 3).
inline constexpr double irwin_hall_unit = 1.7320508075688772 / 65536.0;

/// The stream of row `row` of the tensor called `name` for model seed `seed`.
constexpr splitmix64 row_stream(uint64_t seed, std::string_view name, uint64_t row) noexcept {
  const uint64_t key = mix64(seed ^ fnv1a64(name));
  return splitmix64(mix64(key + (row + 1) * golden_gamma));
}

}  // namespace plm::synth
