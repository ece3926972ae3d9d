// The public API over the engine: conversions between the public option structs and the
// internal ones, and one mutex per model because sessions share its thread pool. The
// mutex is held only around forward passes (gemma::SessionOptions::pool_mutex), never
// while a user's callback runs, so a callback may use other sessions of the same model.
#include "gemma_rt/gemma_rt.h"

#include <mutex>
#include <thread>

#include "api/conversions.h"
#include "api/model_impl.h"
#include "base/error.h"
#include "base/threads.h"
#include "engine/chat.h"
#include "engine/generate.h"
#include "engine/model_tokenizer.h"
#include "engine/session.h"
#include "kernels/thread_pool.h"
#include "model/model_loader.h"
#include "model/weights.h"
#include "tokenizer/tokenizer.h"

namespace gemma_rt {

Model::Model(std::shared_ptr<Impl> impl) : impl_(std::move(impl)) {}
Model::Model(Model&&) noexcept = default;
Model& Model::operator=(Model&&) noexcept = default;
Model::~Model() = default;

Model Model::Load(const ModelOptions& options) {
  auto impl = std::make_shared<Impl>();
  // A .gguf file or a Hugging Face directory; the tokenizer comes with either.
  impl->weights = gemma::LoadModelWeights(
      options.path, {.quant_dot = options.exact_quantized_products ? gemma::QuantDot::kFloat32
                                                                   : gemma::QuantDot::kInt8});
  impl->tokenizer = gemma::LoadModelTokenizer(options.path, options.tokenizer);
  impl->pool = std::make_unique<gemma::ThreadPool>(
      gemma::ResolveThreadCount(options.threads, "ModelOptions::threads"));
  return Model(std::move(impl));
}

ModelInfo Model::info() const {
  const gemma::ModelConfig& c = impl_->weights.config;
  return {.vocab_size = c.vocab_size,
          .hidden_size = c.hidden_size,
          .layers = c.num_hidden_layers,
          .heads = c.num_attention_heads,
          .kv_heads = c.num_key_value_heads,
          .head_dim = c.head_dim,
          .max_context = c.max_position_embeddings,
          .weight_bytes = impl_->weights.WeightBytes()};
}

bool Model::has_tokenizer() const { return impl_->tokenizer != nullptr; }

namespace {
const gemma::Tokenizer& RequireTokenizer(const std::unique_ptr<gemma::Tokenizer>& t,
                                         const std::string& origin) {
  if (!t) {
    gemma::Fail(gemma::ErrorCode::kNotFound, "model ", origin,
                " has no tokenizer.json or tokenizer.model: pass token ids instead of text");
  }
  return *t;
}
}  // namespace

std::vector<int32_t> Model::Tokenize(std::string_view text, bool add_bos) const {
  return RequireTokenizer(impl_->tokenizer, impl_->weights.origin).Encode(text, add_bos);
}

std::string Model::Detokenize(std::span<const int32_t> ids) const {
  return RequireTokenizer(impl_->tokenizer, impl_->weights.origin).Decode(ids);
}

const char* StopReasonName(StopReason reason) {
  return gemma::StopReasonName(static_cast<gemma::StopReason>(reason));
}

struct Session::Impl {
  std::shared_ptr<Model::Impl> model;
  gemma::Session session;
  bool busy = false;  // a call is running (re-entered only from its own callback)
};

namespace {
// Marks a session busy for one call; a call from the session's own token callback would
// change the context under the running generation, so it is refused with a clear error.
class BusyGuard {
 public:
  explicit BusyGuard(bool& busy) : busy_(busy) {
    if (busy_) {
      gemma::Fail(gemma::ErrorCode::kInvalidArgument,
                  "gemma_rt::Session: called from its own token callback while it generates; "
                  "a callback may use other sessions, not the one that is calling it");
    }
    busy_ = true;
  }
  ~BusyGuard() { busy_ = false; }

 private:
  bool& busy_;
};
}  // namespace

Session::Session(const Model& model, const SessionOptions& options)
    : impl_(new Impl{.model = model.impl_,
                     .session = gemma::Session(model.impl_->weights, *model.impl_->pool,
                                               {.context = options.context,
                                                .prefill_chunk = options.prefill_chunk,
                                                .pool_mutex = &model.impl_->mutex})}) {}
Session::Session(Session&&) noexcept = default;
Session& Session::operator=(Session&&) noexcept = default;
Session::~Session() = default;

void Session::Prefill(std::span<const int32_t> ids) {
  BusyGuard busy(impl_->busy);
  impl_->session.Append(ids);
}

void Session::PrefillText(std::string_view text) {
  const std::vector<int32_t> ids =
      RequireTokenizer(impl_->model->tokenizer, impl_->model->weights.origin)
          .Encode(text, /*add_bos=*/impl_->session.position() == 0);
  Prefill(ids);
}

GenerateResult Session::Generate(const GenerateOptions& options, const TokenCallback& callback) {
  const gemma::GenerateOptions internal = ToInternal(options);
  BusyGuard busy(impl_->busy);
  const gemma::GenerateResult r =
      gemma::Generate(impl_->session, impl_->model->tokenizer.get(), internal, callback);
  return {.ids = r.ids,
          .text = r.text,
          .stop_reason = static_cast<StopReason>(r.stop_reason),
          .first_token_seconds = r.first_token_seconds,
          .decode_tokens_per_second = TokensPerSecond(r)};
}

GenerateResult Session::ChatTurn(std::string_view user_text, GenerateOptions options,
                                 const TokenCallback& callback, std::string_view system_text) {
  const bool first = impl_->session.position() == 0;
  PrefillText(gemma::ChatTurnText(user_text, system_text, first));
  options.chat = true;
  return Generate(options, callback);
}

std::span<const float> Session::Logits() const {
  BusyGuard busy(impl_->busy);
  impl_->session.RunPending();  // the last generated id's forward pass, if not run yet
  return impl_->session.logits();
}

std::vector<float> Session::PrefillWithLogits(std::span<const int32_t> ids,
                                              std::span<const size_t> positions) {
  BusyGuard busy(impl_->busy);
  return impl_->session.AppendWithLogits(ids, positions);
}

size_t Session::position() const { return impl_->session.position(); }

void Session::Reset() {
  BusyGuard busy(impl_->busy);
  impl_->session.Reset();
}

}  // namespace gemma_rt
