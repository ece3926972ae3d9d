#include "engine/engine.h"

#include <algorithm>
#include <chrono>
#include <optional>

#include "base/error.h"
#include "engine/token_generator.h"
#include "model/sequence_kv.h"

namespace gemma {
namespace {

using Clock = std::chrono::steady_clock;

double SecondsSince(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

uint64_t DefaultKvBytes(const ModelConfig& c, const EngineOptions& o) {
  const uint64_t positions =
      std::max<uint64_t>(o.max_sequences * 2048, static_cast<uint64_t>(c.max_position_embeddings));
  return positions * KVPool::BytesPerBlock(c, 1, o.kv_dtype);
}

size_t BlocksFor(const ModelConfig& c, const EngineOptions& o) {
  const uint64_t bytes = o.kv_bytes != 0 ? o.kv_bytes : DefaultKvBytes(c, o);
  return static_cast<size_t>(bytes / KVPool::BytesPerBlock(c, o.block_size, o.kv_dtype));
}

}  // namespace

struct Engine::Sequence {
  uint64_t id = 0;
  EngineRequest request;
  std::vector<int32_t> tokens;  // prompt, then every generated id
  // The ids as the prefix cache keys them: a generated id complemented (~id), because its
  // keys and values come from the decode kernels and a prompt id's from the blocked kernel
  // (RowArithmetic::kRowInvariant): a block is reused only where it holds the same numbers.
  std::vector<int32_t> keys;
  size_t context = 0;
  std::optional<SequenceKV> kv;
  std::optional<TokenGenerator> generator;
  uint64_t admitted = 0;     // admission order; the newest running one is preempted first
  size_t cached_prompt = 0;  // prompt positions taken from the prefix cache
  size_t prompt_logits_next = EngineRequest::kNoPromptLogits;  // first position still owed
  bool finished = false;

  size_t uncomputed() const { return tokens.size() - kv->length(); }
  size_t prompt_size() const { return request.prompt.size(); }
  bool in_prompt() const { return kv->length() < prompt_size(); }
  // Prompt positions [begin, end) of [first, first + count) whose logits are owed.
  std::pair<size_t, size_t> PromptLogitRows(size_t first, size_t count) const {
    const size_t begin = std::max(first, prompt_logits_next);
    const size_t end = std::min(first + count, request.prompt.size());
    return {begin, std::max(begin, end)};
  }
};

Engine::Engine(const ModelWeights& weights, const Tokenizer* tokenizer, ThreadPool& pool,
               const EngineOptions& options)
    : weights_(weights),
      tokenizer_(tokenizer),
      pool_(pool),
      options_(options),
      workspace_(weights.config, std::max<size_t>(options.step_tokens, options.max_sequences)) {
  if (options.max_sequences == 0 || options.max_sequences > 4096) {
    Fail(ErrorCode::kInvalidArgument, "engine: max_sequences must be 1..4096, got ",
         options.max_sequences);
  }
  if (options.step_tokens == 0 || options.step_tokens > 65536) {
    Fail(ErrorCode::kInvalidArgument, "engine: step_tokens must be 1..65536, got ",
         options.step_tokens);
  }
  if (options.max_prompt_logit_rows == 0 || options.max_prompt_logit_rows > 65536) {
    // With none, a request owed prompt logits would never advance.
    Fail(ErrorCode::kInvalidArgument, "engine: max_prompt_logit_rows must be 1..65536, got ",
         options.max_prompt_logit_rows);
  }
  const size_t blocks = BlocksFor(weights.config, options_);
  if (blocks == 0) {
    Fail(ErrorCode::kInvalidArgument, "engine: a KV budget of ", options.kv_bytes,
         " bytes holds no block of ", options.block_size, " positions (",
         KVPool::BytesPerBlock(weights.config, options.block_size, options.kv_dtype), " bytes)");
  }
  kv_ = std::make_unique<KVPool>(weights.config, blocks, options.block_size, options.kv_dtype);
  stats_.kv_blocks = blocks;
}

Engine::~Engine() { Stop(); }

uint64_t Engine::Submit(EngineRequest request) {
  const ModelConfig& c = weights_.config;
  if (request.prompt.empty()) Fail(ErrorCode::kInvalidArgument, "the prompt is empty");
  for (size_t i = 0; i < request.prompt.size(); ++i) {
    if (request.prompt[i] < 0 || request.prompt[i] >= c.vocab_size) {
      Fail(ErrorCode::kOutOfRange, "token id ", request.prompt[i], " (index ", i,
           " of the prompt) is outside the vocabulary [0, ", c.vocab_size, ")");
    }
  }
  // A bias for an id outside the vocabulary would only fail in the engine's step, where it
  // would take the step's other sequences down with it: refuse it here.
  for (const auto& [id, bias] : request.options.sampling.logit_bias) {
    if (id < 0 || id >= c.vocab_size) {
      Fail(ErrorCode::kOutOfRange, "logit bias for token id ", id, " outside the vocabulary [0, ",
           c.vocab_size, ")");
    }
  }
  const size_t max_context = static_cast<size_t>(c.max_position_embeddings);
  const size_t context = request.context == 0 ? max_context : request.context;
  if (context > max_context) {
    Fail(ErrorCode::kInvalidArgument, "context of ", context,
         " positions exceeds the model's max_position_embeddings (", max_context, ")");
  }
  if (request.prompt.size() > context) {
    Fail(ErrorCode::kOutOfRange, "the prompt has ", request.prompt.size(),
         " tokens but the context holds ", context);
  }
  const size_t pool_positions = kv_->num_blocks() * kv_->block_size();
  if (request.prompt.size() + 1 > pool_positions) {
    Fail(ErrorCode::kOutOfRange, "the prompt has ", request.prompt.size(),
         " tokens but the KV pool holds ", pool_positions, " positions (raise the KV budget)");
  }
  auto s = std::make_unique<Sequence>();
  // Validates the sampling options and stop strings now, in the caller's thread.
  s->generator.emplace(request.options, tokenizer_, c.eos_token_id);
  s->tokens = request.prompt;
  s->keys = request.prompt;
  s->prompt_logits_next = request.prompt_logits_from;
  if (request.prompt_logits_from != EngineRequest::kNoPromptLogits &&
      (request.prompt_logits_from >= request.prompt.size() || !request.on_prompt_logits)) {
    Fail(ErrorCode::kInvalidArgument, "prompt logits from position ", request.prompt_logits_from,
         " of a ", request.prompt.size(), "-token prompt (and a callback for them)");
  }
  // A sequence never outgrows the pool: alone, it always fits (kContextFull at its end).
  s->context = std::min(context, pool_positions);
  s->request = std::move(request);
  std::lock_guard lock(mutex_);
  if (stats_.waiting >= options_.max_waiting) {
    Fail(ErrorCode::kResourceExhausted, "the queue is full (", options_.max_waiting,
         " requests waiting)");
  }
  s->id = next_id_++;
  const uint64_t id = s->id;
  incoming_.push_back(std::move(s));
  ++stats_.waiting;
  wake_.notify_one();
  return id;
}

void Engine::Cancel(uint64_t id) {
  std::lock_guard lock(mutex_);
  cancelled_.insert(id);
  wake_.notify_one();
}

EngineStats Engine::stats() const {
  std::lock_guard lock(mutex_);
  return stats_;
}

void Engine::TakeIncoming() {
  std::unordered_set<uint64_t> cancelled;
  {
    std::lock_guard lock(mutex_);
    for (auto& s : incoming_) waiting_.push_back(std::move(s));
    incoming_.clear();
    cancelled.swap(cancelled_);
  }
  if (cancelled.empty()) return;
  for (auto& s : waiting_) {
    if (cancelled.count(s->id)) Finish(*s, StopReason::kCancelled);
  }
  for (auto& s : running_) {
    if (cancelled.count(s->id)) Finish(*s, StopReason::kCancelled);
  }
  FinishRemoved();
}

// Ends a sequence: the rest of its text, its blocks back to the pool, on_done. It is
// removed from the queues by FinishRemoved.
void Engine::Finish(Sequence& s, StopReason reason, std::string error) {
  if (s.finished) return;
  s.finished = true;
  const std::string tail = s.generator->Finish(reason);
  if (!tail.empty() && error.empty()) CallOnToken(s, kNoToken, tail);
  if (s.kv) s.kv->Clear();
  {
    // Whoever learns of the end from on_done sees the blocks back in the figures.
    std::lock_guard lock(mutex_);
    stats_.kv_blocks_used = kv_->referenced();
  }
  if (s.request.on_done) {
    try {
      s.request.on_done({.generation = s.generator->result(),
                         .prompt_tokens = s.request.prompt.size(),
                         .cached_prompt_tokens = s.cached_prompt,
                         .error = std::move(error)});
    } catch (...) {
      // The request is over either way; a throwing callback must not stop the engine.
    }
  }
}

// The user's token callback; an exception from it ends the request like returning false.
bool Engine::CallOnToken(Sequence& s, int32_t id, std::string_view text) {
  if (!s.request.on_token) return true;
  try {
    return s.request.on_token(id, text);
  } catch (...) {
    return false;
  }
}

void Engine::FinishRemoved() {
  const auto gone = [](const std::unique_ptr<Sequence>& s) { return s->finished; };
  const size_t before = waiting_.size() + running_.size();
  waiting_.erase(std::remove_if(waiting_.begin(), waiting_.end(), gone), waiting_.end());
  running_.erase(std::remove_if(running_.begin(), running_.end(), gone), running_.end());
  std::lock_guard lock(mutex_);
  stats_.finished += before - waiting_.size() - running_.size();
}

// Takes blocks for everything the sequence has not computed (reusing cached prefix blocks);
// false, with nothing held, when the pool cannot provide them now.
bool Engine::Admit(Sequence& s) {
  if (!s.kv) s.kv.emplace(*kv_, options_.prefix_cache);
  size_t cached = 0;
  if (options_.prefix_cache) {
    // Its last token is always computed (its logits pick the next one), and so are the
    // positions whose logits are owed.
    // Keyed like its blocks were published: a preempted sequence's generated positions
    // match only blocks computed as generated positions.
    cached = s.kv->AttachCachedPrefix(s.keys, std::min(s.tokens.size() - 1, s.prompt_logits_next));
  }
  if (!s.kv->Reserve(s.tokens.size() - s.kv->length())) {
    s.kv->Clear();
    return false;
  }
  if (s.admitted == 0) {  // a preempted sequence's recomputation is not a prompt hit
    s.cached_prompt = std::min(cached, s.request.prompt.size());
    std::lock_guard lock(mutex_);
    stats_.cached_tokens += s.cached_prompt;
  }
  s.admitted = ++admissions_;
  return true;
}

// Releases a running sequence's blocks (they stay in the prefix cache) and puts it
// back at the front of the queue; it is recomputed from its tokens when readmitted.
void Engine::Preempt(Sequence& s) {
  s.kv->Clear();
  const auto it = std::find_if(running_.begin(), running_.end(),
                               [&](const std::unique_ptr<Sequence>& r) { return r.get() == &s; });
  waiting_.push_front(std::move(*it));
  running_.erase(it);
  std::lock_guard lock(mutex_);
  ++stats_.preemptions;
}

bool Engine::Step() {
  TakeIncoming();
  // Requests that generate nothing end without computing anything.
  for (auto& s : waiting_) {
    if (s->generator->reached_max_tokens()) Finish(*s, StopReason::kMaxTokens);
  }
  FinishRemoved();
  // Admission, oldest first, while there are slots and blocks.
  while (!waiting_.empty() && running_.size() < options_.max_sequences &&
         Admit(*waiting_.front())) {
    running_.push_back(std::move(waiting_.front()));
    waiting_.pop_front();
  }
  if (running_.empty()) {
    UpdateStats({});
    return false;
  }

  // Generated positions first: a decode row for each generating sequence (after a
  // preemption, every generated token being recomputed). When the pool has no block for
  // them, the newest running sequence is preempted (it may be this one).
  size_t budget = std::max(options_.step_tokens, options_.max_sequences);
  for (size_t i = 0; i < running_.size(); ++i) {
    Sequence& s = *running_[i];
    if (s.in_prompt()) continue;
    bool preempted_self = false;
    while (!s.kv->Reserve(s.uncomputed())) {
      Sequence& victim = *running_.back();
      preempted_self = &victim == &s;
      Preempt(victim);
      if (preempted_self) break;
    }
    if (preempted_self) break;  // everything after it was newer and is gone too
  }

  batch_tokens_.clear();
  batch_segments_.clear();
  batch_logits_for_.clear();
  std::vector<Planned>& planned = planned_;  // reused: a step allocates nothing once warm
  planned.clear();
  size_t logit_budget = options_.max_prompt_logit_rows;
  const auto plan = [&](Sequence& s, size_t count) {
    const size_t first = s.kv->length();
    // No more owed prompt-logit rows than the step's budget.
    auto [begin, end] = s.PromptLogitRows(first, count);
    if (end - begin > logit_budget) {
      end = begin + logit_budget;
      count = end - first;
      if (count == 0) return;
    }
    logit_budget -= end - begin;
    batch_tokens_.insert(batch_tokens_.end(), s.tokens.begin() + long(first),
                         s.tokens.begin() + long(first + count));
    planned.push_back({&s, count, begin, end, first + count == s.tokens.size()});
    budget -= count;
  };
  // A segment lies on one side of its sequence's prompt/generated boundary, and the
  // generated side comes first in the batch (model/batch.h).
  for (auto& s : running_) {
    if (budget == 0) break;
    if (!s->in_prompt() && s->uncomputed() > 0) plan(*s, std::min(budget, s->uncomputed()));
  }
  if (!planned.empty() && options_.prefill_tokens_while_decoding != 0) {
    budget = std::min(budget, options_.prefill_tokens_while_decoding);
  }
  for (auto& s : running_) {
    if (budget == 0) break;
    if (s->in_prompt()) plan(*s, std::min(budget, s->prompt_size() - s->kv->length()));
  }
  // Every segment's wanted rows: owed prompt positions, then (if not among them) its last.
  std::vector<std::pair<size_t, size_t>>& wanted_range = wanted_range_;  // batch_logits_for_
  wanted_range.clear();
  for (const Planned& p : planned) {
    const size_t first = p.sequence->kv->length();
    const size_t begin = batch_logits_for_.size();
    for (size_t at = p.prompt_logits_begin; at < p.prompt_logits_end; ++at) {
      batch_logits_for_.push_back(at - first);
    }
    if (p.wants_last &&
        (batch_logits_for_.size() == begin || batch_logits_for_.back() != p.tokens - 1)) {
      batch_logits_for_.push_back(p.tokens - 1);
    }
    wanted_range.emplace_back(begin, batch_logits_for_.size());
  }
  for (size_t i = 0; i < planned.size(); ++i) {
    const Planned& p = planned[i];
    batch_segments_.push_back(
        {.tokens = p.tokens,
         .first_position = p.sequence->kv->length(),
         .blocks = p.sequence->kv->blocks(),
         .logits_for =
             std::span<const size_t>(batch_logits_for_)
                 .subspan(wanted_range[i].first, wanted_range[i].second - wanted_range[i].first),
         .generated_from = p.sequence->prompt_size()});
  }
  const size_t wanted = batch_logits_for_.size();
  const size_t vocab = static_cast<size_t>(weights_.config.vocab_size);
  // Grows to the most rows a step has wanted (at most max_sequences + max_prompt_logit_rows),
  // so generation alone never holds the prompt-logit rows' 1 MB each on gemma-2b.
  if (batch_logits_.size() < wanted * vocab) batch_logits_.resize(wanted * vocab);
  const Clock::time_point start = Clock::now();
  try {
    std::optional<std::lock_guard<std::mutex>> lock;
    if (options_.pool_mutex) lock.emplace(*options_.pool_mutex);
    Forward(weights_,
            {.tokens = batch_tokens_,
             .segments = batch_segments_,
             .logits = std::span<float>(batch_logits_.data(), wanted * vocab),
             .arithmetic = RowArithmetic::kRowInvariant},
            *kv_, workspace_, pool_);
  } catch (const std::exception& e) {
    // Everything was validated at Submit, so this is a bug or an allocation failure: the
    // step's sequences fail with the message, the others go on.
    for (const Planned& p : planned) Finish(*p.sequence, StopReason::kCancelled, e.what());
    FinishRemoved();
    UpdateStats({});
    return true;
  }
  const double seconds = SecondsSince(start);

  // Owed prompt logits go out; each sequence whose rows reached its last token picks its
  // next one.
  size_t logits_row = 0;
  uint64_t prompt_tokens = 0, generated = 0;
  for (const Planned& p : planned) {
    Sequence& s = *p.sequence;
    const size_t first = s.kv->length();
    s.kv->Commit(std::span(s.keys).subspan(first, p.tokens));
    if (p.tokens == 1 && !s.generator->result().ids.empty()) {
      GenerateResult& r = s.generator->result();
      r.decode_seconds += seconds;
      ++r.decode_steps;
    } else {
      prompt_tokens += p.tokens;
    }
    const auto row = [&](size_t i) {
      return std::span<const float>(&batch_logits_[i * vocab], vocab);
    };
    bool failed = false;
    for (size_t at = p.prompt_logits_begin; at < p.prompt_logits_end; ++at) {
      try {
        s.request.on_prompt_logits(at, row(logits_row));
      } catch (...) {
        failed = true;  // like a token callback that returns false
      }
      s.prompt_logits_next = at + 1;
      if (!(p.wants_last && at == first + p.tokens - 1)) ++logits_row;
    }
    if (failed) {
      Finish(s, StopReason::kCallback);
      if (p.wants_last) ++logits_row;
      continue;
    }
    if (!p.wants_last) continue;
    const std::span<const float> logits = row(logits_row++);
    if (s.request.on_logits) s.request.on_logits(logits);
    TokenGenerator::Sampled sampled = s.generator->Sample(logits, s.tokens, sampler_scratch_);
    std::optional<StopReason> stop = sampled.stop;
    if (sampled.id) {
      s.tokens.push_back(*sampled.id);
      s.keys.push_back(~*sampled.id);
      ++generated;
      if (!CallOnToken(s, *sampled.id, sampled.text)) stop = StopReason::kCallback;
    }
    if (!stop && s.tokens.size() >= s.context) stop = StopReason::kContextFull;
    if (stop) Finish(s, *stop);
  }
  FinishRemoved();
  UpdateStats({.steps = 1, .prompt_tokens = prompt_tokens, .generated_tokens = generated});
  return true;
}

void Engine::UpdateStats(const EngineStats& added) {
  std::lock_guard lock(mutex_);
  stats_.steps += added.steps;
  stats_.prompt_tokens += added.prompt_tokens;
  stats_.generated_tokens += added.generated_tokens;
  stats_.waiting = waiting_.size() + incoming_.size();
  stats_.running = running_.size();
  stats_.kv_blocks_used = kv_->referenced();
  stats_.kv_blocks_cached = kv_->published();
}

void Engine::RunUntilIdle() {
  while (true) {
    const bool worked = Step();
    std::lock_guard lock(mutex_);
    if (!worked && incoming_.empty() && waiting_.empty() && running_.empty()) return;
  }
}

void Engine::Loop() {
  while (true) {
    {
      std::unique_lock lock(mutex_);
      wake_.wait(lock, [&] {
        return stop_ || !incoming_.empty() || !cancelled_.empty() || !waiting_.empty() ||
               !running_.empty();
      });
      if (stop_) return;
    }
    Step();
  }
}

void Engine::Start() {
  std::lock_guard lock(mutex_);
  if (thread_.joinable()) return;
  stop_ = false;
  thread_ = std::thread([this] { Loop(); });
}

void Engine::Stop() {
  {
    std::lock_guard lock(mutex_);
    stop_ = true;
    wake_.notify_all();
  }
  if (thread_.joinable()) thread_.join();
  // Whatever is left is cancelled, so every on_done is called once.
  TakeIncoming();
  for (auto& s : waiting_) Finish(*s, StopReason::kCancelled);
  for (auto& s : running_) Finish(*s, StopReason::kCancelled);
  FinishRemoved();
}

}  // namespace gemma
