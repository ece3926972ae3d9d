#include "server/response_json.h"

namespace gemma_rt::server {

using Json = nlohmann::json;

const char* FinishReason(StopReason reason) {
  switch (reason) {
    case StopReason::kMaxTokens:
    case StopReason::kContextFull:
      return "length";
    default:
      return "stop";
  }
}

Json TimingsJson(const Timings& t) {
  const double prompt_ms = t.prompt_seconds * 1000;
  const double predicted_ms =
      t.decode_tokens_per_second > 0
          ? 1000.0 * static_cast<double>(t.generated_tokens) / t.decode_tokens_per_second
          : 0.0;
  const auto per = [](double ms, size_t n) { return n > 0 ? ms / static_cast<double>(n) : 0.0; };
  return {{"cache_n", t.cached_tokens},
          {"prompt_n", t.prompt_tokens},
          {"prompt_ms", prompt_ms},
          {"prompt_per_token_ms", per(prompt_ms, t.prompt_tokens)},
          {"prompt_per_second",
           prompt_ms > 0 ? 1000.0 * static_cast<double>(t.prompt_tokens) / prompt_ms : 0.0},
          {"predicted_n", t.generated_tokens},
          {"predicted_ms", predicted_ms},
          {"predicted_per_token_ms", per(predicted_ms, t.generated_tokens)},
          {"predicted_per_second", t.decode_tokens_per_second}};
}

Json UsageJson(size_t prompt_tokens, size_t completion_tokens) {
  return {{"prompt_tokens", prompt_tokens},
          {"completion_tokens", completion_tokens},
          {"total_tokens", prompt_tokens + completion_tokens}};
}

Json CompletionLogprobsJson(const std::vector<LogprobEntry>& entries, const TokenText& text,
                            size_t offset) {
  Json tokens = Json::array(), token_logprobs = Json::array(), top = Json::array(),
       offsets = Json::array();
  for (const LogprobEntry& e : entries) {
    const std::string piece = text(e.id);
    tokens.push_back(piece);
    token_logprobs.push_back(e.logprob ? Json(*e.logprob) : Json(nullptr));
    if (e.has_top) {
      Json alternatives = Json::object();
      for (const auto& [id, logprob] : e.top) {
        const std::string key = text(id);
        if (!alternatives.contains(key)) alternatives[key] = logprob;
      }
      top.push_back(std::move(alternatives));
    } else {
      top.push_back(nullptr);
    }
    offsets.push_back(offset);
    offset += piece.size();
  }
  return {{"tokens", std::move(tokens)},
          {"token_logprobs", std::move(token_logprobs)},
          {"top_logprobs", std::move(top)},
          {"text_offset", std::move(offsets)}};
}

namespace {

Json Bytes(const std::string& s) {
  Json bytes = Json::array();
  for (const unsigned char c : s) bytes.push_back(static_cast<int>(c));
  return bytes;
}

}  // namespace

Json ChatLogprobsJson(const std::vector<TokenLogprob>& entries, const TokenText& text) {
  Json content = Json::array();
  for (const TokenLogprob& e : entries) {
    const std::string piece = text(e.id);
    Json top = Json::array();
    for (const auto& [id, logprob] : e.top) {
      const std::string alt = text(id);
      top.push_back({{"token", alt}, {"logprob", logprob}, {"bytes", Bytes(alt)}});
    }
    content.push_back({{"token", piece},
                       {"logprob", e.logprob},
                       {"bytes", Bytes(piece)},
                       {"top_logprobs", std::move(top)}});
  }
  return {{"content", std::move(content)}, {"refusal", nullptr}};
}

namespace {

Json Envelope(const ResponseHeader& h, bool chunk) {
  const bool chat = h.endpoint == Endpoint::kChat;
  return {
      {"id", h.id},
      {"object", chat ? (chunk ? "chat.completion.chunk" : "chat.completion") : "text_completion"},
      {"created", h.created},
      {"model", h.model},
      {"system_fingerprint", "gemma-rt"}};
}

}  // namespace

Json ResponseJson(const ResponseHeader& header, const std::vector<ChoiceOutput>& choices,
                  const Json& usage, const Json& timings) {
  Json j = Envelope(header, /*chunk=*/false);
  Json list = Json::array();
  for (size_t i = 0; i < choices.size(); ++i) {
    const ChoiceOutput& c = choices[i];
    Json choice = {
        {"index", i}, {"logprobs", c.logprobs}, {"finish_reason", FinishReason(c.stop_reason)}};
    if (header.endpoint == Endpoint::kChat) {
      choice["message"] = {{"role", "assistant"}, {"content", c.text}, {"refusal", nullptr}};
    } else {
      choice["text"] = c.text;
    }
    if (c.token_ids) choice["token_ids"] = *c.token_ids;
    list.push_back(std::move(choice));
  }
  j["choices"] = std::move(list);
  j["usage"] = usage;
  j["timings"] = timings;
  return j;
}

Json ChunkJson(const ResponseHeader& header, const ChunkOutput& chunk, bool include_usage) {
  Json j = Envelope(header, /*chunk=*/true);
  Json choice = {{"index", chunk.index},
                 {"logprobs", chunk.logprobs},
                 {"finish_reason", chunk.finish ? Json(FinishReason(*chunk.finish)) : Json()}};
  if (header.endpoint == Endpoint::kChat) {
    Json delta = Json::object();
    if (chunk.role) delta["role"] = "assistant";
    if (chunk.text) delta["content"] = *chunk.text;
    choice["delta"] = std::move(delta);
  } else {
    choice["text"] = chunk.text.value_or("");
  }
  if (chunk.token_ids) choice["token_ids"] = *chunk.token_ids;
  j["choices"] = Json::array({std::move(choice)});
  if (include_usage) j["usage"] = nullptr;
  return j;
}

Json UsageChunkJson(const ResponseHeader& header, const Json& usage, const Json& timings) {
  Json j = Envelope(header, /*chunk=*/true);
  j["choices"] = Json::array();
  j["usage"] = usage;
  j["timings"] = timings;
  return j;
}

std::string DumpJson(const Json& j) {
  return j.dump(-1, ' ', false, Json::error_handler_t::replace);
}

std::string SseEvent(const Json& j) { return "data: " + DumpJson(j) + "\n\n"; }

}  // namespace gemma_rt::server
