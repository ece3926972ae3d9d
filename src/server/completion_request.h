// What a /v1/completions or /v1/chat/completions request asks for, validated but not yet
// tokenized (the parser needs no model, so it can be fuzzed on its own).
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "gemma_rt/gemma_rt.h"

namespace gemma_rt::server {

enum class Endpoint { kCompletions, kChat };

// One prompt: text (tokenized with <bos>) or token ids (used exactly as given).
struct PromptInput {
  std::string text;
  std::vector<int32_t> ids;
  bool is_ids = false;
};

struct CompletionRequest {
  Endpoint endpoint = Endpoint::kCompletions;
  std::string model;                 // as requested; "" when absent
  std::vector<PromptInput> prompts;  // chat: one, the conversation in Gemma's template
  size_t n = 1;                      // choices per prompt
  std::optional<uint64_t> max_tokens;
  SamplingOptions sampling;  // seed filled in below when absent
  bool seed_given = false;
  std::vector<std::string> stop;
  bool stream = false;
  bool include_usage = false;
  // Log-probabilities: -1 none; otherwise how many alternatives per token (completions'
  // `logprobs`, chat's `top_logprobs` when `logprobs` is true).
  int top_logprobs = -1;
  bool echo = false;  // completions: the prompt comes first in the text (and logprobs)
  std::string user;
  // vLLM's extension: each choice also carries its generated ids ("token_ids"), and the
  // response the prompt's ("prompt_token_ids"): exact outputs for tests and evaluation.
  bool return_token_ids = false;
};

// Limits the parser enforces; the server fills them from its flags.
struct RequestLimits {
  size_t max_choices = 64;  // n x prompts
  size_t max_prompt_ids = 1 << 20;
  size_t max_stop_strings = 4;  // OpenAI's limit
  size_t max_stop_bytes = 256;
  size_t max_logit_bias = 1024;  // entries
  int max_top_logprobs = 20;
};

}  // namespace gemma_rt::server
