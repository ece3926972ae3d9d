// The server on the golden models (token ids in and out, no tokenizer): greedy outputs equal
// to the reference's, streamed and not, echo + logprobs equal to the log-softmax of the
// logits, every error code, and requests whose clients vanish freeing their slots.
#include <gtest/gtest.h>

#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cmath>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "model/golden_support.h"
#include "server/test_server.h"

namespace gemma_rt::server::testing {
namespace {

using gemma::testing::LoadGoldenCase;

std::vector<int32_t> Ids(const Json& j) { return j.get<std::vector<int32_t>>(); }

Json Greedy(const std::vector<int32_t>& prompt, size_t max_tokens) {
  return {{"prompt", prompt},
          {"max_tokens", max_tokens},
          {"temperature", 0},
          {"return_token_ids", true}};
}

// log_softmax(row)[id] in long double.
double LogSoftmax(const std::vector<float>& row, int32_t id) {
  long double max = row[0], sum = 0;
  for (const float x : row) max = std::max<long double>(max, x);
  for (const float x : row) sum += std::exp(static_cast<long double>(x) - max);
  return static_cast<double>(row[id] - max - std::log(sum));
}

class GoldenServer : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    golden_ = new gemma::testing::GoldenCase(LoadGoldenCase("tiny-2b-f32"));
    server_ = new TestServer(golden_->dir, {.parallel = 4, .max_queue = 4});
  }
  static void TearDownTestSuite() {
    delete server_;
    delete golden_;
  }
  static gemma::testing::GoldenCase* golden_;
  static TestServer* server_;
};
gemma::testing::GoldenCase* GoldenServer::golden_ = nullptr;
TestServer* GoldenServer::server_ = nullptr;

TEST_F(GoldenServer, HealthModelsAndUnknownRoutes) {
  EXPECT_EQ(server_->Get("/health").status, 200);
  EXPECT_EQ(server_->Get("/health").json["status"], "ok");
  const HttpReply models = server_->Get("/v1/models");
  ASSERT_EQ(models.status, 200);
  EXPECT_EQ(models.json["object"], "list");
  EXPECT_EQ(models.json["data"][0]["id"], "test-model");
  EXPECT_EQ(models.json["data"][0]["context_length"], 8192);
  EXPECT_EQ(server_->Get("/v1/models/test-model").status, 200);
  const HttpReply missing = server_->Get("/v1/models/other");
  EXPECT_EQ(missing.status, 404);
  EXPECT_EQ(missing.json["error"]["code"], "model_not_found");
  const HttpReply route = server_->Get("/v2/nothing");
  EXPECT_EQ(route.status, 404);
  EXPECT_EQ(route.json["error"]["type"], "invalid_request_error");
  EXPECT_NE(route.json["error"]["message"].get<std::string>().find("/v2/nothing"),
            std::string::npos);
  Json wrong_model = Greedy(golden_->prompt_ids, 2);
  wrong_model["model"] = "gpt-4";
  const HttpReply r = server_->Post("/v1/completions", wrong_model);
  EXPECT_EQ(r.status, 404);
  EXPECT_EQ(r.json["error"]["param"], "model");
}

TEST_F(GoldenServer, GreedyCompletionEqualsTheReference) {
  Json body = Greedy(golden_->prompt_ids, golden_->greedy_ids.size());
  body["model"] = "test-model";
  const HttpReply r = server_->Post("/v1/completions", body);
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.json["object"], "text_completion");
  EXPECT_EQ(r.json["model"], "test-model");
  EXPECT_EQ(r.json["id"].get<std::string>().rfind("cmpl-", 0), 0u);
  ASSERT_EQ(r.json["choices"].size(), 1u);
  const Json& choice = r.json["choices"][0];
  EXPECT_EQ(Ids(choice["token_ids"]), golden_->greedy_ids);
  EXPECT_EQ(choice["finish_reason"], "length");
  EXPECT_EQ(choice["index"], 0);
  EXPECT_TRUE(choice["logprobs"].is_null());
  EXPECT_EQ(Ids(r.json["prompt_token_ids"][0]), golden_->prompt_ids);
  EXPECT_EQ(r.json["usage"]["prompt_tokens"], golden_->prompt_ids.size());
  EXPECT_EQ(r.json["usage"]["completion_tokens"], golden_->greedy_ids.size());
  EXPECT_EQ(r.json["usage"]["total_tokens"],
            golden_->prompt_ids.size() + golden_->greedy_ids.size());
  EXPECT_EQ(r.json["timings"]["predicted_n"], golden_->greedy_ids.size());
  EXPECT_TRUE(r.json["timings"].contains("prompt_per_second"));
  // Two requests give two ids.
  EXPECT_NE(server_->Post("/v1/completions", body).json["id"], r.json["id"]);
}

TEST_F(GoldenServer, StreamedCompletionCarriesTheSameIdsUsageAndDone) {
  Json body = Greedy(golden_->prompt_ids, golden_->greedy_ids.size());
  body["stream"] = true;
  body["stream_options"] = {{"include_usage", true}};
  const HttpReply r = server_->Post("/v1/completions", body);
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_NE(r.headers.find("Content-Type")->second.find("text/event-stream"), std::string::npos);
  const std::vector<std::string> events = TestServer::Events(r.body);
  ASSERT_GE(events.size(), 3u);
  EXPECT_EQ(events.back(), "[DONE]");
  std::vector<int32_t> ids;
  std::string finish;
  std::string id;
  for (size_t i = 0; i + 2 < events.size(); ++i) {
    const Json chunk = Json::parse(events[i]);
    EXPECT_EQ(chunk["object"], "text_completion");
    EXPECT_TRUE(chunk["usage"].is_null());
    if (id.empty()) id = chunk["id"];
    EXPECT_EQ(chunk["id"], id);
    const Json& c = chunk["choices"][0];
    for (const int32_t t : Ids(c["token_ids"])) ids.push_back(t);
    if (!c["finish_reason"].is_null()) {
      EXPECT_TRUE(finish.empty()) << "finish_reason twice";
      finish = c["finish_reason"];
    }
  }
  EXPECT_EQ(ids, golden_->greedy_ids);
  EXPECT_EQ(finish, "length");
  const Json usage = Json::parse(events[events.size() - 2]);
  EXPECT_TRUE(usage["choices"].empty());
  EXPECT_EQ(usage["usage"]["completion_tokens"], golden_->greedy_ids.size());
  EXPECT_EQ(usage["usage"]["prompt_tokens"], golden_->prompt_ids.size());
  EXPECT_EQ(usage["id"], id);
  // Without include_usage: no usage chunk, no usage field.
  body.erase("stream_options");
  const std::vector<std::string> plain =
      TestServer::Events(server_->Post("/v1/completions", body).body);
  for (size_t i = 0; i + 1 < plain.size(); ++i) {
    const Json chunk = Json::parse(plain[i]);
    EXPECT_FALSE(chunk.contains("usage"));
    EXPECT_EQ(chunk["choices"].size(), 1u);
  }
}

TEST_F(GoldenServer, SeveralPromptsAndChoicesComeBackInOrder) {
  const std::vector<int32_t> shorter(golden_->prompt_ids.begin(), golden_->prompt_ids.end() - 3);
  const Json body = {{"prompt", {golden_->prompt_ids, shorter}},
                     {"max_tokens", 6},
                     {"temperature", 0},
                     {"n", 2},
                     {"return_token_ids", true}};
  const HttpReply r = server_->Post("/v1/completions", body);
  ASSERT_EQ(r.status, 200) << r.body;
  ASSERT_EQ(r.json["choices"].size(), 4u);
  const std::vector<int32_t> first(golden_->greedy_ids.begin(), golden_->greedy_ids.begin() + 6);
  for (int i = 0; i < 4; ++i) EXPECT_EQ(r.json["choices"][i]["index"], i);
  EXPECT_EQ(Ids(r.json["choices"][0]["token_ids"]), first);
  EXPECT_EQ(Ids(r.json["choices"][1]["token_ids"]), first);
  const HttpReply alone = server_->Post("/v1/completions", Greedy(shorter, 6));
  EXPECT_EQ(r.json["choices"][2]["token_ids"], alone.json["choices"][0]["token_ids"]);
  EXPECT_EQ(r.json["choices"][3]["token_ids"], alone.json["choices"][0]["token_ids"]);
  EXPECT_EQ(r.json["usage"]["prompt_tokens"], golden_->prompt_ids.size() + shorter.size());
  size_t generated = 0;
  for (const Json& c : r.json["choices"]) generated += c["token_ids"].size();
  EXPECT_EQ(r.json["usage"]["completion_tokens"], generated);
  // Sampling with a seed is reproducible; choices of one request use seed, seed + 1, ...
  const Json sampled = {{"prompt", golden_->prompt_ids},
                        {"max_tokens", 8},
                        {"temperature", 1.5},
                        {"seed", 7},
                        {"n", 3},
                        {"return_token_ids", true}};
  const HttpReply a = server_->Post("/v1/completions", sampled);
  const HttpReply b = server_->Post("/v1/completions", sampled);
  ASSERT_EQ(a.status, 200);
  EXPECT_EQ(a.json["choices"], b.json["choices"]);
  Json seed8 = sampled;
  seed8["seed"] = 8;
  seed8["n"] = 1;
  EXPECT_EQ(server_->Post("/v1/completions", seed8).json["choices"][0]["token_ids"],
            a.json["choices"][1]["token_ids"]);
}

TEST_F(GoldenServer, EchoLogprobsAreTheLogSoftmaxOfTheLogits) {
  const int top = 3;
  const Json body = {{"prompt", golden_->prompt_ids},
                     {"max_tokens", 2},
                     {"temperature", 0},
                     {"echo", true},
                     {"logprobs", top}};
  const HttpReply r = server_->Post("/v1/completions", body);
  ASSERT_EQ(r.status, 200) << r.body;
  const Json& lp = r.json["choices"][0]["logprobs"];
  const size_t n = golden_->prompt_ids.size();
  ASSERT_EQ(lp["token_logprobs"].size(), n + 2);
  ASSERT_EQ(lp["tokens"].size(), n + 2);
  ASSERT_EQ(lp["top_logprobs"].size(), n + 2);
  ASSERT_EQ(lp["text_offset"].size(), n + 2);
  EXPECT_TRUE(lp["token_logprobs"][0].is_null());
  EXPECT_TRUE(lp["top_logprobs"][0].is_null());
  // Our own logits (a Session over the same prompt) and the reference's.
  Session session(server_->model());
  std::vector<int32_t> all = golden_->prompt_ids;
  all.push_back(golden_->greedy_ids[0]);
  std::vector<size_t> positions(all.size());
  for (size_t i = 0; i < positions.size(); ++i) positions[i] = i;
  const std::vector<float> logits = session.PrefillWithLogits(all, positions);
  const size_t vocab = 512;
  for (size_t p = 0; p + 1 < all.size(); ++p) {
    const std::vector<float> row(logits.begin() + long(p * vocab),
                                 logits.begin() + long((p + 1) * vocab));
    const double expected = LogSoftmax(row, all[p + 1]);
    EXPECT_NEAR(lp["token_logprobs"][p + 1].get<double>(), expected, 1e-5) << "position " << p;
    EXPECT_NEAR(lp["token_logprobs"][p + 1].get<double>(),
                LogSoftmax(golden_->logits[p], all[p + 1]), 1e-4)
        << "reference, position " << p;
    // Greedy: the generated token is the most likely one.
    EXPECT_EQ(lp["top_logprobs"][p + 1].size(), 1u) << "no tokenizer: every token's text is ''";
  }
  // max_tokens 0 with echo: the prompt's log-probabilities only.
  Json only = body;
  only["max_tokens"] = 0;
  const HttpReply e = server_->Post("/v1/completions", only);
  ASSERT_EQ(e.status, 200) << e.body;
  EXPECT_EQ(e.json["choices"][0]["logprobs"]["token_logprobs"].size(), n);
  EXPECT_EQ(e.json["usage"]["completion_tokens"], 0);
  EXPECT_EQ(e.json["choices"][0]["logprobs"]["token_logprobs"][n - 1], lp["token_logprobs"][n - 1]);
}

struct BadRequest {
  std::string body;
  int status;
  std::string in_message;
};

TEST_F(GoldenServer, BadRequestsGetOneClearErrorAndTheRightStatus) {
  const std::string ids = Json(golden_->prompt_ids).dump();
  std::string million = "[";
  for (int i = 0; i < 1000000; ++i) million += i ? ",5" : "5";
  million += "]";
  std::string deep(100000, '[');
  const std::vector<BadRequest> cases = {
      {"", 400, "empty"},
      {"{", 400, "not valid JSON"},
      {"[1, 2]", 400, "must be a JSON object"},
      {"{\"prompt\": \"\xff\xfe\"}", 400, "not valid JSON"},
      {std::string("{\"prompt\": \"a\0b\"}", 17), 400, "not valid JSON"},
      {deep, 400, "deeper than"},
      {"{}", 400, "'prompt': is required"},
      {"{\"prompt\": 5}", 400, "'prompt'"},
      {"{\"prompt\": []}", 400, "'prompt'"},
      {"{\"prompt\": [1, -2]}", 400, "token ids"},
      {"{\"prompt\": [1, 600]}", 400, "outside the vocabulary"},
      {"{\"prompt\": [1, 2.5]}", 400, "token ids"},
      {"{\"prompt\": \"text\"}", 400, "no tokenizer"},
      {"{\"prompt\": " + million + "}", 400, "maximum context length"},
      {"{\"prompt\": " + ids + ", \"max_tokens\": 1000000000000}", 400, "maximum context length"},
      {"{\"prompt\": " + ids + ", \"max_tokens\": 1e30}", 400, "'max_tokens': must be an integer"},
      {"{\"prompt\": " + ids + ", \"max_tokens\": -1}", 400, "'max_tokens'"},
      {"{\"prompt\": " + ids + ", \"max_tokens\": 0}", 400, "'max_tokens'"},
      {"{\"prompt\": " + ids + ", \"max_tokens\": \"5\"}", 400, "'max_tokens'"},
      {"{\"prompt\": " + ids + ", \"n\": 1000}", 400, "'n'"},
      {"{\"prompt\": " + ids + ", \"n\": 0}", 400, "'n'"},
      {"{\"prompt\": " + ids + ", \"temperature\": 3}", 400, "'temperature'"},
      {"{\"prompt\": " + ids + ", \"temperature\": \"hot\"}", 400, "'temperature'"},
      {"{\"prompt\": " + ids + ", \"top_p\": 0}", 400, "'top_p'"},
      {"{\"prompt\": " + ids + ", \"top_k\": -1}", 400, "'top_k'"},
      {"{\"prompt\": " + ids + ", \"min_p\": 2}", 400, "'min_p'"},
      {"{\"prompt\": " + ids + ", \"presence_penalty\": 5}", 400, "'presence_penalty'"},
      {"{\"prompt\": " + ids + ", \"frequency_penalty\": -3}", 400, "'frequency_penalty'"},
      {"{\"prompt\": " + ids + ", \"repetition_penalty\": 0}", 400, "'repetition_penalty'"},
      {"{\"prompt\": " + ids + ", \"stop\": 5}", 400, "'stop'"},
      {"{\"prompt\": " + ids + ", \"stop\": [\"a\",\"b\",\"c\",\"d\",\"e\"]}", 400, "'stop'"},
      {"{\"prompt\": " + ids + ", \"logit_bias\": {\"x\": 1}}", 400, "'logit_bias'"},
      {"{\"prompt\": " + ids + ", \"logit_bias\": {\"5\": 500}}", 400, "'logit_bias'"},
      {"{\"prompt\": " + ids + ", \"logit_bias\": {\"99999\": 1}}", 400, "outside the vocab"},
      {"{\"prompt\": " + ids + ", \"logprobs\": 100}", 400, "'logprobs'"},
      {"{\"prompt\": " + ids + ", \"stream\": \"yes\"}", 400, "'stream'"},
      {"{\"prompt\": " + ids + ", \"seed\": 1.5}", 400, "'seed'"},
      {"{\"prompt\": " + ids + ", \"echo\": 1}", 400, "'echo'"},
  };
  for (const BadRequest& c : cases) {
    const HttpReply r = server_->Post("/v1/completions", c.body);
    EXPECT_EQ(r.status, c.status) << c.body.substr(0, 80) << "\n" << r.body.substr(0, 300);
    ASSERT_TRUE(r.json.is_object()) << r.body.substr(0, 300);
    const Json& e = r.json["error"];
    EXPECT_EQ(e["type"], "invalid_request_error");
    EXPECT_TRUE(e.contains("param") && e.contains("code"));
    EXPECT_NE(e["message"].get<std::string>().find(c.in_message), std::string::npos)
        << c.body.substr(0, 80) << " -> " << e["message"];
  }
  // Unknown fields are ignored.
  const HttpReply extra = server_->Post(
      "/v1/completions", "{\"prompt\": " + ids + ", \"max_tokens\": 1, \"frobnicate\": [1]}");
  EXPECT_EQ(extra.status, 200);
  // Chat on a model without a tokenizer, and chat's own errors.
  const HttpReply chat = server_->Post("/v1/chat/completions",
                                       Json{{"messages", {{{"role", "user"}, {"content", "hi"}}}}});
  EXPECT_EQ(chat.status, 400);
  EXPECT_NE(chat.body.find("no tokenizer"), std::string::npos);
  EXPECT_EQ(server_->Post("/tokenize", Json{{"content", "hi"}}).status, 400);
  EXPECT_EQ(server_->Post("/detokenize", Json{{"tokens", {1, 2}}}).status, 400);
  EXPECT_EQ(server_->Post("/detokenize", Json{{"tokens", {1, 9999}}}).status, 400);
  server_->ExpectIdle();
}

TEST_F(GoldenServer, BodyOverTheLimitIs413) {
  TestServer small(golden_->dir, {.parallel = 1, .max_queue = 0, .max_body_bytes = 2048});
  const HttpReply r = small.Post("/v1/completions", std::string(4096, ' '));
  EXPECT_EQ(r.status, 413);
  EXPECT_NE(r.json["error"]["message"].get<std::string>().find("2048"), std::string::npos);
}

TEST_F(GoldenServer, ApiKeyIsRequiredExceptForHealthAndModels) {
  TestServer keyed(golden_->dir, {.parallel = 1, .max_queue = 1, .api_key = "sekrit-key"});
  const Json body = Greedy(golden_->prompt_ids, 2);
  const HttpReply none = keyed.Post("/v1/completions", body);
  EXPECT_EQ(none.status, 401);
  EXPECT_EQ(none.json["error"]["type"], "authentication_error");
  EXPECT_EQ(keyed.Post("/v1/completions", body, {{"Authorization", "Bearer sekrit-kez"}}).status,
            401);
  EXPECT_EQ(keyed.Post("/v1/completions", body, {{"Authorization", "Bearer sekrit"}}).status, 401);
  EXPECT_EQ(keyed.Post("/v1/completions", body, {{"Authorization", "sekrit-key"}}).status, 401);
  EXPECT_EQ(keyed.Post("/v1/completions", body, {{"Authorization", "Bearer sekrit-key"}}).status,
            200);
  EXPECT_EQ(keyed.Get("/health").status, 200);
  EXPECT_EQ(keyed.Get("/v1/models").status, 200);
  EXPECT_EQ(keyed.Get("/metrics").status, 401);
}

// Reads one HTTP response with a Content-Length body from a raw socket: status and body.
std::pair<int, std::string> ReadResponse(int fd) {
  std::string data;
  char buffer[4096];
  size_t body_at = std::string::npos;
  size_t length = 0;
  while (body_at == std::string::npos || data.size() < body_at + length) {
    const ssize_t n = recv(fd, buffer, sizeof buffer, 0);
    if (n <= 0) break;
    data.append(buffer, static_cast<size_t>(n));
    if (body_at == std::string::npos && data.find("\r\n\r\n") != std::string::npos) {
      body_at = data.find("\r\n\r\n") + 4;
      const size_t at = data.find("Content-Length: ");
      if (at == std::string::npos || at > body_at) break;
      length = std::stoul(data.substr(at + 16));
    }
  }
  if (body_at == std::string::npos || data.size() < 12) return {-1, data};
  return {std::stoi(data.substr(9, 3)), data.substr(body_at)};
}

// A refused request's body is read before the refusal, so the next request on the same
// kept-alive connection starts where it should. Clients that send the body in a packet of
// its own (Node 18's fetch does) got "400 malformed HTTP request" for the request after a 401:
// the refusal came from cpp-httplib's pre-routing hook, before the body was read.
TEST_F(GoldenServer, ARefusedRequestsBodyDoesNotSpillIntoTheNextOne) {
  TestServer keyed(golden_->dir, {.parallel = 1, .max_queue = 1, .api_key = "sekrit-key"});
  const std::string body = Greedy(golden_->prompt_ids, 2).dump();
  const auto request_head = [&](const std::string& key) {
    return "POST /v1/completions HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer " + key +
           "\r\nContent-Type: application/json\r\nContent-Length: " + std::to_string(body.size()) +
           "\r\n\r\n";
  };
  const int fd = keyed.Connect();
  const auto send_all = [&](const std::string& bytes) {
    ASSERT_EQ(send(fd, bytes.data(), bytes.size(), MSG_NOSIGNAL), ssize_t(bytes.size()));
  };
  // Head and body apart, as that client sends them.
  send_all(request_head("wrong-key"));
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  send_all(body);
  const auto [refused, refusal] = ReadResponse(fd);
  EXPECT_EQ(refused, 401) << refusal;
  send_all(request_head("sekrit-key"));
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  send_all(body);
  const auto [status, answer] = ReadResponse(fd);
  close(fd);
  ASSERT_EQ(status, 200) << answer;
  EXPECT_EQ(Ids(Json::parse(answer)["choices"][0]["token_ids"]),
            std::vector<int32_t>(golden_->greedy_ids.begin(), golden_->greedy_ids.begin() + 2));
}

TEST_F(GoldenServer, AFullQueueAnswers429WithRetryAfter) {
  TestServer busy(golden_->dir, {.parallel = 1, .max_queue = 1});
  // Two long requests fill the slot and the queue (EOS banned so they run to max_tokens).
  Json slow = Greedy(golden_->prompt_ids, 4000);
  slow["logit_bias"] = {{"1", -100}};
  std::vector<int> fds = {busy.SendRaw("/v1/completions", slow.dump()),
                          busy.SendRaw("/v1/completions", slow.dump())};
  for (int i = 0; i < 500 && busy.Metric("gemma_requests_in_flight") < 2; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  const HttpReply r = busy.Post("/v1/completions", Greedy(golden_->prompt_ids, 2));
  EXPECT_EQ(r.status, 429) << r.body;
  EXPECT_EQ(r.json["error"]["type"], "rate_limit_error");
  EXPECT_EQ(r.headers.find("Retry-After")->second, "1");
  // /health and /metrics answer while the engine is busy.
  EXPECT_EQ(busy.Get("/health").status, 200);
  // The count is taken after the response is written: give it a moment.
  for (int i = 0; i < 100 && busy.Metric("gemma_http_responses_total{code=\"429\"}") < 1; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  EXPECT_GE(busy.Metric("gemma_http_responses_total{code=\"429\"}"), 1);
  for (const int fd : fds) close(fd);
  busy.ExpectIdle();
  EXPECT_EQ(busy.Post("/v1/completions", Greedy(golden_->prompt_ids, 2)).status, 200);
}

TEST_F(GoldenServer, AClientThatVanishesCancelsItsRequest) {
  Json slow = Greedy(golden_->prompt_ids, 8000);
  slow["logit_bias"] = {{"1", -100}};
  const double before = server_->Metric("gemma_requests_cancelled_by_disconnect_total");
  for (const bool stream : {false, true}) {
    slow["stream"] = stream;
    const int fd = server_->SendRaw("/v1/completions", slow.dump());
    for (int i = 0; i < 500 && server_->Metric("gemma_requests_running") < 1; ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    if (stream) {
      char buffer[256];
      EXPECT_GT(recv(fd, buffer, sizeof buffer, 0), 0);  // the stream has started
    }
    close(fd);
    server_->ExpectIdle(std::chrono::seconds(10));
  }
  // Counted only when the server noticed the client was gone (not when a request ended).
  EXPECT_GE(server_->Metric("gemma_requests_cancelled_by_disconnect_total"), before + 2);
  EXPECT_LT(server_->Metric("gemma_generated_tokens_total"), 8000);
}

TEST_F(GoldenServer, MetricsAreInPrometheusTextFormat) {
  server_->Post("/v1/completions", Greedy(golden_->prompt_ids, 3));
  const HttpReply m = server_->Get("/metrics");
  ASSERT_EQ(m.status, 200);
  EXPECT_NE(m.headers.find("Content-Type")->second.find("text/plain"), std::string::npos);
  for (const char* name :
       {"gemma_requests_running", "gemma_requests_waiting", "gemma_prompt_tokens_total",
        "gemma_generated_tokens_total", "gemma_prompt_tokens_per_second",
        "gemma_decode_tokens_per_second", "gemma_kv_blocks_used", "gemma_kv_blocks_free",
        "gemma_request_duration_seconds", "gemma_time_to_first_token_seconds"}) {
    EXPECT_NE(m.body.find(std::string("# HELP ") + name + " "), std::string::npos) << name;
    EXPECT_NE(m.body.find(std::string("# TYPE ") + name + " "), std::string::npos) << name;
  }
  EXPECT_NE(m.body.find("gemma_request_duration_seconds_bucket{le=\"+Inf\"}"), std::string::npos);
  EXPECT_GE(server_->Metric("gemma_request_duration_seconds_count"), 1);
  EXPECT_GE(server_->Metric("gemma_generated_tokens_total"), 3);
  EXPECT_GT(server_->Metric("gemma_kv_blocks_free"), 0);
}

}  // namespace
}  // namespace gemma_rt::server::testing
