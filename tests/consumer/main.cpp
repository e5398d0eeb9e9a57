// Consumer check: the one include a user needs compiles, links and reports the
// version the build system promised. Loads nothing.
#include <plm/plm.hpp>

#include <cstdio>
#include <cstring>

int main() {
  std::printf("plm %s\n", plm::version_string());
  if (std::strcmp(plm::version_string(), PLM_EXPECTED_VERSION) != 0) {
    std::printf("expected version %s\n", PLM_EXPECTED_VERSION);
    return 1;
  }
  // Touch a header-only facility that needs linking (threads) so a missing
  // Threads dependency in the package would show up here.
  auto pool = plm::thread_pool::create(2);
  if (!pool) {
    std::printf("thread_pool: %s\n", pool.error().message().c_str());
    return 1;
  }
  int hits[2] = {0, 0};
  pool->parallel_for(2, [&](size_t task, size_t) { hits[task] = 1; });
  return hits[0] + hits[1] == 2 ? 0 : 1;
}
