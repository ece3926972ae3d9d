#include "server/request_parser.h"

#include <cmath>
#include <limits>
#include <optional>

#include "server/api_error.h"
#include "server/chat_prompt.h"

namespace gemma_rt::server {
namespace {

using Json = nlohmann::json;

// A field that is absent or null.
const Json* Find(const Json& body, const char* name) {
  const auto it = body.find(name);
  return it == body.end() || it->is_null() ? nullptr : &*it;
}

std::string Range(double lo, double hi) {
  const auto text = [](double v) {
    std::string s = std::to_string(v);
    s.erase(s.find_last_not_of('0') + 1);
    if (s.back() == '.') s.pop_back();
    return s;
  };
  return "[" + text(lo) + ", " + text(hi) + "]";
}

std::optional<double> Number(const Json& body, const char* name, double lo, double hi) {
  const Json* v = Find(body, name);
  if (!v) return std::nullopt;
  if (!v->is_number()) throw BadField(name, "must be a number");
  const double x = v->get<double>();
  if (!(x >= lo && x <= hi)) throw BadField(name, "must be in " + Range(lo, hi));
  return x;
}

std::optional<int64_t> Integer(const Json& body, const char* name, int64_t lo, int64_t hi) {
  const Json* v = Find(body, name);
  if (!v) return std::nullopt;
  if (!v->is_number_integer()) throw BadField(name, "must be an integer");
  if (v->is_number_unsigned() && v->get<uint64_t>() > static_cast<uint64_t>(hi)) {
    throw BadField(name, "must be at most " + std::to_string(hi));
  }
  const int64_t x = v->get<int64_t>();
  if (x < lo || x > hi) {
    throw BadField(name, "must be in [" + std::to_string(lo) + ", " + std::to_string(hi) + "]");
  }
  return x;
}

std::optional<bool> Bool(const Json& body, const char* name) {
  const Json* v = Find(body, name);
  if (!v) return std::nullopt;
  if (!v->is_boolean()) throw BadField(name, "must be true or false");
  return v->get<bool>();
}

std::optional<std::string> String(const Json& body, const char* name) {
  const Json* v = Find(body, name);
  if (!v) return std::nullopt;
  if (!v->is_string()) throw BadField(name, "must be a string");
  return v->get<std::string>();
}

// Token ids of a prompt: integers in [0, 2^31).
std::vector<int32_t> Ids(const Json& array, const std::string& param, size_t max_ids) {
  if (array.empty()) throw BadField(param, "an array of token ids must not be empty");
  if (array.size() > max_ids) {
    throw BadField(param, "has " + std::to_string(array.size()) + " token ids; at most " +
                              std::to_string(max_ids) + " are accepted");
  }
  std::vector<int32_t> ids;
  ids.reserve(array.size());
  for (const Json& v : array) {
    if (!v.is_number_integer() || v.get<int64_t>() < 0 ||
        v.get<int64_t>() > std::numeric_limits<int32_t>::max() ||
        (v.is_number_unsigned() && v.get<uint64_t>() > uint64_t{INT32_MAX})) {
      throw BadField(param, "token ids must be integers >= 0");
    }
    ids.push_back(static_cast<int32_t>(v.get<int64_t>()));
  }
  return ids;
}

// `prompt`: a string, an array of ids, an array of strings or an array of arrays of ids.
std::vector<PromptInput> Prompts(const Json& body, const RequestLimits& limits) {
  const Json* p = Find(body, "prompt");
  if (!p) throw BadField("prompt", "is required");
  if (p->is_string()) return {PromptInput{.text = p->get<std::string>()}};
  if (!p->is_array()) {
    throw BadField("prompt", "must be a string, an array of strings or an array of token ids");
  }
  if (p->empty()) throw BadField("prompt", "must not be an empty array");
  if ((*p)[0].is_number())
    return {PromptInput{.ids = Ids(*p, "prompt", limits.max_prompt_ids), .is_ids = true}};
  if (p->size() > limits.max_choices) {
    throw BadField("prompt", "has " + std::to_string(p->size()) + " prompts; at most " +
                                 std::to_string(limits.max_choices) + " are accepted");
  }
  std::vector<PromptInput> prompts;
  for (const Json& item : *p) {
    if (item.is_string()) {
      prompts.push_back({.text = item.get<std::string>()});
    } else if (item.is_array()) {
      prompts.push_back({.ids = Ids(item, "prompt", limits.max_prompt_ids), .is_ids = true});
    } else {
      throw BadField("prompt", "an array of prompts must hold strings or arrays of token ids");
    }
  }
  return prompts;
}

std::vector<std::string> StopStrings(const Json& body, const RequestLimits& limits) {
  const Json* v = Find(body, "stop");
  if (!v) return {};
  std::vector<std::string> stop;
  if (v->is_string()) {
    stop.push_back(v->get<std::string>());
  } else if (v->is_array()) {
    if (v->size() > limits.max_stop_strings) {
      throw BadField("stop", "at most " + std::to_string(limits.max_stop_strings) +
                                 " stop strings are accepted");
    }
    for (const Json& s : *v) {
      if (!s.is_string()) throw BadField("stop", "must be a string or an array of strings");
      stop.push_back(s.get<std::string>());
    }
  } else {
    throw BadField("stop", "must be a string or an array of strings");
  }
  for (const std::string& s : stop) {
    if (s.empty()) throw BadField("stop", "a stop string must not be empty");
    if (s.size() > limits.max_stop_bytes) {
      throw BadField("stop", "a stop string is limited to " +
                                 std::to_string(limits.max_stop_bytes) + " bytes");
    }
  }
  return stop;
}

std::vector<std::pair<int32_t, float>> LogitBias(const Json& body, const RequestLimits& limits) {
  const Json* v = Find(body, "logit_bias");
  if (!v) return {};
  if (!v->is_object()) {
    throw BadField("logit_bias", "must be an object mapping token ids to numbers");
  }
  if (v->size() > limits.max_logit_bias) {
    throw BadField("logit_bias",
                   "at most " + std::to_string(limits.max_logit_bias) + " entries are accepted");
  }
  std::vector<std::pair<int32_t, float>> bias;
  for (const auto& [key, value] : v->items()) {
    int64_t id = -1;
    if (!key.empty() && key.size() <= 10 &&
        key.find_first_not_of("0123456789") == std::string::npos) {
      id = std::stoll(key);
    }
    if (id < 0 || id > std::numeric_limits<int32_t>::max()) {
      throw BadField("logit_bias",
                     "keys must be token ids (decimal integers >= 0), got '" + key + "'");
    }
    if (!value.is_number()) throw BadField("logit_bias", "values must be numbers");
    const double b = value.get<double>();
    if (!(b >= -100.0 && b <= 100.0)) throw BadField("logit_bias", "values must be in [-100, 100]");
    bias.emplace_back(static_cast<int32_t>(id), static_cast<float>(b));
  }
  return bias;
}

// The fields both endpoints share.
void CommonFields(const Json& body, const RequestLimits& limits, CompletionRequest& r) {
  if (auto m = String(body, "model")) r.model = *m;
  if (auto n = Integer(body, "n", 1, static_cast<int64_t>(limits.max_choices))) r.n = *n;
  SamplingOptions& s = r.sampling;
  if (auto v = Number(body, "temperature", 0, 2)) s.temperature = static_cast<float>(*v);
  if (auto v = Number(body, "top_p", 0, 1)) {
    if (*v == 0) throw BadField("top_p", "must be in (0, 1]");
    s.top_p = static_cast<float>(*v);
  }
  if (auto v = Integer(body, "top_k", 0, std::numeric_limits<int32_t>::max())) s.top_k = *v;
  if (auto v = Number(body, "min_p", 0, 1)) s.min_p = static_cast<float>(*v);
  // llama-server calls it repeat_penalty; vLLM repetition_penalty.
  for (const char* name : {"repetition_penalty", "repeat_penalty"}) {
    if (auto v = Number(body, name, 0, 10)) {
      if (*v == 0) throw BadField(name, "must be in (0, 10]");
      s.repeat_penalty = static_cast<float>(*v);
    }
  }
  if (auto v = Number(body, "presence_penalty", -2, 2)) s.presence_penalty = float(*v);
  if (auto v = Number(body, "frequency_penalty", -2, 2)) s.frequency_penalty = float(*v);
  if (auto v = Integer(body, "seed", std::numeric_limits<int64_t>::min(),
                       std::numeric_limits<int64_t>::max())) {
    s.seed = static_cast<uint64_t>(*v);
    r.seed_given = true;
  }
  s.logit_bias = LogitBias(body, limits);
  r.stop = StopStrings(body, limits);
  if (auto v = Bool(body, "stream")) r.stream = *v;
  if (const Json* o = Find(body, "stream_options")) {
    if (!o->is_object()) throw BadField("stream_options", "must be an object");
    const Json* u = Find(*o, "include_usage");
    if (u && !u->is_boolean()) throw BadField("stream_options.include_usage", "must be a boolean");
    r.include_usage = r.stream && u && u->get<bool>();
  }
  if (auto v = String(body, "user")) r.user = *v;
  if (auto v = Bool(body, "return_token_ids")) r.return_token_ids = *v;
}

// Completion tokens: `name` in [min, 2^53] (the context is checked by the server).
std::optional<uint64_t> MaxTokens(const Json& body, const char* name, int64_t min) {
  if (auto v = Integer(body, name, min, int64_t{1} << 53)) return static_cast<uint64_t>(*v);
  return std::nullopt;
}

std::string MessageContent(const Json& message, size_t index) {
  const std::string param = "messages[" + std::to_string(index) + "].content";
  const Json* c = Find(message, "content");
  if (!c) throw BadField(param, "is required");
  if (c->is_string()) return c->get<std::string>();
  if (!c->is_array()) throw BadField(param, "must be a string or an array of text parts");
  std::string text;
  for (const Json& part : *c) {
    if (!part.is_object() || part.value("type", Json()) != "text" || !part.contains("text") ||
        !part["text"].is_string()) {
      throw BadField(param,
                     "only text parts ({\"type\": \"text\", \"text\": \"...\"}) are "
                     "supported");
    }
    text += part["text"].get<std::string>();
  }
  return text;
}

}  // namespace

CompletionRequest ParseCompletionRequest(const Json& body, const RequestLimits& limits) {
  CompletionRequest r;
  r.endpoint = Endpoint::kCompletions;
  r.prompts = Prompts(body, limits);
  CommonFields(body, limits, r);
  if (auto v = Bool(body, "echo")) r.echo = *v;
  r.max_tokens = MaxTokens(body, "max_tokens", 0);
  if (auto v = Integer(body, "logprobs", 0, limits.max_top_logprobs)) r.top_logprobs = *v;
  if (r.max_tokens == 0u && !r.echo) {
    throw BadField("max_tokens", "must be at least 1 (0 only with echo)");
  }
  if (r.prompts.size() * r.n > limits.max_choices) {
    throw BadField("n", std::to_string(r.prompts.size()) + " prompts x n = " + std::to_string(r.n) +
                            " choices; at most " + std::to_string(limits.max_choices) +
                            " are accepted");
  }
  return r;
}

CompletionRequest ParseChatRequest(const Json& body, const RequestLimits& limits) {
  CompletionRequest r;
  r.endpoint = Endpoint::kChat;
  const Json* messages = Find(body, "messages");
  if (!messages) throw BadField("messages", "is required");
  if (!messages->is_array()) throw BadField("messages", "must be an array of messages");
  if (messages->size() > 4096) throw BadField("messages", "at most 4096 messages are accepted");
  std::vector<ChatMessage> parsed;
  for (size_t i = 0; i < messages->size(); ++i) {
    const Json& m = (*messages)[i];
    const std::string param = "messages[" + std::to_string(i) + "]";
    if (!m.is_object()) throw BadField(param, "must be an object with 'role' and 'content'");
    const Json* role = Find(m, "role");
    if (!role || !role->is_string()) throw BadField(param + ".role", "must be a string");
    parsed.push_back({.role = role->get<std::string>(), .content = MessageContent(m, i)});
  }
  r.prompts = {PromptInput{.text = ChatPromptText(parsed)}};
  CommonFields(body, limits, r);
  r.max_tokens = MaxTokens(body, "max_completion_tokens", 1);
  if (!r.max_tokens) r.max_tokens = MaxTokens(body, "max_tokens", 1);
  const bool logprobs = Bool(body, "logprobs").value_or(false);
  const auto top = Integer(body, "top_logprobs", 0, limits.max_top_logprobs);
  if (top && !logprobs) throw BadField("top_logprobs", "needs 'logprobs': true");
  if (logprobs) r.top_logprobs = static_cast<int>(top.value_or(0));
  return r;
}

TokenizeRequest ParseTokenizeRequest(const Json& body) {
  TokenizeRequest r;
  const auto content = String(body, "content");
  const auto prompt = String(body, "prompt");
  if (!content && !prompt) throw BadField("content", "is required (a string)");
  r.content = content ? *content : *prompt;
  if (auto v = Bool(body, "add_special")) r.add_special = *v;
  return r;
}

std::vector<int32_t> ParseDetokenizeRequest(const Json& body, size_t max_ids) {
  const Json* t = Find(body, "tokens");
  if (!t || !t->is_array()) throw BadField("tokens", "is required (an array of token ids)");
  if (t->empty()) return {};
  return Ids(*t, "tokens", max_ids);
}

}  // namespace gemma_rt::server
