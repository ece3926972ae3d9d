#include "engine/session.h"

#include <algorithm>
#include <optional>

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
      pool_mutex_(options.pool_mutex),
      logits_(weights.config.vocab_size) {}

void Session::CheckNewIds(std::span<const int32_t> ids) const {
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
}

void Session::Append(std::span<const int32_t> ids, const LayerObserver* observer) {
  if (ids.empty()) Fail(ErrorCode::kInvalidArgument, "Session::Append: no token ids");
  CheckNewIds(ids);
  tokens_.insert(tokens_.end(), ids.begin(), ids.end());
  Run({}, nullptr, observer);
}

void Session::AppendPending(int32_t id) {
  CheckNewIds(std::span<const int32_t>(&id, 1));
  tokens_.push_back(id);
}

void Session::RunPending() {
  if (pending() > 0) Run({}, nullptr, nullptr);
}

std::vector<float> Session::AppendWithLogits(std::span<const int32_t> ids,
                                             std::span<const size_t> positions) {
  if (ids.empty()) Fail(ErrorCode::kInvalidArgument, "Session::Append: no token ids");
  for (size_t i = 0; i < positions.size(); ++i) {
    if (positions[i] < position() || positions[i] >= position() + ids.size() ||
        (i > 0 && positions[i] <= positions[i - 1])) {
      Fail(ErrorCode::kOutOfRange, "logits position ", positions[i],
           " is not among the new positions ", position(), "..", position() + ids.size() - 1,
           " (positions must be ascending)");
    }
  }
  CheckNewIds(ids);
  std::vector<float> out(positions.size() * weights_.config.vocab_size);
  tokens_.insert(tokens_.end(), ids.begin(), ids.end());
  Run(positions, out.data(), nullptr);
  return out;
}

void Session::Run(std::span<const size_t> positions, float* out, const LayerObserver* observer) {
  // On an error in the forward pass the uncomputed ids are dropped, so the context and the
  // cache agree again.
  struct DropUncomputed {
    Session& s;
    ~DropUncomputed() { s.tokens_.resize(s.cached_); }
  } drop_uncomputed{*this};
  std::optional<std::lock_guard<std::mutex>> lock;
  if (pool_mutex_ != nullptr) lock.emplace(*pool_mutex_);

  const int64_t vocab = weights_.config.vocab_size;
  std::vector<size_t> logits_for;  // per chunk; small, and only in prefill
  size_t next_position = 0;        // index into `positions`
  while (cached_ < tokens_.size()) {
    const size_t first = cached_;
    const std::span<const int32_t> chunk(tokens_.data() + first,
                                         std::min(scratch_.max_rows, tokens_.size() - first));
    const bool last_chunk = first + chunk.size() == tokens_.size();
    logits_for.clear();
    while (next_position < positions.size() && positions[next_position] < first + chunk.size()) {
      logits_for.push_back(positions[next_position++] - first);
    }
    // The session's own logits row (the last position) comes after any requested rows.
    const size_t requested = logits_for.size();
    const bool want_last = last_chunk && (requested == 0 || logits_for.back() != chunk.size() - 1);
    if (want_last) logits_for.push_back(chunk.size() - 1);
    // Requested rows go straight to `out`; the session's row to logits_.
    std::span<float> target;
    if (requested == 0 && want_last) {
      target = logits_;
    } else {
      chunk_logits_.resize(logits_for.size() * vocab);
      target = chunk_logits_;
    }
    Forward(weights_,
            {.tokens = chunk,
             .first_position = first,
             .logits_for = logits_for,
             .logits = target,
             .observer = observer},
            cache_, scratch_, pool_);
    if (target.data() != logits_.data()) {
      std::copy_n(chunk_logits_.data(), requested * vocab, out);
      out += requested * vocab;
      if (last_chunk) {
        std::copy_n(chunk_logits_.data() + (logits_for.size() - 1) * vocab, vocab, logits_.data());
      }
    }
    cached_ += chunk.size();
  }
  has_logits_ = true;
}

std::span<const float> Session::logits() const {
  return has_logits_ && pending() == 0 ? std::span<const float>(logits_) : std::span<const float>();
}

void Session::Reset() {
  tokens_.clear();
  cached_ = 0;
  has_logits_ = false;
}

}  // namespace gemma
