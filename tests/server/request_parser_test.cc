// The pieces of the server that need no model: request parsing and its limits, the chat
// template, the API key check, log-probabilities, the Prometheus text.
#include "server/request_parser.h"

#include <gtest/gtest.h>

#include <cmath>
#include <functional>

#include "engine/chat.h"
#include "server/api_error.h"
#include "server/api_key.h"
#include "server/chat_prompt.h"
#include "server/json_body.h"
#include "server/logprobs.h"
#include "server/metrics.h"

namespace gemma_rt::server {
namespace {

using Json = nlohmann::json;

int StatusOf(const std::function<void()>& f) {
  try {
    f();
  } catch (const ApiError& e) {
    return e.status();
  }
  return 200;
}

TEST(RequestParser, CompletionFieldsAndDefaults) {
  const RequestLimits limits;
  const CompletionRequest r = ParseCompletionRequest(
      Json::parse(R"({"prompt": "hi", "max_tokens": 5, "temperature": 0.5, "top_p": 0.9,
        "top_k": 40, "min_p": 0.05, "repetition_penalty": 1.1, "presence_penalty": 0.5,
        "frequency_penalty": -0.5, "seed": -3, "stop": "\n", "n": 2, "logprobs": 2,
        "echo": true, "stream": true, "stream_options": {"include_usage": true},
        "user": "u", "logit_bias": {"17": -100, "3": 2.5}, "unknown": {"x": 1}})"),
      limits);
  ASSERT_EQ(r.prompts.size(), 1u);
  EXPECT_EQ(r.prompts[0].text, "hi");
  EXPECT_FALSE(r.prompts[0].is_ids);
  EXPECT_EQ(r.max_tokens, 5u);
  EXPECT_FLOAT_EQ(r.sampling.temperature, 0.5f);
  EXPECT_FLOAT_EQ(r.sampling.top_p, 0.9f);
  EXPECT_EQ(r.sampling.top_k, 40u);
  EXPECT_FLOAT_EQ(r.sampling.min_p, 0.05f);
  EXPECT_FLOAT_EQ(r.sampling.repeat_penalty, 1.1f);
  EXPECT_FLOAT_EQ(r.sampling.presence_penalty, 0.5f);
  EXPECT_FLOAT_EQ(r.sampling.frequency_penalty, -0.5f);
  EXPECT_EQ(r.sampling.seed, static_cast<uint64_t>(-3));
  EXPECT_TRUE(r.seed_given);
  EXPECT_EQ(r.stop, std::vector<std::string>{"\n"});
  EXPECT_EQ(r.n, 2u);
  EXPECT_EQ(r.top_logprobs, 2);
  EXPECT_TRUE(r.echo && r.stream && r.include_usage);
  EXPECT_EQ(r.sampling.logit_bias.size(), 2u);
  const CompletionRequest d =
      ParseCompletionRequest(Json::parse(R"({"prompt": [2, 5, 9]})"), limits);
  EXPECT_TRUE(d.prompts[0].is_ids);
  EXPECT_EQ(d.prompts[0].ids, (std::vector<int32_t>{2, 5, 9}));
  EXPECT_FALSE(d.max_tokens.has_value());
  EXPECT_EQ(d.top_logprobs, -1);
  EXPECT_FALSE(d.seed_given);
  // include_usage only counts with stream.
  EXPECT_FALSE(
      ParseCompletionRequest(
          Json::parse(R"({"prompt": "a", "stream_options": {"include_usage": true}})"), limits)
          .include_usage);
  const CompletionRequest many =
      ParseCompletionRequest(Json::parse(R"({"prompt": ["a", [2, 3], "c"]})"), limits);
  ASSERT_EQ(many.prompts.size(), 3u);
  EXPECT_TRUE(many.prompts[1].is_ids);
}

TEST(RequestParser, EveryBadFieldIs400NamingIt) {
  const RequestLimits limits{.max_choices = 8};
  for (const char* body :
       {R"({})", R"({"prompt": null})", R"({"prompt": {}})", R"({"prompt": [[]]})",
        R"({"prompt": [true]})", R"({"prompt": [1, "a"]})", R"({"prompt": [4294967296]})",
        R"({"prompt": "a", "n": 9})", R"({"prompt": ["a", "b", "c"], "n": 3})",
        R"({"prompt": "a", "max_tokens": 9007199254740993})", R"({"prompt": "a", "stop": [""]})",
        R"({"prompt": "a", "stream_options": 1})", R"({"prompt": "a", "logit_bias": {"-1": 1}})",
        R"({"prompt": "a", "logit_bias": {"99999999999": 1}})",
        R"({"prompt": "a", "logit_bias": []})", R"({"prompt": "a", "model": 5})",
        R"({"prompt": "a", "user": 5})", R"({"prompt": "a", "top_k": 1.5})"}) {
    EXPECT_EQ(StatusOf([&] { ParseCompletionRequest(Json::parse(body), limits); }), 400) << body;
  }
}

TEST(RequestParser, ChatMessagesAndTheirTemplate) {
  const CompletionRequest r =
      ParseChatRequest(Json::parse(R"({"messages": [{"role": "system", "content": "S"},
        {"role": "user", "content": "U1"}, {"role": "assistant", "content": "A1"},
        {"role": "user", "content": [{"type": "text", "text": "U2"}]}],
        "max_tokens": 3, "max_completion_tokens": 4, "logprobs": true, "top_logprobs": 2})"),
                       {});
  EXPECT_EQ(r.max_tokens, 4u);  // max_completion_tokens wins
  EXPECT_EQ(r.top_logprobs, 2);
  // The text the chat command feeds the model turn by turn: first turn, the reply, the next
  // turn (which closes the reply).
  const std::string expected = gemma::ChatTurnText("U1", "S", /*first=*/true) + "A1" +
                               gemma::ChatTurnText("U2", "", /*first=*/false);
  EXPECT_EQ(r.prompts[0].text, expected);
  EXPECT_EQ(ChatPromptText({{"user", "hi"}}), gemma::ChatTurnText("hi", "", true));
  EXPECT_EQ(ChatPromptText({{"developer", "D"}, {"user", "hi"}}),
            gemma::ChatTurnText("hi", "D", true));
  EXPECT_EQ(ParseChatRequest(Json::parse(R"({"messages": [{"role": "user", "content": "x"}],
    "logprobs": true})"),
                             {})
                .top_logprobs,
            0);
}

TEST(JsonBody, RefusesWhatIsNotAJsonObjectClearly) {
  EXPECT_EQ(ParseJsonBody(R"({"a": [[["b"]]]})")["a"][0][0][0], "b");
  EXPECT_NO_THROW(ParseJsonBody("{\"a\": " + std::string(kMaxJsonDepth - 1, '[') + "1" +
                                std::string(kMaxJsonDepth - 1, ']') + "}"));
  for (const std::string& body :
       {std::string(""), std::string("  \n"), std::string("nul"), std::string("[]"),
        std::string("{\"a\": \"\xc3\x28\"}"), std::string("{\"a\": \"\x01\"}"),
        std::string("{\"a\": 1} x"), std::string(1000, '{'),
        "{\"a\":" + std::string(kMaxJsonDepth + 1, '[')}) {
    EXPECT_EQ(StatusOf([&] { ParseJsonBody(body); }), 400) << body.substr(0, 40);
  }
  // Brackets inside strings do not count as nesting.
  EXPECT_NO_THROW(ParseJsonBody("{\"a\": \"" + std::string(1000, '[') + "\\\"\"}"));
}

TEST(ApiKey, ComparesWholeKeysAndParsesBearer) {
  EXPECT_TRUE(ConstantTimeEquals("abc", "abc"));
  EXPECT_FALSE(ConstantTimeEquals("abd", "abc"));
  EXPECT_FALSE(ConstantTimeEquals("ab", "abc"));
  EXPECT_FALSE(ConstantTimeEquals("abcabc", "abc"));  // the secret repeated is not the secret
  EXPECT_FALSE(ConstantTimeEquals("", "abc"));
  EXPECT_FALSE(ConstantTimeEquals("", ""));
  EXPECT_EQ(BearerToken("Bearer k-1"), "k-1");
  EXPECT_EQ(BearerToken("bearer  k-1 "), "k-1");
  EXPECT_EQ(BearerToken("Basic k-1"), "");
  EXPECT_EQ(BearerToken("Bearer"), "");
}

TEST(Logprobs, LogSoftmaxAndTopAlternatives) {
  const std::vector<float> logits = {1.0f, 3.0f, -2.0f, 3.0f, 0.5f};
  long double sum = 0;
  for (const float x : logits) sum += std::exp(static_cast<long double>(x));
  const TokenLogprob lp = LogprobOf(logits, 4, 3);
  EXPECT_NEAR(lp.logprob, 0.5 - std::log(static_cast<double>(sum)), 1e-12);
  ASSERT_EQ(lp.top.size(), 3u);
  EXPECT_EQ(lp.top[0].first, 1);  // tie with 3: lower id first
  EXPECT_EQ(lp.top[1].first, 3);
  EXPECT_EQ(lp.top[2].first, 0);
  EXPECT_EQ(LogprobOf(logits, 0, 0).top.size(), 0u);
  EXPECT_EQ(LogprobOf(logits, 0, 99).top.size(), logits.size());
}

TEST(Metrics, PrometheusTextAndHistogramBuckets) {
  Histogram h({0.1, 1});
  h.Observe(0.0625);
  h.Observe(0.5);
  h.Observe(4);
  PrometheusWriter w;
  w.Gauge("g", "a gauge", 2);
  w.HistogramFamily("h_seconds", "a histogram", h.snapshot());
  w.LabeledCounter("c_total", "by code", "code", {{"200", 3}});
  EXPECT_EQ(w.text(),
            "# HELP g a gauge\n# TYPE g gauge\ng 2\n"
            "# HELP h_seconds a histogram\n# TYPE h_seconds histogram\n"
            "h_seconds_bucket{le=\"0.1\"} 1\nh_seconds_bucket{le=\"1\"} 2\n"
            "h_seconds_bucket{le=\"+Inf\"} 3\nh_seconds_sum 4.5625\n"
            "h_seconds_count 3\n"
            "# HELP c_total by code\n# TYPE c_total counter\nc_total{code=\"200\"} 3\n");
  RateWindow rate(10);
  rate.Add(0, 0);
  rate.Add(2, 50);
  EXPECT_DOUBLE_EQ(rate.rate(), 25);
}

}  // namespace
}  // namespace gemma_rt::server
