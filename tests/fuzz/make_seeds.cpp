// tests/fuzz/make_seeds.cpp - writes the seed corpora of the fuzz targets.
//
//   make_seeds OUT_DIR [TARGET...]   -> OUT_DIR/<target>/<seed name>
//
// Seeds come from plm's own writers (seeds.hpp), so they follow the library:
// a change to synth or to the vocabulary builder changes the seeds with it.
#include <cstdio>
#include <string>
#include <vector>
#include <sys/stat.h>

#include "fuzz/seeds.hpp"

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: %s OUT_DIR [TARGET...]\n", argv[0]);
    return 2;
  }
  const std::string root = argv[1];
  std::vector<std::string> targets(argv + 2, argv + argc);
  if (targets.empty()) targets = plm_fuzz::fuzz_targets();
  ::mkdir(root.c_str(), 0755);
  for (const std::string& t : targets) {
    auto seeds = plm_fuzz::make_seeds(t);
    if (!seeds) {
      std::fprintf(stderr, "make_seeds: %s: %s\n", t.c_str(), seeds.error().to_string().c_str());
      return 1;
    }
    if (seeds->empty()) {
      std::fprintf(stderr, "make_seeds: unknown target '%s'\n", t.c_str());
      return 2;
    }
    const std::string dir = root + "/" + t;
    ::mkdir(dir.c_str(), 0755);
    for (const auto& s : *seeds) {
      const std::string path = dir + "/" + s.name;
      std::FILE* f = std::fopen(path.c_str(), "wb");
      if (!f || std::fwrite(s.bytes.data(), 1, s.bytes.size(), f) != s.bytes.size() || std::fclose(f) != 0) {
        std::fprintf(stderr, "make_seeds: cannot write '%s'\n", path.c_str());
        return 1;
      }
    }
    std::printf("%s: %zu seeds in %s\n", t.c_str(), seeds->size(), dir.c_str());
  }
  return 0;
}
