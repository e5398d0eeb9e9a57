// Package facts visible from C++: the version macros agree with each other,
// with plm::version_string() and with project(VERSION) (passed in by CMake as
// PLM_PROJECT_VERSION), and the umbrella header is usable on its own.
#include <doctest/doctest.h>

#include <plm/plm.hpp>

#include <cstring>
#include <string>

TEST_CASE("version macros, constants and string agree with the CMake project version") {
  const std::string expect = std::to_string(PLM_VERSION_MAJOR) + "." + std::to_string(PLM_VERSION_MINOR) + "." +
                             std::to_string(PLM_VERSION_PATCH);
  CHECK(expect == PLM_VERSION_STRING);
  CHECK(std::string(plm::version_string()) == PLM_PROJECT_VERSION);
  CHECK(plm::version_major == PLM_VERSION_MAJOR);
  CHECK(plm::version_minor == PLM_VERSION_MINOR);
  CHECK(plm::version_patch == PLM_VERSION_PATCH);
  CHECK(PLM_VERSION == PLM_VERSION_MAJOR * 10000 + PLM_VERSION_MINOR * 100 + PLM_VERSION_PATCH);
}

TEST_CASE("the umbrella header exposes each layer") {
  // One symbol per layer, so dropping an include from plm.hpp fails here.
  CHECK(plm::block_bytes(plm::dtype::q8_0) == 34);                        // core
  CHECK(sizeof(plm::quant::block_q8_0) == 34);                            // quant
  CHECK(plm::sample::sampler::create(plm::sample::sampler_params{}, 8));  // sample
  CHECK(plm::thread_pool::create(1));                                     // core threads
}
