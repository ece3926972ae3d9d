// Multiple-choice scores against a direct computation, for every task format with and
// without shots, on a full-vocabulary model with Gemma's tokenizer: each choice's
// (context, continuation) split as lm-evaluation-harness splits it (written out here),
// its log-likelihood from Session::PrefillWithLogits rows in long double, the predictions
// and accuracies from those. Prefix reuse and the number of requests in flight change
// nothing in the scores, bit for bit.
#include "eval/multiple_choice.h"

#include <gtest/gtest.h>

#include <cmath>
#include <numeric>

#include "eval/direct_scoring.h"
#include "eval/harness_prompts.h"
#include "gemma_rt/gemma_rt.h"
#include "support/real_vocab_model.h"

namespace gemma::eval {
namespace {

const std::string kData = std::string(GEMMA_TEST_DATA_DIR) + "/eval/";

const gemma_rt::Model& TestModel() {
  static const gemma_rt::Model model = gemma_rt::Model::Load(
      {.path = testing::RealVocabModelDir(), .threads = 2, .exact_quantized_products = true});
  return model;
}

// HFLM._encode_pair with <bos> (the test data's contexts end in ASCII whitespace if any),
// then the continuation's log-probabilities from the Session's rows.
long double DirectLoglikelihood(const gemma_rt::Model& model, std::string context,
                                std::string continuation) {
  while (!context.empty() && std::isspace(static_cast<unsigned char>(context.back()))) {
    continuation.insert(continuation.begin(), context.back());
    context.pop_back();
  }
  const std::vector<int32_t> context_ids = model.Tokenize(context, true);
  const std::vector<int32_t> whole = model.Tokenize(context + continuation, true);
  std::vector<int32_t> ids = context_ids;
  ids.insert(ids.end(), whole.begin() + static_cast<std::ptrdiff_t>(context_ids.size()),
             whole.end());
  std::vector<size_t> positions(ids.size() - context_ids.size());
  std::iota(positions.begin(), positions.end(), context_ids.size() - 1);
  const auto rows = eval_test::SessionRows(model, ids, positions);
  long double sum = 0;
  for (size_t i = 0; i < positions.size(); ++i) {
    sum += eval_test::LogProb(rows[i], ids[positions[i] + 1]);
  }
  return sum;
}

// Python's len(): bytes that do not continue a UTF-8 sequence.
size_t Characters(const std::string& text) {
  return std::count_if(text.begin(), text.end(), [](char c) { return (c & 0xc0) != 0x80; });
}

struct Case {
  Task task;
  std::string data, labels;
  size_t shots = 0;
  std::string fewshot_data;
};

// Engine rows against Session rows over the same float32 arithmetic (summation order
// only): measured at most 1.45e-10 of |log-likelihood| on these items (Zen 5); the bound is
// about 14x that. A token scored at the wrong position changes it by far more.
constexpr double kTolerance = 2e-9;

void CheckCase(const Case& c) {
  SCOPED_TRACE(c.data + ", " + std::to_string(c.shots) + " shots");
  const gemma_rt::Model& model = TestModel();
  const std::vector<Doc> docs =
      ReadDocs(c.task, kData + c.data, {.labels_path = c.labels.empty() ? "" : kData + c.labels});
  const std::vector<Doc> pool =
      c.fewshot_data.empty() ? std::vector<Doc>() : ReadDocs(c.task, kData + c.fewshot_data);
  std::vector<ItemResult> items;
  const EvalReport report = EvaluateMultipleChoice(
      model, docs, pool, {.task = c.task, .shots = c.shots, .scorer = {.max_sequences = 5}},
      [&](const ItemResult& r) { items.push_back(r); });
  ASSERT_EQ(items.size(), docs.size());
  size_t hits = 0, hits_norm = 0;
  for (size_t i = 0; i < docs.size(); ++i) {
    const Doc& doc = docs[i];
    const ItemResult& item = items[i];
    EXPECT_EQ(item.index, i);
    EXPECT_EQ(item.doc, &docs[i]);
    const std::vector<const Doc*> shots = SelectShots(c.task, pool, doc, c.shots);
    ASSERT_EQ(shots.size(), c.shots);
    const std::vector<ContinuationText> texts = DocRequests(c.task, doc, shots);
    ASSERT_EQ(item.loglikelihoods.size(), doc.choices.size());
    std::vector<double> direct, per_char;
    for (size_t k = 0; k < texts.size(); ++k) {
      direct.push_back(
          static_cast<double>(DirectLoglikelihood(model, texts[k].context, texts[k].continuation)));
      EXPECT_LT(eval_test::RelativeError(item.loglikelihoods[k], direct.back()), kTolerance)
          << doc.where << " choice " << k << ": " << item.loglikelihoods[k] << " vs "
          << direct.back();
      EXPECT_EQ(item.lengths[k], Characters(doc.choices[k]));
      per_char.push_back(direct.back() / Characters(doc.choices[k]));
    }
    const size_t pred = std::max_element(direct.begin(), direct.end()) - direct.begin();
    const size_t pred_norm = std::max_element(per_char.begin(), per_char.end()) - per_char.begin();
    EXPECT_EQ(item.pred, pred);
    EXPECT_EQ(item.pred_norm, pred_norm);
    hits += pred == doc.label;
    hits_norm += pred_norm == doc.label;
  }
  const double n = static_cast<double>(docs.size());
  EXPECT_EQ(report.overall.items, docs.size());
  EXPECT_DOUBLE_EQ(report.overall.acc, hits / n);
  EXPECT_DOUBLE_EQ(report.overall.acc_norm, hits_norm / n);
  const double p = hits / n;
  EXPECT_NEAR(report.overall.acc_stderr, std::sqrt(p * (1 - p) / (n - 1)), 1e-12);
}

TEST(MultipleChoice, HellaswagMatchesADirectComputation) {
  CheckCase({.task = Task::kHellaswag, .data = "hellaswag.jsonl"});
  CheckCase({.task = Task::kHellaswag,
             .data = "hellaswag_hf.jsonl",
             .shots = 2,
             .fewshot_data = "hellaswag.jsonl"});
}

TEST(MultipleChoice, ArcMatchesADirectComputation) {
  CheckCase({.task = Task::kArc, .data = "arc_hf.jsonl"});
  CheckCase(
      {.task = Task::kArc, .data = "arc_ai2.jsonl", .shots = 2, .fewshot_data = "arc_hf.jsonl"});
}

TEST(MultipleChoice, PiqaMatchesADirectComputation) {
  CheckCase({.task = Task::kPiqa, .data = "piqa_hf.jsonl"});
  CheckCase({.task = Task::kPiqa,
             .data = "piqa_valid.jsonl",
             .labels = "piqa_valid-labels.lst",
             .shots = 1,
             .fewshot_data = "piqa_hf.jsonl"});
}

TEST(MultipleChoice, WinograndeMatchesADirectComputation) {
  CheckCase({.task = Task::kWinogrande, .data = "winogrande.jsonl"});
  // Shots from the evaluated file itself: each item skips its own record.
  CheckCase({.task = Task::kWinogrande,
             .data = "winogrande.jsonl",
             .shots = 2,
             .fewshot_data = "winogrande.jsonl"});
}

TEST(MultipleChoice, MmluMatchesADirectComputation) {
  CheckCase({.task = Task::kMmlu, .data = "mmlu/test", .shots = 5, .fewshot_data = "mmlu/dev"});
  CheckCase({.task = Task::kMmlu, .data = "mmlu_hf.jsonl"});
}

TEST(MultipleChoice, GenericMatchesADirectComputation) {
  CheckCase({.task = Task::kGeneric, .data = "generic.jsonl"});
  CheckCase({.task = Task::kGeneric,
             .data = "generic.json",
             .shots = 1,
             .fewshot_data = "generic.jsonl"});
}

TEST(MultipleChoice, PrefixReuseAndParallelismChangeNoScore) {
  const gemma_rt::Model& model = TestModel();
  const std::vector<Doc> docs = ReadDocs(Task::kMmlu, kData + "mmlu/test");
  const std::vector<Doc> pool = ReadDocs(Task::kMmlu, kData + "mmlu/dev");
  std::vector<std::vector<double>> runs[3];
  EvalReport reports[3];
  const ScorerOptions options[3] = {
      {.max_sequences = 16, .prefix_reuse = true},
      {.max_sequences = 16, .prefix_reuse = false},
      {.max_sequences = 1, .prefix_reuse = true, .max_logit_rows = 3}};
  for (int i = 0; i < 3; ++i) {
    reports[i] = EvaluateMultipleChoice(
        model, docs, pool, {.task = Task::kMmlu, .shots = 5, .scorer = options[i]},
        [&](const ItemResult& r) { runs[i].push_back(r.loglikelihoods); });
  }
  EXPECT_EQ(runs[0], runs[1]);
  EXPECT_EQ(runs[0], runs[2]);
  EXPECT_EQ(reports[0].stats.requests, 20u);
  // With reuse, an item's four choices share its 5-shot context (and items of one subject
  // share the shots): most prompt positions come from the cache.
  EXPECT_GT(reports[0].stats.cached_tokens, reports[0].stats.prompt_tokens);
  EXPECT_EQ(reports[1].stats.cached_tokens, 0u);
  EXPECT_EQ(reports[0].stats.prompt_tokens + reports[0].stats.cached_tokens,
            reports[1].stats.prompt_tokens);
  ASSERT_EQ(reports[0].subjects.size(), 2u);
  EXPECT_EQ(reports[0].subjects[0].first, "astronomy");
  EXPECT_EQ(reports[0].subjects[0].second.items, 3u);
}

TEST(MultipleChoice, MissingShotsAreAnError) {
  const std::vector<Doc> docs = ReadDocs(Task::kMmlu, kData + "mmlu/test");
  const std::vector<Doc> pool = ReadDocs(Task::kMmlu, kData + "mmlu/dev/virology_dev.csv");
  try {
    EvaluateMultipleChoice(TestModel(), docs, pool, {.task = Task::kMmlu, .shots = 5});
    ADD_FAILURE() << "no error";
  } catch (const std::runtime_error& e) {
    EXPECT_EQ(std::string(e.what()), kData +
                                         "mmlu/test/astronomy_test.csv:1: only 0 few-shot "
                                         "examples of subject \"astronomy\" for 5 shots");
  }
}

}  // namespace
}  // namespace gemma::eval
