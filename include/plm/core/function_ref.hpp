// plm/core/function_ref.hpp - non-owning reference to a callable.
//
// The thread pool and other hot paths take callbacks per call. std::function
// may allocate (and throws bad_function_call), which breaks the "no heap use
// after init" rule, so plm passes callables by reference instead: a
// function_ref is two words (object pointer + trampoline), never allocates and
// never owns. The referenced callable must outlive every call through the
// function_ref -- pass temporaries (lambdas) directly as arguments, never store
// a function_ref built from a temporary.
#pragma once

#include <memory>
#include <type_traits>
#include <utility>

namespace plm {

template <class Signature>
class function_ref;

/// Non-owning, non-allocating reference to any callable invocable as R(Args...).
template <class R, class... Args>
class function_ref<R(Args...)> {
 public:
  /// Binds to a callable object (lambda, functor). Constrained so that overload
  /// sets taking function_refs of different signatures resolve on invocability.
  template <class F,
            class = std::enable_if_t<!std::is_same<std::decay_t<F>, function_ref>::value &&
                                     !std::is_function<std::remove_reference_t<F>>::value &&
                                     std::is_invocable_r<R, F&, Args...>::value>>
  function_ref(F&& f) noexcept  // NOLINT implicit: meant to be built from lambdas at call sites
      : call_(&call_object<std::remove_reference_t<F>>) {
    target_.object = const_cast<void*>(static_cast<const void*>(std::addressof(f)));
  }

  /// Binds to a plain function. Function pointers are kept in their own union
  /// member: converting them to void* is only conditionally supported.
  template <class FR, class... FArgs,
            class = std::enable_if_t<std::is_invocable_r<R, FR (*)(FArgs...), Args...>::value>>
  function_ref(FR (*f)(FArgs...)) noexcept  // NOLINT implicit
      : call_(&call_function<FR (*)(FArgs...)>) {
    target_.function = reinterpret_cast<void (*)()>(f);
  }

  function_ref(const function_ref&) noexcept = default;
  function_ref& operator=(const function_ref&) noexcept = default;

  R operator()(Args... args) const { return call_(target_, std::forward<Args>(args)...); }

 private:
  union target {
    void* object;
    void (*function)();
  };

  template <class F>
  static R call_object(target t, Args... args) {
    return static_cast<R>((*static_cast<F*>(t.object))(std::forward<Args>(args)...));
  }
  template <class FP>
  static R call_function(target t, Args... args) {
    return static_cast<R>(reinterpret_cast<FP>(t.function)(std::forward<Args>(args)...));
  }

  target target_;
  R (*call_)(target, Args...);
};

}  // namespace plm
