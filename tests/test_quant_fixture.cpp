// Cross-check of plm's q8_0 quantizer against an independent GGUF writer:
// tests/data/plm-tiny-q8_0.gguf holds the weights of plm-tiny-f32.gguf
// quantized to Q8_0 by that writer (tests/data/README.md). Requantizing the f32
// tensors with plm must reproduce every block byte for byte.
#include <doctest/doctest.h>

#include <cstring>
#include <string>
#include <vector>

#include "plm/gguf/reader.hpp"
#include "plm/quant/quantize.hpp"

TEST_CASE("q8_0 quantization reproduces the independent writer's fixture bit for bit") {
  auto f32 = plm::gguf::file::open(PLM_TEST_DATA_DIR "/plm-tiny-f32.gguf");
  auto q8 = plm::gguf::file::open(PLM_TEST_DATA_DIR "/plm-tiny-q8_0.gguf");
  REQUIRE_MESSAGE(f32, (f32 ? std::string() : f32.error().message()));
  REQUIRE_MESSAGE(q8, (q8 ? std::string() : q8.error().message()));
  size_t n_tensors = 0, n_blocks = 0;
  for (const auto& info : q8->tensors()) {
    const plm::tensor_view t = q8->view(info);
    if (t.type != plm::dtype::q8_0) continue;
    auto src = f32->tensor(t.name);
    REQUIRE_MESSAGE(src, std::string(t.name));
    REQUIRE(src->type == plm::dtype::f32);
    REQUIRE(src->n_elements() == t.n_elements());
    const int64_t n = t.n_elements();
    std::vector<uint8_t> mine(plm::quant::row_bytes(plm::dtype::q8_0, n));
    REQUIRE(plm::quant::quantize_row(plm::dtype::q8_0, static_cast<const float*>(src->data), mine.data(), n));
    const uint8_t* theirs = static_cast<const uint8_t*>(t.data);
    for (int64_t b = 0; b < n / 32; ++b) {
      INFO(std::string(t.name) << " block " << b);
      REQUIRE(std::memcmp(mine.data() + 34 * b, theirs + 34 * b, 34) == 0);
    }
    ++n_tensors;
    n_blocks += static_cast<size_t>(n / 32);
  }
  CHECK(n_tensors > 0);
  MESSAGE(n_tensors << " tensors, " << n_blocks << " q8_0 blocks identical");
}
