// The server on a full-vocabulary model with Gemma's real tokenizer: text prompts and chat
// give what a Session generates (the chat template as the `chat` command builds it),
// streamed text equals whole text, stop strings, logprobs shapes, /tokenize and /detokenize.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "server/test_server.h"
#include "support/real_vocab_model.h"

namespace gemma_rt::server::testing {
namespace {

const GenerateOptions kGreedy12{.max_tokens = 12, .sampling = {.temperature = 0.0f}};

class TextServer : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    const std::string dir = gemma::testing::RealVocabModelDir();
    if (!dir.empty()) server_ = new TestServer(dir, {.parallel = 3, .max_queue = 8});
  }
  static void TearDownTestSuite() { delete server_; }
  void SetUp() override { ASSERT_NE(server_, nullptr) << "no real-vocabulary model"; }
  static TestServer* server_;
};
TestServer* TextServer::server_ = nullptr;

// Everything streamed: the concatenated text (completions' "text" or chat's delta content),
// the finish reason, and the role of chat's first chunk.
struct Streamed {
  std::string text;
  std::string finish;
  std::string role;
  size_t chunks = 0;
};
Streamed Collect(const std::string& body, bool chat) {
  Streamed s;
  for (const std::string& e : TestServer::Events(body)) {
    if (e == "[DONE]") break;
    const Json j = Json::parse(e);
    if (j["choices"].empty()) continue;
    const Json& c = j["choices"][0];
    ++s.chunks;
    if (chat) {
      if (c["delta"].contains("role")) s.role = c["delta"]["role"];
      if (c["delta"].contains("content")) s.text += c["delta"]["content"].get<std::string>();
    } else {
      s.text += c["text"].get<std::string>();
    }
    if (!c["finish_reason"].is_null()) s.finish = c["finish_reason"];
  }
  return s;
}

TEST_F(TextServer, TextCompletionEqualsTheSessionsGreedyText) {
  const std::string prompt = "The capital of France is";
  Session session(server_->model());
  session.PrefillText(prompt);
  const GenerateResult alone = session.Generate(kGreedy12);
  const Json body = {
      {"prompt", prompt}, {"max_tokens", 12}, {"temperature", 0}, {"return_token_ids", true}};
  const HttpReply r = server_->Post("/v1/completions", body);
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.json["choices"][0]["text"], alone.text);
  EXPECT_EQ(r.json["choices"][0]["token_ids"].get<std::vector<int32_t>>(), alone.ids);
  EXPECT_EQ(r.json["usage"]["prompt_tokens"], server_->model().Tokenize(prompt).size());
  Json stream = body;
  stream["stream"] = true;
  const Streamed s = Collect(server_->Post("/v1/completions", stream).body, false);
  EXPECT_EQ(s.text, alone.text);
  EXPECT_EQ(s.finish, "length");
  // echo puts the prompt first.
  Json echo = body;
  echo["echo"] = true;
  EXPECT_EQ(server_->Post("/v1/completions", echo).json["choices"][0]["text"], prompt + alone.text);
}

TEST_F(TextServer, ChatFollowsTheChatCommandsTemplate) {
  const std::string system = "You answer briefly.", user = "Name a river.";
  Session session(server_->model());
  GenerateOptions options = kGreedy12;
  options.chat = true;
  const GenerateResult alone = session.ChatTurn(user, options, {}, system);
  const Json body = {
      {"messages",
       {{{"role", "system"}, {"content", system}}, {{"role", "user"}, {"content", user}}}},
      {"max_completion_tokens", 12},
      {"temperature", 0},
      {"return_token_ids", true}};
  const HttpReply r = server_->Post("/v1/chat/completions", body);
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.json["object"], "chat.completion");
  EXPECT_EQ(r.json["id"].get<std::string>().rfind("chatcmpl-", 0), 0u);
  const Json& message = r.json["choices"][0]["message"];
  EXPECT_EQ(message["role"], "assistant");
  EXPECT_EQ(message["content"], alone.text);
  EXPECT_EQ(r.json["choices"][0]["token_ids"].get<std::vector<int32_t>>(), alone.ids);
  const std::string templated =
      "<start_of_turn>user\n" + system + "\n\n" + user + "<end_of_turn>\n<start_of_turn>model\n";
  EXPECT_EQ(r.json["usage"]["prompt_tokens"], server_->model().Tokenize(templated).size());
  // Streamed: the role first, the same text, one finish_reason.
  Json stream = body;
  stream["stream"] = true;
  const Streamed s = Collect(server_->Post("/v1/chat/completions", stream).body, true);
  EXPECT_EQ(s.role, "assistant");
  EXPECT_EQ(s.text, alone.text);
  EXPECT_EQ(s.finish, alone.stop_reason == StopReason::kMaxTokens ? "length" : "stop");
  // max_tokens is an alias; content as text parts is the same message.
  Json parts = body;
  parts.erase("max_completion_tokens");
  parts["max_tokens"] = 12;
  parts["messages"][1]["content"] = {{{"type", "text"}, {"text", "Name a "}},
                                     {{"type", "text"}, {"text", "river."}}};
  EXPECT_EQ(server_->Post("/v1/chat/completions", parts).json["choices"][0]["message"]["content"],
            alone.text);
}

TEST_F(TextServer, ChatTurnsInAnotherOrderAre400) {
  const auto post = [](const Json& messages) {
    return server_->Post("/v1/chat/completions", Json{{"messages", messages}, {"max_tokens", 2}});
  };
  const Json user = {{"role", "user"}, {"content", "hi"}};
  const Json assistant = {{"role", "assistant"}, {"content", "hello"}};
  const Json system = {{"role", "system"}, {"content", "be nice"}};
  EXPECT_EQ(post(Json::array({user, assistant, user})).status, 200);
  for (const Json& bad :
       {Json::array(), Json::array({assistant, user}), Json::array({user, system}),
        Json::array({user, user}), Json::array({user, assistant}), Json::array({system}),
        Json::array({system, system, user}), Json::array({{{"role", "tool"}, {"content", "x"}}}),
        Json::array({{{"role", "user"}}}), Json::array({{{"role", "user"}, {"content", 5}}})}) {
    const HttpReply r = post(bad);
    EXPECT_EQ(r.status, 400) << bad.dump() << " -> " << r.body;
    EXPECT_EQ(r.json["error"]["type"], "invalid_request_error") << bad.dump();
  }
  EXPECT_NE(post(Json::array({user, system}))
                .json["error"]["message"]
                .get<std::string>()
                .find("system message may only come first"),
            std::string::npos);
  const HttpReply top = server_->Post(
      "/v1/chat/completions", Json{{"messages", {user}}, {"top_logprobs", 2}, {"max_tokens", 2}});
  EXPECT_EQ(top.status, 400);
  EXPECT_EQ(top.json["error"]["param"], "top_logprobs");
}

TEST_F(TextServer, StopStringsEndTheTextWithoutShowingIt) {
  const std::string prompt = "1, 2, 3,";
  const Json body = {{"prompt", prompt}, {"max_tokens", 12}, {"temperature", 0}};
  const std::string full = server_->Post("/v1/completions", body).json["choices"][0]["text"];
  ASSERT_GE(full.size(), 4u);
  const std::string stop = full.substr(2, 2);
  Json stopped = body;
  stopped["stop"] = {stop};
  const HttpReply r = server_->Post("/v1/completions", stopped);
  const std::string text = r.json["choices"][0]["text"];
  EXPECT_EQ(text, full.substr(0, full.find(stop)));
  EXPECT_EQ(r.json["choices"][0]["finish_reason"], "stop");
  stopped["stream"] = true;
  EXPECT_EQ(Collect(server_->Post("/v1/completions", stopped).body, false).text, text);
}

TEST_F(TextServer, ChatLogprobsHaveOpenAIsShape) {
  const Json body = {{"messages", {{{"role", "user"}, {"content", "Hi"}}}},
                     {"max_tokens", 4},
                     {"temperature", 0},
                     {"logprobs", true},
                     {"top_logprobs", 3}};
  const HttpReply r = server_->Post("/v1/chat/completions", body);
  ASSERT_EQ(r.status, 200) << r.body;
  const Json& content = r.json["choices"][0]["logprobs"]["content"];
  ASSERT_EQ(content.size(), r.json["usage"]["completion_tokens"]);
  for (const Json& t : content) {
    ASSERT_EQ(t["top_logprobs"].size(), 3u);
    EXPECT_LE(t["logprob"].get<double>(), 0.0);
    // Greedy: the chosen token is the most likely one.
    EXPECT_EQ(t["top_logprobs"][0]["token"], t["token"]);
    EXPECT_DOUBLE_EQ(t["top_logprobs"][0]["logprob"].get<double>(), t["logprob"].get<double>());
    EXPECT_GE(t["top_logprobs"][0]["logprob"].get<double>(),
              t["top_logprobs"][1]["logprob"].get<double>());
    EXPECT_TRUE(t["bytes"].is_array());
  }
  Json stream = body;
  stream["stream"] = true;
  size_t streamed = 0;
  for (const std::string& e :
       TestServer::Events(server_->Post("/v1/chat/completions", stream).body)) {
    if (e == "[DONE]") break;
    const Json c = Json::parse(e)["choices"][0];
    if (!c["logprobs"].is_null()) streamed += c["logprobs"]["content"].size();
  }
  EXPECT_EQ(streamed, content.size());
}

TEST_F(TextServer, TokenizeAndDetokenize) {
  const std::string text = "Hello, world! Ünïcödé";
  const HttpReply t = server_->Post("/tokenize", Json{{"content", text}});
  ASSERT_EQ(t.status, 200) << t.body;
  const std::vector<int32_t> ids = t.json["tokens"];
  EXPECT_EQ(ids, server_->model().Tokenize(text, /*add_bos=*/false));
  const HttpReply with_bos =
      server_->Post("/tokenize", Json{{"prompt", text}, {"add_special", true}});
  EXPECT_EQ(with_bos.json["tokens"][0], 2);
  const HttpReply d = server_->Post("/detokenize", Json{{"tokens", ids}});
  ASSERT_EQ(d.status, 200);
  EXPECT_EQ(d.json["content"], text);
  EXPECT_EQ(server_->Post("/tokenize", Json{{"content", 5}}).status, 400);
  EXPECT_EQ(server_->Post("/tokenize", Json::object()).status, 400);
  EXPECT_EQ(server_->Post("/detokenize", Json{{"tokens", {1, 256000}}}).status, 400);
  EXPECT_EQ(server_->Post("/detokenize", Json{{"tokens", "abc"}}).status, 400);
  server_->ExpectIdle();
}

}  // namespace
}  // namespace gemma_rt::server::testing
