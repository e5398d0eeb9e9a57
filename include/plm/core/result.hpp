// plm/core/result.hpp - value-or-error return type used by every fallible entry point.
//
// plm never throws: functions that can meet bad input return plm::result<T>.
// An error carries a kind (for programs) and a message (for people) that names
// what was found and what was expected, e.g.
//   "tensor 'blk.3.attn_q.weight': expected shape [2048, 3072], found [2048, 3000]".
#pragma once

#include <new>
#include <string>
#include <type_traits>
#include <utility>

namespace plm {

/// What went wrong, coarsely. The message says precisely what.
enum class errc {
  io_error,          ///< open/read/map/write failed (message includes errno text)
  invalid_format,    ///< bytes do not follow the file format (magic, counts, offsets...)
  unsupported,       ///< well-formed but not supported (version, quant type, architecture...)
  missing,           ///< a required key / tensor / token is absent
  type_mismatch,     ///< a key or value has another type than the one required
  shape_mismatch,    ///< a tensor has another shape than the hyperparameters imply
  out_of_range,      ///< an index, id or size outside its allowed range
  invalid_argument,  ///< a caller-supplied option or argument is invalid
  context_overflow,  ///< more tokens than the session's context can hold
  out_of_memory,     ///< an allocation or a caller-supplied buffer was too small
  cancelled,         ///< the caller asked to stop
};

/// Stable lower-case name of an error kind ("invalid_format", ...).
inline const char* to_string(errc e) noexcept {
  switch (e) {
    case errc::io_error: return "io_error";
    case errc::invalid_format: return "invalid_format";
    case errc::unsupported: return "unsupported";
    case errc::missing: return "missing";
    case errc::type_mismatch: return "type_mismatch";
    case errc::shape_mismatch: return "shape_mismatch";
    case errc::out_of_range: return "out_of_range";
    case errc::invalid_argument: return "invalid_argument";
    case errc::context_overflow: return "context_overflow";
    case errc::out_of_memory: return "out_of_memory";
    case errc::cancelled: return "cancelled";
  }
  return "unknown";
}

/// An error: a kind plus a human-readable message.
class error {
 public:
  error(errc kind, std::string message) : kind_(kind), message_(std::move(message)) {}

  errc kind() const noexcept { return kind_; }
  const std::string& message() const noexcept { return message_; }

  /// Prefixes context, e.g. err.with_context("loading model.gguf").
  error&& with_context(const std::string& context) && {
    message_ = context + ": " + message_;
    return std::move(*this);
  }
  /// "invalid_format: <message>"
  std::string to_string() const { return std::string(plm::to_string(kind_)) + ": " + message_; }

 private:
  errc kind_;
  std::string message_;
};

/// Shorthand constructor: `return plm::make_error(errc::missing, "...");`
inline error make_error(errc kind, std::string message) { return error(kind, std::move(message)); }

/// Either a T or an error. Accessing the wrong alternative is a programming
/// error (checked by assertion in debug builds), not a reaction to input.
template <class T>
class [[nodiscard]] result {
  static_assert(!std::is_reference<T>::value, "result<T&> is not supported; use a pointer");
  static_assert(!std::is_same<std::decay_t<T>, plm::error>::value, "result<error> is ambiguous");

 public:
  using value_type = T;
  using error_type = plm::error;

  result(const T& v) : ok_(true) { new (&storage_.value) T(v); }       // NOLINT implicit
  result(T&& v) : ok_(true) { new (&storage_.value) T(std::move(v)); }  // NOLINT implicit
  result(plm::error e) : ok_(false) { new (&storage_.err) plm::error(std::move(e)); }  // NOLINT implicit

  result(const result& o) : ok_(o.ok_) {
    if (ok_) new (&storage_.value) T(o.storage_.value);
    else new (&storage_.err) plm::error(o.storage_.err);
  }
  result(result&& o) noexcept(std::is_nothrow_move_constructible<T>::value) : ok_(o.ok_) {
    if (ok_) new (&storage_.value) T(std::move(o.storage_.value));
    else new (&storage_.err) plm::error(std::move(o.storage_.err));
  }
  result& operator=(result o) {
    if (this != &o) {
      destroy();
      ok_ = o.ok_;
      if (ok_) new (&storage_.value) T(std::move(o.storage_.value));
      else new (&storage_.err) plm::error(std::move(o.storage_.err));
    }
    return *this;
  }
  ~result() { destroy(); }

  bool has_value() const noexcept { return ok_; }
  explicit operator bool() const noexcept { return ok_; }

  T& value() & { return storage_.value; }
  const T& value() const& { return storage_.value; }
  // Rvalue access returns by value so `for (auto x : *f())` cannot dangle.
  T value() && { return std::move(storage_.value); }
  T& operator*() & { return storage_.value; }
  const T& operator*() const& { return storage_.value; }
  T operator*() && { return std::move(storage_.value); }
  T* operator->() { return &storage_.value; }
  const T* operator->() const { return &storage_.value; }

  const plm::error& error_value() const& { return storage_.err; }
  plm::error&& error_value() && { return std::move(storage_.err); }
  /// Alias of error_value() that reads naturally: `r.error().message()`.
  const plm::error& error() const& { return storage_.err; }
  plm::error&& error() && { return std::move(storage_.err); }

  template <class U>
  T value_or(U&& fallback) const& { return ok_ ? storage_.value : static_cast<T>(std::forward<U>(fallback)); }

 private:
  void destroy() noexcept {
    if (ok_) storage_.value.~T();
    else storage_.err.~error_type();
  }
  union storage {
    storage() {}
    ~storage() {}
    T value;
    plm::error err;
  } storage_;
  bool ok_;
};

/// result<void>: success or an error.
template <>
class [[nodiscard]] result<void> {
 public:
  result() = default;
  result(plm::error e) : err_(std::move(e)), ok_(false) {}  // NOLINT implicit

  bool has_value() const noexcept { return ok_; }
  explicit operator bool() const noexcept { return ok_; }
  const plm::error& error() const& { return err_; }
  plm::error&& error() && { return std::move(err_); }
  const plm::error& error_value() const& { return err_; }

 private:
  plm::error err_{errc::invalid_argument, std::string()};
  bool ok_ = true;
};

/// Success value for result<void>.
inline result<void> ok() { return result<void>(); }

}  // namespace plm

/// Evaluates `expr` (a result<U>); on error returns it from the enclosing
/// function (whose return type must be constructible from plm::error).
#define PLM_TRY_VOID(expr)                                   \
  do {                                                       \
    auto plm_try_r_ = (expr);                                \
    if (!plm_try_r_) return std::move(plm_try_r_).error();   \
  } while (0)

#define PLM_DETAIL_CAT2(a, b) a##b
#define PLM_DETAIL_CAT(a, b) PLM_DETAIL_CAT2(a, b)

/// `PLM_TRY(auto x, f());` declares x from f()'s value or returns f()'s error.
#define PLM_TRY(decl, expr) PLM_DETAIL_TRY_IMPL(decl, expr, PLM_DETAIL_CAT(plm_try_r_, __LINE__))
#define PLM_DETAIL_TRY_IMPL(decl, expr, tmp)     \
  auto tmp = (expr);                             \
  if (!tmp) return std::move(tmp).error();       \
  decl = std::move(tmp).value()
