#include "kernels/thread_pool.h"

#include <gtest/gtest.h>

#include <atomic>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "base/error.h"
#include "base/threads.h"

namespace gemma {
namespace {

TEST(ThreadPoolTest, SizeCountsTheCaller) {
  EXPECT_EQ(ThreadPool(1).size(), 1);
  EXPECT_EQ(ThreadPool(3).size(), 3);
  EXPECT_EQ(ThreadPool(0).size(), 1);
  EXPECT_EQ(ThreadPool(-5).size(), 1);
}

TEST(ThreadPoolTest, RunCallsEveryWorkerOncePerCall) {
  for (int threads : {1, 2, 3, 5}) {
    ThreadPool pool(threads);
    std::vector<std::atomic<int>> calls(static_cast<size_t>(threads));
    constexpr int kRounds = 2000;  // many hand-offs: catches lost or doubled wake-ups
    for (int round = 0; round < kRounds; ++round) {
      pool.Run([&](int worker) { calls[static_cast<size_t>(worker)].fetch_add(1); });
    }
    for (int w = 0; w < threads; ++w) EXPECT_EQ(calls[size_t(w)].load(), kRounds) << w;
  }
}

TEST(ThreadPoolTest, RunSeesWritesOfPreviousRun) {
  ThreadPool pool(3);
  std::vector<int> data(3, 0);
  for (int round = 1; round <= 500; ++round) {
    pool.Run([&](int worker) { data[size_t(worker)] += 1; });
    // The caller must see every worker's write once Run returns.
    for (int v : data) ASSERT_EQ(v, round);
  }
}

TEST(ThreadPoolTest, ParallelForCoversRangeOnceWithAlignedChunks) {
  for (int threads : {1, 2, 3, 4}) {
    ThreadPool pool(threads);
    for (size_t n : {size_t{0}, size_t{1}, size_t{5}, size_t{16}, size_t{17}, size_t{1000}}) {
      for (size_t align : {size_t{1}, size_t{4}, size_t{16}}) {
        std::vector<std::atomic<int>> hits(n);
        pool.ParallelFor(n, align, [&](size_t begin, size_t end, int) {
          EXPECT_LT(begin, end);
          EXPECT_EQ(begin % align, 0u) << "chunk starts off the alignment";
          if (end != n) {
            EXPECT_EQ(end % align, 0u);
          }
          for (size_t i = begin; i < end; ++i) hits[i].fetch_add(1);
        });
        for (size_t i = 0; i < n; ++i) EXPECT_EQ(hits[i].load(), 1) << "n=" << n << " i=" << i;
      }
    }
  }
}

TEST(ThreadPoolTest, ChunksSplitWorkEvenly) {
  // 1000 rows in units of 16 over 2 workers: 63 units, so 31 and 32 units.
  EXPECT_EQ(ThreadPool::Chunk(1000, 16, 2, 0), std::make_pair(size_t{0}, size_t{496}));
  EXPECT_EQ(ThreadPool::Chunk(1000, 16, 2, 1), std::make_pair(size_t{496}, size_t{1000}));
}

TEST(ThreadPoolTest, ExceptionOnWorkerReachesCaller) {
  ThreadPool pool(3);
  EXPECT_THROW(pool.Run([](int worker) {
    if (worker == 2) throw std::runtime_error("boom");
  }),
               std::runtime_error);
  // The pool still works afterwards.
  std::atomic<int> calls{0};
  pool.Run([&](int) { calls.fetch_add(1); });
  EXPECT_EQ(calls.load(), 3);
}

TEST(ThreadPoolTest, ExceptionOnCallerIsRethrownAfterWorkersFinish) {
  ThreadPool pool(2);
  std::atomic<int> finished{0};
  EXPECT_THROW(pool.Run([&](int worker) {
    if (worker == 0) throw std::runtime_error("caller");
    finished.fetch_add(1);
  }),
               std::runtime_error);
  EXPECT_EQ(finished.load(), 1);
}

TEST(ThreadPoolTest, RunRefAcceptsLargeCaptures) {
  ThreadPool pool(2);
  double a = 1, b = 2, c = 3, d = 4;  // more captures than std::function stores inline
  std::atomic<int> sum{0};
  pool.RunRef([&](int worker) { sum.fetch_add(int(a + b + c + d) + worker); });
  EXPECT_EQ(sum.load(), 10 + 10 + 1);
}

// Issue 17: -t 32000 used to start threads until the system refused one; the refusal
// destroyed the joinable threads already started, which is std::terminate (exit 134).
TEST(ThreadPoolTest, AWorkerThatCannotStartIsAnErrorNotAnAbort) {
  int started = 0;
  // Starts two workers, then fails as StartThread does when pthread_create refuses.
  const ThreadPool::ThreadStarter start_two = [&](std::function<void()> body) {
    if (started == 2)
      Fail(ErrorCode::kIo, "cannot start a thread: Resource temporarily unavailable");
    ++started;
    return std::thread(std::move(body));
  };
  try {
    ThreadPool pool(5, start_two);
    ADD_FAILURE() << "no error";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kIo);
    EXPECT_NE(std::string(e.what()).find("5 threads asked for, but only 3 could start"),
              std::string::npos)
        << e.what();
  }
  EXPECT_EQ(started, 2);  // both were stopped and joined, or the process would have aborted
}

TEST(ThreadPoolTest, CountsBeyondTheCapAreRefused) {
  EXPECT_THROW(ThreadPool(MaxThreads() + 1), Error);
  EXPECT_EQ(ResolveThreadCount(0, "-t"), HardwareThreads());
  EXPECT_EQ(ResolveThreadCount(MaxThreads(), "-t"), MaxThreads());
  try {
    ResolveThreadCount(100000, "--threads");
    ADD_FAILURE() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("--threads 100000"), std::string::npos) << e.what();
  }
  EXPECT_THROW(ResolveThreadCount(-1, "-t"), Error);
}

TEST(ThreadPoolTest, RunOnThreadsRunsEveryPartAndRethrows) {
  std::vector<std::atomic<int>> calls(7);
  RunOnThreads(7, [&](int part) { calls[size_t(part)].fetch_add(1); });
  for (const auto& c : calls) EXPECT_EQ(c.load(), 1);
  EXPECT_THROW(RunOnThreads(3,
                            [](int part) {
                              if (part == 2) throw std::runtime_error("part 2");
                            }),
               std::runtime_error);
}

}  // namespace
}  // namespace gemma
