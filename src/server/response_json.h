// OpenAI's response and stream-chunk objects for /v1/completions and /v1/chat/completions,
// plus llama-server's `timings`. Pure functions of what a request produced.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "gemma_rt/gemma_rt.h"
#include "server/completion_request.h"
#include "server/logprobs.h"

namespace gemma_rt::server {

using TokenText = std::function<std::string(int32_t id)>;

// What every object of one response shares.
struct ResponseHeader {
  Endpoint endpoint = Endpoint::kCompletions;
  std::string id;  // "cmpl-..." or "chatcmpl-..."
  int64_t created = 0;
  std::string model;
};

// "stop" (end of sequence or turn, stop string, cancelled) or "length" (max_tokens, context).
const char* FinishReason(StopReason reason);

// llama-server's timings: prompt and decode tokens/s of a request.
struct Timings {
  size_t prompt_tokens = 0;  // computed (not taken from the prefix cache)
  size_t cached_tokens = 0;
  double prompt_seconds = 0;  // from arrival to the first token (queueing included)
  size_t generated_tokens = 0;
  double decode_tokens_per_second = 0;
};
nlohmann::json TimingsJson(const Timings& t);

nlohmann::json UsageJson(size_t prompt_tokens, size_t completion_tokens);

// One token of a completion's `logprobs` object; logprob absent for the first token of an
// echoed prompt (nothing predicts it).
struct LogprobEntry {
  int32_t id = -1;
  std::optional<double> logprob;
  std::vector<std::pair<int32_t, double>> top;
  bool has_top = false;  // `top_logprobs` entry is an object (else null)
};

// Completions' {"tokens", "token_logprobs", "top_logprobs", "text_offset"}; offsets count
// from `offset` (the bytes of text before these tokens in the choice).
nlohmann::json CompletionLogprobsJson(const std::vector<LogprobEntry>& entries,
                                      const TokenText& text, size_t offset);
// Chat's {"content": [{"token", "logprob", "bytes", "top_logprobs"}], "refusal": null}.
nlohmann::json ChatLogprobsJson(const std::vector<TokenLogprob>& entries, const TokenText& text);

// A choice of a whole (not streamed) response.
struct ChoiceOutput {
  std::string text;
  StopReason stop_reason = StopReason::kMaxTokens;
  nlohmann::json logprobs;  // null when not asked for
  std::optional<std::vector<int32_t>> token_ids;
};
nlohmann::json ResponseJson(const ResponseHeader& header, const std::vector<ChoiceOutput>& choices,
                            const nlohmann::json& usage, const nlohmann::json& timings);

// A streamed chunk of one choice: text (chat: delta content), optional role (chat's first
// chunk), logprobs (null when none), finish_reason (null until the last).
struct ChunkOutput {
  size_t index = 0;
  std::optional<std::string> text;
  bool role = false;
  nlohmann::json logprobs;
  std::optional<StopReason> finish;
  std::optional<std::vector<int32_t>> token_ids;
};
nlohmann::json ChunkJson(const ResponseHeader& header, const ChunkOutput& chunk,
                         bool include_usage);
// The chunk after the last choice chunk, with include_usage: "choices": [] and usage.
nlohmann::json UsageChunkJson(const ResponseHeader& header, const nlohmann::json& usage,
                              const nlohmann::json& timings);

// "data: {json}\n\n"; invalid UTF-8 (a byte token's half character) replaced by U+FFFD.
std::string SseEvent(const nlohmann::json& j);
std::string DumpJson(const nlohmann::json& j);

}  // namespace gemma_rt::server
