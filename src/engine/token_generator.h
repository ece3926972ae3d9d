// The generation rules of one sequence, apart from where its logits come from: sampling
// with its own seeded chain, the stop rules (max_tokens, EOS, <end_of_turn> in chat mode,
// stop strings on the decoded text), and the streamed text (UTF-8 held back until complete,
// text that may start a stop string held back until it cannot). Session's Generate loop and
// the batched engine both drive one per sequence, so a sequence follows the same rules
// alone or among others.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <span>
#include <string>

#include "engine/generate.h"
#include "engine/stop_strings.h"
#include "sampling/sampler.h"
#include "tokenizer/tokenizer.h"

namespace gemma {

class TokenGenerator {
 public:
  // `tokenizer` may be null (no text; stop strings then are an error). Validates the options.
  TokenGenerator(const GenerateOptions& options, const Tokenizer* tokenizer, int32_t eos_id);

  // max_tokens ids were generated: nothing more to sample.
  bool reached_max_tokens() const { return result_.ids.size() >= options_.max_tokens; }

  struct Sampled {
    // The id that joins the sequence, or nothing when the pick ended generation unseen
    // (EOS, or <end_of_turn> in chat mode).
    std::optional<int32_t> id;
    std::string text;  // text that became complete with it (to stream)
    // Set when generation ends with this pick; pass it to Finish.
    std::optional<StopReason> stop;
  };
  // Picks the next id from `logits`; `history` is every id of the sequence so far. The
  // scratch may be shared by generators used one at a time (see SamplerScratch).
  Sampled Sample(std::span<const float> logits, std::span<const int32_t> history,
                 SamplerScratch& scratch);

  // Ends generation for `reason` (once; later calls return nothing) and returns the text
  // still held back, to stream as the last piece with id kNoToken; nothing when the text was
  // cut (a stop string, or the caller: kCallback, kCancelled).
  std::string Finish(StopReason reason);

  bool finished() const { return finished_; }
  GenerateResult& result() { return result_; }
  const GenerateResult& result() const { return result_; }

 private:
  GenerateOptions options_;
  SamplerChain sampler_;
  std::optional<StreamingDecoder> decoder_;
  StopStringMatcher matcher_;
  int32_t eos_id_;
  GenerateResult result_;
  bool finished_ = false;
  std::chrono::steady_clock::time_point start_;
};

}  // namespace gemma
