// Multiple-choice evaluation as lm-evaluation-harness scores it: every choice's
// continuation gets its summed log-likelihood given the context; `acc` counts the items
// whose largest log-likelihood is the right choice's, `acc_norm` those whose largest
// log-likelihood per character of the choice is (np.argmax: the first on ties); each with
// the standard error of its mean (sample standard deviation / sqrt(n)).
#pragma once

#include <cstddef>
#include <functional>
#include <span>
#include <string>
#include <vector>

#include "eval/loglikelihood_scorer.h"
#include "eval/task_docs.h"
#include "gemma_rt/gemma_rt.h"

namespace gemma::eval {

struct ItemResult {
  size_t index = 0;  // among the evaluated docs
  const Doc* doc = nullptr;
  std::vector<double> loglikelihoods;  // per choice, summed
  std::vector<bool> greedy;            // per choice: every id was its row's argmax
  std::vector<size_t> lengths;         // per choice, characters (acc_norm's divisor)
  size_t pred = 0, pred_norm = 0;
};

// The harness's predictions from log-likelihoods and lengths.
size_t ArgMax(std::span<const double> values);
size_t PredictNormalized(std::span<const double> loglikelihoods, std::span<const size_t> lengths);

struct Accuracy {
  size_t items = 0;
  double acc = 0, acc_stderr = 0;
  double acc_norm = 0, acc_norm_stderr = 0;
};
// Means and standard errors of 0/1 outcomes.
Accuracy AccuracyOf(std::span<const ItemResult> items);

struct EvalOptions {
  Task task = Task::kGeneric;
  size_t shots = 0;
  size_t limit = 0;  // 0: every doc
  ScorerOptions scorer;
};

struct EvalReport {
  Accuracy overall;
  std::vector<std::pair<std::string, Accuracy>> subjects;  // MMLU, by subject name
  ScorerStats stats;
};

// Scores docs (the first options.limit of them) with options.shots solved examples from
// `shot_pool` each. Throws std::runtime_error naming the doc when it lacks shots or a
// choice cannot be scored. on_item gets every item in order (calling thread).
EvalReport EvaluateMultipleChoice(const gemma_rt::Model& model, std::span<const Doc> docs,
                                  std::span<const Doc> shot_pool, const EvalOptions& options,
                                  const std::function<void(const ItemResult&)>& on_item = {},
                                  const std::function<void(const ScorerProgress&)>& progress = {});

}  // namespace gemma::eval
