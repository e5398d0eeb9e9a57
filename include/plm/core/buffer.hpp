// plm/core/buffer.hpp - owned aligned memory and a bump arena.
//
// All large allocations in plm go through aligned_buffer so that (a) SIMD loads
// can assume 64-byte alignment and (b) a failed allocation is an error value,
// not an exception. The arena hands out sub-ranges of one buffer: a session
// allocates once, from its memory plan, and never touches the heap per token.
//
// Buffers of 4 MiB and more (the repacked weights, a session's block) are
// anonymous mappings on POSIX systems: already zero, so not written twice
// (posix_memalign + memset faulted every page in and then cleared it again),
// and 2 MiB-aligned with transparent huge pages requested, so that a 2 GB
// weight repack takes ~1,000 page faults instead of ~500,000 and the
// streaming kernels walk fewer TLB entries.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <string>
#include <utility>

#include "plm/core/checked.hpp"
#include "plm/core/result.hpp"

#if defined(__unix__) || defined(__APPLE__)
#include <sys/mman.h>
#define PLM_DETAIL_BUFFER_MMAP 1
#else
#define PLM_DETAIL_BUFFER_MMAP 0
#endif

namespace plm {

/// Alignment of every buffer plm allocates (one cache line, one AVX-512 register).
inline constexpr size_t buffer_alignment = 64;

/// Move-only owned block of bytes, 64-byte aligned, zero-initialised.
class aligned_buffer {
 public:
  aligned_buffer() = default;
  aligned_buffer(const aligned_buffer&) = delete;
  aligned_buffer& operator=(const aligned_buffer&) = delete;
  aligned_buffer(aligned_buffer&& o) noexcept
      : data_(std::exchange(o.data_, nullptr)), size_(std::exchange(o.size_, 0)), mapped_(std::exchange(o.mapped_, 0)) {}
  aligned_buffer& operator=(aligned_buffer&& o) noexcept {
    if (this != &o) {
      reset();
      data_ = std::exchange(o.data_, nullptr);
      size_ = std::exchange(o.size_, 0);
      mapped_ = std::exchange(o.mapped_, 0);
    }
    return *this;
  }

  /// Sizes from which allocate() maps memory directly (see the file comment).
  static constexpr size_t map_threshold = size_t{4} << 20;
  static constexpr size_t huge_page = size_t{2} << 20;
  ~aligned_buffer() { reset(); }

  /// Allocates `size` bytes (may be 0). Error kind out_of_memory on failure.
  static result<aligned_buffer> allocate(size_t size) {
    aligned_buffer b;
    if (size == 0) return b;
    size_t rounded = 0;
    if (!checked_align_up<size_t>(size, buffer_alignment, rounded))
      return make_error(errc::out_of_memory, "buffer of " + std::to_string(size) + " bytes: size overflows");
#if PLM_DETAIL_BUFFER_MMAP
    size_t span = 0;  // room to align the start to a huge page
    if (rounded >= map_threshold && checked_add<size_t>(rounded, huge_page, span)) {
      void* m = ::mmap(nullptr, span, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
      if (m != MAP_FAILED) {
        const auto base = reinterpret_cast<uintptr_t>(m);
        const uintptr_t start = (base + huge_page - 1) / huge_page * huge_page;
        const size_t head = static_cast<size_t>(start - base), len = (rounded + 4095) / 4096 * 4096;
        if (head > 0) ::munmap(m, head);
        if (span - head > len) ::munmap(reinterpret_cast<void*>(start + len), span - head - len);
#ifdef MADV_HUGEPAGE
        (void)::madvise(reinterpret_cast<void*>(start), len, MADV_HUGEPAGE);  // advice only: fine if refused
#endif
        b.data_ = reinterpret_cast<uint8_t*>(start);
        b.size_ = size;
        b.mapped_ = len;
        return b;
      }  // else: the heap below, which reports the failure if it fails too
    }
#endif
    void* p = nullptr;
    if (posix_memalign(&p, buffer_alignment, rounded) != 0 || p == nullptr)
      return make_error(errc::out_of_memory, "could not allocate " + std::to_string(size) + " bytes");
    std::memset(p, 0, rounded);
    b.data_ = static_cast<uint8_t*>(p);
    b.size_ = size;
    return b;
  }

  uint8_t* data() noexcept { return data_; }
  const uint8_t* data() const noexcept { return data_; }
  size_t size() const noexcept { return size_; }
  bool empty() const noexcept { return size_ == 0; }

  void reset() noexcept {
#if PLM_DETAIL_BUFFER_MMAP
    if (mapped_ > 0) ::munmap(data_, mapped_);
    else std::free(data_);
#else
    std::free(data_);
#endif
    data_ = nullptr;
    size_ = 0;
    mapped_ = 0;
  }

 private:
  uint8_t* data_ = nullptr;
  size_t size_ = 0;
  size_t mapped_ = 0;  // length of the anonymous mapping, 0 for heap memory
};

/// Bump allocator over caller-owned memory. Never frees individually; never
/// allocates itself. take() returns nullptr when the plan was too small, so a
/// wrong plan shows up as an error at setup, not as a heap allocation later.
class arena {
 public:
  arena() = default;
  arena(void* base, size_t capacity) noexcept : base_(static_cast<uint8_t*>(base)), capacity_(capacity) {}

  /// `bytes` bytes aligned to `align` (power of two), or nullptr if exhausted.
  void* take(size_t bytes, size_t align = buffer_alignment) noexcept {
    const uintptr_t base = reinterpret_cast<uintptr_t>(base_);
    uintptr_t start = 0;
    if (!checked_align_up<uintptr_t>(base + used_, align, start)) return nullptr;
    const size_t offset = static_cast<size_t>(start - base);
    size_t end = 0;
    if (!checked_add<size_t>(offset, bytes, end) || end > capacity_) return nullptr;
    used_ = end;
    return base_ + offset;
  }
  template <class T>
  T* take_array(size_t count, size_t align = buffer_alignment) noexcept {
    size_t bytes = 0;
    if (!checked_mul<size_t>(count, sizeof(T), bytes)) return nullptr;
    return static_cast<T*>(take(bytes, align < alignof(T) ? alignof(T) : align));
  }

  size_t used() const noexcept { return used_; }
  size_t capacity() const noexcept { return capacity_; }
  void reset() noexcept { used_ = 0; }

  /// Bytes an arena needs for a `bytes` request at `align`, assuming a
  /// buffer_alignment-aligned base: use it to build memory plans.
  static constexpr size_t footprint(size_t bytes, size_t align = buffer_alignment) noexcept {
    return (bytes + align - 1) / align * align;
  }

 private:
  uint8_t* base_ = nullptr;
  size_t capacity_ = 0;
  size_t used_ = 0;
};

}  // namespace plm
