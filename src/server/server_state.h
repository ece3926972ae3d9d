// What the HTTP handlers share: options, the attached model and engine, metrics, and the
// count of engine requests in flight (for 429).
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>

#include "gemma_rt/engine.h"
#include "gemma_rt/gemma_rt.h"
#include "server/completion_request.h"
#include "server/http_server.h"
#include "server/metrics.h"

namespace gemma_rt::server {

struct ServerState {
  ServerOptions options;
  RequestLimits limits;
  std::atomic<const Model*> model{nullptr};  // null while loading
  std::atomic<Engine*> engine{nullptr};
  ServerMetrics metrics;
  // Engine requests submitted and not yet ended; shared with the engine's callbacks, which
  // may outlive the server.
  std::shared_ptr<std::atomic<size_t>> in_flight = std::make_shared<std::atomic<size_t>>(0);
  std::atomic<bool> stopping{false};
  RateWindow prompt_rate{10.0}, decode_rate{10.0};
  std::chrono::steady_clock::time_point started = std::chrono::steady_clock::now();
  int64_t created = 0;  // Unix time the server started (/v1/models)
};

}  // namespace gemma_rt::server
