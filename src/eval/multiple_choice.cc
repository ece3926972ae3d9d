#include "eval/multiple_choice.h"

#include <cmath>
#include <map>
#include <stdexcept>

#include "eval/harness_prompts.h"

namespace gemma::eval {
namespace {

// The mean of 0/1 values and its standard error (the harness's mean_stderr).
std::pair<double, double> MeanAndStderr(size_t hits, size_t n) {
  if (n == 0) return {0.0, 0.0};
  const double mean = static_cast<double>(hits) / static_cast<double>(n);
  if (n < 2) return {mean, 0.0};
  // Sum of squared deviations of `hits` ones and `n - hits` zeros.
  const double squares = hits * (1 - mean) * (1 - mean) + (n - hits) * mean * mean;
  const double sample_stddev = std::sqrt(squares / static_cast<double>(n - 1));
  return {mean, sample_stddev / std::sqrt(static_cast<double>(n))};
}

}  // namespace

size_t ArgMax(std::span<const double> values) {
  size_t best = 0;
  for (size_t i = 1; i < values.size(); ++i) {
    if (values[i] > values[best]) best = i;
  }
  return best;
}

size_t PredictNormalized(std::span<const double> loglikelihoods, std::span<const size_t> lengths) {
  std::vector<double> normalized(loglikelihoods.size());
  for (size_t i = 0; i < normalized.size(); ++i) {
    normalized[i] = loglikelihoods[i] / static_cast<double>(lengths[i]);
  }
  return ArgMax(normalized);
}

Accuracy AccuracyOf(std::span<const ItemResult> items) {
  size_t hits = 0, hits_norm = 0;
  for (const ItemResult& item : items) {
    hits += item.pred == item.doc->label;
    hits_norm += item.pred_norm == item.doc->label;
  }
  Accuracy a{.items = items.size()};
  std::tie(a.acc, a.acc_stderr) = MeanAndStderr(hits, items.size());
  std::tie(a.acc_norm, a.acc_norm_stderr) = MeanAndStderr(hits_norm, items.size());
  return a;
}

EvalReport EvaluateMultipleChoice(const gemma_rt::Model& model, std::span<const Doc> docs,
                                  std::span<const Doc> shot_pool, const EvalOptions& options,
                                  const std::function<void(const ItemResult&)>& on_item,
                                  const std::function<void(const ScorerProgress&)>& progress) {
  const size_t count = options.limit == 0 ? docs.size() : std::min(options.limit, docs.size());
  // Every doc's shots first: a missing one is an error before hours of scoring.
  std::vector<std::vector<const Doc*>> shots(count);
  for (size_t i = 0; i < count && options.shots > 0; ++i) {
    shots[i] = SelectShots(options.task, shot_pool, docs[i], options.shots);
    if (shots[i].size() < options.shots) {
      throw std::runtime_error(
          docs[i].where + ": only " + std::to_string(shots[i].size()) + " few-shot examples" +
          (options.task == Task::kMmlu ? " of subject \"" + docs[i].subject + "\"" : "") + " for " +
          std::to_string(options.shots) + " shots");
    }
  }
  std::vector<ItemResult> results(count);
  EvalReport report;
  report.stats = ScoreItems(
      model, count,
      [&](size_t i) {
        const std::vector<ContinuationText> texts = DocRequests(options.task, docs[i], shots[i]);
        return ScoringItem{.where = docs[i].where, .requests = EncodePairs(model, texts)};
      },
      [&](size_t i, std::span<const ContinuationScore> scores) {
        ItemResult& r = results[i];
        r.index = i;
        r.doc = &docs[i];
        for (const ContinuationScore& s : scores) {
          r.loglikelihoods.push_back(s.loglikelihood);
          r.greedy.push_back(s.greedy);
        }
        r.lengths = ChoiceLengths(docs[i]);
        r.pred = ArgMax(r.loglikelihoods);
        r.pred_norm = PredictNormalized(r.loglikelihoods, r.lengths);
        if (on_item) on_item(r);
      },
      options.scorer, progress);
  report.overall = AccuracyOf(results);
  if (options.task == Task::kMmlu) {
    std::map<std::string, std::vector<ItemResult>> by_subject;
    for (const ItemResult& r : results) by_subject[r.doc->subject].push_back(r);
    for (const auto& [subject, items] : by_subject) {
      report.subjects.emplace_back(subject, AccuracyOf(items));
    }
  }
  return report;
}

}  // namespace gemma::eval
