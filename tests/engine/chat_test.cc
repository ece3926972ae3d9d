// Multi-turn chat with Gemma's real tokenizer on a small random model with the full
// vocabulary (<start_of_turn> = 106, <end_of_turn> = 107). The expected context is built here
// from Gemma's documented template, piece by piece from the special ids, not with
// ChatTurnText.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include "engine/chat.h"
#include "engine/generate.h"
#include "engine/session.h"
#include "model/golden_support.h"
#include "support/real_vocab_model.h"
#include "tokenizer/gemma_tokenizer_path.h"  // tests/tokenizer/

namespace gemma {
namespace {

constexpr int32_t kBos = 2;
constexpr int32_t kStartOfTurn = 106;
constexpr int32_t kEndOfTurn = 107;

GenerateOptions Greedy(size_t max_tokens) {
  return {.max_tokens = max_tokens, .sampling = {.temperature = 0.0f}};
}

float MaxAbsDiff(std::span<const float> a, std::span<const float> b) {
  float m = 0;
  for (size_t i = 0; i < a.size(); ++i) m = std::max(m, std::abs(a[i] - b[i]));
  return m;
}

class ChatTest : public ::testing::Test {
 protected:
  void SetUp() override {
    tokenizer_ = testing::GemmaTokenizer();
    ASSERT_NE(tokenizer_, nullptr);
    ASSERT_FALSE(dir_.empty());
  }
  void Add(std::vector<int32_t>& ids, std::string_view text) const {
    const std::vector<int32_t> piece = tokenizer_->Encode(text, /*add_bos=*/false);
    ids.insert(ids.end(), piece.begin(), piece.end());
  }
  // <start_of_turn>user\n{text}<end_of_turn>\n<start_of_turn>model\n
  void AddUserTurn(std::vector<int32_t>& ids, std::string_view text) const {
    ids.push_back(kStartOfTurn);
    Add(ids, "user\n" + std::string(text));
    ids.push_back(kEndOfTurn);
    Add(ids, "\n");
    ids.push_back(kStartOfTurn);
    Add(ids, "model\n");
  }
  // The model's turn closed: <end_of_turn>\n
  void AddEndOfModelTurn(std::vector<int32_t>& ids) const {
    ids.push_back(kEndOfTurn);
    Add(ids, "\n");
  }

  std::string dir_ = testing::RealVocabModelDir();
  ModelWeights weights_ = dir_.empty() ? ModelWeights{} : LoadSafetensorsModel(dir_);
  ThreadPool pool_{2};
  const Tokenizer* tokenizer_ = nullptr;
};

TEST_F(ChatTest, ThreeTurnsFollowGemmasTemplateAndKeepEveryShownId) {
  Session session(weights_, pool_, {.context = 512});
  Chat chat(session, *tokenizer_, "Answer briefly.");
  const std::vector<std::string> turns = {"Hello there", "What is 2+2?", "Thanks!"};
  std::vector<int32_t> expected = {kBos};
  for (size_t i = 0; i < turns.size(); ++i) {
    if (i > 0) AddEndOfModelTurn(expected);
    AddUserTurn(expected, i == 0 ? "Answer briefly.\n\n" + turns[i] : turns[i]);
    std::vector<int32_t> shown;
    const GenerateResult reply = chat.Reply(turns[i], Greedy(5), [&](int32_t id, std::string_view) {
      if (id != kNoToken) shown.push_back(id);
      return true;
    });
    EXPECT_EQ(reply.stop_reason, StopReason::kMaxTokens) << "turn " << i;
    EXPECT_EQ(reply.ids, shown);
    expected.insert(expected.end(), reply.ids.begin(), reply.ids.end());
    // Every id the user was shown is in the context, the last one included.
    EXPECT_EQ(session.tokens(), expected) << "after turn " << i;
  }
  EXPECT_EQ(chat.turns(), 3u);
}

TEST_F(ChatTest, ContinuedConversationEqualsTheSameConversationPrefilledInOnePiece) {
  Session session(weights_, pool_, {.context = 512});
  Chat chat(session, *tokenizer_, "");
  for (const char* turn : {"One", "Two two", "Three three three"}) {
    chat.Reply(turn, Greedy(6), nullptr);
  }
  chat.Reply("Four", Greedy(0), nullptr);  // the fourth user turn, prefilled, no reply yet
  ASSERT_EQ(session.pending(), 0u);
  const std::vector<float> continued(session.logits().begin(), session.logits().end());

  Session fresh(weights_, pool_, {.context = 512});
  fresh.Append(session.tokens());  // one prefill of the whole conversation
  float max_abs = 0;
  for (float v : fresh.logits()) max_abs = std::max(max_abs, std::abs(v));
  // Decode steps and a batched prefill sum in different orders: float32 rounding only
  // (measured 5.3e-7 of the largest logit).
  EXPECT_LE(MaxAbsDiff(continued, fresh.logits()), 2e-6f * max_abs);
  EXPECT_EQ(chat.Reply("", Greedy(8), nullptr).ids.size(), 8u);
  const std::vector<int32_t> expected_reply = [&] {
    std::vector<int32_t> ids = session.tokens();
    return std::vector<int32_t>(ids.end() - 8, ids.end());
  }();
  // The same eight ids from the one-piece prefill, given the same fifth turn.
  std::vector<int32_t> turn5;
  AddEndOfModelTurn(turn5);
  AddUserTurn(turn5, "");
  fresh.Append(turn5);
  EXPECT_EQ(Generate(fresh, tokenizer_, Greedy(8), nullptr).ids, expected_reply);
}

// The tiny model has no reason to say <end_of_turn>; a logit bias placed between the
// greedy steps' margins makes it the greedy pick at one chosen step k > 0 and at no earlier
// one, so the reply is k ids long and then stops at <end_of_turn>.
TEST_F(ChatTest, ReplyStopsAtEndOfTurnWhichIsNeitherShownNorInTheContext) {
  const std::string user = "Tell me a story";
  std::vector<int32_t> prompt = {kBos};
  AddUserTurn(prompt, user);
  // Greedy steps by hand: the margin of the best id over <end_of_turn> at each step.
  Session probe(weights_, pool_, {.context = 512});
  probe.Append(prompt);
  std::vector<float> margin;
  std::vector<int32_t> greedy;
  for (int step = 0; step < 12; ++step) {
    const std::span<const float> logits = probe.logits();
    const auto best = std::max_element(logits.begin(), logits.end());
    margin.push_back(*best - logits[kEndOfTurn]);
    greedy.push_back(static_cast<int32_t>(best - logits.begin()));
    probe.Append(std::span<const int32_t>(&greedy.back(), 1));
  }
  const size_t k = std::min_element(margin.begin() + 1, margin.end()) - margin.begin();
  const float earlier = *std::min_element(margin.begin(), margin.begin() + k);
  ASSERT_GT(margin[k], 0.0f) << "the model picks <end_of_turn> unaided at step " << k;
  ASSERT_LT(margin[k], earlier) << "no step where a bias makes <end_of_turn> win first";
  const float bias = 0.5f * (margin[k] + earlier);

  GenerateOptions options = Greedy(12);
  options.sampling.logit_bias = {{kEndOfTurn, bias}};
  Session session(weights_, pool_, {.context = 512});
  Chat chat(session, *tokenizer_, "");
  std::vector<int32_t> shown;
  const GenerateResult reply = chat.Reply(user, options, [&](int32_t id, std::string_view) {
    if (id != kNoToken) shown.push_back(id);
    return true;
  });
  EXPECT_EQ(reply.stop_reason, StopReason::kEndOfTurn);
  const std::vector<int32_t> first_k(greedy.begin(), greedy.begin() + k);
  EXPECT_EQ(reply.ids, first_k);
  EXPECT_EQ(shown, first_k);
  std::vector<int32_t> expected = prompt;
  expected.insert(expected.end(), first_k.begin(), first_k.end());
  EXPECT_EQ(session.tokens(), expected);  // <end_of_turn> not added by the reply...

  chat.Reply("Go on", Greedy(0), nullptr);  // ...but by the next turn, as the template has it
  AddEndOfModelTurn(expected);
  AddUserTurn(expected, "Go on");
  EXPECT_EQ(session.tokens(), expected);

  // Outside chat mode the same bias makes <end_of_turn> an ordinary generated id.
  Session plain(weights_, pool_, {.context = 512});
  plain.Append(prompt);
  options.stop_at_end_of_turn = false;
  const GenerateResult r = Generate(plain, tokenizer_, options, nullptr);
  ASSERT_GT(r.ids.size(), k);
  EXPECT_EQ(r.ids[k], kEndOfTurn);
}

}  // namespace
}  // namespace gemma
