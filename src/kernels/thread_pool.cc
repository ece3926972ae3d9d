#include "kernels/thread_pool.h"

#include <algorithm>

namespace gemma {

ThreadPool::ThreadPool(int threads) {
  const int n = std::max(1, threads);
  for (int i = 1; i < n; ++i) workers_.emplace_back([this, i] { WorkerLoop(i); });
}

ThreadPool::~ThreadPool() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stop_ = true;
  }
  start_cv_.notify_all();
  for (std::thread& t : workers_) t.join();
}

void ThreadPool::WorkerLoop(int worker) {
  size_t seen = 0;
  for (;;) {
    const std::function<void(int)>* job;
    {
      std::unique_lock<std::mutex> lock(mutex_);
      start_cv_.wait(lock, [&] { return stop_ || generation_ != seen; });
      if (stop_) return;
      seen = generation_;
      job = job_;
    }
    (*job)(worker);
    {
      std::lock_guard<std::mutex> lock(mutex_);
      if (--pending_ == 0) done_cv_.notify_one();
    }
  }
}

void ThreadPool::Run(const std::function<void(int)>& body) {
  if (workers_.empty()) {
    body(0);
    return;
  }
  {
    std::lock_guard<std::mutex> lock(mutex_);
    job_ = &body;
    pending_ = static_cast<int>(workers_.size());
    ++generation_;
  }
  start_cv_.notify_all();
  body(0);
  std::unique_lock<std::mutex> lock(mutex_);
  done_cv_.wait(lock, [&] { return pending_ == 0; });
}

void ThreadPool::ParallelFor(size_t n, size_t align,
                             const std::function<void(size_t, size_t, int)>& body) {
  const size_t parts = static_cast<size_t>(size());
  align = std::max<size_t>(align, 1);
  const size_t units = (n + align - 1) / align;
  if (parts == 1 || units <= 1) {
    if (n > 0) body(0, n, 0);
    return;
  }
  Run([&](int worker) {
    const size_t w = static_cast<size_t>(worker);
    const size_t begin = std::min(n, units * w / parts * align);
    const size_t end = std::min(n, units * (w + 1) / parts * align);
    if (begin < end) body(begin, end, worker);
  });
}

}  // namespace gemma
