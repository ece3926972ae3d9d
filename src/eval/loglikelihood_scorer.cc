#include "eval/loglikelihood_scorer.h"

#include <algorithm>
#include <condition_variable>
#include <deque>
#include <memory>
#include <mutex>
#include <stdexcept>

#include "eval/kv_budget.h"
#include "eval/log_softmax.h"
#include "eval/run_support.h"
#include "gemma_rt/engine.h"

namespace gemma::eval {
namespace {

struct Request {
  std::vector<int32_t> ids;  // context + continuation
  size_t from = 0;           // the context's last position: its row predicts the first id scored
  ContinuationScore score{.greedy = true};
  size_t rows = 0;  // rows scored (engine thread until done)
  std::string error;
};

struct Item {
  size_t index = 0;
  std::string where;
  std::vector<Request> requests;
  bool leader_first = false;      // the first request computes the shared context alone
  bool leader_signalled = false;  // engine thread only
  size_t finished = 0;            // guarded by the run's mutex
};

size_t CommonPrefix(std::span<const int32_t> a, std::span<const int32_t> b) {
  const size_t n = std::min(a.size(), b.size());
  size_t i = 0;
  while (i < n && a[i] == b[i]) ++i;
  return i;
}

// Whether the other requests can take at least one whole cached block from the first's.
bool LeaderFirstPays(const Item& item) {
  if (item.requests.size() < 2) return false;
  const Request& first = item.requests[0];
  for (size_t r = 1; r < item.requests.size(); ++r) {
    const Request& other = item.requests[r];
    // A request reuses cached positions only before its first scored row.
    const size_t shared = std::min(CommonPrefix(first.ids, other.ids), other.from);
    if (shared < kKvBlockPositions) return false;
  }
  return true;
}

}  // namespace

ScorerStats ScoreItems(
    const gemma_rt::Model& model, size_t items, const std::function<ScoringItem(size_t)>& make_item,
    const std::function<void(size_t, std::span<const ContinuationScore>)>& on_item,
    const ScorerOptions& options, const std::function<void(const ScorerProgress&)>& progress) {
  if (options.max_sequences == 0) throw std::invalid_argument("--parallel must be at least 1");
  const gemma_rt::ModelInfo info = model.info();
  ScorerStats stats{.items = items};

  // Declared before the engine: its callbacks use them until it is gone.
  std::mutex mutex;
  std::condition_variable changed;
  std::deque<std::unique_ptr<Item>> live;  // submitted, not reported yet; front: the oldest
  std::deque<Item*> released;              // items whose other requests may go now
  size_t in_engine = 0;                    // requests submitted and not finished

  const size_t kv_positions =
      std::max<size_t>(static_cast<size_t>(info.max_context), options.max_sequences * 1024);
  gemma_rt::Engine engine(model, {.max_sequences = options.max_sequences,
                                  .step_tokens = options.step_tokens,
                                  .kv_bytes = KvBytesFor(info, kv_positions),
                                  .prefix_cache = options.prefix_reuse,
                                  .max_prompt_logit_rows = options.max_logit_rows});

  const auto release = [&](Item* item) {
    // Engine thread: the first request's context is in the cache (or it ended).
    if (!item->leader_first || item->leader_signalled) return;
    item->leader_signalled = true;
    std::lock_guard lock(mutex);
    released.push_back(item);
    changed.notify_all();
  };
  const auto submit = [&](Item* item, size_t r) {
    Request& q = item->requests[r];
    {
      std::lock_guard lock(mutex);
      ++in_engine;
    }
    try {
      engine.Submit({.prompt_ids = std::vector<int32_t>(q.ids.begin(), q.ids.end() - 1),
                     .options = {.max_tokens = 1, .sampling = {.temperature = 0.0f}},
                     .on_done =
                         [&, item, r](const gemma_rt::RequestResult& result) {
                           if (r == 0) release(item);
                           std::lock_guard lock(mutex);
                           stats.cached_tokens += result.cached_prompt_tokens;
                           stats.prompt_tokens +=
                               result.prompt_tokens - result.cached_prompt_tokens;
                           item->requests[r].error = RequestError(result);
                           ++item->finished;
                           --in_engine;
                           changed.notify_all();
                         },
                     .prompt_logits_from = q.from,
                     .on_prompt_logits =
                         [&, item, r](size_t position, std::span<const float> row) {
                           Request& request = item->requests[r];
                           const int32_t target = request.ids[position + 1];
                           const RowSoftmax softmax = AnalyzeRow(row);
                           request.score.loglikelihood += softmax.LogProb(row, target);
                           request.score.greedy = request.score.greedy && softmax.argmax == target;
                           ++request.rows;
                           if (r == 0) release(item);
                         }});
    } catch (const std::exception& e) {
      std::lock_guard lock(mutex);
      --in_engine;
      throw std::runtime_error(item->where + ": " + e.what());
    }
  };
  const auto add_item = [&](size_t index) {
    ScoringItem made = make_item(index);
    auto item = std::make_unique<Item>();
    item->index = index;
    item->where = std::move(made.where);
    if (made.requests.empty()) throw std::runtime_error(item->where + ": no choices to score");
    for (ContinuationRequest& q : made.requests) {
      if (q.context.empty() || q.continuation.empty()) {
        throw std::runtime_error(item->where + ": a choice's " +
                                 (q.context.empty() ? "context" : "continuation") +
                                 " has no tokens");
      }
      Request request;
      request.from = q.context.size() - 1;
      request.ids = std::move(q.context);
      request.ids.insert(request.ids.end(), q.continuation.begin(), q.continuation.end());
      item->requests.push_back(std::move(request));
    }
    item->leader_first = options.prefix_reuse && LeaderFirstPays(*item);
    stats.requests += item->requests.size();
    Item* raw = item.get();
    {
      std::lock_guard lock(mutex);
      live.push_back(std::move(item));
    }
    const size_t now = raw->leader_first ? 1 : raw->requests.size();
    for (size_t r = 0; r < now; ++r) submit(raw, r);
  };

  const auto start = std::chrono::steady_clock::now();
  // Requests waiting in the engine's queue beyond its slots keep every step full; at most
  // max_sequences items in flight, so that an item's other requests are not queued behind
  // many newer first requests.
  const size_t target_in_engine = 2 * options.max_sequences;
  size_t next_item = 0, reported = 0;
  const auto can_add = [&] {  // under the mutex
    return next_item < items && in_engine < target_in_engine && live.size() < options.max_sequences;
  };
  std::vector<ContinuationScore> scores;
  while (reported < items) {
    while (true) {
      {
        std::lock_guard lock(mutex);
        if (!can_add()) break;
      }
      add_item(next_item++);
    }
    std::deque<Item*> to_release;
    Item* front = nullptr;
    {
      std::unique_lock lock(mutex);
      changed.wait(lock, [&] {
        return !released.empty() ||
               (!live.empty() && live.front()->finished == live.front()->requests.size()) ||
               can_add();
      });
      to_release.swap(released);
      if (!live.empty() && live.front()->finished == live.front()->requests.size()) {
        front = live.front().get();
      }
    }
    for (Item* item : to_release) {
      for (size_t r = 1; r < item->requests.size(); ++r) submit(item, r);
    }
    while (front != nullptr) {
      // Every request of the front item has ended: its scores are final.
      scores.clear();
      for (const Request& q : front->requests) {
        if (!q.error.empty()) throw std::runtime_error(front->where + ": " + q.error);
        if (q.rows != q.ids.size() - 1 - q.from) {
          throw std::runtime_error(front->where + ": the engine gave " + std::to_string(q.rows) +
                                   " rows of logits, not " +
                                   std::to_string(q.ids.size() - 1 - q.from));
        }
        scores.push_back(q.score);
      }
      on_item(front->index, scores);
      ++reported;
      if (progress) {
        progress({.items_done = reported, .items = items, .seconds = SecondsSince(start)});
      }
      std::lock_guard lock(mutex);
      live.pop_front();
      front = !live.empty() && live.front()->finished == live.front()->requests.size()
                  ? live.front().get()
                  : nullptr;
    }
  }
  stats.seconds = SecondsSince(start);
  std::lock_guard lock(mutex);
  return stats;
}

}  // namespace gemma::eval
