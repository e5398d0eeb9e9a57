// plm/core/mapped_file.hpp - read-only view of a whole file.
//
// POSIX mmap when available (opening a 2 GB model costs O(1) and pages come in
// on demand); a plain read into an owned aligned buffer as fallback or on
// request (e.g. file systems without mmap, or to avoid page faults later).
#pragma once

#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>
#include <utility>

#include "plm/core/buffer.hpp"
#include "plm/core/result.hpp"

#if defined(__unix__) || defined(__APPLE__)
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#define PLM_DETAIL_HAVE_MMAP 1
#else
#include <cstdio>
#define PLM_DETAIL_HAVE_MMAP 0
#endif

namespace plm {

/// How a file's bytes are brought into memory.
enum class load_mode {
  mmap,  ///< map read-only; pages load on first touch (default)
  read,  ///< read into an owned, 64-byte aligned buffer
};

struct map_options {
  load_mode mode = load_mode::mmap;
  bool prefault = false;  ///< mmap: touch every page now (MAP_POPULATE) instead of on demand
  bool lock = false;      ///< mmap: mlock the pages so they cannot be swapped out
};

/// Move-only read-only bytes of a file.
class mapped_file {
 public:
  mapped_file() = default;
  mapped_file(const mapped_file&) = delete;
  mapped_file& operator=(const mapped_file&) = delete;
  mapped_file(mapped_file&& o) noexcept { swap(o); }
  mapped_file& operator=(mapped_file&& o) noexcept {
    if (this != &o) {
      close();
      swap(o);
    }
    return *this;
  }
  ~mapped_file() { close(); }

  static result<mapped_file> open(const std::string& path, const map_options& opt = {}) {
#if PLM_DETAIL_HAVE_MMAP
    const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) return make_error(errc::io_error, "cannot open '" + path + "': " + std::strerror(errno));
    struct stat st {};
    if (::fstat(fd, &st) != 0) {
      const int e = errno;
      ::close(fd);
      return make_error(errc::io_error, "cannot stat '" + path + "': " + std::strerror(e));
    }
    if (!S_ISREG(st.st_mode)) {
      ::close(fd);
      return make_error(errc::io_error, "'" + path + "' is not a regular file");
    }
    const size_t size = static_cast<size_t>(st.st_size);
    mapped_file f;
    f.size_ = size;
    if (opt.mode == load_mode::mmap && size > 0) {
      int flags = MAP_PRIVATE;
#ifdef MAP_POPULATE
      if (opt.prefault) flags |= MAP_POPULATE;
#endif
      void* p = ::mmap(nullptr, size, PROT_READ, flags, fd, 0);
      if (p != MAP_FAILED) {
        ::close(fd);
        f.map_ = p;
        f.data_ = static_cast<const uint8_t*>(p);
        if (opt.lock && ::mlock(p, size) != 0) {
          const int e = errno;
          return make_error(errc::io_error, "cannot mlock " + std::to_string(size) + " bytes of '" + path +
                                                "': " + std::strerror(e) + " (raise RLIMIT_MEMLOCK or drop the lock option)");
        }
        return f;
      }
      // fall through to a plain read when the file system cannot map
    }
    auto buf = aligned_buffer::allocate(size);
    if (!buf) {
      ::close(fd);
      return std::move(buf).error().with_context("reading '" + path + "'");
    }
    size_t done = 0;
    while (done < size) {
      const ssize_t n = ::read(fd, buf->data() + done, size - done);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) {
        const int e = errno;
        ::close(fd);
        return make_error(errc::io_error, "short read of '" + path + "' at byte " + std::to_string(done) + " of " +
                                              std::to_string(size) + (n < 0 ? std::string(": ") + std::strerror(e) : std::string()));
      }
      done += static_cast<size_t>(n);
    }
    ::close(fd);
    f.owned_ = std::move(*buf);
    f.data_ = f.owned_.data();
    return f;
#else
    std::FILE* fp = std::fopen(path.c_str(), "rb");
    if (!fp) return make_error(errc::io_error, "cannot open '" + path + "': " + std::strerror(errno));
    std::fseek(fp, 0, SEEK_END);
    const long end = std::ftell(fp);
    std::fseek(fp, 0, SEEK_SET);
    if (end < 0) { std::fclose(fp); return make_error(errc::io_error, "cannot size '" + path + "'"); }
    auto buf = aligned_buffer::allocate(static_cast<size_t>(end));
    if (!buf) { std::fclose(fp); return std::move(buf).error(); }
    const size_t n = std::fread(buf->data(), 1, buf->size(), fp);
    std::fclose(fp);
    if (n != buf->size()) return make_error(errc::io_error, "short read of '" + path + "'");
    mapped_file f;
    f.size_ = buf->size();
    f.owned_ = std::move(*buf);
    f.data_ = f.owned_.data();
    (void)opt;
    return f;
#endif
  }

  const uint8_t* data() const noexcept { return data_; }
  size_t size() const noexcept { return size_; }
  /// True when the bytes are a mapping (zero-copy), false when read into memory.
  bool is_mapped() const noexcept { return map_ != nullptr; }

  /// Tells the OS that the mapped pages wholly inside [p, p + n) will not be
  /// read again (after a load-time copy of those bytes), so they leave the
  /// process's resident set; the file's page cache keeps them. A read on a
  /// released page maps it again, so this never changes what the bytes read.
  /// Does nothing for read-into-memory files or locked mappings.
  void release(const void* p, size_t n) const noexcept {
#if PLM_DETAIL_HAVE_MMAP
    if (!map_ || n == 0) return;
    const auto page = static_cast<uintptr_t>(::sysconf(_SC_PAGESIZE));
    const auto lo = reinterpret_cast<uintptr_t>(p), hi = lo + n;
    const uintptr_t first = (lo + page - 1) / page * page, last = hi / page * page;
    const auto base = reinterpret_cast<uintptr_t>(map_);
    if (first < last && first >= base && last <= base + size_)
      (void)::madvise(reinterpret_cast<void*>(first), last - first, MADV_DONTNEED);
#else
    (void)p;
    (void)n;
#endif
  }

 private:
  void close() noexcept {
#if PLM_DETAIL_HAVE_MMAP
    if (map_) ::munmap(map_, size_);
#endif
    map_ = nullptr;
    owned_.reset();
    data_ = nullptr;
    size_ = 0;
  }
  void swap(mapped_file& o) noexcept {
    std::swap(map_, o.map_);
    std::swap(data_, o.data_);
    std::swap(size_, o.size_);
    std::swap(owned_, o.owned_);
  }

  void* map_ = nullptr;
  const uint8_t* data_ = nullptr;
  size_t size_ = 0;
  aligned_buffer owned_;
};

}  // namespace plm
