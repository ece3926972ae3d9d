// Starting threads safely. A thread count comes from the user (-t, --threads): 0 means the
// hardware's concurrency, and counts far beyond it are refused, because each thread costs a
// stack and a typo like -t 100000 used to start threads until the system refused one, which
// aborted the process. A thread that cannot be started is an Error, never std::terminate.
#pragma once

#include <cstdint>
#include <functional>
#include <string_view>
#include <thread>

namespace gemma {

inline constexpr int kMaxThreadsPerHardwareThread = 8;

int HardwareThreads();  // std::thread::hardware_concurrency(), at least 1
int MaxThreads();       // kMaxThreadsPerHardwareThread x HardwareThreads()

// The number of threads to use for `requested`: HardwareThreads() for 0, `requested` for
// 1..MaxThreads(). Throws Error(kInvalidArgument) naming `what` (e.g. "--threads") otherwise.
int ResolveThreadCount(int64_t requested, std::string_view what);

// std::thread(body), or Error(kIo) saying why the system refused to start it.
std::thread StartThread(std::function<void()> body);

// Calls body(part) for every part in [0, parts), each on its own thread (the caller runs
// part 0), and waits for all. When a thread cannot be started, the started ones are joined
// and the Error is thrown; an exception thrown by a part is rethrown after all have ended.
void RunOnThreads(int parts, const std::function<void(int part)>& body);

}  // namespace gemma
