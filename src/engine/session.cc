#include "engine/session.h"

#include <algorithm>

#include "base/error.h"

namespace gemma {
namespace {

size_t ContextOf(const ModelConfig& config, const SessionOptions& options) {
  return options.context == 0 ? static_cast<size_t>(config.max_position_embeddings)
                              : options.context;
}

}  // namespace

Session::Session(const ModelWeights& weights, ThreadPool& pool, const SessionOptions& options)
    : weights_(weights),
      pool_(pool),
      cache_(weights.config, ContextOf(weights.config, options)),
      scratch_(weights.config, std::max<size_t>(1, options.prefill_chunk)),
      logits_(weights.config.vocab_size) {}

void Session::Append(std::span<const int32_t> ids, const LayerObserver* observer) {
  if (ids.empty()) Fail(ErrorCode::kInvalidArgument, "Session::Append: no token ids");
  if (position() + ids.size() > context()) {
    Fail(ErrorCode::kOutOfRange, "context full: ", position(), " positions used + ", ids.size(),
         " new tokens exceed the context of ", context(), " positions");
  }
  const int64_t vocab = weights_.config.vocab_size;
  for (size_t i = 0; i < ids.size(); ++i) {
    if (ids[i] < 0 || ids[i] >= vocab) {
      Fail(ErrorCode::kOutOfRange, "token id ", ids[i], " (index ", i,
           " of the input) is outside the vocabulary [0, ", vocab, ")");
    }
  }
  for (size_t begin = 0; begin < ids.size(); begin += scratch_.max_tokens) {
    const std::span<const int32_t> chunk =
        ids.subspan(begin, std::min(scratch_.max_tokens, ids.size() - begin));
    const bool last_chunk = begin + chunk.size() == ids.size();
    const size_t last[] = {chunk.size() - 1};
    Forward(weights_,
            {.tokens = chunk,
             .first_position = position(),
             .logits_for = last_chunk ? std::span<const size_t>(last) : std::span<const size_t>(),
             .logits = last_chunk ? std::span<float>(logits_) : std::span<float>(),
             .observer = observer},
            cache_, scratch_, pool_);
    tokens_.insert(tokens_.end(), chunk.begin(), chunk.end());
  }
  has_logits_ = true;
}

std::span<const float> Session::logits() const {
  return has_logits_ ? std::span<const float>(logits_) : std::span<const float>();
}

void Session::Reset() {
  tokens_.clear();
  has_logits_ = false;
}

}  // namespace gemma
