// The engine against the golden data: chunked prefill + the generation loop give the
// reference's greedy ids; sessions on one model do not interfere; stop rules and errors.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "base/error.h"
#include "engine/chat.h"
#include "engine/generate.h"
#include "engine/session.h"
#include "engine/stop_strings.h"
#include "model/golden_support.h"

namespace gemma {
namespace {

using testing::GoldenCaseNames;
using testing::LoadGoldenCase;

GenerateOptions Greedy(size_t max_tokens) {
  return {.max_tokens = max_tokens, .sampling = {.temperature = 0.0f}};
}

class EngineGoldenTest : public ::testing::TestWithParam<std::string> {};

// Prefill in awkward chunks (3 tokens per forward call), then the loop: the 16 golden ids.
TEST_P(EngineGoldenTest, ChunkedPrefillAndGreedyLoopGiveTheGoldenIds) {
  const testing::GoldenCase g = LoadGoldenCase(GetParam());
  const ModelWeights weights = LoadSafetensorsModel(g.dir);
  ThreadPool pool(2);
  for (size_t chunk : {size_t{3}, size_t{128}}) {
    Session session(weights, pool, {.context = 512, .prefill_chunk = chunk});
    session.Append(g.prompt_ids);
    std::vector<int32_t> streamed;
    const GenerateResult result =
        Generate(session, nullptr, Greedy(g.greedy_ids.size()), [&](int32_t id, std::string_view) {
          if (id != kNoToken) streamed.push_back(id);
          return true;
        });
    EXPECT_EQ(result.ids, g.greedy_ids) << "prefill chunk " << chunk;
    EXPECT_EQ(streamed, g.greedy_ids);
    EXPECT_EQ(result.stop_reason, StopReason::kMaxTokens);
    // Every generated id is in the context; the last one's forward pass has not run yet.
    EXPECT_EQ(session.position(), g.prompt_ids.size() + g.greedy_ids.size());
    EXPECT_EQ(session.pending(), 1u);
  }
}

INSTANTIATE_TEST_SUITE_P(AllCases, EngineGoldenTest, ::testing::ValuesIn(GoldenCaseNames()),
                         [](const auto& info) {
                           std::string name = info.param;
                           std::replace(name.begin(), name.end(), '-', '_');
                           return name;
                         });

TEST(Sessions, InterleavedSessionsOnOneModelMatchSeparateRuns) {
  const testing::GoldenCase a = LoadGoldenCase("tiny-2b-f32");
  const testing::GoldenCase b = LoadGoldenCase("tiny-2b-long");  // same shapes, other weights
  const ModelWeights weights = LoadSafetensorsModel(a.dir);
  ThreadPool pool(2);
  // Separate runs: the golden prompt of `a`, and a prompt taken from `b` on the same model.
  const std::vector<int32_t> other_prompt(b.prompt_ids.begin(), b.prompt_ids.begin() + 20);
  auto run_alone = [&](const std::vector<int32_t>& prompt) {
    Session s(weights, pool, {.context = 64});
    s.Append(prompt);
    return Generate(s, nullptr, Greedy(16), nullptr).ids;
  };
  const std::vector<int32_t> alone_a = run_alone(a.prompt_ids);
  const std::vector<int32_t> alone_b = run_alone(other_prompt);
  EXPECT_EQ(alone_a, a.greedy_ids);
  EXPECT_NE(alone_a, alone_b);

  // Interleaved: one token of each in turn.
  Session sa(weights, pool, {.context = 64});
  Session sb(weights, pool, {.context = 64});
  sa.Append(a.prompt_ids);
  sb.Append(other_prompt);
  std::vector<int32_t> ids_a, ids_b;
  for (int step = 0; step < 16; ++step) {
    // Each call continues the context the previous one left (its id included).
    ids_a.push_back(Generate(sa, nullptr, Greedy(1), nullptr).ids.at(0));
    ids_b.push_back(Generate(sb, nullptr, Greedy(1), nullptr).ids.at(0));
  }
  EXPECT_EQ(ids_a, alone_a);
  EXPECT_EQ(ids_b, alone_b);
}

// Whatever stopped a generation, the next one continues from every id shown so far: two
// generations of 5 and 11 ids give the golden 16 (the last id of each stop is in the
// context, its forward pass run by the next call).
TEST(Continuation, GeneratingAgainAfterAnyStopContinuesFromEveryShownId) {
  const testing::GoldenCase g = LoadGoldenCase("tiny-2b-long");
  const ModelWeights weights = LoadSafetensorsModel(g.dir);
  ThreadPool pool(2);
  Session by_max(weights, pool, {.context = 512});
  by_max.Append(g.prompt_ids);
  std::vector<int32_t> ids = Generate(by_max, nullptr, Greedy(5), nullptr).ids;
  EXPECT_EQ(by_max.position(), g.prompt_ids.size() + 5);
  const std::vector<int32_t> rest = Generate(by_max, nullptr, Greedy(11), nullptr).ids;
  ids.insert(ids.end(), rest.begin(), rest.end());
  EXPECT_EQ(ids, g.greedy_ids);

  Session by_callback(weights, pool, {.context = 512});
  by_callback.Append(g.prompt_ids);
  int calls = 0;
  const GenerateResult first = Generate(by_callback, nullptr, Greedy(16),
                                        [&](int32_t, std::string_view) { return ++calls < 7; });
  EXPECT_EQ(first.stop_reason, StopReason::kCallback);
  ids = first.ids;
  const std::vector<int32_t> more = Generate(by_callback, nullptr, Greedy(9), nullptr).ids;
  ids.insert(ids.end(), more.begin(), more.end());
  EXPECT_EQ(ids, g.greedy_ids);

  // A prompt appended after a stop follows the last shown id (one prefill runs both).
  Session appended(weights, pool, {.context = 512});
  appended.Append(g.prompt_ids);
  const std::vector<int32_t> head = Generate(appended, nullptr, Greedy(4), nullptr).ids;
  const std::vector<int32_t> next = {g.greedy_ids[4], g.greedy_ids[5]};
  appended.Append(next);
  std::vector<int32_t> all = head;
  all.insert(all.end(), next.begin(), next.end());
  const std::vector<int32_t> tail = Generate(appended, nullptr, Greedy(10), nullptr).ids;
  all.insert(all.end(), tail.begin(), tail.end());
  EXPECT_EQ(all, g.greedy_ids);
}

TEST(StopRules, EndOfSequenceStopsAndIsNotEmitted) {
  const testing::GoldenCase g = LoadGoldenCase("tiny-2b-f32");
  ModelWeights weights = LoadSafetensorsModel(g.dir);
  // Pretend the golden run's fourth id is EOS: generation must stop right before it.
  weights.config.eos_token_id = g.greedy_ids[3];
  ThreadPool pool(1);
  Session session(weights, pool, {.context = 64});
  session.Append(g.prompt_ids);
  const GenerateResult result = Generate(session, nullptr, Greedy(16), nullptr);
  EXPECT_EQ(result.stop_reason, StopReason::kEndOfSequence);
  EXPECT_EQ(result.ids, std::vector<int32_t>(g.greedy_ids.begin(), g.greedy_ids.begin() + 3));
}

TEST(StopRules, CallbackCanStopAndMaxTokensCaps) {
  const testing::GoldenCase g = LoadGoldenCase("tiny-2b-f32");
  const ModelWeights weights = LoadSafetensorsModel(g.dir);
  ThreadPool pool(1);
  Session session(weights, pool, {.context = 64});
  session.Append(g.prompt_ids);
  int calls = 0;
  GenerateResult result = Generate(session, nullptr, Greedy(16),
                                   [&](int32_t, std::string_view) { return ++calls < 5; });
  EXPECT_EQ(result.stop_reason, StopReason::kCallback);
  EXPECT_EQ(result.ids.size(), 5u);

  Session other(weights, pool, {.context = 64});
  other.Append(g.prompt_ids);
  result = Generate(other, nullptr, Greedy(7), nullptr);
  EXPECT_EQ(result.stop_reason, StopReason::kMaxTokens);
  EXPECT_EQ(result.ids, std::vector<int32_t>(g.greedy_ids.begin(), g.greedy_ids.begin() + 7));
}

TEST(StopRules, ContextFullStopsGenerationAndRejectsLongPrompts) {
  const testing::GoldenCase g = LoadGoldenCase("tiny-2b-f32");  // 10-token prompt
  const ModelWeights weights = LoadSafetensorsModel(g.dir);
  ThreadPool pool(1);
  Session session(weights, pool, {.context = 13});
  session.Append(g.prompt_ids);
  const GenerateResult result = Generate(session, nullptr, Greedy(16), nullptr);
  EXPECT_EQ(result.stop_reason, StopReason::kContextFull);
  // Ids at positions 10, 11, 12: all in the context; a fourth would have no position.
  EXPECT_EQ(result.ids, std::vector<int32_t>(g.greedy_ids.begin(), g.greedy_ids.begin() + 3));
  EXPECT_EQ(session.position(), 13u);
  EXPECT_EQ(Generate(session, nullptr, Greedy(16), nullptr).stop_reason, StopReason::kContextFull);

  Session small(weights, pool, {.context = 9});
  try {
    small.Append(g.prompt_ids);
    FAIL() << "a 10-token prompt fit a 9-position context";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kOutOfRange);
  }
  EXPECT_EQ(small.position(), 0u);
  const std::vector<int32_t> bad = {2, 7, 100000};
  EXPECT_THROW(small.Append(bad), Error);
  EXPECT_EQ(small.position(), 0u);
  EXPECT_THROW(Session(weights, pool, {.context = 8193}), Error);
}

TEST(StopStrings, HoldsBackPossibleStartsAndCutsAtTheMatch) {
  StopStringMatcher m({"END", "\n\n"});
  EXPECT_EQ(m.Push("Hello E").text, "Hello ");
  EXPECT_EQ(m.Push("N").text, "");
  const StopStringMatcher::Result r = m.Push("Dless");
  EXPECT_TRUE(r.stopped);
  EXPECT_EQ(r.text, "");  // "EN" was held back, and "END" is never emitted
}

TEST(StopStrings, ReleasesHeldTextWhenItStopsMatching) {
  StopStringMatcher m({"END"});
  EXPECT_EQ(m.Push("E").text, "");
  EXPECT_EQ(m.Push("X").text, "EX");
  EXPECT_EQ(m.Push("ab\nE").text, "ab\n");
  EXPECT_EQ(m.Flush(), "E");
  StopStringMatcher none({});
  EXPECT_EQ(none.Push("anything").text, "anything");
}

TEST(ChatTemplate, FirstTurnCarriesTheSystemTextLaterTurnsCloseTheReply) {
  EXPECT_EQ(ChatTurnText("Hi", "", true),
            "<start_of_turn>user\nHi<end_of_turn>\n<start_of_turn>model\n");
  EXPECT_EQ(ChatTurnText("Hi", "Be brief.", true),
            "<start_of_turn>user\nBe brief.\n\nHi<end_of_turn>\n<start_of_turn>model\n");
  EXPECT_EQ(ChatTurnText("More", "Be brief.", false),
            "<end_of_turn>\n<start_of_turn>user\nMore<end_of_turn>\n<start_of_turn>model\n");
}

}  // namespace
}  // namespace gemma
