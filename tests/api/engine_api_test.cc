// The public Engine: golden greedy ids through prompt_ids, text prompts streamed through a
// handle on a full-vocabulary model with Gemma's tokenizer (the same text a Session
// generates), cancellation through the handle, requests from several threads while a
// Session of the same model runs beside the engine.
#include "gemma_rt/engine.h"

#include <gtest/gtest.h>

#include <string>
#include <thread>
#include <vector>

#include "model/golden_support.h"
#include "support/real_vocab_model.h"

namespace {

using gemma::testing::LoadGoldenCase;

const gemma_rt::GenerateOptions kGreedy16{.max_tokens = 16, .sampling = {.temperature = 0.0f}};

TEST(EngineApi, GoldenGreedyIdsForSeveralRequestsAtOnce) {
  const auto g = LoadGoldenCase("tiny-7b-f32");
  const gemma_rt::Model model = gemma_rt::Model::Load({.path = g.dir, .threads = 2});
  gemma_rt::Engine engine(model, {.max_sequences = 4});
  std::vector<gemma_rt::RequestHandle> handles;
  for (int i = 0; i < 6; ++i) {
    handles.push_back(engine.Submit({.prompt_ids = g.prompt_ids, .options = kGreedy16}));
  }
  for (gemma_rt::RequestHandle& h : handles) {
    const gemma_rt::RequestResult r = h.Wait();
    EXPECT_EQ(r.ids, g.greedy_ids);
    EXPECT_EQ(r.stop_reason, gemma_rt::StopReason::kMaxTokens);
    EXPECT_EQ(r.prompt_tokens, g.prompt_ids.size());
    EXPECT_TRUE(r.error.empty());
  }
  EXPECT_EQ(engine.stats().kv_blocks_used, 0u);
}

TEST(EngineApi, TextPromptsStreamThroughTheHandleAsASessionGeneratesThem) {
  const std::string dir = gemma::testing::RealVocabModelDir();
  ASSERT_FALSE(dir.empty());
  const gemma_rt::Model model = gemma_rt::Model::Load({.path = dir, .threads = 2});
  const std::vector<std::string> prompts = {"Write me a poem about Machine Learning.",
                                            "The capital of France is", "1, 2, 3,"};
  gemma_rt::Engine engine(model, {.max_sequences = 3});
  std::vector<gemma_rt::RequestHandle> handles;
  for (const std::string& p : prompts) {
    handles.push_back(engine.Submit({.prompt = p, .options = kGreedy16}));
  }
  for (size_t i = 0; i < prompts.size(); ++i) {
    std::string streamed;
    for (gemma_rt::Piece piece; handles[i].Next(&piece);) streamed += piece.text;
    const gemma_rt::RequestResult r = handles[i].Wait();
    EXPECT_EQ(streamed, r.text);
    gemma_rt::Session session(model);
    session.PrefillText(prompts[i]);
    const gemma_rt::GenerateResult alone = session.Generate(kGreedy16);
    EXPECT_EQ(r.ids, alone.ids) << prompts[i];
    EXPECT_EQ(r.text, alone.text) << prompts[i];
  }
}

TEST(EngineApi, CancelThroughTheHandleAndBadRequests) {
  const auto g = LoadGoldenCase("tiny-2b-f32");
  const gemma_rt::Model model = gemma_rt::Model::Load({.path = g.dir, .threads = 1});
  gemma_rt::Engine engine(model);
  gemma_rt::RequestHandle h =
      engine.Submit({.prompt_ids = g.prompt_ids,
                     .options = {.max_tokens = 100000,
                                 .sampling = {.temperature = 0.0f, .logit_bias = {{1, -100.0f}}}}});
  gemma_rt::Piece first;
  ASSERT_TRUE(h.Next(&first));
  h.Cancel();
  const gemma_rt::RequestResult r = h.Wait();
  EXPECT_EQ(r.stop_reason, gemma_rt::StopReason::kCancelled);
  EXPECT_LT(r.ids.size(), 100000u);
  EXPECT_THROW(engine.Submit({.prompt = "text, but no tokenizer"}), std::runtime_error);
  EXPECT_THROW(engine.Submit({.prompt_ids = {2, 9999}}), std::runtime_error);
  EXPECT_THROW(gemma_rt::Engine(model, {.max_prompt_logit_rows = 0}), std::runtime_error);
}

// Threads submit while a Session of the same model generates beside the engine (their
// forward passes share the model's thread pool): every result is the one it gets alone.
TEST(EngineApi, ThreadsAndASessionShareTheModel) {
  const auto g = LoadGoldenCase("tiny-2b-long");
  const gemma_rt::Model model = gemma_rt::Model::Load({.path = g.dir, .threads = 2});
  gemma_rt::Engine engine(model, {.max_sequences = 3, .step_tokens = 64});
  std::vector<std::vector<int32_t>> results(6);
  std::vector<std::thread> clients;
  for (size_t t = 0; t < results.size(); ++t) {
    clients.emplace_back([&, t] {
      gemma_rt::RequestHandle h =
          engine.Submit({.prompt_ids = g.prompt_ids,
                         .options = {.max_tokens = 16, .sampling = {.temperature = 0.0f}}});
      results[t] = h.Wait().ids;
    });
  }
  gemma_rt::Session session(model, {.context = 512});
  session.Prefill(g.prompt_ids);
  const std::vector<int32_t> from_session = session.Generate(kGreedy16).ids;
  for (std::thread& c : clients) c.join();
  EXPECT_EQ(from_session, g.greedy_ids);
  for (const auto& ids : results) EXPECT_EQ(ids, g.greedy_ids);
}

}  // namespace
