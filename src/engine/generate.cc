#include "engine/generate.h"

#include <chrono>
#include <optional>

#include "base/error.h"
#include "engine/stop_strings.h"

namespace gemma {

const char* StopReasonName(StopReason reason) {
  switch (reason) {
    case StopReason::kMaxTokens:
      return "max_tokens";
    case StopReason::kEndOfSequence:
      return "eos";
    case StopReason::kEndOfTurn:
      return "end_of_turn";
    case StopReason::kStopString:
      return "stop_string";
    case StopReason::kCallback:
      return "callback";
    case StopReason::kContextFull:
      return "context_full";
  }
  return "?";
}

namespace {

using Clock = std::chrono::steady_clock;

double SecondsSince(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

}  // namespace

GenerateResult Generate(Session& session, const Tokenizer* tokenizer,
                        const GenerateOptions& options, const TokenCallback& callback) {
  if (session.position() == 0) {
    Fail(ErrorCode::kInvalidArgument, "Generate: the session has no prompt (Append ids first)");
  }
  if (!options.stop_strings.empty() && tokenizer == nullptr) {
    Fail(ErrorCode::kInvalidArgument, "stop strings need a tokenizer (the model has none)");
  }
  const Clock::time_point start = Clock::now();
  SamplerChain sampler = MakeSampler(options.sampling);
  std::optional<StreamingDecoder> decoder;
  if (tokenizer != nullptr) decoder.emplace(*tokenizer);
  StopStringMatcher matcher(options.stop_strings);
  const int32_t eos = session.weights().config.eos_token_id;

  GenerateResult result;
  auto emit = [&](int32_t id, const std::string& text) {
    result.text += text;
    return callback ? callback(id, text) : true;
  };

  // Each id joins the context as soon as it is sampled; its forward pass (the decode step)
  // runs at the top of the next iteration, so the last id of a generation is in the context
  // without a wasted forward pass (see Session).
  while (true) {
    if (result.ids.size() >= options.max_tokens) {
      result.stop_reason = StopReason::kMaxTokens;
      break;
    }
    if (session.position() >= session.context()) {
      result.stop_reason = StopReason::kContextFull;
      break;
    }
    if (session.pending() > 0) {
      const Clock::time_point step = Clock::now();
      session.RunPending();
      result.decode_seconds += SecondsSince(step);
      ++result.decode_steps;
    }
    const int32_t id = sampler.Sample(session.logits(), session.tokens());
    if (result.ids.empty()) result.first_token_seconds = SecondsSince(start);
    if (id == eos) {
      result.stop_reason = StopReason::kEndOfSequence;
      break;
    }
    if (options.stop_at_end_of_turn && id == kEndOfTurnId) {
      result.stop_reason = StopReason::kEndOfTurn;
      break;
    }
    session.AppendPending(id);
    result.ids.push_back(id);
    const StopStringMatcher::Result piece = matcher.Push(decoder ? decoder->Push(id) : "");
    if (!emit(id, piece.text)) {
      result.stop_reason = StopReason::kCallback;
      break;
    }
    if (piece.stopped) {
      result.stop_reason = StopReason::kStopString;
      break;
    }
  }

  // Bytes the decoder or the stop-string matcher still holds, unless a stop string cut
  // the text (then what follows it is dropped).
  if (result.stop_reason != StopReason::kStopString &&
      result.stop_reason != StopReason::kCallback) {
    StopStringMatcher::Result tail;
    if (decoder) tail = matcher.Push(decoder->Flush());
    if (tail.stopped) {
      result.stop_reason = StopReason::kStopString;
    } else {
      tail.text += matcher.Flush();
    }
    if (!tail.text.empty()) emit(kNoToken, tail.text);
  }
  return result;
}

}  // namespace gemma
