// Public option structs to the engine's, shared by the Session and Engine halves of the API.
#pragma once

#include "engine/generate.h"
#include "gemma_rt/gemma_rt.h"

namespace gemma_rt {

inline gemma::GenerateOptions ToInternal(const GenerateOptions& options) {
  static_assert(static_cast<int>(StopReason::kCancelled) ==
                static_cast<int>(gemma::StopReason::kCancelled));
  const SamplingOptions& s = options.sampling;
  // Field by field: GCC 12 warns (falsely) about a nested designated initializer here.
  gemma::GenerateOptions internal;
  internal.max_tokens = options.max_tokens;
  internal.sampling.temperature = s.temperature;
  internal.sampling.top_k = s.top_k;
  internal.sampling.top_p = s.top_p;
  internal.sampling.min_p = s.min_p;
  internal.sampling.repeat_penalty = s.repeat_penalty;
  internal.sampling.seed = s.seed;
  internal.sampling.logit_bias = s.logit_bias;
  internal.sampling.presence_penalty = s.presence_penalty;
  internal.sampling.frequency_penalty = s.frequency_penalty;
  internal.stop_at_end_of_turn = options.chat;
  internal.stop_strings = options.stop_strings;
  return internal;
}

inline double TokensPerSecond(const gemma::GenerateResult& r) {
  return r.decode_seconds > 0 ? static_cast<double>(r.decode_steps) / r.decode_seconds : 0;
}

}  // namespace gemma_rt
