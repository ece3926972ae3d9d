// A persistent pool of worker threads: created once, reused for every kernel call, so no
// thread is created per token. The calling thread takes part as worker 0.
#pragma once

#include <condition_variable>
#include <cstddef>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace gemma {

class ThreadPool {
 public:
  // threads >= 1; threads - 1 workers are started.
  explicit ThreadPool(int threads);
  ~ThreadPool();
  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;

  int size() const { return static_cast<int>(workers_.size()) + 1; }

  // Runs body(worker) once on each of the size() workers and waits for all of them. The
  // caller splits the work by worker index (static partitioning keeps each weight row on
  // one core and needs no shared counter on the hot path).
  void Run(const std::function<void(int worker)>& body);

  // Splits [0, n) into size() contiguous chunks whose boundaries are multiples of `align`
  // and calls body(begin, end, worker) for each non-empty chunk.
  void ParallelFor(size_t n, size_t align, const std::function<void(size_t, size_t, int)>& body);

 private:
  void WorkerLoop(int worker);

  std::vector<std::thread> workers_;
  std::mutex mutex_;
  std::condition_variable start_cv_;
  std::condition_variable done_cv_;
  const std::function<void(int)>* job_ = nullptr;
  size_t generation_ = 0;
  int pending_ = 0;
  bool stop_ = false;
};

}  // namespace gemma
