// Small pieces every evaluation run over the engine uses.
#pragma once

#include <chrono>
#include <string>

#include "gemma_rt/engine.h"

namespace gemma::eval {

inline constexpr const char* kStopped = "stopped";

// A scoring request's failure: its error, its end by an exception from one of its
// callbacks (kStopped) or a cancellation; "" when it ran to its end.
inline std::string RequestError(const gemma_rt::RequestResult& r) {
  if (!r.error.empty()) return r.error;
  if (r.stop_reason == gemma_rt::StopReason::kCallback) return kStopped;
  if (r.stop_reason == gemma_rt::StopReason::kCancelled) return "cancelled";
  return "";
}

inline double SecondsSince(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

}  // namespace gemma::eval
