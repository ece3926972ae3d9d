// The generation loop: sample from the session's last logits, check the stop rules, stream
// the text, feed the id back (one decode step), repeat. The model owns one forward step;
// this file owns the loop.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "engine/session.h"
#include "sampling/sampler.h"
#include "tokenizer/tokenizer.h"

namespace gemma {

inline constexpr int32_t kEndOfTurnId = 107;  // <end_of_turn> in Gemma's vocabulary
inline constexpr int32_t kNoToken = -1;       // see TokenCallback

enum class StopReason : uint8_t {
  kMaxTokens,      // max_tokens ids were generated
  kEndOfSequence,  // the model produced EOS (config's eos_token_id, 1)
  kEndOfTurn,      // the model produced <end_of_turn> in chat mode
  kStopString,     // the text reached one of the user's stop strings
  kCallback,       // the callback returned false
  kContextFull,    // the KV cache has no position left
};
const char* StopReasonName(StopReason reason);

struct GenerateOptions {
  size_t max_tokens = 256;
  SamplingOptions sampling;
  bool stop_at_end_of_turn = false;       // chat mode
  std::vector<std::string> stop_strings;  // matched on the decoded text (needs a tokenizer)
};

// Called for each generated id with the text that became complete with it (empty without
// a tokenizer, or while UTF-8 bytes or a possible stop string are held back). At the end,
// held-back text arrives once more with id kNoToken. Return false to stop generating.
using TokenCallback = std::function<bool(int32_t id, std::string_view text)>;

struct GenerateResult {
  std::vector<int32_t> ids;  // generated ids; a stopping EOS / <end_of_turn> is not included
  std::string text;          // everything passed to the callback
  StopReason stop_reason = StopReason::kMaxTokens;
  double first_token_seconds = 0;  // from the call to the first sampled id
  size_t decode_steps = 0;         // one-token forward passes run
  double decode_seconds = 0;       // time spent in them
};

// Continues from the session's last logits (Append a prompt first). The sampled ids go
// into the session, except the last one when generation stops (its forward pass would be
// wasted); a chat follows it with "<end_of_turn>\n" either way. `tokenizer` may be null.
GenerateResult Generate(Session& session, const Tokenizer* tokenizer,
                        const GenerateOptions& options, const TokenCallback& callback);

}  // namespace gemma
