#include "engine/generate.h"

#include <chrono>
#include <optional>

#include "base/error.h"
#include "engine/token_generator.h"

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
    case StopReason::kCancelled:
      return "cancelled";
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
  TokenGenerator generator(options, tokenizer, session.weights().config.eos_token_id);
  SamplerScratch sampler_scratch;
  GenerateResult& result = generator.result();
  // Each id joins the context as soon as it is sampled; its forward pass (the decode step)
  // runs at the top of the next iteration, so the last id of a generation is in the context
  // without a wasted forward pass (see Session).
  std::optional<StopReason> stop;
  while (!stop) {
    if (generator.reached_max_tokens()) {
      stop = StopReason::kMaxTokens;
      break;
    }
    if (session.position() >= session.context()) {
      stop = StopReason::kContextFull;
      break;
    }
    if (session.pending() > 0) {
      const Clock::time_point step = Clock::now();
      session.RunPending();
      result.decode_seconds += SecondsSince(step);
      ++result.decode_steps;
    }
    TokenGenerator::Sampled sampled =
        generator.Sample(session.logits(), session.tokens(), sampler_scratch);
    stop = sampled.stop;
    if (!sampled.id) break;
    session.AppendPending(*sampled.id);
    if (callback && !callback(*sampled.id, sampled.text)) stop = StopReason::kCallback;
  }
  const std::string tail = generator.Finish(*stop);
  if (!tail.empty() && callback) callback(kNoToken, tail);
  return result;
}

}  // namespace gemma
