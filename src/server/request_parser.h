// JSON bodies of the OpenAI endpoints (and llama-server's /tokenize, /detokenize) into
// validated requests. Unknown fields are ignored; a field of the wrong type or out of range
// throws ApiError(400) naming it. No model is needed: token ids are checked against the
// vocabulary, and prompts against the context, by the server.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "server/completion_request.h"

namespace gemma_rt::server {

CompletionRequest ParseCompletionRequest(const nlohmann::json& body, const RequestLimits& limits);
CompletionRequest ParseChatRequest(const nlohmann::json& body, const RequestLimits& limits);

struct TokenizeRequest {
  std::string content;
  bool add_special = false;  // <bos> first (llama-server's default: false)
};
// {"content": text} (or "prompt"), optional "add_special".
TokenizeRequest ParseTokenizeRequest(const nlohmann::json& body);

// {"tokens": [ids]}: ids >= 0 (the vocabulary is checked by the server).
std::vector<int32_t> ParseDetokenizeRequest(const nlohmann::json& body, size_t max_ids);

}  // namespace gemma_rt::server
