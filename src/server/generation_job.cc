#include "server/generation_job.h"

#include <algorithm>

namespace gemma_rt::server {

// Everything the engine's callbacks touch: it lives as long as the last of them.
struct GenerationJob::Shared {
  std::mutex mutex;
  std::condition_variable changed;
  std::deque<JobEvent> events;
  std::vector<Choice> choices;
  std::vector<std::vector<float>> last_row;  // per choice: the row its next id is drawn from
  size_t running = 0;
  std::function<void(size_t)> release;

  void Push(JobEvent event) {
    {
      std::lock_guard lock(mutex);
      events.push_back(std::move(event));
    }
    changed.notify_all();
  }
};

GenerationJob::GenerationJob(Engine& engine, std::vector<ChoiceSpec> choices, int top_logprobs,
                             bool echo_logprobs, std::function<void(size_t)> release)
    : engine_(engine),
      shared_(std::make_shared<Shared>()),
      specs_(std::move(choices)),
      top_logprobs_(top_logprobs),
      echo_logprobs_(echo_logprobs) {
  shared_->choices.resize(specs_.size());
  shared_->last_row.resize(specs_.size());
  shared_->release = std::move(release);
  for (size_t i = 0; i < specs_.size(); ++i) shared_->choices[i].prompt_ids = specs_[i].prompt_ids;
}

GenerationJob::~GenerationJob() { Cancel(); }

void GenerationJob::Submit() {
  const size_t k = top_logprobs_ < 0 ? 0 : static_cast<size_t>(top_logprobs_);
  const bool logprobs = top_logprobs_ >= 0;
  for (size_t i = 0; i < specs_.size(); ++i) {
    Request r{.prompt_ids = specs_[i].prompt_ids, .options = specs_[i].options};
    std::shared_ptr<Shared> shared = shared_;
    if (logprobs) {
      // The row is kept until its id is known (on_token comes right after, same step).
      r.on_logits = [shared, i](std::span<const float> logits) {
        shared->last_row[i].assign(logits.begin(), logits.end());
      };
    }
    r.on_token = [shared, i, k, logprobs](int32_t id, std::string_view text) {
      JobEvent e{.choice = i, .id = id, .text = std::string(text)};
      if (logprobs && id >= 0 && !shared->last_row[i].empty()) {
        e.logprob = LogprobOf(shared->last_row[i], id, k);
      }
      shared->Push(std::move(e));
      return true;
    };
    if (logprobs && echo_logprobs_ && specs_[i].prompt_ids.size() > 1) {
      r.prompt_logits_from = 0;
      r.on_prompt_logits = [shared, i, k](size_t position, std::span<const float> logits) {
        const std::vector<int32_t>& prompt = shared->choices[i].prompt_ids;
        if (position + 1 >= prompt.size()) return;  // the last row predicts a generated id
        TokenLogprob lp = LogprobOf(logits, prompt[position + 1], k);
        std::lock_guard lock(shared->mutex);
        shared->choices[i].prompt_logprobs.push_back(std::move(lp));
      };
    }
    r.on_done = [shared, i](const RequestResult& result) {
      std::function<void(size_t)> release;
      {
        std::lock_guard lock(shared->mutex);
        shared->choices[i].result = result;
        shared->choices[i].done = true;
        shared->last_row[i] = {};
        --shared->running;
        release = shared->release;
        shared->events.push_back({.choice = i, .done = true});
      }
      shared->changed.notify_all();
      if (release) release(1);
    };
    {
      std::lock_guard lock(shared_->mutex);
      ++shared_->running;
    }
    try {
      handles_.push_back(engine_.Submit(std::move(r)));
    } catch (...) {
      {
        std::lock_guard lock(shared_->mutex);
        --shared_->running;
        // This choice and those after it never reached the engine.
        for (size_t j = i; j < specs_.size(); ++j) {
          shared_->choices[j].done = true;
          shared_->choices[j].result.stop_reason = StopReason::kCancelled;
        }
      }
      if (shared_->release) shared_->release(specs_.size() - i);
      Cancel();
      throw;
    }
  }
}

bool GenerationJob::Wait(std::chrono::milliseconds timeout, std::vector<JobEvent>* events) {
  std::unique_lock lock(shared_->mutex);
  shared_->changed.wait_for(lock, timeout, [&] { return !shared_->events.empty(); });
  while (!shared_->events.empty()) {
    events->push_back(std::move(shared_->events.front()));
    shared_->events.pop_front();
  }
  return shared_->running == 0 && shared_->events.empty() &&
         std::all_of(shared_->choices.begin(), shared_->choices.end(),
                     [](const Choice& c) { return c.done; });
}

void GenerationJob::Cancel() {
  for (RequestHandle& h : handles_) {
    if (!h.done()) h.Cancel();
  }
}

size_t GenerationJob::size() const { return specs_.size(); }

const GenerationJob::Choice& GenerationJob::choice(size_t i) const { return shared_->choices[i]; }

}  // namespace gemma_rt::server
