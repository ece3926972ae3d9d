// gemma-rt's OpenAI-compatible HTTP server (cpp-httplib) on a batched Engine:
//   POST /v1/completions, POST /v1/chat/completions, GET /v1/models[/ID], GET /health,
//   GET /metrics, POST /tokenize, POST /detokenize   (docs/server.md)
// It binds first and answers 503 until a model is attached, so a load balancer sees a
// loading replica as not ready. Every request's fault is a 4xx in OpenAI's error shape.
#pragma once

#include <atomic>
#include <cstddef>
#include <memory>
#include <string>

#include "gemma_rt/engine.h"
#include "gemma_rt/gemma_rt.h"

namespace gemma_rt::server {

struct ServerOptions {
  std::string host = "127.0.0.1";
  int port = 8080;        // 0: any free port (see HttpServer::port())
  size_t parallel = 8;    // the engine's max_sequences (for limits)
  size_t max_queue = 64;  // choices waiting beyond `parallel`; more get 429
  std::string api_key;    // empty: no key needed
  std::string model_id;   // /v1/models id and the accepted "model" field
  size_t max_body_bytes = size_t{8} << 20;
  size_t http_threads = 0;  // 0: parallel + max_queue + 16
};

class HttpServer {
 public:
  explicit HttpServer(ServerOptions options);
  ~HttpServer();  // stops
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  // Binds the listening socket (throws std::runtime_error naming host and port when it
  // cannot) and returns the port.
  int Bind();
  // Serves the model through the engine from now on (both must outlive the server's use of
  // them: Stop before destroying them).
  void Attach(const Model& model, Engine& engine);
  // Accepts connections until Stop (call Bind first).
  void Run();
  // Stops accepting, cancels the requests being served, and makes Run return. Any thread.
  void Stop();
  int port() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace gemma_rt::server
