#include "server/http_server.h"

#include <httplib.h>

#include <condition_variable>
#include <ctime>
#include <mutex>
#include <stdexcept>
#include <thread>

#include "server/api_error.h"
#include "server/api_key.h"
#include "server/completion_handler.h"
#include "server/json_body.h"
#include "server/request_parser.h"
#include "server/response_json.h"
#include "server/server_state.h"

namespace gemma_rt::server {
namespace {

using Json = nlohmann::json;

void Answer(httplib::Response& res, int status, const Json& body) {
  res.status = status;
  res.set_content(DumpJson(body), "application/json");
}

void AnswerError(httplib::Response& res, const ApiError& e) {
  if (e.status() == 429) res.set_header("Retry-After", "1");
  Answer(res, e.status(), e.ToJson());
}

// Routes that answer without an API key (load balancers' health checks, model discovery).
bool IsPublic(const std::string& path) {
  return path == "/health" || path == "/v1/models" || path.rfind("/v1/models/", 0) == 0;
}

}  // namespace

struct HttpServer::Impl {
  ServerState state;
  httplib::Server http;
  int port = -1;
  std::mutex ticker_mutex;
  std::condition_variable ticker_wake;
  std::thread ticker;  // samples the engine's token counters for the rate gauges

  explicit Impl(ServerOptions options) {
    state.options = std::move(options);
    state.created = static_cast<int64_t>(std::time(nullptr));
    state.limits.max_choices =
        std::max<size_t>(1, state.options.parallel + state.options.max_queue);
    state.limits.max_choices = std::min<size_t>(state.limits.max_choices, 64);
    Routes();
  }

  // Wraps a handler: every ApiError and every unexpected exception becomes an error object.
  template <typename F>
  httplib::Server::Handler Guarded(F handler) {
    return [this, handler](const httplib::Request& req, httplib::Response& res) {
      try {
        Admit(req);
        handler(req, res);
      } catch (const ApiError& e) {
        AnswerError(res, e);
      } catch (const std::bad_alloc&) {
        AnswerError(res, ApiError(503, "the server ran out of memory for this request"));
      } catch (const std::exception& e) {
        AnswerError(res, ApiError(500, std::string("internal error: ") + e.what()));
      }
    };
  }

  // Refuses a request while the model loads (except /health and /metrics) or without the API
  // key (except the public paths). This runs in the route's handler, after cpp-httplib has
  // read the request body, not in its pre-routing hook: an answer from there leaves the body
  // unread on a kept-alive connection, and the next request on it then starts with those bytes.
  // Clients that send the body in its own packet (Node 18's fetch) got "400 malformed HTTP
  // request" for the request after a 401.
  void Admit(const httplib::Request& req) const {
    if (state.model.load() == nullptr && req.path != "/health" && req.path != "/metrics") {
      throw ApiError(503, "the model is loading", "", "model_loading");
    }
    if (!state.options.api_key.empty() && !IsPublic(req.path)) {
      const std::string header = req.get_header_value("Authorization");
      if (!ConstantTimeEquals(BearerToken(header), state.options.api_key)) {
        throw ApiError(401,
                       header.empty() ? "an API key is required (Authorization: Bearer KEY)"
                                      : "the API key is not valid",
                       "", "invalid_api_key");
      }
    }
  }

  const Model& model() const { return *state.model.load(); }

  void Routes() {
    const size_t threads = state.options.http_threads != 0
                               ? state.options.http_threads
                               : state.options.parallel + state.options.max_queue + 16;
    http.new_task_queue = [threads] { return new httplib::ThreadPool(threads); };
    http.set_payload_max_length(state.options.max_body_bytes);
    http.set_keep_alive_timeout(5);
    http.set_read_timeout(30);   // a stalled upload is cut off
    http.set_write_timeout(30);  // a client that stops reading is cut off

    // Errors cpp-httplib answers itself (no route: 404; body too large: 413; ...) get the
    // same JSON shape as ours.
    http.set_error_handler([this](const httplib::Request& req, httplib::Response& res) {
      if (!res.body.empty() || res.content_provider_) return;
      std::string message = "HTTP " + std::to_string(res.status);
      if (res.status == 404) message = "unknown route: " + req.method + " " + req.path;
      if (res.status == 413) {
        message = "the request body is larger than " +
                  std::to_string(state.options.max_body_bytes) + " bytes (--max-body-bytes)";
      }
      if (res.status == 400) message = "malformed HTTP request";
      Answer(res, res.status, ApiError(res.status, message).ToJson());
    });
    http.set_logger([this](const httplib::Request&, const httplib::Response& res) {
      state.metrics.CountStatus(res.status);
    });

    http.Post("/v1/completions", Guarded([this](const auto& req, auto& res) {
                HandleCompletion(state, req, res, Endpoint::kCompletions);
              }));
    http.Post("/v1/chat/completions", Guarded([this](const auto& req, auto& res) {
                HandleCompletion(state, req, res, Endpoint::kChat);
              }));
    // The legacy paths many clients still use.
    http.Post("/completions", Guarded([this](const auto& req, auto& res) {
                HandleCompletion(state, req, res, Endpoint::kCompletions);
              }));
    http.Post("/chat/completions", Guarded([this](const auto& req, auto& res) {
                HandleCompletion(state, req, res, Endpoint::kChat);
              }));
    http.Get("/v1/models", Guarded([this](const auto&, auto& res) {
               Answer(res, 200, {{"object", "list"}, {"data", Json::array({ModelJson()})}});
             }));
    http.Get(R"(/v1/models/(.+))", Guarded([this](const auto& req, auto& res) {
               if (req.matches[1] != state.options.model_id) {
                 throw ApiError(404,
                                "The model '" + std::string(req.matches[1]) + "' does not exist",
                                "model", "model_not_found");
               }
               Answer(res, 200, ModelJson());
             }));
    http.Get("/health", Guarded([this](const auto&, auto& res) {
               if (state.model.load() == nullptr) {
                 throw ApiError(503, "the model is loading", "", "model_loading");
               }
               Answer(res, 200, {{"status", "ok"}});
             }));
    http.Get("/metrics", Guarded([this](const auto&, auto& res) {
               res.set_content(MetricsText(), "text/plain; version=0.0.4; charset=utf-8");
             }));
    http.Post("/tokenize", Guarded([this](const auto& req, auto& res) {
                const TokenizeRequest t = ParseTokenizeRequest(ParseJsonBody(req.body));
                if (!model().has_tokenizer()) {
                  throw BadField("content", "this model has no tokenizer");
                }
                Answer(res, 200, {{"tokens", model().Tokenize(t.content, t.add_special)}});
              }));
    http.Post("/detokenize", Guarded([this](const auto& req, auto& res) {
                const std::vector<int32_t> ids =
                    ParseDetokenizeRequest(ParseJsonBody(req.body), state.limits.max_prompt_ids);
                const int64_t vocab = model().info().vocab_size;
                for (const int32_t id : ids) {
                  if (id >= vocab) {
                    throw BadField("tokens", "token id " + std::to_string(id) +
                                                 " is outside the vocabulary [0, " +
                                                 std::to_string(vocab) + ")");
                  }
                }
                if (!model().has_tokenizer()) {
                  throw BadField("tokens", "this model has no tokenizer");
                }
                Answer(res, 200, {{"content", model().Detokenize(ids)}});
              }));
  }

  Json ModelJson() const {
    const ModelInfo info = model().info();
    return {{"id", state.options.model_id},
            {"object", "model"},
            {"created", state.created},
            {"owned_by", "gemma-rt"},
            {"context_length", info.max_context},
            {"meta",
             {{"vocab_size", info.vocab_size},
              {"hidden_size", info.hidden_size},
              {"layers", info.layers},
              {"weight_bytes", info.weight_bytes}}}};
  }

  std::string MetricsText() {
    PrometheusWriter w;
    Engine* engine = state.engine.load();
    const EngineStats s = engine ? engine->stats() : EngineStats{};
    w.Gauge("gemma_ready", "1 when the model is loaded and requests are served", engine ? 1 : 0);
    w.Gauge("gemma_requests_running", "Requests generating or in prefill", double(s.running));
    w.Gauge("gemma_requests_waiting", "Requests queued for a slot or KV blocks", double(s.waiting));
    w.Gauge("gemma_requests_in_flight",
            "Engine requests the server has submitted and not seen end (limit: parallel + "
            "max-queue)",
            double(state.in_flight->load()));
    w.Counter("gemma_prompt_tokens_total", "Prompt tokens computed", double(s.prompt_tokens));
    w.Counter("gemma_prompt_tokens_cached_total", "Prompt tokens reused from the prefix cache",
              double(s.cached_tokens));
    w.Counter("gemma_generated_tokens_total", "Tokens generated", double(s.generated_tokens));
    w.Gauge("gemma_prompt_tokens_per_second", "Prompt tokens computed per second, last 10 s",
            state.prompt_rate.rate());
    w.Gauge("gemma_decode_tokens_per_second", "Tokens generated per second, last 10 s",
            state.decode_rate.rate());
    w.Gauge("gemma_kv_blocks_total", "KV cache blocks in the pool", double(s.kv_blocks));
    w.Gauge("gemma_kv_blocks_used", "KV cache blocks referenced by requests",
            double(s.kv_blocks_used));
    w.Gauge("gemma_kv_blocks_free", "KV cache blocks not referenced by a request",
            double(s.kv_blocks - s.kv_blocks_used));
    w.Gauge("gemma_kv_blocks_cached", "KV cache blocks held by the prefix cache",
            double(s.kv_blocks_cached));
    w.Gauge("gemma_kv_block_positions", "Positions per KV cache block",
            double(s.kv_block_positions));
    w.Counter("gemma_engine_steps_total", "Forward steps of the engine", double(s.steps));
    w.Counter("gemma_preemptions_total", "Requests preempted for lack of KV blocks",
              double(s.preemptions));
    w.Counter("gemma_requests_finished_total", "Engine requests ended (any reason)",
              double(s.finished));
    w.Counter("gemma_requests_cancelled_by_disconnect_total",
              "Requests cancelled because their client went away",
              double(state.metrics.cancelled_by_disconnect.load()));
    {
      std::lock_guard lock(state.metrics.status_mutex);
      w.LabeledCounter("gemma_http_responses_total", "HTTP responses by status code", "code",
                       state.metrics.responses_by_status);
    }
    w.HistogramFamily("gemma_request_duration_seconds",
                      "Completion requests from arrival to the last byte",
                      state.metrics.request_seconds.snapshot());
    w.HistogramFamily("gemma_time_to_first_token_seconds",
                      "Completion requests from arrival to the first generated token",
                      state.metrics.first_token_seconds.snapshot());
    return w.text();
  }

  void Tick() {
    std::unique_lock lock(ticker_mutex);
    while (!state.stopping) {
      if (Engine* engine = state.engine.load()) {
        const EngineStats s = engine->stats();
        const double now =
            std::chrono::duration<double>(std::chrono::steady_clock::now() - state.started).count();
        state.prompt_rate.Add(now, double(s.prompt_tokens));
        state.decode_rate.Add(now, double(s.generated_tokens));
      }
      ticker_wake.wait_for(lock, std::chrono::seconds(1), [&] { return state.stopping.load(); });
    }
  }
};

HttpServer::HttpServer(ServerOptions options) : impl_(std::make_unique<Impl>(std::move(options))) {}

HttpServer::~HttpServer() { Stop(); }

int HttpServer::Bind() {
  const ServerOptions& o = impl_->state.options;
  if (o.port < 0 || o.port > 65535) {
    throw std::runtime_error("--port must be 0..65535, got " + std::to_string(o.port));
  }
  const int port = o.port == 0 ? impl_->http.bind_to_any_port(o.host)
                               : (impl_->http.bind_to_port(o.host, o.port) ? o.port : -1);
  if (port <= 0) {
    throw std::runtime_error("cannot listen on " + o.host + ":" + std::to_string(o.port) +
                             " (address in use, or not an address of this machine)");
  }
  impl_->port = port;
  return port;
}

void HttpServer::Attach(const Model& model, Engine& engine) {
  impl_->state.engine = &engine;
  impl_->state.model = &model;
}

void HttpServer::Run() {
  if (impl_->port < 0) throw std::runtime_error("HttpServer::Run before Bind");
  impl_->ticker = std::thread([this] { impl_->Tick(); });
  impl_->http.listen_after_bind();
}

void HttpServer::Stop() {
  {
    std::lock_guard lock(impl_->ticker_mutex);
    impl_->state.stopping = true;
  }
  impl_->ticker_wake.notify_all();
  impl_->http.stop();
  if (impl_->ticker.joinable()) impl_->ticker.join();
}

int HttpServer::port() const { return impl_->port; }

}  // namespace gemma_rt::server
