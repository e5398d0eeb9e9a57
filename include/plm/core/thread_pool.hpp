// plm/core/thread_pool.hpp - persistent worker threads for data-parallel kernels.
//
// A decode step issues a few hundred small parallel loops (one per matvec), each
// lasting microseconds. Starting threads per loop, or waking them through a
// mutex-protected queue, would cost more than the work, so the pool keeps its
// workers alive, publishes each job by bumping an atomic generation counter,
// and lets workers spin on that counter for a bounded number of iterations
// before falling asleep on a condition variable (idle pools do not burn CPU).
//
// Determinism: parallel_for deals task indices in static contiguous shares, and
// a thread done with its share takes the remaining tasks from the back of the
// others'. Task i always performs the same work whatever the thread count or
// the thread that runs it; results are deterministic as long as each task
// writes its own fixed output slice and reductions across tasks are done in
// task order by the caller (never "per thread").
//
// No heap use per call: callbacks are passed as plm::function_ref and the job
// is published in preallocated shared state. All allocation happens in create().
//
// The calling thread is thread 0 and executes a share of every job; workers are
// threads 1..size()-1. Tasks must not throw.
#pragma once

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <mutex>
#include <new>
#include <string>
#include <thread>
#include <utility>

#if defined(__unix__) || defined(__APPLE__)
#include <pthread.h>
#include <sched.h>
#define PLM_DETAIL_POOL_PTHREADS 1
#else
#define PLM_DETAIL_POOL_PTHREADS 0
#endif

#include "plm/core/function_ref.hpp"
#include "plm/core/result.hpp"

namespace plm {

/// Options for thread_pool::create.
struct thread_pool_options {
  /// Spin iterations (each a CPU pause hint) a waiting thread polls before it
  /// blocks on a condition variable. ~1e4 pauses is tens of microseconds: long
  /// enough to bridge the gap between consecutive kernels of a decode step,
  /// short enough that an idle pool sleeps almost at once. 0 = always block.
  uint32_t spin_iterations = 1u << 14;
  /// Pin worker k (k = 1..n-1) to the k-th CPU of the process's allowed set
  /// (modulo its size). Linux only; create() fails with errc::unsupported
  /// elsewhere. The calling thread (thread 0) is never re-pinned: it belongs
  /// to the application.
  bool pin_threads = false;
};

namespace detail {

inline void cpu_relax() noexcept {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#elif defined(__aarch64__) || defined(__arm__)
  __asm__ __volatile__("yield" ::: "memory");
#endif
}

// One step of a spin-wait: a pause hint only. An earlier version yielded the
// CPU every 64 steps, for machines with more runnable threads than cores; but
// on Linux sched_yield hands the core to any runnable task, including a niced
// background job, for a whole time slice, and decode (hundreds of parallel
// loops per token) then ran at half speed next to a compiler. Oversubscribed
// pools are served by the bounded spin: the waiter falls asleep on the
// condition variable after spin_iterations steps.
inline void spin_pause(uint32_t) noexcept { cpu_relax(); }

// Which pool job the current thread is executing, so that a parallel_for
// issued from inside a task runs inline on that thread instead of deadlocking.
struct pool_thread_state {
  const void* pool = nullptr;
  size_t index = 0;
};
inline pool_thread_state& current_pool_thread() noexcept {
  static thread_local pool_thread_state state;
  return state;
}

// [first, last) of the tasks that `thread` runs when n_tasks are split over
// n_threads: contiguous blocks, sizes differing by at most one.
inline void static_share(size_t n_tasks, size_t n_threads, size_t thread, size_t& first, size_t& last) noexcept {
  const size_t base = n_tasks / n_threads;
  const size_t extra = n_tasks % n_threads;
  first = thread * base + std::min(thread, extra);
  last = first + base + (thread < extra ? 1 : 0);
}

// State shared by the pool object and its workers; heap-allocated once so the
// pool handle can move while workers keep a stable pointer.
struct pool_shared {
  size_t n_threads = 1;
  uint32_t spin_iterations = 0;

  // Job of the current generation. Written by the caller before it publishes
  // the generation (release), read by workers after they observe it (acquire);
  // stable until every worker acknowledged through `pending`.
  const function_ref<void(size_t, size_t)>* job = nullptr;
  size_t job_tasks = 0;

  alignas(64) std::atomic<uint64_t> generation{0};
  alignas(64) std::atomic<size_t> pending{0};
  std::atomic<size_t> sleeping_workers{0};
  std::atomic<bool> caller_sleeping{false};
  std::atomic<bool> stop{false};

  std::mutex mutex;  // only for sleeping and waking, never on the fast path
  std::condition_variable wake_cv;
  std::condition_variable done_cv;
  std::mutex call_mutex;  // serialises parallel_for calls from different threads

#if PLM_DETAIL_POOL_PTHREADS
  std::unique_ptr<pthread_t[]> threads;
#else
  std::unique_ptr<std::thread[]> threads;
#endif
  size_t n_started = 0;  // workers actually running (joined on destruction)

  // Each thread's share of the current job as [next, end) packed in one word
  // (next low, end high), so the owner can take tasks from the front and an
  // idle thread steal them from the back without a lock.
  struct alignas(64) share_slot {
    std::atomic<uint64_t> range{0};
  };
  std::unique_ptr<share_slot[]> shares;

  static uint64_t pack(size_t next, size_t end) noexcept { return static_cast<uint64_t>(next) | static_cast<uint64_t>(end) << 32; }

  // Called by the caller before publishing a job: the static shares.
  void deal(size_t n_tasks) noexcept {
    for (size_t i = 0; i < n_threads; ++i) {
      size_t first = 0, last = 0;
      static_share(n_tasks, n_threads, i, first, last);
      shares[i].range.store(pack(first, last), std::memory_order_relaxed);
    }
  }

  // Claims the first task of slot i (from_back false) or its last (true).
  static bool claim(share_slot& slot, bool from_back, size_t& task) noexcept {
    uint64_t v = slot.range.load(std::memory_order_relaxed);
    for (;;) {
      const size_t next = static_cast<size_t>(v & 0xFFFFFFFFu), end = static_cast<size_t>(v >> 32);
      if (next >= end) return false;
      const uint64_t want = from_back ? pack(next, end - 1) : pack(next + 1, end);
      if (slot.range.compare_exchange_weak(v, want, std::memory_order_relaxed, std::memory_order_relaxed)) {
        task = from_back ? end - 1 : next;
        return true;
      }
    }
  }

  // Runs the thread's own share front to back, then steals from the back of
  // the others' shares until none is left. A core slowed by a neighbour or a
  // busier memory channel then no longer leaves the other waiting at the end
  // of every matvec. Which thread runs a task never changes what it computes.
  void run_share(size_t thread) {
    const auto& fn = *job;
    size_t t = 0;
    if (job_tasks > 0xFFFFFFFFu) {  // beyond the packed range: the plain static share
      size_t first = 0, last = 0;
      static_share(job_tasks, n_threads, thread, first, last);
      for (t = first; t < last; ++t) fn(t, thread);
      return;
    }
    while (claim(shares[thread], false, t)) fn(t, thread);
    for (size_t k = 1; k < n_threads; ++k) {
      share_slot& victim = shares[(thread + k) % n_threads];
      while (claim(victim, true, t)) fn(t, thread);
    }
  }

  uint64_t wait_generation(uint64_t seen) {
    for (uint32_t i = 0; i < spin_iterations; ++i) {
      const uint64_t g = generation.load(std::memory_order_acquire);
      if (g != seen) return g;
      spin_pause(i);
    }
    // seq_cst increment pairs with the caller's seq_cst generation bump: either
    // we see the new generation below, or the caller sees us sleeping and
    // notifies after taking the mutex (so the notification cannot be lost).
    sleeping_workers.fetch_add(1, std::memory_order_seq_cst);
    uint64_t g = 0;
    {
      std::unique_lock<std::mutex> lock(mutex);
      wake_cv.wait(lock, [&] {
        g = generation.load(std::memory_order_seq_cst);
        return g != seen;
      });
    }
    sleeping_workers.fetch_sub(1, std::memory_order_relaxed);
    return g;
  }

  void worker_main(size_t index) {
    current_pool_thread() = pool_thread_state{this, index};
    uint64_t seen = 0;
    for (;;) {
      seen = wait_generation(seen);
      if (stop.load(std::memory_order_acquire)) return;
      run_share(index);
      if (pending.fetch_sub(1, std::memory_order_seq_cst) == 1 &&
          caller_sleeping.load(std::memory_order_seq_cst)) {
        { std::lock_guard<std::mutex> lock(mutex); }
        done_cv.notify_one();
      }
    }
  }

  void publish() {
    generation.fetch_add(1, std::memory_order_seq_cst);
    if (sleeping_workers.load(std::memory_order_seq_cst) > 0) {
      { std::lock_guard<std::mutex> lock(mutex); }
      wake_cv.notify_all();
    }
  }

  void wait_done() {
    for (uint32_t i = 0; i < spin_iterations; ++i) {
      if (pending.load(std::memory_order_acquire) == 0) return;
      spin_pause(i);
    }
    caller_sleeping.store(true, std::memory_order_seq_cst);
    {
      std::unique_lock<std::mutex> lock(mutex);
      done_cv.wait(lock, [&] { return pending.load(std::memory_order_seq_cst) == 0; });
    }
    caller_sleeping.store(false, std::memory_order_relaxed);
  }

  void shutdown() noexcept {
    if (n_started == 0) return;
    stop.store(true, std::memory_order_release);
    publish();
    for (size_t i = 0; i < n_started; ++i) {
#if PLM_DETAIL_POOL_PTHREADS
      pthread_join(threads[i], nullptr);
#else
      threads[i].join();
#endif
    }
    n_started = 0;
  }

  ~pool_shared() { shutdown(); }
};

#if PLM_DETAIL_POOL_PTHREADS
struct pool_worker_start {
  pool_shared* shared;
  size_t index;
};
inline void* pool_worker_entry(void* arg) {
  // The start record is heap-allocated by create() and owned by the worker.
  auto* start = static_cast<pool_worker_start*>(arg);
  pool_shared* shared = start->shared;
  const size_t index = start->index;
  delete start;
  shared->worker_main(index);
  return nullptr;
}
#endif

}  // namespace detail

/// Fixed-size pool of persistent worker threads. Move-only; the destructor
/// stops and joins the workers.
class thread_pool {
 public:
  /// Largest accepted thread count. Larger requests are rejected rather than
  /// silently capped: a count like size_t(-1) is a caller bug, and capping would
  /// hide it while still creating an absurd number of threads.
  static constexpr size_t max_threads = 1024;

  /// Creates a pool of `n_threads` threads in total, counting the caller
  /// (n_threads - 1 workers are started). Errors: invalid_argument for 0 or
  /// more than max_threads; unsupported if pinning was requested where it is
  /// not available; io_error if the OS refuses to start a thread or pin it.
  static result<thread_pool> create(size_t n_threads, const thread_pool_options& options = {}) {
    if (n_threads == 0 || n_threads > max_threads)
      return make_error(errc::invalid_argument, "thread_pool: n_threads = " + std::to_string(n_threads) +
                                                    ", expected >= 1 and <= " + std::to_string(max_threads));
#if !defined(__linux__)
    if (options.pin_threads)
      return make_error(errc::unsupported, "thread_pool: pin_threads is only supported on Linux");
#endif
    std::unique_ptr<detail::pool_shared> shared(new (std::nothrow) detail::pool_shared());
    if (!shared) return make_error(errc::out_of_memory, "thread_pool: could not allocate shared state");
    shared->n_threads = n_threads;
    shared->spin_iterations = options.spin_iterations;
    shared->shares.reset(new (std::nothrow) detail::pool_shared::share_slot[n_threads]);
    if (!shared->shares) return make_error(errc::out_of_memory, "thread_pool: could not allocate the task shares");
    const size_t n_workers = n_threads - 1;
    if (n_workers == 0) return thread_pool(std::move(shared));

#if PLM_DETAIL_POOL_PTHREADS
    shared->threads.reset(new (std::nothrow) pthread_t[n_workers]);
#else
    shared->threads.reset(new (std::nothrow) std::thread[n_workers]);
#endif
    if (!shared->threads) return make_error(errc::out_of_memory, "thread_pool: could not allocate thread handles");

#if PLM_DETAIL_POOL_PTHREADS
#if defined(__linux__)
    cpu_set_t allowed;
    CPU_ZERO(&allowed);
    int n_allowed = 0;
    if (options.pin_threads) {
      if (sched_getaffinity(0, sizeof(allowed), &allowed) != 0)
        return make_error(errc::io_error, std::string("thread_pool: sched_getaffinity failed: ") + std::strerror(errno));
      n_allowed = CPU_COUNT(&allowed);
      if (n_allowed <= 0) return make_error(errc::io_error, "thread_pool: the process may run on no CPU");
    }
#endif
    for (size_t k = 1; k <= n_workers; ++k) {
      pthread_attr_t attr;
      if (pthread_attr_init(&attr) != 0) return make_error(errc::io_error, "thread_pool: pthread_attr_init failed");
#if defined(__linux__)
      if (options.pin_threads) {
        // k-th allowed CPU (modulo), so pinned pools respect taskset/cgroups.
        int want = static_cast<int>(k % static_cast<size_t>(n_allowed));
        int cpu = -1;
        for (int c = 0; c < CPU_SETSIZE; ++c) {
          if (CPU_ISSET(c, &allowed) && want-- == 0) {
            cpu = c;
            break;
          }
        }
        cpu_set_t one;
        CPU_ZERO(&one);
        CPU_SET(cpu, &one);
        const int rc = pthread_attr_setaffinity_np(&attr, sizeof(one), &one);
        if (rc != 0) {
          pthread_attr_destroy(&attr);
          return make_error(errc::io_error, "thread_pool: cannot pin worker " + std::to_string(k) + " to CPU " +
                                                std::to_string(cpu) + ": " + std::strerror(rc));
        }
      }
#endif
      auto* start = new (std::nothrow) detail::pool_worker_start{shared.get(), k};
      if (!start) {
        pthread_attr_destroy(&attr);
        return make_error(errc::out_of_memory, "thread_pool: could not allocate a worker start record");
      }
      const int rc = pthread_create(&shared->threads[k - 1], &attr, &detail::pool_worker_entry, start);
      pthread_attr_destroy(&attr);
      if (rc != 0) {
        delete start;
        // shared's destructor stops and joins the workers started so far.
        return make_error(errc::io_error, "thread_pool: could not start worker " + std::to_string(k) + " of " +
                                              std::to_string(n_workers) + ": " + std::strerror(rc));
      }
      ++shared->n_started;
    }
#else
    for (size_t k = 1; k <= n_workers; ++k) {
      detail::pool_shared* s = shared.get();
      shared->threads[k - 1] = std::thread([s, k] { s->worker_main(k); });
      ++shared->n_started;
    }
#endif
    return thread_pool(std::move(shared));
  }

  /// An empty pool (size() == 0) to assign a created one to; parallel_for on it is a bug.
  thread_pool() noexcept = default;
  thread_pool(thread_pool&&) noexcept = default;
  thread_pool& operator=(thread_pool&&) noexcept = default;
  thread_pool(const thread_pool&) = delete;
  thread_pool& operator=(const thread_pool&) = delete;
  ~thread_pool() = default;  // pool_shared's destructor joins

  /// Total thread count including the caller (the n given to create()).
  size_t size() const noexcept { return shared_ ? shared_->n_threads : 0; }

  /// Runs fn(task, thread) for every task in [0, n_tasks) exactly once and
  /// returns when all have finished. Tasks are dealt in size() contiguous
  /// blocks (sizes differ by at most one), each run front to back by its
  /// thread; a thread that finishes early takes tasks from the back of the
  /// others' blocks, so which thread runs a task is not fixed. Thread 0 is the caller. `thread` is
  /// < size() and distinct among concurrently running tasks, so it may index
  /// per-thread scratch. A call from inside a task of this pool runs its tasks
  /// inline on the current thread (same `thread` index). Calls from different
  /// external threads are serialised. Never allocates.
  void parallel_for(size_t n_tasks, function_ref<void(size_t task, size_t thread)> fn) {
    if (n_tasks == 0) return;
    detail::pool_shared* s = shared_.get();
    detail::pool_thread_state& me = detail::current_pool_thread();
    if (me.pool == s) {  // nested: this thread already works for the pool
      for (size_t t = 0; t < n_tasks; ++t) fn(t, me.index);
      return;
    }
    if (s->n_threads == 1 || n_tasks == 1) {
      // Nothing to share: skip the wake-up round trip. Thread 0 runs them.
      std::lock_guard<std::mutex> call_lock(s->call_mutex);
      const detail::pool_thread_state saved = me;
      me = detail::pool_thread_state{s, 0};
      for (size_t t = 0; t < n_tasks; ++t) fn(t, 0);
      me = saved;
      return;
    }
    std::lock_guard<std::mutex> call_lock(s->call_mutex);
    s->job = &fn;
    s->job_tasks = n_tasks;
    s->deal(n_tasks);
    s->pending.store(s->n_threads - 1, std::memory_order_relaxed);
    s->publish();
    const detail::pool_thread_state saved = me;
    me = detail::pool_thread_state{s, 0};
    s->run_share(0);
    me = saved;
    s->wait_done();
    s->job = nullptr;
  }

  /// Splits [0, n) into chunks of `grain` items (the last may be shorter; grain
  /// 0 is treated as 1) and runs fn(begin, end) per chunk via parallel_for.
  /// Chunk boundaries depend only on n and grain, never on the thread count.
  void parallel_for_range(size_t n, size_t grain, function_ref<void(size_t begin, size_t end)> fn) {
    if (grain == 0) grain = 1;
    const size_t n_chunks = n / grain + (n % grain != 0 ? 1 : 0);
    auto chunk = [&](size_t task, size_t) {
      const size_t begin = task * grain;
      fn(begin, std::min(n, begin + grain));
    };
    parallel_for(n_chunks, chunk);
  }

  /// As above, also passing the executing thread index (for per-thread scratch).
  void parallel_for_range(size_t n, size_t grain, function_ref<void(size_t begin, size_t end, size_t thread)> fn) {
    if (grain == 0) grain = 1;
    const size_t n_chunks = n / grain + (n % grain != 0 ? 1 : 0);
    auto chunk = [&](size_t task, size_t thread) {
      const size_t begin = task * grain;
      fn(begin, std::min(n, begin + grain), thread);
    };
    parallel_for(n_chunks, chunk);
  }

  /// Hardware threads the OS reports (at least 1): a default for create().
  static size_t hardware_threads() noexcept {
    const unsigned n = std::thread::hardware_concurrency();
    return n == 0 ? 1 : n;
  }

 private:
  explicit thread_pool(std::unique_ptr<detail::pool_shared> shared) noexcept : shared_(std::move(shared)) {}
  std::unique_ptr<detail::pool_shared> shared_;
};

}  // namespace plm

#undef PLM_DETAIL_POOL_PTHREADS
