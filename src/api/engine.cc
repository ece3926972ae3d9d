// The public Engine over gemma::Engine: requests in, pieces out through a handle that any
// thread can poll, the model's lock shared with its Sessions.
#include "gemma_rt/engine.h"

#include <condition_variable>
#include <deque>
#include <mutex>

#include "api/conversions.h"
#include "api/model_impl.h"
#include "base/error.h"
#include "engine/engine.h"

namespace gemma_rt {

struct RequestHandle::State {
  uint64_t id = 0;
  gemma::Engine* engine = nullptr;
  mutable std::mutex mutex;
  std::condition_variable changed;
  std::deque<Piece> pieces;
  bool done = false;
  RequestResult result;
};

uint64_t RequestHandle::id() const { return state_->id; }

bool RequestHandle::Next(Piece* piece) {
  std::unique_lock lock(state_->mutex);
  state_->changed.wait(lock, [&] { return !state_->pieces.empty() || state_->done; });
  if (state_->pieces.empty()) return false;
  *piece = std::move(state_->pieces.front());
  state_->pieces.pop_front();
  return true;
}

RequestResult RequestHandle::Wait() {
  std::unique_lock lock(state_->mutex);
  state_->changed.wait(lock, [&] { return state_->done; });
  return state_->result;
}

bool RequestHandle::done() const {
  std::lock_guard lock(state_->mutex);
  return state_->done;
}

void RequestHandle::Cancel() { state_->engine->Cancel(state_->id); }

struct Engine::Impl {
  std::shared_ptr<Model::Impl> model;
  gemma::Engine engine;

  Impl(std::shared_ptr<Model::Impl> m, const EngineOptions& o)
      : model(std::move(m)),
        engine(
            model->weights, model->tokenizer.get(), *model->pool,
            {.max_sequences = o.max_sequences,
             .step_tokens = o.step_tokens,
             .prefill_tokens_while_decoding = o.prefill_tokens_while_decoding,
             .kv_bytes = o.kv_bytes,
             .prefix_cache = o.prefix_cache,
             .max_waiting = o.max_waiting,
             .pool_mutex = &model->mutex,
             .max_prompt_logit_rows = o.max_prompt_logit_rows,
             .kv_dtype = o.kv_type == KvType::kBF16 ? gemma::DType::kBF16 : gemma::DType::kF32}) {}
};

Engine::Engine(const Model& model, const EngineOptions& options)
    : impl_(std::make_unique<Impl>(model.impl_, options)) {
  impl_->engine.Start();
}

Engine::~Engine() { impl_->engine.Stop(); }

RequestHandle Engine::Submit(Request request) {
  std::vector<int32_t> ids = std::move(request.prompt_ids);
  if (ids.empty()) {
    if (!impl_->model->tokenizer) {
      gemma::Fail(gemma::ErrorCode::kNotFound, "model ", impl_->model->weights.origin,
                  " has no tokenizer: give prompt_ids instead of a text prompt");
    }
    ids = impl_->model->tokenizer->Encode(request.prompt, /*add_bos=*/true);
  }
  RequestHandle handle;
  handle.state_ = std::make_shared<RequestHandle::State>();
  handle.state_->engine = &impl_->engine;
  const std::shared_ptr<RequestHandle::State> state = handle.state_;
  gemma::EngineRequest internal{
      .prompt = std::move(ids),
      .options = ToInternal(request.options),
      .context = request.context,
      .on_token =
          [state, user = std::move(request.on_token)](int32_t id, std::string_view text) {
            {
              std::lock_guard lock(state->mutex);
              state->pieces.push_back({.id = id, .text = std::string(text)});
            }
            state->changed.notify_all();
            return user ? user(id, text) : true;
          },
      .on_done =
          [state, user = std::move(request.on_done)](const gemma::EngineResult& r) {
            RequestResult result{.ids = r.generation.ids,
                                 .text = r.generation.text,
                                 .stop_reason = static_cast<StopReason>(r.generation.stop_reason),
                                 .prompt_tokens = r.prompt_tokens,
                                 .cached_prompt_tokens = r.cached_prompt_tokens,
                                 .first_token_seconds = r.generation.first_token_seconds,
                                 .decode_tokens_per_second = TokensPerSecond(r.generation),
                                 .error = r.error};
            if (user) user(result);
            {
              std::lock_guard lock(state->mutex);
              state->result = std::move(result);
              state->done = true;
            }
            state->changed.notify_all();
          },
      .on_logits = std::move(request.on_logits),
      .prompt_logits_from = request.prompt_logits_from,
      .on_prompt_logits = std::move(request.on_prompt_logits)};
  state->id = impl_->engine.Submit(std::move(internal));
  return handle;
}

EngineStats Engine::stats() const {
  const gemma::EngineStats s = impl_->engine.stats();
  return {.waiting = s.waiting,
          .running = s.running,
          .kv_blocks = s.kv_blocks,
          .kv_blocks_used = s.kv_blocks_used,
          .kv_blocks_cached = s.kv_blocks_cached,
          .kv_block_positions = impl_->engine.options().block_size,
          .steps = s.steps,
          .prompt_tokens = s.prompt_tokens,
          .cached_tokens = s.cached_tokens,
          .generated_tokens = s.generated_tokens,
          .preemptions = s.preemptions,
          .finished = s.finished};
}

}  // namespace gemma_rt
