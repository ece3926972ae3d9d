// A persistent pool of worker threads: created once, reused for every kernel call, so no
// thread is created per token. The calling thread takes part as worker 0.
//
// Decode makes ~150 kernel calls per token, so the hand-off must cost microseconds, not a
// futex round trip: workers spin briefly on an atomic generation counter before they
// sleep (std::atomic::wait). A call is split into size() parts that the participants
// claim from one atomic counter; the caller claims parts too and returns as soon as every
// part is done. So a worker that the OS has not scheduled yet (a busy machine) delays
// nothing: the caller does its part instead. No lock on the hot path: one compare-and-swap
// per part, one atomic increment per finished part.
#pragma once

#include <atomic>
#include <cstddef>
#include <exception>
#include <functional>
#include <thread>
#include <type_traits>
#include <utility>
#include <vector>

namespace gemma {

// A non-owning reference to a callable (like std::function_ref of C++26): no allocation,
// two pointers. The referenced callable must outlive the FunctionRef.
template <typename Signature>
class FunctionRef;

template <typename R, typename... Args>
class FunctionRef<R(Args...)> {
 public:
  template <typename F,
            typename = std::enable_if_t<!std::is_same_v<std::remove_cvref_t<F>, FunctionRef>>>
  FunctionRef(F&& f)  // NOLINT(google-explicit-constructor): meant to convert implicitly
      : object_(const_cast<void*>(static_cast<const void*>(std::addressof(f)))),
        call_([](void* object, Args... args) -> R {
          return (*static_cast<std::remove_reference_t<F>*>(object))(std::forward<Args>(args)...);
        }) {}

  R operator()(Args... args) const { return call_(object_, std::forward<Args>(args)...); }

 private:
  void* object_;
  R (*call_)(void*, Args...);
};

class ThreadPool {
 public:
  // threads - 1 workers are started (a count below 1 means 1). Throws Error(kInvalidArgument)
  // for more than MaxThreads() (base/threads.h), and Error(kIo) when the system refuses to
  // start a worker, after stopping the ones already started.
  explicit ThreadPool(int threads);
  // The same with `start` starting each worker (StartThread by default); tests pass one
  // that fails.
  using ThreadStarter = std::function<std::thread(std::function<void()>)>;
  ThreadPool(int threads, const ThreadStarter& start);
  ~ThreadPool();
  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;

  int size() const { return static_cast<int>(workers_.size()) + 1; }

  // Calls body(part) once for each part in [0, size()) and waits for all of them. Each
  // part runs on one thread, but one thread may run several parts (whichever thread is
  // free claims the next one), so per-part scratch indexed by `part` is safe. One caller
  // at a time; body must not call Run on the same pool. An exception thrown by a part is
  // rethrown here after all parts finished.
  void Run(const std::function<void(int worker)>& body);

  // Splits [0, n) into size() contiguous chunks whose boundaries are multiples of `align`
  // and calls body(begin, end, worker) for each non-empty chunk.
  void ParallelFor(size_t n, size_t align, const std::function<void(size_t, size_t, int)>& body);

  // The same two operations without std::function, so that a call allocates nothing
  // (a lambda with several captures does not fit std::function's small buffer). The
  // kernels use these.
  void RunRef(FunctionRef<void(int worker)> body);
  void ParallelForRef(size_t n, size_t align, FunctionRef<void(size_t, size_t, int)> body);

  // The chunk [begin, end) that ParallelFor gives `worker` of `parts`.
  static std::pair<size_t, size_t> Chunk(size_t n, size_t align, size_t parts, size_t worker);

 private:
  void WorkerLoop();
  void StopWorkers();
  // Claims and runs parts of job `generation` until none is left.
  void RunParts(uint32_t generation);

  std::vector<std::thread> workers_;
  FunctionRef<void(int)>* job_ = nullptr;  // valid while one of its parts is unfinished
  std::exception_ptr error_;               // first exception thrown by a part
  std::atomic<bool> error_claimed_{false};
  // Set before the destructor's last generation bump. Atomic: a worker that wakes late for
  // the previous job may read it while the destructor writes it (ThreadSanitizer saw it).
  std::atomic<bool> stop_{false};
  uint32_t last_generation_ = 0;  // of the caller's latest job
  // Separate cache lines: workers poll generation_, claim from claim_, count in done_.
  alignas(64) std::atomic<uint32_t> generation_{0};
  // (generation << 32) | (parts << 16) | next part: a claim is valid only for the job it
  // was published with, so a late worker can never run a part of a finished job.
  alignas(64) std::atomic<uint64_t> claim_{0};
  alignas(64) std::atomic<uint32_t> done_{0};
};

}  // namespace gemma
