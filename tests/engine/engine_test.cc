// The batched engine on the golden models: every case's golden logits and greedy ids with
// 1, 3 and 8 sequences in flight (different prompt lengths, different start times); each
// sequence's ids and logits bit for bit the same alone and in any batch, greedy and seeded;
// a full KV pool (requests wait, nothing lost), cancellation in prefill and in decode (every
// block back), prefix reuse and preemption (the same numbers as computing everything), and
// requests submitted from several threads while the engine runs.
#include "engine/engine.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <map>
#include <memory>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "base/error.h"
#include "model/forward.h"
#include "model/golden_support.h"
#include "model/kv_cache.h"

namespace gemma {
namespace {

using testing::GoldenCase;
using testing::LoadGoldenCase;

// What one request produced: its ids, every logits row its ids were picked from, its end.
struct Outcome {
  std::vector<int32_t> ids;
  std::vector<std::vector<float>> logits;
  EngineResult result;
  bool done = false;
};

// Submits a request that records into `out`.
uint64_t SubmitRecorded(Engine& engine, std::vector<int32_t> prompt, GenerateOptions options,
                        Outcome& out) {
  return engine.Submit({.prompt = std::move(prompt),
                        .options = std::move(options),
                        .on_token =
                            [&out](int32_t id, std::string_view) {
                              if (id != kNoToken) out.ids.push_back(id);
                              return true;
                            },
                        .on_done =
                            [&out](const EngineResult& r) {
                              out.result = r;
                              out.done = true;
                            },
                        .on_logits =
                            [&out](std::span<const float> row) {
                              out.logits.emplace_back(row.begin(), row.end());
                            }});
}

GenerateOptions Greedy(size_t n) { return {.max_tokens = n, .sampling = {.temperature = 0.0f}}; }
GenerateOptions Seeded(size_t n, uint64_t seed) {
  return {.max_tokens = n, .sampling = {.temperature = 0.9f, .top_k = 40, .seed = seed}};
}
// The random tiny models say EOS (id 1) now and then; tests that need long generations ban it.
GenerateOptions NoEos(GenerateOptions o) {
  o.sampling.logit_bias = {{1, -100.0f}};
  return o;
}

std::vector<int32_t> RandomPrompt(size_t n, std::mt19937& rng, int32_t vocab) {
  std::vector<int32_t> p = {2};
  while (p.size() < n) p.push_back(static_cast<int32_t>(3 + rng() % (vocab - 3)));
  return p;
}

float MaxAbsDiff(const std::vector<float>& a, const std::vector<float>& b) {
  float m = 0;
  for (size_t i = 0; i < a.size(); ++i) m = std::max(m, std::abs(a[i] - b[i]));
  return m;
}

class EngineGoldenTest : public ::testing::TestWithParam<std::string> {};

// The golden prompt in flight with others, submitted at different steps: its 16 greedy ids
// and, for each, the golden logits row it was picked from.
TEST_P(EngineGoldenTest, GoldenIdsAndLogitsWithOneThreeAndEightSequences) {
  const GoldenCase g = LoadGoldenCase(GetParam());
  const ModelWeights weights = LoadSafetensorsModel(g.dir);
  ThreadPool pool(2);
  std::mt19937 rng(3);
  for (size_t in_flight : {size_t{1}, size_t{3}, size_t{8}}) {
    Engine engine(weights, nullptr, pool, {.max_sequences = in_flight, .step_tokens = 64});
    std::vector<std::unique_ptr<Outcome>> outcomes;
    std::vector<bool> golden;
    for (size_t i = 0; i < in_flight; ++i) {
      outcomes.push_back(std::make_unique<Outcome>());
      // Every third request is the golden prompt; the others random, of other lengths.
      const bool is_golden = i % 3 == 0;
      golden.push_back(is_golden);
      SubmitRecorded(engine, is_golden ? g.prompt_ids : RandomPrompt(3 + 17 * i, rng, 512),
                     Greedy(16), *outcomes.back());
      if (i % 2 == 1) engine.Step();  // later requests join a running batch
    }
    engine.RunUntilIdle();
    for (size_t i = 0; i < in_flight; ++i) {
      const Outcome& o = *outcomes[i];
      ASSERT_TRUE(o.done);
      if (!golden[i]) continue;
      EXPECT_EQ(o.ids, g.greedy_ids) << in_flight << " in flight, request " << i;
      ASSERT_EQ(o.logits.size(), g.greedy_logits.size());
      for (size_t k = 0; k < o.logits.size(); ++k) {
        EXPECT_LE(MaxAbsDiff(o.logits[k], g.greedy_logits[k]),
                  testing::kGoldenLogitsTolerance * g.max_abs_logit)
            << in_flight << " in flight, request " << i << ", step " << k;
      }
    }
  }
}

// The golden prompt and greedy ids as one prompt (teacher forcing): its last 16 rows are the
// golden greedy rows, whatever ids a perturbed cache would pick.
std::vector<std::vector<float>> TeacherForcedGreedyRows(const ModelWeights& weights,
                                                        const GoldenCase& g, DType kv_dtype) {
  ThreadPool pool(2);
  Engine engine(weights, nullptr, pool, {.step_tokens = 64, .kv_dtype = kv_dtype});
  std::vector<int32_t> prompt = g.prompt_ids;
  prompt.insert(prompt.end(), g.greedy_ids.begin(), g.greedy_ids.end() - 1);
  std::vector<std::vector<float>> rows;
  engine.Submit({.prompt = prompt,
                 .options = Greedy(1),
                 .prompt_logits_from = g.prompt_ids.size() - 1,
                 .on_prompt_logits = [&](size_t, std::span<const float> row) {
                   rows.emplace_back(row.begin(), row.end());
                 }});
  engine.RunUntilIdle();
  return rows;
}

// bf16 KV storage moves the logits by what rounding keys and values costs: within
// kBf16KvLogitsTolerance of the golden logits, and not bit-identical to float32 storage
// (the cache really is bf16). Prints the measured distance for docs/architecture.md.
TEST_P(EngineGoldenTest, Bf16KvCacheStaysWithinItsBoundOfTheGoldenLogits) {
  const GoldenCase g = LoadGoldenCase(GetParam());
  const ModelWeights weights = LoadSafetensorsModel(g.dir);
  const auto f32 = TeacherForcedGreedyRows(weights, g, DType::kF32);
  const auto bf16 = TeacherForcedGreedyRows(weights, g, DType::kBF16);
  ASSERT_EQ(f32.size(), g.greedy_logits.size());
  ASSERT_EQ(bf16.size(), g.greedy_logits.size());
  float f32_vs_golden = 0, bf16_vs_golden = 0, bf16_vs_f32 = 0;
  for (size_t k = 0; k < bf16.size(); ++k) {
    f32_vs_golden = std::max(f32_vs_golden, MaxAbsDiff(f32[k], g.greedy_logits[k]));
    bf16_vs_golden = std::max(bf16_vs_golden, MaxAbsDiff(bf16[k], g.greedy_logits[k]));
    bf16_vs_f32 = std::max(bf16_vs_f32, MaxAbsDiff(bf16[k], f32[k]));
  }
  std::printf(
      "%s: max |logit diff| / max |logit|: f32 KV vs golden %.2e, bf16 KV vs golden %.2e, "
      "bf16 KV vs f32 KV %.2e\n",
      GetParam().c_str(), f32_vs_golden / g.max_abs_logit, bf16_vs_golden / g.max_abs_logit,
      bf16_vs_f32 / g.max_abs_logit);
  EXPECT_LE(f32_vs_golden, testing::kGoldenLogitsTolerance * g.max_abs_logit);
  EXPECT_LE(bf16_vs_golden, testing::kBf16KvLogitsTolerance * g.max_abs_logit);
  EXPECT_GT(bf16_vs_f32, 0.0f) << "the bf16 cache gave the float32 cache's logits";
}

INSTANTIATE_TEST_SUITE_P(AllCases, EngineGoldenTest,
                         ::testing::ValuesIn(testing::GoldenCaseNames()), [](const auto& info) {
                           std::string name = info.param;
                           std::replace(name.begin(), name.end(), '-', '_');
                           return name;
                         });

class EngineTest : public ::testing::Test {
 protected:
  GoldenCase g_ = LoadGoldenCase("tiny-2b-long");
  ModelWeights weights_ = LoadSafetensorsModel(g_.dir);
  ThreadPool pool_{2};

  // Each request run alone in a fresh engine.
  std::vector<Outcome> RunAlone(const std::vector<std::vector<int32_t>>& prompts,
                                const std::vector<GenerateOptions>& options) {
    std::vector<Outcome> out(prompts.size());
    for (size_t i = 0; i < prompts.size(); ++i) {
      Engine engine(weights_, nullptr, pool_, {.max_sequences = 1});
      SubmitRecorded(engine, prompts[i], options[i], out[i]);
      engine.RunUntilIdle();
    }
    return out;
  }
  // All requests in one engine.
  std::vector<Outcome> RunTogether(const std::vector<std::vector<int32_t>>& prompts,
                                   const std::vector<GenerateOptions>& options,
                                   const EngineOptions& engine_options,
                                   EngineStats* stats = nullptr) {
    std::vector<Outcome> out(prompts.size());
    Engine engine(weights_, nullptr, pool_, engine_options);
    for (size_t i = 0; i < prompts.size(); ++i)
      SubmitRecorded(engine, prompts[i], options[i], out[i]);
    engine.RunUntilIdle();
    if (stats) *stats = engine.stats();
    EXPECT_EQ(engine.stats().kv_blocks_used, 0u) << "every block back after the run";
    return out;
  }
  void ExpectSame(const std::vector<Outcome>& a, const std::vector<Outcome>& b) {
    ASSERT_EQ(a.size(), b.size());
    for (size_t i = 0; i < a.size(); ++i) {
      EXPECT_TRUE(a[i].done && b[i].done);
      EXPECT_EQ(a[i].ids, b[i].ids) << "request " << i;
      EXPECT_TRUE(a[i].logits == b[i].logits) << "request " << i << ": logits differ";
      EXPECT_EQ(a[i].result.generation.stop_reason, b[i].result.generation.stop_reason);
    }
  }
};

TEST_F(EngineTest, EachSequenceIsBitIdenticalAloneAndInAnyBatch) {
  std::mt19937 rng(11);
  std::vector<std::vector<int32_t>> prompts;
  std::vector<GenerateOptions> options;
  for (size_t i = 0; i < 10; ++i) {
    prompts.push_back(RandomPrompt(1 + rng() % 150, rng, 512));
    options.push_back(i % 2 == 0 ? Greedy(12 + i) : Seeded(12 + i, 100 + i));
  }
  const std::vector<Outcome> alone = RunAlone(prompts, options);
  for (size_t max_sequences : {size_t{2}, size_t{4}, size_t{10}}) {
    for (size_t step_tokens : {size_t{16}, size_t{97}, size_t{512}}) {
      SCOPED_TRACE("max_sequences " + std::to_string(max_sequences) + ", step_tokens " +
                   std::to_string(step_tokens));
      ExpectSame(alone, RunTogether(prompts, options,
                                    {.max_sequences = max_sequences, .step_tokens = step_tokens}));
    }
  }
}

TEST_F(EngineTest, AFullKvPoolMakesRequestsWaitAndNothingIsLost) {
  std::mt19937 rng(12);
  std::vector<std::vector<int32_t>> prompts;
  std::vector<GenerateOptions> options;
  for (size_t i = 0; i < 6; ++i) {
    prompts.push_back(RandomPrompt(60 + 10 * i, rng, 512));
    options.push_back(Greedy(20));
  }
  const std::vector<Outcome> alone = RunAlone(prompts, options);
  // 160 positions: two or three sequences at a time; the rest wait for blocks.
  const uint64_t budget = 10 * KVPool::BytesPerBlock(weights_.config, 16);
  EngineStats stats;
  ExpectSame(alone,
             RunTogether(prompts, options,
                         {.max_sequences = 6, .kv_bytes = budget, .prefix_cache = false}, &stats));
  EXPECT_EQ(stats.kv_blocks, 10u);
  EXPECT_EQ(stats.finished, 6u);
}

TEST_F(EngineTest, PreemptedSequencesAreRecomputedAndContinueExactly) {
  std::mt19937 rng(13);
  std::vector<std::vector<int32_t>> prompts;
  std::vector<GenerateOptions> options;
  for (size_t i = 0; i < 4; ++i) {
    prompts.push_back(RandomPrompt(20, rng, 512));
    options.push_back(NoEos(i % 2 ? Seeded(90, 7 + i) : Greedy(90)));  // outgrow the pool
  }
  const std::vector<Outcome> alone = RunAlone(prompts, options);
  for (bool prefix_cache : {false, true}) {
    EngineStats stats;
    ExpectSame(alone, RunTogether(prompts, options,
                                  {.max_sequences = 4,
                                   .kv_bytes = 16 * KVPool::BytesPerBlock(weights_.config, 16),
                                   .prefix_cache = prefix_cache},
                                  &stats));
    EXPECT_GT(stats.preemptions, 0u) << "prefix cache " << prefix_cache;
  }
}

TEST_F(EngineTest, PrefixReuseGivesTheNumbersOfComputingEverything) {
  std::mt19937 rng(14);
  const std::vector<int32_t> shared = RandomPrompt(70, rng, 512);  // 4 whole blocks and more
  std::vector<std::vector<int32_t>> prompts;
  std::vector<GenerateOptions> options;
  for (size_t i = 0; i < 5; ++i) {
    std::vector<int32_t> p = shared;
    for (size_t j = 0; j < i; ++j) p.push_back(static_cast<int32_t>(10 + j));  // i = 0: all
    prompts.push_back(p);
    options.push_back(Greedy(8));
  }
  const std::vector<Outcome> alone = RunAlone(prompts, options);
  // One at a time, so each later request finds the earlier ones' blocks cached.
  EngineStats stats;
  ExpectSame(alone, RunTogether(prompts, options, {.max_sequences = 1}, &stats));
  // Each later prompt reuses everything but its last position: the 70 shared positions (4
  // whole blocks, and 6 positions of the fifth copied) and the earlier prompts' extra ids.
  EXPECT_EQ(stats.cached_tokens, 70u + 71 + 72 + 73);
  for (const auto& [cache, expect_hits] : {std::pair{false, false}, std::pair{true, true}}) {
    std::vector<Outcome> out(1);
    Engine engine(weights_, nullptr, pool_, {.prefix_cache = cache});
    for (int repeat = 0; repeat < 2; ++repeat) {
      out.assign(1, Outcome{});
      SubmitRecorded(engine, prompts[0], options[0], out[0]);
      engine.RunUntilIdle();
    }
    EXPECT_EQ(out[0].result.cached_prompt_tokens > 0, expect_hits);
    EXPECT_TRUE(out[0].logits == alone[0].logits);
  }
}

// A full pool with prefix reuse: prompts that share a context ending inside a block wait
// for blocks, copy the context's last positions when they can, and get the numbers of
// computing everything; every block comes back.
TEST_F(EngineTest, AFullKvPoolWithPrefixReuseMakesRequestsWaitAndGivesTheSameNumbers) {
  std::mt19937 rng(16);
  const std::vector<int32_t> shared = RandomPrompt(40, rng, 512);  // 2 whole blocks and 8
  std::vector<std::vector<int32_t>> prompts;
  std::vector<GenerateOptions> options;
  for (size_t i = 0; i < 6; ++i) {
    std::vector<int32_t> p = shared;
    for (size_t j = 0; j < 10 + 5 * i; ++j) p.push_back(static_cast<int32_t>(3 + rng() % 509));
    prompts.push_back(p);
    options.push_back(NoEos(Greedy(20)));
  }
  const std::vector<Outcome> alone = RunAlone(prompts, options);
  EngineStats stats;
  ExpectSame(alone, RunTogether(prompts, options,
                                {.max_sequences = 6,
                                 .step_tokens = 48,
                                 .kv_bytes = 10 * KVPool::BytesPerBlock(weights_.config, 16)},
                                &stats));
  EXPECT_EQ(stats.kv_blocks, 10u);
  EXPECT_EQ(stats.finished, 6u);
  EXPECT_GT(stats.cached_tokens, 0u);
}

// Scoring continuations of one context, as the eval scorer does: the first request computes
// the context; the others, submitted while it still runs (its last block partly written),
// copy the context's positions after its whole blocks, and their prompt logits are bit for
// bit those of computing everything.
TEST_F(EngineTest, ContinuationsOfAContextReuseItsPartBlockWithTheSameLogits) {
  std::mt19937 rng(18);
  const std::vector<int32_t> context = RandomPrompt(37, rng, 512);  // 2 whole blocks and 5
  std::vector<std::vector<int32_t>> prompts;
  for (size_t i = 0; i < 4; ++i) {
    std::vector<int32_t> p = context;
    for (size_t j = 0; j < 9; ++j) p.push_back(static_cast<int32_t>(3 + rng() % 509));
    prompts.push_back(p);
  }
  struct Scored {
    std::vector<std::vector<float>> rows;
    EngineResult result;
  };
  const size_t from = context.size() - 1;  // the context's last row predicts the first id
  const auto submit = [&](Engine& engine, const std::vector<int32_t>& prompt, Scored& out) {
    engine.Submit({.prompt = prompt,
                   .options = Greedy(1),
                   .on_done = [&out](const EngineResult& r) { out.result = r; },
                   .prompt_logits_from = from,
                   .on_prompt_logits =
                       [&out](size_t, std::span<const float> row) {
                         out.rows.emplace_back(row.begin(), row.end());
                       }});
  };
  std::vector<Scored> computed(prompts.size()), reused(prompts.size());
  {
    Engine engine(weights_, nullptr, pool_, {.max_sequences = 4, .prefix_cache = false});
    for (size_t i = 0; i < prompts.size(); ++i) submit(engine, prompts[i], computed[i]);
    engine.RunUntilIdle();
  }
  Engine engine(weights_, nullptr, pool_, {.max_sequences = 4, .step_tokens = 40});
  submit(engine, prompts[0], reused[0]);
  engine.Step();  // 40 of its 46 positions: the context, and 3 more in its third block
  for (size_t i = 1; i < prompts.size(); ++i) submit(engine, prompts[i], reused[i]);
  engine.RunUntilIdle();
  for (size_t i = 0; i < prompts.size(); ++i) {
    ASSERT_EQ(reused[i].rows.size(), prompts[i].size() - from) << "request " << i;
    EXPECT_TRUE(reused[i].rows == computed[i].rows) << "request " << i << ": logits differ";
    EXPECT_EQ(reused[i].result.cached_prompt_tokens, i == 0 ? 0 : from) << "request " << i;
  }
  EXPECT_EQ(engine.stats().kv_blocks_used, 0u);
}

// A prompt that arrives while another sequence generates takes at most
// prefill_tokens_while_decoding rows of each step, so the generating sequence gets a token
// every short step; alone, a prompt takes the whole step. Neither changes any number.
TEST_F(EngineTest, APromptArrivingWhileOthersGenerateTakesOnlyItsShareOfEachStep) {
  std::mt19937 rng(16);
  const std::vector<std::vector<int32_t>> prompts = {RandomPrompt(5, rng, 512),
                                                     RandomPrompt(37, rng, 512)};
  const std::vector<GenerateOptions> options = {NoEos(Greedy(30)), NoEos(Greedy(6))};
  const std::vector<Outcome> alone = RunAlone(prompts, options);

  Engine engine(weights_, nullptr, pool_,
                {.max_sequences = 2,
                 .step_tokens = 64,
                 .prefill_tokens_while_decoding = 5,
                 .prefix_cache = false});
  std::vector<Outcome> together(2);
  SubmitRecorded(engine, prompts[0], options[0], together[0]);
  engine.Step();  // the first prompt, alone
  EXPECT_EQ(engine.stats().prompt_tokens, 5u);
  SubmitRecorded(engine, prompts[1], options[1], together[1]);
  std::vector<uint64_t> prompt_rows, first_sequence_ids;
  while (engine.stats().prompt_tokens < 42) {
    const uint64_t before = engine.stats().prompt_tokens;
    const size_t ids_before = together[0].ids.size();
    engine.Step();
    prompt_rows.push_back(engine.stats().prompt_tokens - before);
    first_sequence_ids.push_back(together[0].ids.size() - ids_before);
  }
  EXPECT_EQ(prompt_rows, (std::vector<uint64_t>{5, 5, 5, 5, 5, 5, 5, 2}));
  EXPECT_EQ(first_sequence_ids, std::vector<uint64_t>(8, 1)) << "a token in every step";
  engine.RunUntilIdle();
  ExpectSame(alone, together);

  // With nothing generating, a prompt takes the whole step. `lone` outlives the engine: a
  // destroyed engine finishes its unfinished requests, so their callbacks still write into it.
  Outcome lone;
  Engine idle(weights_, nullptr, pool_,
              {.max_sequences = 2, .step_tokens = 64, .prefill_tokens_while_decoding = 5});
  SubmitRecorded(idle, prompts[1], options[1], lone);
  idle.Step();
  EXPECT_EQ(idle.stats().prompt_tokens, 37u);
}

TEST_F(EngineTest, CancellingInPrefillOrDecodeOrWaitingFreesEveryBlock) {
  std::mt19937 rng(15);
  Engine engine(weights_, nullptr, pool_,
                {.max_sequences = 2, .step_tokens = 32, .prefix_cache = false});
  Outcome in_prefill, in_decode, waiting, survivor;
  const uint64_t b =
      SubmitRecorded(engine, RandomPrompt(5, rng, 512), NoEos(Greedy(50)), in_decode);
  const uint64_t a = SubmitRecorded(engine, RandomPrompt(150, rng, 512), Greedy(50), in_prefill);
  const uint64_t c = SubmitRecorded(engine, RandomPrompt(9, rng, 512), Greedy(50), waiting);
  engine.Step();
  engine.Step();  // b generates, a is still in its prefill chunks, c waits for a slot
  EXPECT_EQ(engine.stats().running, 2u);
  EXPECT_GT(engine.stats().kv_blocks_used, 0u);
  engine.Cancel(a);
  engine.Cancel(b);
  engine.Cancel(c);
  engine.Cancel(12345);  // unknown: ignored
  engine.Step();
  EXPECT_EQ(engine.stats().kv_blocks_used, 0u);
  for (const Outcome* o : {&in_prefill, &in_decode, &waiting}) {
    EXPECT_TRUE(o->done);
    EXPECT_EQ(o->result.generation.stop_reason, StopReason::kCancelled);
  }
  EXPECT_TRUE(in_prefill.ids.empty());
  EXPECT_FALSE(in_decode.ids.empty());
  // The engine goes on with new work.
  SubmitRecorded(engine, RandomPrompt(7, rng, 512), NoEos(Greedy(4)), survivor);
  engine.RunUntilIdle();
  EXPECT_EQ(survivor.ids.size(), 4u);
  EXPECT_EQ(engine.stats().kv_blocks_used, 0u);
}

// Prompt logits (scoring): every owed position's row, once and in order, equal to a
// row-invariant forward pass over the whole prompt, whatever the step's logit-row budget,
// with other sequences in flight and the prompt's prefix cached by an earlier request.
TEST_F(EngineTest, PromptLogitsAreTheRowsOfAForwardPassOverThePrompt) {
  std::mt19937 rng(17);
  const std::vector<int32_t> prompt = RandomPrompt(75, rng, 512);
  const size_t vocab = weights_.config.vocab_size;
  std::vector<float> expected(prompt.size() * vocab);
  {
    KVCache cache(weights_.config, prompt.size());
    ForwardWorkspace ws(weights_.config, prompt.size());
    std::vector<size_t> all(prompt.size());
    for (size_t i = 0; i < all.size(); ++i) all[i] = i;
    Forward(weights_,
            {.tokens = prompt,
             .logits_for = all,
             .logits = expected,
             .arithmetic = RowArithmetic::kRowInvariant},
            cache, ws, pool_);
  }
  for (size_t budget : {size_t{1}, size_t{5}, size_t{64}}) {
    Engine engine(weights_, nullptr, pool_,
                  {.max_sequences = 3, .step_tokens = 32, .max_prompt_logit_rows = budget});
    Outcome warm, other;
    SubmitRecorded(engine, prompt, Greedy(2), warm);  // caches the prompt's blocks
    engine.RunUntilIdle();
    std::vector<size_t> positions;
    std::vector<float> got;
    Outcome scored;
    const size_t from = 20;
    engine.Submit({.prompt = prompt,
                   .options = Greedy(2),
                   .on_token =
                       [&](int32_t id, std::string_view) {
                         if (id != kNoToken) scored.ids.push_back(id);
                         return true;
                       },
                   .on_done =
                       [&](const EngineResult& r) {
                         scored.result = r;
                         scored.done = true;
                       },
                   .prompt_logits_from = from,
                   .on_prompt_logits =
                       [&](size_t position, std::span<const float> row) {
                         positions.push_back(position);
                         got.insert(got.end(), row.begin(), row.end());
                       }});
    SubmitRecorded(engine, RandomPrompt(50, rng, 512), Greedy(5), other);
    engine.RunUntilIdle();
    ASSERT_TRUE(scored.done);
    std::vector<size_t> want_positions;
    for (size_t p = from; p < prompt.size(); ++p) want_positions.push_back(p);
    EXPECT_EQ(positions, want_positions) << "budget " << budget;
    EXPECT_TRUE(std::equal(got.begin(), got.end(), expected.begin() + long(from * vocab)))
        << "budget " << budget;
    EXPECT_EQ(scored.ids, warm.ids) << "the same ids as without prompt logits";
    EXPECT_EQ(scored.result.cached_prompt_tokens, from) << "the positions before `from` reused";
  }
  Engine engine(weights_, nullptr, pool_);
  EXPECT_THROW(engine.Submit({.prompt = prompt, .prompt_logits_from = 3}), Error);  // no callback
  EXPECT_THROW(engine.Submit({.prompt = prompt,
                              .prompt_logits_from = prompt.size(),
                              .on_prompt_logits = [](size_t, std::span<const float>) {}}),
               Error);
}

TEST_F(EngineTest, CallbacksCanStopAndBadRequestsAreRefusedAtSubmit) {
  Engine engine(weights_, nullptr, pool_, {.max_sequences = 2});
  Outcome stopped;
  engine.Submit(
      {.prompt = {2, 5, 6},
       .options = NoEos(Greedy(30)),
       .on_token = [&](int32_t, std::string_view) { return ++stopped.result.prompt_tokens < 3; },
       .on_done =
           [&](const EngineResult& r) {
             stopped.done = true;
             stopped.ids = r.generation.ids;
             stopped.result.generation.stop_reason = r.generation.stop_reason;
           }});
  Outcome short_context;
  engine.Submit({.prompt = {2, 5, 6},
                 .options = NoEos(Greedy(30)),
                 .context = 7,
                 .on_done = [&](const EngineResult& r) {
                   short_context.done = true;
                   short_context.ids = r.generation.ids;
                   short_context.result.generation.stop_reason = r.generation.stop_reason;
                 }});
  engine.RunUntilIdle();
  EXPECT_EQ(stopped.ids.size(), 3u);
  EXPECT_EQ(stopped.result.generation.stop_reason, StopReason::kCallback);
  EXPECT_EQ(short_context.ids.size(), 4u);  // positions 3..6
  EXPECT_EQ(short_context.result.generation.stop_reason, StopReason::kContextFull);

  EXPECT_THROW(engine.Submit({.prompt = {}}), Error);
  EXPECT_THROW(engine.Submit({.prompt = {2, 600}}), Error);
  EXPECT_THROW(engine.Submit({.prompt = {2, 3, 4}, .context = 2}), Error);
  EXPECT_THROW(engine.Submit({.prompt = {2}, .options = {.sampling = {.temperature = -1.0f}}}),
               Error);
  EXPECT_THROW(engine.Submit({.prompt = {2}, .options = {.stop_strings = {"x"}}}), Error);
  EXPECT_THROW(
      engine.Submit({.prompt = {2}, .options = {.sampling = {.logit_bias = {{600, 1.0f}}}}}),
      Error);
  Engine tiny_pool(weights_, nullptr, pool_,
                   {.kv_bytes = 2 * KVPool::BytesPerBlock(weights_.config, 16)});
  EXPECT_THROW(tiny_pool.Submit({.prompt = std::vector<int32_t>(40, 2)}), Error);
  Engine one_waiting(weights_, nullptr, pool_, {.max_waiting = 1});
  one_waiting.Submit({.prompt = {2}});
  try {
    one_waiting.Submit({.prompt = {2}});
    FAIL() << "a second waiting request was accepted";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kResourceExhausted);
  }
}

// Submissions from several threads while the engine runs on its own (ThreadSanitizer in CI):
// every request completes with the ids it gets alone.
TEST_F(EngineTest, ConcurrentSubmissionsWhileTheEngineRuns) {
  std::mt19937 rng(16);
  std::vector<std::vector<int32_t>> prompts;
  std::vector<GenerateOptions> options;
  for (size_t i = 0; i < 12; ++i) {
    prompts.push_back(RandomPrompt(4 + 9 * i, rng, 512));
    options.push_back(Seeded(10, i));
  }
  const std::vector<Outcome> alone = RunAlone(prompts, options);
  Engine engine(weights_, nullptr, pool_, {.max_sequences = 5, .step_tokens = 40});
  engine.Start();
  std::vector<Outcome> out(prompts.size());
  std::atomic<int> finished{0};
  std::vector<std::thread> clients;
  for (size_t t = 0; t < 4; ++t) {
    clients.emplace_back([&, t] {
      for (size_t i = t; i < prompts.size(); i += 4) {
        engine.Submit(
            {.prompt = prompts[i], .options = options[i], .on_done = [&, i](const EngineResult& r) {
               out[i].ids = r.generation.ids;
               out[i].done = true;
               finished.fetch_add(1);
             }});
      }
    });
  }
  for (std::thread& c : clients) c.join();
  while (finished.load() < static_cast<int>(prompts.size())) {
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  engine.Stop();
  for (size_t i = 0; i < prompts.size(); ++i) EXPECT_EQ(out[i].ids, alone[i].ids) << i;
  EXPECT_EQ(engine.stats().kv_blocks_used, 0u);
}

}  // namespace
}  // namespace gemma
