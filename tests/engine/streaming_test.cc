// Streaming text and stop strings through the real Gemma tokenizer, on the tiny golden
// model (its 512 ids are the first 512 of Gemma's vocabulary). Needs the tokenizer.json
// that scripts/fetch-tokenizer.sh caches (the test command fetches it); fails without it.
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <string>

#include "engine/generate.h"
#include "model/golden_support.h"
#include "tokenizer/gemma_tokenizer_path.h"  // tests/tokenizer/

namespace gemma {
namespace {

class StreamingTest : public ::testing::Test {
 protected:
  void SetUp() override {
    tokenizer_ = testing::GemmaTokenizer();
    ASSERT_NE(tokenizer_, nullptr);
  }
  GenerateResult Run(const GenerateOptions& options, std::string* streamed) {
    Session session(weights_, pool_, {.context = 128});
    session.Append(golden_.prompt_ids);
    return Generate(session, tokenizer_, options, [&](int32_t, std::string_view text) {
      *streamed += text;
      return true;
    });
  }

  testing::GoldenCase golden_ = testing::LoadGoldenCase("tiny-2b-f32");
  ModelWeights weights_ = LoadSafetensorsModel(golden_.dir);
  ThreadPool pool_{2};
  const Tokenizer* tokenizer_ = nullptr;
};

TEST_F(StreamingTest, StreamedTextIsTheDecodedIds) {
  std::string streamed;
  const GenerateResult r = Run({.max_tokens = 16, .sampling = {.temperature = 0.0f}}, &streamed);
  EXPECT_EQ(r.ids, golden_.greedy_ids);
  EXPECT_EQ(streamed, tokenizer_->Decode(r.ids));
  EXPECT_EQ(r.text, streamed);
}

TEST_F(StreamingTest, StopStringCutsTheTextRightBeforeIt) {
  const std::string full = tokenizer_->Decode(golden_.greedy_ids);
  ASSERT_GE(full.size(), 8u);
  // A stop string from the middle of the greedy text; the output must end right before
  // its first occurrence.
  const std::string stop = full.substr(full.size() / 2, 3);
  const size_t cut = full.find(stop);
  std::string streamed;
  const GenerateResult r =
      Run({.max_tokens = 16, .sampling = {.temperature = 0.0f}, .stop_strings = {stop}}, &streamed);
  EXPECT_EQ(r.stop_reason, StopReason::kStopString);
  EXPECT_EQ(streamed, full.substr(0, cut));
  EXPECT_LT(r.ids.size(), golden_.greedy_ids.size());
}

}  // namespace
}  // namespace gemma
