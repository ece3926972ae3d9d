// The engine requests of one HTTP request (n choices per prompt) and the events they send
// back, for the HTTP thread to wait on with a timeout (RequestHandle::Next has none, and the
// thread must also watch its client). Callbacks run on the engine's thread and only copy
// or compute a log-probability; everything else happens on the HTTP thread.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "gemma_rt/engine.h"
#include "server/logprobs.h"

namespace gemma_rt::server {

struct ChoiceSpec {
  std::vector<int32_t> prompt_ids;
  GenerateOptions options;
};

struct JobEvent {
  size_t choice = 0;
  bool done = false;  // the choice ended (its result is ready)
  int32_t id = -1;    // a generated id, or -1 with held-back text
  std::string text;
  std::optional<TokenLogprob> logprob;  // with log-probabilities asked for
};

class GenerationJob {
 public:
  struct Choice {
    std::vector<int32_t> prompt_ids;
    // Echo: the log-probability of each prompt token after the first, in order.
    std::vector<TokenLogprob> prompt_logprobs;
    RequestResult result;
    bool done = false;
  };

  // top_logprobs: -1 for no log-probabilities, else alternatives per token; echo_logprobs:
  // also the prompt's. release(k) is called (on any thread) when k choices have left the
  // engine, so the caller can count requests in flight.
  GenerationJob(Engine& engine, std::vector<ChoiceSpec> choices, int top_logprobs,
                bool echo_logprobs, std::function<void(size_t)> release);
  ~GenerationJob();  // cancels what is still running
  GenerationJob(const GenerationJob&) = delete;
  GenerationJob& operator=(const GenerationJob&) = delete;

  // Submits every choice; when the engine refuses one, cancels the others and rethrows.
  void Submit();
  // Moves the events that arrive within `timeout` (returns at the first) into *events; true
  // when every choice has ended and every event was taken.
  bool Wait(std::chrono::milliseconds timeout, std::vector<JobEvent>* events);
  void Cancel();
  size_t size() const;
  // After Wait returned true.
  const Choice& choice(size_t i) const;

 private:
  struct Shared;
  Engine& engine_;
  std::shared_ptr<Shared> shared_;
  std::vector<ChoiceSpec> specs_;
  std::vector<RequestHandle> handles_;
  int top_logprobs_;
  bool echo_logprobs_;
};

}  // namespace gemma_rt::server
