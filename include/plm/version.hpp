// plm/version.hpp - library version, for #if checks and for printing.
//
// Kept in sync with project(VERSION) in CMakeLists.txt: configuring fails if
// they differ, so a vendored copy of include/plm/ carries the right version.
#pragma once

#define PLM_VERSION_MAJOR 0
#define PLM_VERSION_MINOR 1
#define PLM_VERSION_PATCH 0
/// major * 10000 + minor * 100 + patch, for `#if PLM_VERSION >= 200`.
#define PLM_VERSION (PLM_VERSION_MAJOR * 10000 + PLM_VERSION_MINOR * 100 + PLM_VERSION_PATCH)
#define PLM_VERSION_STRING "0.1.0"

namespace plm {

inline constexpr int version_major = PLM_VERSION_MAJOR;
inline constexpr int version_minor = PLM_VERSION_MINOR;
inline constexpr int version_patch = PLM_VERSION_PATCH;

/// "major.minor.patch" of the headers in use.
inline const char* version_string() noexcept { return PLM_VERSION_STRING; }

}  // namespace plm
