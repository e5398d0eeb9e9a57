// test_isa.cpp - the kernel path compiled in is the one the build asked for.
//
// The SIMD kernels are chosen by predefined macros (__AVX2__, __ARM_NEON,
// __ARM_FEATURE_DOTPROD, ...). A flag that does not reach the compiler, or a
// header guard that no longer matches, silently falls back to a slower path and
// every numeric test still passes. The build passes PLM_EXPECTED_ISA (derived
// from PLM_ISA by tests/CMakeLists.txt, empty for PLM_ISA=native whose path
// depends on the build machine) so such a fallback fails here.
#include <doctest/doctest.h>

#include <cstring>
#include <string>

#include "plm/kernels/matvec.hpp"

#ifndef PLM_EXPECTED_ISA
#define PLM_EXPECTED_ISA ""
#endif

TEST_CASE("kernel_isa matches the path PLM_ISA selects") {
  const char* got = plm::kernels::kernel_isa();
  const char* want = PLM_EXPECTED_ISA;
  MESSAGE("kernel path compiled in: " << std::string(got)
                                       << " (expected: " << std::string(*want ? want : "any, PLM_ISA=native") << ")");
  REQUIRE(got != nullptr);
  if (*want == '\0') {
    // native: any of the known paths, but a known one.
    const char* known[] = {"scalar", "avx2", "avx512-vnni", "neon", "neon-dotprod"};
    bool found = false;
    for (const char* k : known) found = found || std::strcmp(got, k) == 0;
    CHECK(found);
  } else {
    CHECK(std::string(got) == std::string(want));
  }
}
