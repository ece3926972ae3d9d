#include "kernels/thread_pool.h"

#include <algorithm>

#include "base/error.h"
#include "base/threads.h"

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#endif

namespace gemma {
namespace {

// About 50-100 us of polling: long enough to bridge the gap between two kernel calls of
// one decode step, short enough not to burn a core that others need when idle.
constexpr int kSpinIterations = 4000;

inline void CpuRelax() {
#if defined(__x86_64__) || defined(__i386__)
  _mm_pause();
#elif defined(__aarch64__)
  asm volatile("yield");
#endif
}

// Spins until value != old (acquire), then sleeps in atomic::wait. Returns the new value.
uint32_t AwaitChange(const std::atomic<uint32_t>& value, uint32_t old) {
  for (int i = 0; i < kSpinIterations; ++i) {
    const uint32_t now = value.load(std::memory_order_acquire);
    if (now != old) return now;
    CpuRelax();
  }
  for (;;) {
    value.wait(old, std::memory_order_acquire);
    const uint32_t now = value.load(std::memory_order_acquire);
    if (now != old) return now;
  }
}

}  // namespace

ThreadPool::ThreadPool(int threads) : ThreadPool(threads, StartThread) {}

ThreadPool::ThreadPool(int threads, const ThreadStarter& start) {
  // Parts are counted in 16 bits of claim_, far above MaxThreads() on any machine.
  const int n = std::min(ResolveThreadCount(std::max(threads, 1), "thread pool size"), 65535);
  workers_.reserve(static_cast<size_t>(n - 1));
  try {
    for (int i = 1; i < n; ++i) workers_.push_back(start([this] { WorkerLoop(); }));
  } catch (const Error& e) {
    StopWorkers();  // a joinable std::thread must not be destroyed: that is std::terminate
    // How many did start tells the user what this machine (or its limits) allows.
    Fail(e.code(), n, " threads asked for, but only ", workers_.size() + 1, " could start (",
         e.what(), "); ask for fewer threads (-t, --threads)");
  } catch (...) {
    StopWorkers();
    throw;
  }
}

ThreadPool::~ThreadPool() { StopWorkers(); }

void ThreadPool::StopWorkers() {
  stop_.store(true, std::memory_order_relaxed);  // published by the release below
  generation_.fetch_add(1, std::memory_order_release);
  generation_.notify_all();
  for (std::thread& t : workers_) t.join();
}

void ThreadPool::RunParts(uint32_t generation) {
  uint64_t claim = claim_.load(std::memory_order_acquire);
  for (;;) {
    if (static_cast<uint32_t>(claim >> 32) != generation) return;  // a later job
    const uint32_t parts = static_cast<uint32_t>(claim >> 16) & 0xffffu;
    const uint32_t part = static_cast<uint32_t>(claim) & 0xffffu;
    if (part >= parts) return;  // all claimed
    if (!claim_.compare_exchange_weak(claim, claim + 1, std::memory_order_acq_rel,
                                      std::memory_order_acquire)) {
      continue;  // claim now holds the current value
    }
    // The job cannot finish (nor job_ change) before this part is counted done.
    try {
      (*job_)(static_cast<int>(part));
    } catch (...) {
      if (!error_claimed_.exchange(true)) error_ = std::current_exception();
    }
    if (done_.fetch_add(1, std::memory_order_acq_rel) + 1 == parts) done_.notify_one();
    claim = claim_.load(std::memory_order_acquire);
  }
}

void ThreadPool::WorkerLoop() {
  uint32_t seen = 0;
  for (;;) {
    seen = AwaitChange(generation_, seen);
    if (stop_.load(std::memory_order_relaxed)) return;
    RunParts(seen);
  }
}

void ThreadPool::RunRef(FunctionRef<void(int)> body) {
  const uint32_t parts = static_cast<uint32_t>(size());
  if (parts == 1) {
    body(0);
    return;
  }
  job_ = &body;
  error_claimed_.store(false, std::memory_order_relaxed);
  error_ = nullptr;
  done_.store(0, std::memory_order_relaxed);
  const uint32_t generation = ++last_generation_;
  // The release publishes job_, done_ and error_ to whoever acquires the claim.
  claim_.store((uint64_t{generation} << 32) | (uint64_t{parts} << 16), std::memory_order_release);
  generation_.store(generation, std::memory_order_release);
  generation_.notify_all();  // a system call only if a worker is asleep

  RunParts(generation);

  for (uint32_t finished = done_.load(std::memory_order_acquire); finished != parts;) {
    finished = AwaitChange(done_, finished);
  }
  job_ = nullptr;
  if (error_) std::rethrow_exception(std::exchange(error_, nullptr));
}

void ThreadPool::Run(const std::function<void(int)>& body) { RunRef(body); }

std::pair<size_t, size_t> ThreadPool::Chunk(size_t n, size_t align, size_t parts, size_t worker) {
  align = std::max<size_t>(align, 1);
  const size_t units = (n + align - 1) / align;
  const size_t begin = std::min(n, units * worker / parts * align);
  const size_t end = std::min(n, units * (worker + 1) / parts * align);
  return {begin, end};
}

void ThreadPool::ParallelForRef(size_t n, size_t align,
                                FunctionRef<void(size_t, size_t, int)> body) {
  const size_t parts = static_cast<size_t>(size());
  const size_t units = (n + std::max<size_t>(align, 1) - 1) / std::max<size_t>(align, 1);
  if (parts == 1 || units <= 1) {
    if (n > 0) body(0, n, 0);
    return;
  }
  RunRef([&](int worker) {
    const auto [begin, end] = Chunk(n, align, parts, static_cast<size_t>(worker));
    if (begin < end) body(begin, end, worker);
  });
}

void ThreadPool::ParallelFor(size_t n, size_t align,
                             const std::function<void(size_t, size_t, int)>& body) {
  ParallelForRef(n, align, body);
}

}  // namespace gemma
