#include "eval/kl_divergence.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <condition_variable>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>

#include "eval/kv_budget.h"
#include "eval/log_softmax.h"
#include "eval/run_support.h"
#include "gemma_rt/engine.h"

namespace gemma::eval {
namespace {

// llama-perplexity's percentile: linear interpolation between sorted values.
double Percentile(const std::vector<double>& sorted, double fraction) {
  if (sorted.empty()) return 0.0;
  if (fraction <= 0) return sorted.front();
  if (fraction >= 1) return sorted.back();
  double p = fraction * static_cast<double>(sorted.size() - 1);
  const size_t i = static_cast<size_t>(p);
  p -= static_cast<double>(i);
  return (1 - p) * sorted[i] + p * sorted[std::min(i + 1, sorted.size() - 1)];
}

double Median(const std::vector<double>& sorted) {
  if (sorted.empty()) return 0.0;
  const size_t n = sorted.size();
  return n % 2 == 0 ? 0.5 * (sorted[n / 2] + sorted[n / 2 - 1]) : sorted[n / 2];
}

struct AnalyzedRow {
  std::span<const float> logits;
  RowSoftmax softmax;
};

// The NLLs go to model_nll and reference_nll (a chunk's, added to the totals chunk by chunk
// as ComputePerplexity adds them, so both report the same bits).
void AddPosition(KlAccumulator& kl, NllStats& model_nll, NllStats& reference_nll,
                 const AnalyzedRow& model, const AnalyzedRow& reference, int32_t target) {
  const double log_p_model = model.softmax.LogProb(model.logits, target);
  const double log_p_reference = reference.softmax.LogProb(reference.logits, target);
  model_nll.Add(-log_p_model);
  reference_nll.Add(-log_p_reference);
  kl.sum_nll_product += log_p_model * log_p_reference;
  const double divergence =
      KlDivergence(reference.logits, reference.softmax, model.logits, model.softmax);
  kl.sum_kl += divergence;
  kl.sum_kl2 += divergence * divergence;
  kl.kl.push_back(divergence);
  const double dp = std::exp(log_p_model) - std::exp(log_p_reference);
  kl.sum_dp += dp;
  kl.sum_dp2 += dp * dp;
  kl.sum_dp4 += dp * dp * dp * dp;
  kl.dp.push_back(dp);
  if (model.softmax.argmax == reference.softmax.argmax) ++kl.same_top;
}

// Where the two engines' threads meet at each scored position: the first to arrive waits
// (its row stays valid while its callback has not returned), the second compares both
// rows. Both engines deliver the same positions in the same order (one chunk at a time,
// chunks in order), so the rows that meet are always those of one position.
class RowMeeting {
 public:
  void Meet(
      int side, size_t key, const AnalyzedRow& row,
      const std::function<void(const AnalyzedRow& model, const AnalyzedRow& reference)>& compare) {
    std::unique_lock lock(mutex_);
    if (aborted_) throw std::runtime_error(kStopped);
    if (waiting_) {
      if (waiting_->side == side || waiting_->key != key) {
        AbortLocked();
        throw std::logic_error("the two models' rows came out of step");
      }
      try {
        if (side == 0) {
          compare(row, waiting_->row);
        } else {
          compare(waiting_->row, row);
        }
      } catch (...) {
        AbortLocked();
        throw;
      }
      waiting_.reset();
      arrived_.notify_all();
      return;
    }
    waiting_ = Waiting{.side = side, .key = key, .row = row};
    arrived_.wait(lock, [&] { return aborted_ || !waiting_ || waiting_->side != side; });
    if (waiting_ && waiting_->side == side) throw std::runtime_error(kStopped);
  }

  void Abort() {
    std::lock_guard lock(mutex_);
    AbortLocked();
  }

 private:
  void AbortLocked() {
    aborted_ = true;
    arrived_.notify_all();
  }

  struct Waiting {
    int side;
    size_t key;
    AnalyzedRow row;
  };
  std::mutex mutex_;
  std::condition_variable arrived_;
  std::optional<Waiting> waiting_;
  bool aborted_ = false;
};

// Releases a waiting engine thread when the run ends early, before the engines stop.
struct AbortOnExit {
  RowMeeting& meeting;
  ~AbortOnExit() { meeting.Abort(); }
};

}  // namespace

void KlAccumulator::Add(std::span<const float> model_row, std::span<const float> reference_row,
                        int32_t target) {
  AddPosition(*this, model, reference, {model_row, AnalyzeRow(model_row)},
              {reference_row, AnalyzeRow(reference_row)}, target);
}

KlSummary Summarize(const KlAccumulator& kl) {
  KlSummary s;
  const size_t n = kl.count();
  s.tokens = n;
  const MeanAndError log_ppl = MeanWithError(kl.model.sum, kl.model.sum2, n);
  const MeanAndError log_ppl_ref = MeanWithError(kl.reference.sum, kl.reference.sum2, n);
  const double ppl = std::exp(log_ppl.mean), ppl_ref = std::exp(log_ppl_ref.mean);
  s.ppl_model = {ppl, ppl * log_ppl.error};
  s.ppl_reference = {ppl_ref, ppl_ref * log_ppl_ref.error};
  // The NLL product: sum of (-log p) (-log p_ref) = sum of log p log p_ref.
  const double cov = CovarianceOfMeans(kl.model.sum, kl.reference.sum, kl.sum_nll_product, n);
  const double error_product = log_ppl.error * log_ppl_ref.error;
  s.nll_correlation = error_product > 0 ? cov / error_product : 0.0;
  const double ratio_error = std::sqrt(std::max(
      0.0, log_ppl.error * log_ppl.error + log_ppl_ref.error * log_ppl_ref.error - 2 * cov));
  s.ln_ppl_ratio = {log_ppl.mean - log_ppl_ref.mean, ratio_error};
  const double ratio = std::exp(s.ln_ppl_ratio.mean);
  s.ppl_ratio = {ratio, ratio * ratio_error};
  const double ppl_cov = ppl * ppl_ref * cov;
  s.ppl_difference = {
      ppl - ppl_ref,
      std::sqrt(std::max(0.0, s.ppl_model.error * s.ppl_model.error +
                                  s.ppl_reference.error * s.ppl_reference.error - 2 * ppl_cov))};
  s.kl_mean = MeanWithError(kl.sum_kl, kl.sum_kl2, n);
  std::vector<double> sorted = kl.kl;
  std::sort(sorted.begin(), sorted.end());
  s.kl_median = Median(sorted);
  s.kl_p90 = Percentile(sorted, 0.90);
  s.kl_p99 = Percentile(sorted, 0.99);
  s.kl_p999 = Percentile(sorted, 0.999);
  s.kl_max = sorted.empty() ? 0.0 : sorted.back();
  s.kl_min = sorted.empty() ? 0.0 : sorted.front();
  if (n > 0) {
    const double top = static_cast<double>(kl.same_top) / static_cast<double>(n);
    s.top1_agreement = {top, n > 1 ? std::sqrt(top * (1 - top) / static_cast<double>(n - 1)) : 0.0};
  }
  s.dp_mean = MeanWithError(kl.sum_dp, kl.sum_dp2, n);
  const MeanAndError dp_mse = MeanWithError(kl.sum_dp2, kl.sum_dp4, n);
  const double rms = std::sqrt(dp_mse.mean);
  s.dp_rms = {rms, rms > 0 ? 0.5 / rms * dp_mse.error : 0.0};
  sorted = kl.dp;
  std::sort(sorted.begin(), sorted.end());
  s.dp_median = Median(sorted);
  s.dp_p1 = Percentile(sorted, 0.01);
  s.dp_p99 = Percentile(sorted, 0.99);
  return s;
}

KlResult ComputeKlDivergence(const gemma_rt::Model& model, const gemma_rt::Model& reference,
                             std::span<const int32_t> tokens, const PerplexityOptions& options,
                             const std::function<void(const KlProgress&)>& progress) {
  const ChunkPlan plan = PlanChunks(tokens.size(), options);
  const gemma_rt::ModelInfo info[2] = {model.info(), reference.info()};
  if (info[0].vocab_size != info[1].vocab_size) {
    throw std::invalid_argument("the models' vocabularies differ (" +
                                std::to_string(info[0].vocab_size) + " and " +
                                std::to_string(info[1].vocab_size) + " ids)");
  }
  KlResult result{.chunks = plan.chunks, .context = options.context};
  KlAccumulator& acc = result.accumulator;
  acc.kl.reserve(plan.chunks * plan.scored_per_chunk);
  acc.dp.reserve(plan.chunks * plan.scored_per_chunk);

  struct ChunkSide {
    bool done = false;
    std::string error;
  };
  std::vector<ChunkSide> sides[2] = {std::vector<ChunkSide>(plan.chunks),
                                     std::vector<ChunkSide>(plan.chunks)};
  std::mutex mutex;
  std::condition_variable changed;
  RowMeeting meeting;
  NllStats chunk_nll[2];  // the current chunk's, model and reference

  const auto start = std::chrono::steady_clock::now();
  const gemma_rt::Model* models[2] = {&model, &reference};
  std::optional<gemma_rt::Engine> engines[2];
  for (int side = 0; side < 2; ++side) {
    engines[side].emplace(
        *models[side], gemma_rt::EngineOptions{
                           .max_sequences = 1,
                           .step_tokens = options.step_tokens,
                           .kv_bytes = KvBytesFor(info[side], options.context + kKvBlockPositions),
                           .prefix_cache = false,
                           .max_prompt_logit_rows = options.logit_rows_per_step});
  }
  AbortOnExit abort_on_exit{meeting};
  const auto submit = [&](int side, size_t c) {
    const size_t chunk_start = c * options.context;
    ChunkSide* state = &sides[side][c];
    engines[side]->Submit({.prompt_ids = ChunkPrompt(tokens, c, options),
                           .options = {.max_tokens = 1, .sampling = {.temperature = 0.0f}},
                           .on_done =
                               [&, state](const gemma_rt::RequestResult& r) {
                                 const std::string error = RequestError(r);
                                 if (!error.empty()) meeting.Abort();
                                 std::lock_guard lock(mutex);
                                 state->error = error;
                                 state->done = true;
                                 changed.notify_all();
                               },
                           .prompt_logits_from = plan.first_scored,
                           .on_prompt_logits =
                               [&, side, chunk_start](size_t position, std::span<const float> row) {
                                 const AnalyzedRow analyzed{row, AnalyzeRow(row)};
                                 const int32_t target = tokens[chunk_start + position + 1];
                                 meeting.Meet(side, chunk_start + position, analyzed,
                                              [&](const AnalyzedRow& m, const AnalyzedRow& r) {
                                                AddPosition(acc, chunk_nll[0], chunk_nll[1], m, r,
                                                            target);
                                              });
                               }});
  };

  const auto side_first_failed = [&](size_t c) {
    return sides[0][c].error == kStopped && !sides[1][c].error.empty() ? 1 : 0;
  };
  // One chunk at a time: while the next is not submitted, the accumulator is this
  // thread's to read (the engines are idle for the moment it takes to submit it).
  for (size_t c = 0; c < plan.chunks; ++c) {
    submit(0, c);
    submit(1, c);
    {
      std::unique_lock lock(mutex);
      changed.wait(lock, [&] { return sides[0][c].done && sides[1][c].done; });
    }
    // A side stopped because the other failed says only "stopped": report the cause first.
    for (int side : {side_first_failed(c), 1 - side_first_failed(c)}) {
      if (!sides[side][c].error.empty()) {
        throw std::runtime_error("chunk " + std::to_string(c + 1) + ": " +
                                 (side == 0 ? "model: " : "reference model: ") +
                                 sides[side][c].error);
      }
    }
    acc.model.Add(chunk_nll[0]);
    acc.reference.Add(chunk_nll[1]);
    chunk_nll[0] = chunk_nll[1] = {};
    if (acc.count() != (c + 1) * plan.scored_per_chunk) {
      throw std::runtime_error("chunk " + std::to_string(c + 1) + ": " +
                               std::to_string(acc.count()) + " positions compared, not " +
                               std::to_string((c + 1) * plan.scored_per_chunk));
    }
    if (progress) {
      progress({.chunks_done = c + 1,
                .chunks = plan.chunks,
                .so_far = &acc,
                .seconds = SecondsSince(start)});
    }
  }
  result.tokens_evaluated = plan.chunks * options.context;
  result.seconds = SecondsSince(start);
  result.summary = Summarize(acc);
  return result;
}

}  // namespace gemma::eval
