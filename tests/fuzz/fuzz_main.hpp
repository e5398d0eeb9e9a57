// tests/fuzz/fuzz_main.hpp - the libFuzzer entry points of a fuzz target, from its harness.
//
//   PLM_FUZZ_TARGET(model_load, plm_fuzz::check_model_load)   // LLVMFuzzerTestOneInput
//   PLM_FUZZ_GGUF_MUTATOR()                                   // LLVMFuzzerCustomMutator (gguf_mutator.hpp)
//
// A harness failure (a broken invariant) is printed and aborts, so libFuzzer
// records the input as a crash.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>

#include "fuzz/gguf_mutator.hpp"
#include "fuzz/harness_common.hpp"

extern "C" size_t LLVMFuzzerMutate(uint8_t* data, size_t size, size_t max_size);

namespace plm_fuzz {
inline int report(const char* target, const outcome& o) {
  if (!o.failure.empty()) {
    std::fprintf(stderr, "fuzz_%s: invariant broken: %s\n", target, o.failure.c_str());
    std::abort();
  }
  return 0;
}
}  // namespace plm_fuzz

#define PLM_FUZZ_TARGET(name, harness)                                         \
  extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {    \
    return plm_fuzz::report(#name, harness(data, size));                       \
  }

#define PLM_FUZZ_GGUF_MUTATOR()                                                                            \
  extern "C" size_t LLVMFuzzerCustomMutator(uint8_t* data, size_t size, size_t max_size, unsigned int seed) { \
    return plm_fuzz::mut::custom_mutate(data, size, max_size, seed, LLVMFuzzerMutate);                     \
  }
