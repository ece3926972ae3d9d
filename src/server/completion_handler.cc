#include "server/completion_handler.h"

#include <chrono>
#include <ctime>
#include <random>
#include <utility>

#include "server/api_error.h"
#include "server/connection_watch.h"
#include "server/generation_job.h"
#include "server/json_body.h"
#include "server/request_parser.h"
#include "server/response_json.h"

namespace gemma_rt::server {
namespace {

using Json = nlohmann::json;
using Clock = std::chrono::steady_clock;

// How long the HTTP thread waits for the engine before looking at its client again: well
// under one decode step, so a vanished client is noticed within a step.
constexpr std::chrono::milliseconds kPollInterval{20};
// OpenAI's default max_tokens for /v1/completions.
constexpr uint64_t kDefaultCompletionTokens = 16;

uint64_t RandomU64() {
  thread_local std::mt19937_64 rng{std::random_device{}()};
  return rng();
}

std::string NewId(const char* prefix) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string id = prefix;
  for (int half = 0; half < 2; ++half) {
    uint64_t v = RandomU64();
    for (int i = 0; i < 12; ++i, v >>= 4) id += kHex[v & 15];
  }
  return id;
}

double Seconds(Clock::time_point since) {
  return std::chrono::duration<double>(Clock::now() - since).count();
}

// The request with its prompts tokenized and every limit checked.
struct Prepared {
  CompletionRequest request;
  std::vector<std::vector<int32_t>> prompt_ids;  // per prompt
  std::vector<std::string> prompt_texts;         // per prompt (echo)
  uint64_t max_tokens = 0;                       // per choice
  bool echo_only = false;                        // echo with max_tokens 0: nothing generated
  ResponseHeader header;
};

Prepared Prepare(const ServerState& state, const Model& model, const Json& body,
                 Endpoint endpoint) {
  Prepared p;
  p.request = endpoint == Endpoint::kChat ? ParseChatRequest(body, state.limits)
                                          : ParseCompletionRequest(body, state.limits);
  CompletionRequest& r = p.request;
  if (!r.model.empty() && r.model != state.options.model_id) {
    throw ApiError(404,
                   "The model '" + r.model + "' does not exist (this server serves '" +
                       state.options.model_id + "')",
                   "model", "model_not_found");
  }
  const ModelInfo info = model.info();
  const size_t context = static_cast<size_t>(info.max_context);
  const char* prompt_param = endpoint == Endpoint::kChat ? "messages" : "prompt";
  for (const PromptInput& in : r.prompts) {
    std::vector<int32_t> ids;
    std::string text;
    if (in.is_ids) {
      ids = in.ids;
      for (const int32_t id : ids) {
        if (id >= info.vocab_size) {
          throw BadField("prompt", "token id " + std::to_string(id) +
                                       " is outside the vocabulary [0, " +
                                       std::to_string(info.vocab_size) + ")");
        }
      }
      if (model.has_tokenizer()) text = model.Detokenize(ids);
    } else {
      if (!model.has_tokenizer()) {
        throw BadField(prompt_param, "this model has no tokenizer: give the prompt as token ids");
      }
      ids = model.Tokenize(in.text, /*add_bos=*/true);
      text = in.text;
    }
    p.prompt_ids.push_back(std::move(ids));
    p.prompt_texts.push_back(std::move(text));
  }
  for (const auto& [id, bias] : r.sampling.logit_bias) {
    if (id >= info.vocab_size) {
      throw BadField("logit_bias", "token id " + std::to_string(id) +
                                       " is outside the vocabulary [0, " +
                                       std::to_string(info.vocab_size) + ")");
    }
  }
  size_t longest = 0;
  for (const auto& ids : p.prompt_ids) longest = std::max(longest, ids.size());
  const uint64_t room = longest < context ? context - longest : 0;
  if (r.max_tokens) {
    p.max_tokens = *r.max_tokens;
  } else {
    p.max_tokens = endpoint == Endpoint::kChat ? room : std::min(kDefaultCompletionTokens, room);
  }
  if (longest >= context || longest + p.max_tokens > context) {
    throw ApiError(400,
                   "This model's maximum context length is " + std::to_string(context) +
                       " tokens. However, you requested " + std::to_string(longest + p.max_tokens) +
                       " tokens (" + std::to_string(longest) + " in the prompt, " +
                       std::to_string(p.max_tokens) +
                       " for the completion). Please reduce the prompt or the completion.",
                   prompt_param, "context_length_exceeded");
  }
  p.echo_only = r.echo && p.max_tokens == 0;
  if (!r.seed_given) r.sampling.seed = RandomU64();
  p.header = {.endpoint = endpoint,
              .id = NewId(endpoint == Endpoint::kChat ? "chatcmpl-" : "cmpl-"),
              .created = static_cast<int64_t>(std::time(nullptr)),
              .model = state.options.model_id};
  return p;
}

std::vector<ChoiceSpec> Choices(const Prepared& p) {
  std::vector<ChoiceSpec> choices;
  for (const auto& ids : p.prompt_ids) {
    for (size_t i = 0; i < p.request.n; ++i) {
      ChoiceSpec c{.prompt_ids = ids};
      // Echo with max_tokens 0 still runs one step: the prompt's logits come from the
      // engine's forward pass; the sampled id is dropped.
      c.options.max_tokens = p.echo_only ? 1 : p.max_tokens;
      c.options.sampling = p.request.sampling;
      c.options.sampling.seed = p.request.sampling.seed + i;  // n different samples
      c.options.chat = p.request.endpoint == Endpoint::kChat;
      c.options.stop_strings = p.request.stop;
      choices.push_back(std::move(c));
    }
  }
  return choices;
}

// Reserves `count` engine slots or answers 429.
void Admit(ServerState& state, size_t count) {
  const size_t limit = state.options.parallel + state.options.max_queue;
  size_t now = state.in_flight->load();
  do {
    if (now + count > limit) {
      throw ApiError(429,
                     "the server is busy: " + std::to_string(now) +
                         " requests are running or waiting (at most " + std::to_string(limit) +
                         "); retry later",
                     "", "rate_limit_exceeded");
    }
  } while (!state.in_flight->compare_exchange_weak(now, now + count));
}

// Per choice, what the HTTP thread has seen of it.
struct ChoiceProgress {
  std::string text;  // streamed text so far (generated)
  std::vector<TokenLogprob> logprobs;
  std::vector<int32_t> ids;  // generated ids not yet sent (return_token_ids)
  size_t completion_tokens = 0;
  bool started = false;  // its first chunk (role / echo) was sent
};

class CompletionRun {
 public:
  CompletionRun(ServerState& state, Prepared prepared, const Model& model,
                const httplib::Request& request, Clock::time_point arrival)
      : state_(state),
        p_(std::move(prepared)),
        model_(model),
        watch_(request.local_addr, request.local_port, request.remote_addr, request.remote_port),
        arrival_(arrival) {}

  void Start(Engine& engine) {
    std::vector<ChoiceSpec> choices = Choices(p_);
    Admit(state_, choices.size());
    progress_.resize(choices.size());
    std::weak_ptr<std::atomic<size_t>> in_flight = state_.in_flight;
    job_ =
        std::make_unique<GenerationJob>(engine, std::move(choices), p_.request.top_logprobs,
                                        /*echo_logprobs=*/p_.request.echo, [in_flight](size_t k) {
                                          if (auto count = in_flight.lock()) *count -= k;
                                        });
    try {
      job_->Submit();
    } catch (const ApiError&) {
      throw;
    } catch (const std::exception& e) {
      throw ApiError(400, e.what());  // the engine refused the request itself
    }
  }

  // Not streamed: waits for every choice, then answers.
  void Respond(httplib::Response& response) {
    std::vector<JobEvent> events;
    while (!job_->Wait(kPollInterval, &events)) {
      Take(events);
      CheckClient();
    }
    Take(events);
    if (state_.stopping && cancelled_) {
      throw ApiError(503, "the server is shutting down", "", "server_shutting_down");
    }
    if (cancelled_) {
      response.status = 499;  // nginx's "client closed request": nobody reads it
      return;
    }
    for (size_t i = 0; i < job_->size(); ++i) {
      if (!job_->choice(i).result.error.empty()) {
        throw ApiError(500, "generation failed: " + job_->choice(i).result.error);
      }
    }
    std::vector<ChoiceOutput> outputs;
    for (size_t i = 0; i < job_->size(); ++i) {
      const GenerationJob::Choice& c = job_->choice(i);
      ChoiceOutput out{.stop_reason = c.result.stop_reason};
      const std::string& prompt_text = p_.prompt_texts[i / p_.request.n];
      if (p_.request.echo) out.text = prompt_text;
      if (!p_.echo_only) out.text += c.result.text;
      if (p_.echo_only) out.stop_reason = StopReason::kMaxTokens;
      out.logprobs =
          LogprobsJson(i, /*with_prompt=*/p_.request.echo,
                       p_.echo_only ? std::vector<TokenLogprob>{} : progress_[i].logprobs, 0);
      if (p_.request.return_token_ids) {
        out.token_ids = p_.echo_only ? std::vector<int32_t>{} : c.result.ids;
      }
      outputs.push_back(std::move(out));
    }
    Json j = ResponseJson(p_.header, outputs, Usage(), Timing());
    if (p_.request.return_token_ids) j["prompt_token_ids"] = p_.prompt_ids;
    response.set_content(DumpJson(j), "application/json");
    Finished();
  }

  // Streamed: one server-sent event per piece of text.
  bool Stream(httplib::DataSink& sink) {
    const bool chat = p_.header.endpoint == Endpoint::kChat;
    const auto send = [&](const std::string& event) {
      if (!sink.write(event.data(), event.size())) {
        ++state_.metrics.cancelled_by_disconnect;
        job_->Cancel();
        return false;
      }
      return true;
    };
    const auto start_choice = [&](size_t i) {
      if (progress_[i].started) return true;
      progress_[i].started = true;
      ChunkOutput first{.index = i};
      if (chat) {
        first.role = true;
        first.text = "";
      } else if (p_.request.echo) {
        first.text = p_.prompt_texts[i / p_.request.n];
        first.logprobs = LogprobsJson(i, /*with_prompt=*/true, {}, 0);
        echo_bytes_ = first.text->size();
      } else {
        return true;  // completions send text from the first token on
      }
      return send(SseEvent(ChunkJson(p_.header, first, p_.request.include_usage)));
    };
    // Chat sends the role at once, as OpenAI does; echo waits for the prompt's logprobs.
    if (chat) {
      for (size_t i = 0; i < job_->size(); ++i) {
        if (!start_choice(i)) return false;
      }
    }
    std::vector<JobEvent> events;
    bool all_done = false;
    while (!all_done) {
      events.clear();
      all_done = job_->Wait(kPollInterval, &events);
      for (JobEvent& e : events) {
        if (!start_choice(e.choice)) return false;
        ChoiceProgress& c = progress_[e.choice];
        if (e.done) {
          const GenerationJob::Choice& result = job_->choice(e.choice);
          if (!result.result.error.empty() || (cancelled_ && state_.stopping)) {
            const ApiError error =
                result.result.error.empty()
                    ? ApiError(503, "the server is shutting down", "", "server_shutting_down")
                    : ApiError(500, "generation failed: " + result.result.error);
            send(SseEvent(error.ToJson()));
            job_->Cancel();
            return false;
          }
          ChunkOutput last{
              .index = e.choice,
              .finish = p_.echo_only ? StopReason::kMaxTokens : result.result.stop_reason};
          if (chat) last.text.reset();
          if (p_.request.return_token_ids) last.token_ids = std::exchange(c.ids, {});
          if (!c.logprobs.empty() && !p_.echo_only) {
            last.logprobs = LogprobsJson(e.choice, false, c.logprobs, Offset(e.choice));
            c.logprobs.clear();
          }
          if (!send(SseEvent(ChunkJson(p_.header, last, p_.request.include_usage)))) return false;
          continue;
        }
        if (e.id >= 0) {
          ++c.completion_tokens;
          if (p_.request.return_token_ids && !p_.echo_only) c.ids.push_back(e.id);
          FirstToken();
        }
        if (e.logprob) c.logprobs.push_back(std::move(*e.logprob));
        // A piece of text, or an id for a client that asked for ids (a model without a
        // tokenizer streams no text at all).
        if ((e.text.empty() && c.ids.empty()) || p_.echo_only) continue;
        ChunkOutput chunk{.index = e.choice, .text = e.text};
        if (p_.request.return_token_ids) chunk.token_ids = std::exchange(c.ids, {});
        if (!c.logprobs.empty()) {
          chunk.logprobs = LogprobsJson(e.choice, false, c.logprobs, Offset(e.choice));
          c.logprobs.clear();
        }
        c.text += e.text;
        if (!send(SseEvent(ChunkJson(p_.header, chunk, p_.request.include_usage)))) return false;
      }
      if (!all_done && CheckClient()) {
        if (!state_.stopping) return false;  // gone: nothing more to write
      }
    }
    if (cancelled_ && !state_.stopping) return false;
    if (p_.request.include_usage && !send(SseEvent(UsageChunkJson(p_.header, Usage(), Timing())))) {
      return false;
    }
    if (!send("data: [DONE]\n\n")) return false;
    sink.done();
    Finished();
    return true;
  }

  void Cancel() { job_->Cancel(); }

 private:
  void Take(std::vector<JobEvent>& events) {
    for (JobEvent& e : events) {
      if (e.done) continue;
      if (e.id >= 0) FirstToken();
      if (e.logprob) progress_[e.choice].logprobs.push_back(std::move(*e.logprob));
    }
    events.clear();
  }

  void FirstToken() {
    if (first_token_seen_) return;
    first_token_seen_ = true;
    state_.metrics.first_token_seconds.Observe(Seconds(arrival_));
  }

  // Cancels the request when the client is gone or the server stops; true when it did.
  bool CheckClient() {
    if (cancelled_) return true;
    const bool gone = watch_.PeerClosed();
    if (!gone && !state_.stopping) return false;
    if (gone) ++state_.metrics.cancelled_by_disconnect;
    cancelled_ = true;
    job_->Cancel();
    return true;
  }

  size_t Offset(size_t i) const {
    return (p_.request.echo ? echo_bytes_ : 0) + progress_[i].text.size();
  }

  // A choice's logprobs object: chat's, or completions' (with the prompt's first when echoed).
  Json LogprobsJson(size_t i, bool with_prompt, const std::vector<TokenLogprob>& generated,
                    size_t offset) {
    if (p_.request.top_logprobs < 0) return nullptr;
    const TokenText text = [this](int32_t id) {
      return model_.has_tokenizer() ? model_.Detokenize(std::span<const int32_t>(&id, 1))
                                    : std::string();
    };
    if (p_.header.endpoint == Endpoint::kChat) return ChatLogprobsJson(generated, text);
    std::vector<LogprobEntry> entries;
    if (with_prompt) {
      const auto& prompt = job_->choice(i).prompt_ids;
      entries.push_back({.id = prompt[0]});
      for (const TokenLogprob& lp : job_->choice(i).prompt_logprobs) {
        entries.push_back({.id = lp.id, .logprob = lp.logprob, .top = lp.top, .has_top = true});
      }
    }
    for (const TokenLogprob& lp : generated) {
      entries.push_back({.id = lp.id, .logprob = lp.logprob, .top = lp.top, .has_top = true});
    }
    return CompletionLogprobsJson(entries, text, offset);
  }

  Json Usage() const {
    size_t prompt = 0, completion = 0;
    for (const auto& ids : p_.prompt_ids) prompt += ids.size();
    if (!p_.echo_only) {
      for (size_t i = 0; i < job_->size(); ++i) completion += job_->choice(i).result.ids.size();
    }
    return UsageJson(prompt, completion);
  }

  Json Timing() const {
    const RequestResult& r = job_->choice(0).result;
    return TimingsJson({.prompt_tokens = r.prompt_tokens - r.cached_prompt_tokens,
                        .cached_tokens = r.cached_prompt_tokens,
                        .prompt_seconds = r.first_token_seconds,
                        .generated_tokens = r.ids.size(),
                        .decode_tokens_per_second = r.decode_tokens_per_second});
  }

  void Finished() { state_.metrics.request_seconds.Observe(Seconds(arrival_)); }

  ServerState& state_;
  Prepared p_;
  const Model& model_;
  ConnectionWatch watch_;
  Clock::time_point arrival_;
  std::unique_ptr<GenerationJob> job_;
  std::vector<ChoiceProgress> progress_;
  size_t echo_bytes_ = 0;
  bool first_token_seen_ = false;
  bool cancelled_ = false;
};

}  // namespace

void HandleCompletion(ServerState& state, const httplib::Request& request,
                      httplib::Response& response, Endpoint endpoint) {
  const Clock::time_point arrival = Clock::now();
  const Model* model = state.model.load();
  Engine* engine = state.engine.load();
  const Json body = ParseJsonBody(request.body);
  Prepared prepared = Prepare(state, *model, body, endpoint);
  const bool stream = prepared.request.stream;
  auto run = std::make_shared<CompletionRun>(state, std::move(prepared), *model, request, arrival);
  run->Start(*engine);
  if (!stream) {
    run->Respond(response);
    return;
  }
  response.set_header("Cache-Control", "no-cache");
  response.set_header("X-Accel-Buffering", "no");  // nginx: pass each event on at once
  response.set_chunked_content_provider(
      "text/event-stream", [run](size_t, httplib::DataSink& sink) { return run->Stream(sink); },
      [run](bool) { run->Cancel(); });  // also when the stream never started
}

}  // namespace gemma_rt::server
