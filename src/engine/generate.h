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
  kCancelled,      // cancelled by the caller (the engine's Cancel, a client that left)
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

// Continues from the end of the session's context (Append a prompt first). Every generated
// id in result.ids joins the session's context, the last one too (its forward pass runs
// when the context is next used), so a following Generate or chat turn continues from
// exactly what the user was shown. Ids that stop generation without being shown (EOS, and
// <end_of_turn> in chat mode) are not added; a chat's next turn starts by closing the
// model's turn ("<end_of_turn>\n") whichever way the reply ended. A stop string is cut from
// the text, but the ids that produced it stay in the context (what the model generated is
// what it sees next). `tokenizer` may be null.
GenerateResult Generate(Session& session, const Tokenizer* tokenizer,
                        const GenerateOptions& options, const TokenCallback& callback);

}  // namespace gemma
