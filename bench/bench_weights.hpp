// bench/bench_weights.hpp - random but valid weight bytes for kernel benchmarks.
// Shared by bench_matvec and bench_kernels_plm so both time the same data.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>

#include "plm/core/dtype.hpp"
#include "plm/quant/half.hpp"

namespace plm_bench {

using plm::dtype;

uint64_t splitmix(uint64_t& s) {
  uint64_t z = (s += 0x9e3779b97f4a7c15ull);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

// Valid random weights fast: random bytes with every f16/f32 scale field set to
// a small finite value (speed does not depend on the values; quantizing
// hundreds of MiB with the reference quantizers would take minutes).
void fill_weights(dtype t, uint8_t* p, size_t bytes, uint64_t seed) {
  for (size_t i = 0; i < bytes; ++i) p[i] = static_cast<uint8_t>(splitmix(seed));
  const uint16_t h = plm::fp32_to_fp16(0.01f);
  auto set16 = [&](size_t off) {
    for (size_t o = off; o + 2 <= bytes; o += plm::block_bytes(t)) std::memcpy(p + o, &h, 2);
  };
  switch (t) {
    case dtype::f32:
      for (size_t i = 0; i + 4 <= bytes; i += 4) {
        const float v = static_cast<float>(static_cast<int>(splitmix(seed) % 2001) - 1000) * 1e-3f;
        std::memcpy(p + i, &v, 4);
      }
      break;
    case dtype::f16: case dtype::bf16:
      for (size_t i = 0; i + 2 <= bytes; i += 2) {
        const float v = static_cast<float>(static_cast<int>(splitmix(seed) % 2001) - 1000) * 1e-3f;
        const uint16_t b = t == dtype::f16 ? plm::fp32_to_fp16(v) : plm::fp32_to_bf16(v);
        std::memcpy(p + i, &b, 2);
      }
      break;
    case dtype::q4_0: case dtype::q5_0: case dtype::q8_0: set16(0); break;
    case dtype::q4_1: case dtype::q5_1: case dtype::q4_k: case dtype::q5_k: set16(0); set16(2); break;
    case dtype::q2_k: set16(80); set16(82); break;
    case dtype::q3_k: set16(108); break;
    case dtype::q6_k: set16(208); break;
    default: break;
  }
}

}  // namespace plm_bench
