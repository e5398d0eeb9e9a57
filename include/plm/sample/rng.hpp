// plm/sample/rng.hpp - small explicit-state random number generator for sampling.
//
// Sampling must be reproducible (same seed -> same tokens on every platform)
// and its state must be saved with a session, so plm does not use <random>
// engines (implementation-defined distributions, opaque state) or any global
// generator. xoshiro256** (Blackman & Vigna) has a 256-bit state, passes
// BigCrush and costs a few cycles; splitmix64 expands a 64-bit seed into that
// state, as its authors recommend, so nearby seeds give unrelated streams.
#pragma once

#include <cstdint>
#include <string>

#include "plm/core/result.hpp"

namespace plm {
namespace sample {

/// Full generator state: four 64-bit words, never all zero.
struct rng_state {
  uint64_t s[4] = {0, 0, 0, 0};
};

inline bool operator==(const rng_state& a, const rng_state& b) noexcept {
  return a.s[0] == b.s[0] && a.s[1] == b.s[1] && a.s[2] == b.s[2] && a.s[3] == b.s[3];
}
inline bool operator!=(const rng_state& a, const rng_state& b) noexcept { return !(a == b); }

/// splitmix64 step: advances `x` and returns the next output. Used for seeding.
inline uint64_t splitmix64(uint64_t& x) noexcept {
  x += 0x9e3779b97f4a7c15ull;
  uint64_t z = x;
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

/// xoshiro256** generator with explicit, copyable, serialisable state.
class rng {
 public:
  /// Seeds the state from `seed` through splitmix64 (any seed is valid, 0 included).
  explicit rng(uint64_t seed = 0) noexcept { reseed(seed); }

  void reseed(uint64_t seed) noexcept {
    uint64_t x = seed;
    for (auto& w : state_.s) w = splitmix64(x);
    // splitmix64 is a bijection of its counter, so four consecutive outputs are
    // never all zero; keep the invariant explicit anyway.
    if ((state_.s[0] | state_.s[1] | state_.s[2] | state_.s[3]) == 0) state_.s[0] = 1;
  }

  /// Next 64 random bits.
  uint64_t next() noexcept {
    uint64_t* s = state_.s;
    const uint64_t out = rotl(s[1] * 5, 7) * 9;
    const uint64_t t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return out;
  }

  /// Uniform double in [0, 1) with 53 random bits (every value a multiple of 2^-53).
  double uniform() noexcept { return static_cast<double>(next() >> 11) * (1.0 / 9007199254740992.0); }

  const rng_state& state() const noexcept { return state_; }

  /// Restores a saved state. The all-zero state is a fixed point of xoshiro
  /// (it would output zeros forever), so it is rejected as corrupt.
  result<void> set_state(const rng_state& st) {
    if ((st.s[0] | st.s[1] | st.s[2] | st.s[3]) == 0)
      return make_error(errc::invalid_argument, "rng state is all zero, expected at least one non-zero word");
    state_ = st;
    return ok();
  }

 private:
  static uint64_t rotl(uint64_t x, int k) noexcept { return (x << k) | (x >> (64 - k)); }
  rng_state state_;
};

}  // namespace sample
}  // namespace plm
