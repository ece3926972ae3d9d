#include "base/threads.h"

#include <algorithm>
#include <exception>
#include <mutex>
#include <system_error>
#include <vector>

#include "base/error.h"

namespace gemma {

int HardwareThreads() { return std::max(1, static_cast<int>(std::thread::hardware_concurrency())); }

int MaxThreads() { return kMaxThreadsPerHardwareThread * HardwareThreads(); }

int ResolveThreadCount(int64_t requested, std::string_view what) {
  if (requested == 0) return HardwareThreads();
  if (requested < 0 || requested > MaxThreads()) {
    Fail(ErrorCode::kInvalidArgument, what, " ", requested, ": expected 1 to ", MaxThreads(),
         " threads (", kMaxThreadsPerHardwareThread, " per hardware thread; this machine has ",
         HardwareThreads(), "), or 0 for ", HardwareThreads());
  }
  return static_cast<int>(requested);
}

std::thread StartThread(std::function<void()> body) {
  try {
    return std::thread(std::move(body));
  } catch (const std::system_error& e) {
    Fail(ErrorCode::kIo, "cannot start a thread: ", e.what());
  }
}

void RunOnThreads(int parts, const std::function<void(int part)>& body) {
  std::mutex mutex;
  std::exception_ptr error;
  const auto run = [&](int part) {
    try {
      body(part);
    } catch (...) {
      const std::lock_guard<std::mutex> lock(mutex);
      if (!error) error = std::current_exception();
    }
  };
  std::vector<std::thread> threads;
  threads.reserve(static_cast<size_t>(std::max(parts - 1, 0)));
  try {
    for (int part = 1; part < parts; ++part)
      threads.push_back(StartThread([&, part] { run(part); }));
  } catch (...) {
    for (std::thread& t : threads) t.join();
    throw;
  }
  if (parts > 0) run(0);
  for (std::thread& t : threads) t.join();
  if (error) std::rethrow_exception(error);
}

}  // namespace gemma
