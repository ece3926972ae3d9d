// Load and faults: 64 requests of mixed lengths from 16 concurrent clients give exactly the
// ids each gives alone (greedy), and 50 clients that vanish at random points (before their
// request is complete, during prefill, mid-stream) leave no request running, no KV block
// referenced, and a server that still answers.
#include <gtest/gtest.h>

#include <atomic>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "model/golden_support.h"
#include "server/test_server.h"

namespace gemma_rt::server::testing {
namespace {

using gemma::testing::LoadGoldenCase;

struct Job {
  Json body;
  std::vector<int32_t> ids;  // alone
};

TEST(ServerLoad, SixtyFourRequestsFromSixteenClientsEqualSequentialGreedy) {
  const auto g = LoadGoldenCase("tiny-2b-long");
  TestServer server(g.dir, {.parallel = 8, .max_queue = 64});
  std::mt19937 rng(42);
  std::vector<Job> jobs(64);
  for (size_t i = 0; i < jobs.size(); ++i) {
    const size_t prompt = 1 + rng() % g.prompt_ids.size();
    const std::vector<int32_t> ids(g.prompt_ids.begin(), g.prompt_ids.begin() + long(prompt));
    jobs[i].body = {{"prompt", ids},
                    {"max_tokens", 1 + rng() % 48},
                    {"temperature", 0},
                    {"return_token_ids", true},
                    {"stream", i % 2 == 1}};
  }
  const auto ids_of = [](const HttpReply& r, bool stream) {
    std::vector<int32_t> ids;
    if (!stream) return r.json["choices"][0]["token_ids"].get<std::vector<int32_t>>();
    for (const std::string& e : TestServer::Events(r.body)) {
      if (e == "[DONE]") break;
      // Parsed into a named value: a range-for over a member of a temporary would read it
      // after its end (TSan: heap-use-after-free).
      const Json event = Json::parse(e);
      for (const int32_t id : event["choices"][0]["token_ids"]) ids.push_back(id);
    }
    return ids;
  };
  for (Job& j : jobs) {
    const HttpReply r = server.Post("/v1/completions", j.body);
    ASSERT_EQ(r.status, 200) << r.body;
    j.ids = ids_of(r, j.body["stream"]);
  }
  std::atomic<size_t> next{0}, mismatches{0}, failures{0};
  std::vector<std::thread> clients;
  for (int c = 0; c < 16; ++c) {
    clients.emplace_back([&] {
      for (size_t i; (i = next++) < jobs.size();) {
        const HttpReply r = server.Post("/v1/completions", jobs[i].body);
        if (r.status != 200) {
          ++failures;
        } else if (ids_of(r, jobs[i].body["stream"]) != jobs[i].ids) {
          ++mismatches;
        }
      }
    });
  }
  for (std::thread& t : clients) t.join();
  EXPECT_EQ(failures, 0u);
  EXPECT_EQ(mismatches, 0u);
  server.ExpectIdle();
}

TEST(ServerLoad, FiftyClientsThatDisconnectAtRandomPointsLeakNothing) {
  const auto g = LoadGoldenCase("tiny-2b-long");
  TestServer server(g.dir, {.parallel = 4, .max_queue = 64});
  std::mt19937 rng(7);
  std::vector<std::thread> clients;
  for (int c = 0; c < 50; ++c) {
    const int mode = static_cast<int>(rng() % 3);
    const int wait_ms = static_cast<int>(rng() % 200);
    Json body = {{"prompt", g.prompt_ids},
                 {"max_tokens", 2000},
                 {"temperature", 0.8},
                 {"stream", c % 2 == 0},
                 {"logit_bias", {{"1", -100}}}};
    clients.emplace_back([&server, body, mode, wait_ms] {
      const std::string text = body.dump();
      if (mode == 0) {
        // Half a request, then gone.
        const int fd = server.SendRaw("/v1/completions", text);
        shutdown(fd, SHUT_RDWR);
        close(fd);
        return;
      }
      const int fd = server.SendRaw("/v1/completions", text);
      if (mode == 2) {
        char buffer[512];
        recv(fd, buffer, sizeof buffer, 0);
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(wait_ms));
      close(fd);
    });
  }
  for (std::thread& t : clients) t.join();
  server.ExpectIdle(std::chrono::seconds(60));
  EXPECT_GE(server.Metric("gemma_requests_cancelled_by_disconnect_total"), 1);
  // Still serving.
  const HttpReply r = server.Post(
      "/v1/completions", Json{{"prompt", g.prompt_ids}, {"max_tokens", 4}, {"temperature", 0}});
  EXPECT_EQ(r.status, 200);
  server.ExpectIdle();
}

}  // namespace
}  // namespace gemma_rt::server::testing
