// A gemma-rt server on a loopback ephemeral port for the tests: a model, an engine and an
// HttpServer running on a thread of its own, and small HTTP helpers (cpp-httplib's client,
// and raw sockets for clients that vanish).
#pragma once

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <httplib.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "gemma_rt/engine.h"
#include "gemma_rt/gemma_rt.h"
#include "server/http_server.h"

namespace gemma_rt::server::testing {

using Json = nlohmann::json;

struct HttpReply {
  int status = 0;
  std::string body;
  Json json;  // the body parsed, when it is JSON
  httplib::Headers headers;
};

class TestServer {
 public:
  TestServer(const std::string& model_dir, ServerOptions options = {},
             EngineOptions engine_options = {}, int threads = 2)
      : model_(Model::Load({.path = model_dir, .threads = threads})) {
    options.port = 0;
    if (options.model_id.empty()) options.model_id = "test-model";
    engine_options.max_sequences = options.parallel;
    engine_ = std::make_unique<Engine>(model_, engine_options);
    server_ = std::make_unique<HttpServer>(options);
    port_ = server_->Bind();
    server_->Attach(model_, *engine_);
    thread_ = std::thread([this] { server_->Run(); });
    WaitUntilUp();
  }
  ~TestServer() {
    server_->Stop();
    thread_.join();
    server_.reset();
    engine_.reset();
  }

  int port() const { return port_; }
  const Model& model() const { return model_; }
  Engine& engine() { return *engine_; }

  HttpReply Post(const std::string& path, const std::string& body,
                 const httplib::Headers& headers = {}) const {
    httplib::Client client("127.0.0.1", port_);
    client.set_read_timeout(120);
    const httplib::Result r = client.Post(path.c_str(), headers, body, "application/json");
    return Reply(r);
  }
  HttpReply Post(const std::string& path, const Json& body,
                 const httplib::Headers& headers = {}) const {
    return Post(path, body.dump(), headers);
  }
  HttpReply Get(const std::string& path, const httplib::Headers& headers = {}) const {
    httplib::Client client("127.0.0.1", port_);
    return Reply(client.Get(path.c_str(), headers));
  }

  // The `data:` payloads of a streamed response, in order ("[DONE]" included).
  static std::vector<std::string> Events(const std::string& body) {
    std::vector<std::string> events;
    size_t at = 0;
    while ((at = body.find("data: ", at)) != std::string::npos) {
      const size_t end = body.find("\n\n", at);
      events.push_back(body.substr(at + 6, end - at - 6));
      at = end == std::string::npos ? body.size() : end + 2;
    }
    return events;
  }

  // A value of /metrics ("name" or "name{label}"); -1 when absent.
  double Metric(const std::string& name) const {
    const std::string text = Get("/metrics").body;
    size_t at = 0;
    while ((at = text.find(name + " ", at)) != std::string::npos) {
      if (at == 0 || text[at - 1] == '\n') return std::stod(text.substr(at + name.size() + 1));
      at += name.size();
    }
    return -1;
  }

  // Waits until no request is in flight and no KV block is referenced (or fails).
  void ExpectIdle(std::chrono::seconds limit = std::chrono::seconds(30)) const {
    const auto deadline = std::chrono::steady_clock::now() + limit;
    while (std::chrono::steady_clock::now() < deadline) {
      if (Metric("gemma_requests_in_flight") == 0 && Metric("gemma_kv_blocks_used") == 0 &&
          Metric("gemma_requests_running") == 0 && Metric("gemma_requests_waiting") == 0) {
        return;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    ADD_FAILURE() << "the server did not come back to idle:\n" << Get("/metrics").body;
  }

  // A plain TCP connection to the server (the caller writes, reads and closes it).
  int Connect() const {
    const int fd = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(static_cast<uint16_t>(port_));
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
      ADD_FAILURE() << "connect failed";
    }
    return fd;
  }

  // Sends a raw HTTP request and returns the socket (the caller reads or closes it).
  int SendRaw(const std::string& path, const std::string& body) const {
    const int fd = Connect();
    const std::string request = "POST " + path +
                                " HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: "
                                "application/json\r\nContent-Length: " +
                                std::to_string(body.size()) + "\r\n\r\n" + body;
    EXPECT_EQ(send(fd, request.data(), request.size(), MSG_NOSIGNAL), ssize_t(request.size()));
    return fd;
  }

 private:
  static HttpReply Reply(const httplib::Result& r) {
    HttpReply reply;
    if (!r) {
      ADD_FAILURE() << "HTTP request failed: " << httplib::to_string(r.error());
      return reply;
    }
    reply.status = r->status;
    reply.body = r->body;
    reply.headers = r->headers;
    reply.json = Json::parse(r->body, nullptr, /*allow_exceptions=*/false);
    return reply;
  }

  void WaitUntilUp() {
    for (int i = 0; i < 500; ++i) {
      httplib::Client client("127.0.0.1", port_);
      if (auto r = client.Get("/health"); r && r->status == 200) return;
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    ADD_FAILURE() << "the server did not answer /health";
  }

  Model model_;
  std::unique_ptr<Engine> engine_;
  std::unique_ptr<HttpServer> server_;
  int port_ = -1;
  std::thread thread_;
};

}  // namespace gemma_rt::server::testing
