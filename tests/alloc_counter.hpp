// tests/alloc_counter.hpp - counts heap allocations in a test program.
//
// plm promises no heap use per token (thread pool calls, sampling, decode).
// Including this header replaces the global operator new/delete of the whole
// program with counting versions. Replacement functions may be defined only
// once per program, so include it from exactly one translation unit (each
// tests/test_*.cpp is its own program). Usage:
//   const long before = plm_test::allocations();
//   ... code under test ...
//   CHECK(plm_test::allocations() - before == 0);
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdlib>
#include <new>

namespace plm_test {
inline std::atomic<long>& allocation_counter() {
  static std::atomic<long> n{0};
  return n;
}
/// Number of operator new calls (all forms) since program start.
inline long allocations() { return allocation_counter().load(std::memory_order_relaxed); }
namespace detail {
inline void* counted(std::size_t n, std::size_t align) {
  allocation_counter().fetch_add(1, std::memory_order_relaxed);
  if (n == 0) n = 1;
  if (align <= alignof(std::max_align_t)) return std::malloc(n);
  void* p = nullptr;
  return posix_memalign(&p, align, n) == 0 ? p : nullptr;
}
inline void* counted_or_abort(std::size_t n, std::size_t align) {
  void* p = counted(n, align);
  if (!p) std::abort();  // tests are built with exceptions but must not depend on them
  return p;
}
}  // namespace detail
}  // namespace plm_test

void* operator new(std::size_t n) { return plm_test::detail::counted_or_abort(n, 0); }
void* operator new[](std::size_t n) { return plm_test::detail::counted_or_abort(n, 0); }
void* operator new(std::size_t n, const std::nothrow_t&) noexcept { return plm_test::detail::counted(n, 0); }
void* operator new[](std::size_t n, const std::nothrow_t&) noexcept { return plm_test::detail::counted(n, 0); }
void* operator new(std::size_t n, std::align_val_t a) {
  return plm_test::detail::counted_or_abort(n, static_cast<std::size_t>(a));
}
void* operator new[](std::size_t n, std::align_val_t a) {
  return plm_test::detail::counted_or_abort(n, static_cast<std::size_t>(a));
}
void* operator new(std::size_t n, std::align_val_t a, const std::nothrow_t&) noexcept {
  return plm_test::detail::counted(n, static_cast<std::size_t>(a));
}
void* operator new[](std::size_t n, std::align_val_t a, const std::nothrow_t&) noexcept {
  return plm_test::detail::counted(n, static_cast<std::size_t>(a));
}
void operator delete(void* p) noexcept { std::free(p); }
void operator delete[](void* p) noexcept { std::free(p); }
void operator delete(void* p, std::size_t) noexcept { std::free(p); }
void operator delete[](void* p, std::size_t) noexcept { std::free(p); }
void operator delete(void* p, std::align_val_t) noexcept { std::free(p); }
void operator delete[](void* p, std::align_val_t) noexcept { std::free(p); }
void operator delete(void* p, std::size_t, std::align_val_t) noexcept { std::free(p); }
void operator delete[](void* p, std::size_t, std::align_val_t) noexcept { std::free(p); }
void operator delete(void* p, const std::nothrow_t&) noexcept { std::free(p); }
void operator delete[](void* p, const std::nothrow_t&) noexcept { std::free(p); }
void operator delete(void* p, std::align_val_t, const std::nothrow_t&) noexcept { std::free(p); }
void operator delete[](void* p, std::align_val_t, const std::nothrow_t&) noexcept { std::free(p); }
