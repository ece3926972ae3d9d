// gemma-rt serve --model DIR|FILE.gguf [--host 127.0.0.1] [--port 8080] [--parallel N]
//   [--kv-budget SIZE] [--max-queue N] [--api-key KEY | --api-key-file F] [--alias NAME]
//   [--max-body-bytes N] [--prefill-while-decoding N] [-t T]
// An OpenAI-compatible HTTP server on the batched engine (src/server, docs/server.md). It
// binds first (a load balancer's /health sees 503 while the model loads), prints
// "listening on http://HOST:PORT" once it serves, and on SIGINT or SIGTERM stops accepting,
// cancels what is running and exits 0.
#include <pthread.h>
#include <signal.h>

#include <atomic>
#include <cctype>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <thread>

#include "apps/gemma-rt/command.h"
#include "gemma_rt/engine.h"
#include "gemma_rt/gemma_rt.h"
#include "server/http_server.h"

namespace gemma::cli {
namespace {

struct ServeFlags {
  std::string model;
  std::string host = "127.0.0.1";
  int port = 8080;
  size_t parallel = 8;
  std::string kv_budget;
  size_t max_queue = 64;
  std::string api_key;
  std::string api_key_file;
  std::string alias;
  size_t max_body_bytes = size_t{8} << 20;
  size_t prefill_while_decoding = 64;
  int threads = 0;
  bool exact_quant = false;
};

// "4G", "512M", "65536", "2GiB": bytes (binary multiples).
uint64_t ParseByteSize(const std::string& text) {
  size_t end = 0;
  while (end < text.size() && std::isdigit(static_cast<unsigned char>(text[end]))) ++end;
  std::string unit = text.substr(end);
  for (char& c : unit) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  if (unit.size() > 1 && unit.back() == 'B') unit.pop_back();
  if (unit.size() > 1 && unit.back() == 'I') unit.pop_back();
  int shift = -1;
  if (unit.empty()) shift = 0;
  if (unit == "K") shift = 10;
  if (unit == "M") shift = 20;
  if (unit == "G") shift = 30;
  if (unit == "T") shift = 40;
  if (end == 0 || end > 15 || shift < 0) {
    throw std::runtime_error("--kv-budget: '" + text + "' is not a size (e.g. 2G, 512M, 65536)");
  }
  return std::stoull(text.substr(0, end)) << shift;
}

std::string ReadKeyFile(const std::string& path) {
  std::ifstream in(path);
  if (!in) throw std::runtime_error("--api-key-file: " + path + ": cannot open");
  std::string key;
  std::getline(in, key);
  while (!key.empty() && std::isspace(static_cast<unsigned char>(key.back()))) key.pop_back();
  while (!key.empty() && std::isspace(static_cast<unsigned char>(key.front()))) key.erase(0, 1);
  if (key.empty())
    throw std::runtime_error("--api-key-file: " + path + ": the first line is empty");
  return key;
}

std::string ModelId(const std::string& path) {
  std::filesystem::path p(path);
  if (!p.has_filename()) p = p.parent_path();  // "dir/" -> "dir"
  const std::string name = p.filename().string();
  return name.empty() ? "gemma" : name;
}

int RunServe(const ServeFlags& f) {
  if (f.parallel == 0 || f.parallel > 4096) {
    throw std::runtime_error("--parallel must be 1..4096, got " + std::to_string(f.parallel));
  }
  if (f.max_queue > 65536) {
    throw std::runtime_error("--max-queue must be 0..65536, got " + std::to_string(f.max_queue));
  }
  if (f.max_body_bytes < 1024) {
    throw std::runtime_error("--max-body-bytes must be at least 1024, got " +
                             std::to_string(f.max_body_bytes));
  }
  if (f.prefill_while_decoding == 0 || f.prefill_while_decoding > 65536) {
    throw std::runtime_error("--prefill-while-decoding must be 1..65536, got " +
                             std::to_string(f.prefill_while_decoding));
  }
  if (!f.api_key.empty() && !f.api_key_file.empty()) {
    throw std::runtime_error("give --api-key or --api-key-file, not both");
  }
  const uint64_t kv_bytes = f.kv_budget.empty() ? 0 : ParseByteSize(f.kv_budget);

  // Every thread started from here on inherits this mask, so the signals reach only the
  // waiter below; a client that vanishes mid-write must not kill the server with SIGPIPE.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGINT);
  sigaddset(&stop_signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);
  signal(SIGPIPE, SIG_IGN);

  gemma_rt::server::HttpServer server(
      {.host = f.host,
       .port = f.port,
       .parallel = f.parallel,
       .max_queue = f.max_queue,
       .api_key = f.api_key_file.empty() ? f.api_key : ReadKeyFile(f.api_key_file),
       .model_id = f.alias.empty() ? ModelId(f.model) : f.alias,
       .max_body_bytes = f.max_body_bytes});
  const int port = server.Bind();
  std::atomic<bool> done{false};
  std::atomic<bool> http_done{false};
  // cpp-httplib forgets a stop that comes before its accept loop has started (a load that
  // fails at once, an early signal), which left serve running: stop until Run() returns.
  const auto stop_http = [&] {
    while (!http_done) {
      server.Stop();
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
  };
  std::thread waiter([&] {
    const timespec slice{0, 200'000'000};
    while (!done) {
      const int sig = sigtimedwait(&stop_signals, nullptr, &slice);
      if (sig == SIGINT || sig == SIGTERM) {
        std::fprintf(stderr, "gemma-rt serve: %s: stopping\n",
                     sig == SIGINT ? "SIGINT" : "SIGTERM");
        stop_http();
        return;
      }
    }
  });
  std::thread http([&] {
    server.Run();
    http_done = true;
  });
  int code = 0;
  try {
    const gemma_rt::Model model = gemma_rt::Model::Load(
        {.path = f.model, .threads = f.threads, .exact_quantized_products = f.exact_quant});
    gemma_rt::Engine engine(model, {.max_sequences = f.parallel,
                                    .prefill_tokens_while_decoding = f.prefill_while_decoding,
                                    .kv_bytes = kv_bytes,
                                    .max_waiting = f.parallel + f.max_queue + 16});
    server.Attach(model, engine);
    std::printf("listening on http://%s:%d\n", f.host.c_str(), port);
    std::fflush(stdout);
    http.join();  // until a signal stops the server; running requests were cancelled
  } catch (...) {
    stop_http();
    if (http.joinable()) http.join();
    done = true;
    waiter.join();
    throw;
  }
  done = true;
  waiter.join();
  std::fprintf(stderr, "gemma-rt serve: stopped\n");
  return code;
}

}  // namespace

void AddServeCommand(CLI::App& app, RunFunction& run) {
  auto f = std::make_shared<ServeFlags>();
  CLI::App* cmd = app.add_subcommand(
      "serve", "OpenAI-compatible HTTP server on the batched engine (docs/server.md)");
  cmd->add_option("--model", f->model, "Model directory or .gguf file")->required();
  cmd->add_option("--host", f->host, "Address to listen on")->capture_default_str();
  cmd->add_option("--port", f->port, "Port (0: any free port; the line printed names it)")
      ->capture_default_str();
  cmd->add_option("--parallel", f->parallel, "Requests generating at once")->capture_default_str();
  cmd->add_option("--kv-budget", f->kv_budget,
                  "KV cache budget (e.g. 2G, 512M; default: parallel x 2048 positions)");
  cmd->add_option("--max-queue", f->max_queue,
                  "Requests waiting beyond --parallel; more are answered 429")
      ->capture_default_str();
  cmd->add_option("--api-key", f->api_key, "Require 'Authorization: Bearer KEY'");
  cmd->add_option("--api-key-file", f->api_key_file, "Read the API key from the file's first line");
  cmd->add_option("--alias", f->alias, "Model id in the API (default: the model's file name)");
  cmd->add_option("--max-body-bytes", f->max_body_bytes, "Largest request body; larger get 413")
      ->capture_default_str();
  cmd->add_option("--prefill-while-decoding", f->prefill_while_decoding,
                  "Prompt tokens a step takes while other requests stream: bounds the pause "
                  "a new prompt puts into their streams (larger: faster first token)")
      ->capture_default_str();
  cmd->add_option("-t,--threads", f->threads, "Worker threads (default: hardware concurrency)");
  AddExactQuantFlag(*cmd, f->exact_quant);
  cmd->callback([f, &run] { run = [f] { return RunServe(*f); }; });
}

}  // namespace gemma::cli
