#include "engine/token_generator.h"

#include "base/error.h"

namespace gemma {

TokenGenerator::TokenGenerator(const GenerateOptions& options, const Tokenizer* tokenizer,
                               int32_t eos_id)
    : options_(options),
      sampler_(MakeSampler(options.sampling)),
      matcher_(options.stop_strings),
      eos_id_(eos_id),
      start_(std::chrono::steady_clock::now()) {
  if (!options.stop_strings.empty() && tokenizer == nullptr) {
    Fail(ErrorCode::kInvalidArgument, "stop strings need a tokenizer (the model has none)");
  }
  if (tokenizer != nullptr) decoder_.emplace(*tokenizer);
}

TokenGenerator::Sampled TokenGenerator::Sample(std::span<const float> logits,
                                               std::span<const int32_t> history,
                                               SamplerScratch& scratch) {
  Sampled out;
  const int32_t id = sampler_.Sample(logits, history, scratch);
  if (result_.ids.empty()) {
    result_.first_token_seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
  }
  if (id == eos_id_) {
    out.stop = StopReason::kEndOfSequence;
    return out;
  }
  if (options_.stop_at_end_of_turn && id == kEndOfTurnId) {
    out.stop = StopReason::kEndOfTurn;
    return out;
  }
  out.id = id;
  result_.ids.push_back(id);
  StopStringMatcher::Result piece = matcher_.Push(decoder_ ? decoder_->Push(id) : "");
  out.text = std::move(piece.text);
  result_.text += out.text;
  if (piece.stopped) {
    out.stop = StopReason::kStopString;
  } else if (reached_max_tokens()) {
    out.stop = StopReason::kMaxTokens;
  }
  return out;
}

std::string TokenGenerator::Finish(StopReason reason) {
  if (finished_) return {};
  finished_ = true;
  result_.stop_reason = reason;
  if (reason == StopReason::kStopString || reason == StopReason::kCallback ||
      reason == StopReason::kCancelled) {
    return {};  // what followed the cut is dropped
  }
  // Bytes the decoder or the stop-string matcher still hold.
  StopStringMatcher::Result tail;
  if (decoder_) tail = matcher_.Push(decoder_->Flush());
  if (tail.stopped) {
    result_.stop_reason = StopReason::kStopString;
  } else {
    tail.text += matcher_.Flush();
  }
  result_.text += tail.text;
  return tail.text;
}

}  // namespace gemma
