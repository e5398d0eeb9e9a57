// tests/fuzz/harness_common.hpp - what every fuzz harness returns, and its check macro.
//
// The harness bodies are shared by the libFuzzer targets (tests/fuzz/fuzz_*.cpp,
// which abort on a failure so libFuzzer keeps the input) and by the ordinary
// doctest replay of the committed regression inputs (tests/test_fuzz_regressions.cpp,
// which reports the failure as a test failure). A harness never aborts by itself:
// a broken invariant comes back as a message.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

namespace plm_fuzz {

/// What one input did.
struct outcome {
  /// The input got through every check into the deepest stage the harness
  /// drives (opened file, loaded model + decode step, built vocabulary, ...).
  bool accepted = false;
  /// Non-empty when an invariant broke: a bug, never an expected rejection.
  std::string failure;
};

/// Reads the first and the last byte of [p, p + n) so that AddressSanitizer
/// reports a view that reaches outside its buffer.
inline void touch(const void* p, size_t n) {
  if (n == 0) return;
  const volatile uint8_t* b = static_cast<const volatile uint8_t*>(p);
  (void)b[0];
  (void)b[n - 1];
}

}  // namespace plm_fuzz

/// Inside a harness returning plm_fuzz::outcome `out`: record the failure and return.
#define PLM_FUZZ_CHECK(cond, msg)                                                                   \
  do {                                                                                              \
    if (!(cond)) {                                                                                  \
      out.failure = std::string(__FILE__) + ":" + std::to_string(__LINE__) + ": " + (msg);        \
      return out;                                                                                   \
    }                                                                                               \
  } while (0)
