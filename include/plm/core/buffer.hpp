// plm/core/buffer.hpp - owned aligned memory and a bump arena.
//
// All large allocations in plm go through aligned_buffer so that (a) SIMD loads
// can assume 64-byte alignment and (b) a failed allocation is an error value,
// not an exception. The arena hands out sub-ranges of one buffer: a session
// allocates once, from its memory plan, and never touches the heap per token.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <string>
#include <utility>

#include "plm/core/checked.hpp"
#include "plm/core/result.hpp"

namespace plm {

/// Alignment of every buffer plm allocates (one cache line, one AVX-512 register).
inline constexpr size_t buffer_alignment = 64;

/// Move-only owned block of bytes, 64-byte aligned, zero-initialised.
class aligned_buffer {
 public:
  aligned_buffer() = default;
  aligned_buffer(const aligned_buffer&) = delete;
  aligned_buffer& operator=(const aligned_buffer&) = delete;
  aligned_buffer(aligned_buffer&& o) noexcept : data_(std::exchange(o.data_, nullptr)), size_(std::exchange(o.size_, 0)) {}
  aligned_buffer& operator=(aligned_buffer&& o) noexcept {
    if (this != &o) {
      reset();
      data_ = std::exchange(o.data_, nullptr);
      size_ = std::exchange(o.size_, 0);
    }
    return *this;
  }
  ~aligned_buffer() { reset(); }

  /// Allocates `size` bytes (may be 0). Error kind out_of_memory on failure.
  static result<aligned_buffer> allocate(size_t size) {
    aligned_buffer b;
    if (size == 0) return b;
    size_t rounded = 0;
    if (!checked_align_up<size_t>(size, buffer_alignment, rounded))
      return make_error(errc::out_of_memory, "buffer of " + std::to_string(size) + " bytes: size overflows");
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
    std::free(data_);
    data_ = nullptr;
    size_ = 0;
  }

 private:
  uint8_t* data_ = nullptr;
  size_t size_ = 0;
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
