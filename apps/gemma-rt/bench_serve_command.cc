// gemma-rt bench-serve --url http://127.0.0.1:8080 [--clients 8] [--requests 32]
//   [--prompt-tokens 128] [--max-tokens 64] [--late-prompt-tokens 2048 --late-at 2]
//   [--model NAME] [--api-key KEY] [--seed S] [--json]
// A load generator for OpenAI-compatible servers: N concurrent clients, each streaming
// /v1/completions requests one after another, prompts of random token ids (exact lengths on
// any server with Gemma's vocabulary; EOS banned through logit_bias and llama-server's
// ignore_eos, so every answer has --max-tokens tokens). Reports requests/s, aggregate
// generated tokens/s, time to first token and inter-token latency (p50/p99). Works against
// gemma-rt serve and llama.cpp's llama-server alike.
// --late-prompt-tokens adds one request with a long prompt (max_tokens 1) --late-at seconds
// into the run: the streams' inter-token latency then shows how much a long prefill holds
// them back (chunked prefill).
#include <httplib.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "apps/gemma-rt/command.h"

namespace gemma::cli {
namespace {

using Json = nlohmann::json;
using Clock = std::chrono::steady_clock;

struct BenchServeFlags {
  std::string url = "http://127.0.0.1:8080";
  size_t clients = 8;
  size_t requests = 0;  // 0: 4 per client
  size_t prompt_tokens = 128;
  size_t max_tokens = 64;
  size_t late_prompt_tokens = 0;
  double late_at = 2.0;
  std::string model;
  std::string api_key;
  uint64_t seed = 1;
  int32_t vocab = 256000;
  bool json = false;
};

struct RequestStats {
  bool ok = false;
  std::string error;
  double ttft = 0;               // seconds from send to the first token
  std::vector<double> gaps;      // seconds between content chunks
  size_t completion_tokens = 0;  // usage, or content chunks when no usage came
  bool late = false;
};

double Percentile(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  const double at = p * static_cast<double>(v.size() - 1);
  const size_t lo = static_cast<size_t>(at);
  const size_t hi = std::min(lo + 1, v.size() - 1);
  return v[lo] + (v[hi] - v[lo]) * (at - static_cast<double>(lo));
}

Json Body(const BenchServeFlags& f, std::mt19937_64& rng, size_t prompt_tokens, size_t max_tokens) {
  std::vector<int32_t> ids = {2};  // <bos>
  // Ordinary ids (clear of Gemma's special and byte tokens at the low end).
  std::uniform_int_distribution<int32_t> id(1000, std::max<int32_t>(1001, f.vocab - 1000));
  while (ids.size() < prompt_tokens) ids.push_back(id(rng));
  Json body = {{"prompt", ids},
               {"max_tokens", max_tokens},
               {"temperature", 0},
               {"stream", true},
               {"stream_options", {{"include_usage", true}}},
               {"logit_bias", {{"1", -100}}},
               {"ignore_eos", true}};
  if (!f.model.empty()) body["model"] = f.model;
  return body;
}

RequestStats RunOne(const BenchServeFlags& f, const Json& body) {
  httplib::Client client(f.url);
  client.set_read_timeout(600);
  httplib::Request req;
  req.method = "POST";
  req.path = "/v1/completions";
  req.body = body.dump();
  req.set_header("Content-Type", "application/json");
  if (!f.api_key.empty()) req.set_header("Authorization", "Bearer " + f.api_key);
  RequestStats s;
  const Clock::time_point start = Clock::now();
  Clock::time_point last;
  size_t chunks = 0;
  std::string buffer;
  req.content_receiver = [&](const char* data, size_t size, uint64_t, uint64_t) {
    buffer.append(data, size);
    for (size_t end; (end = buffer.find("\n\n")) != std::string::npos; buffer.erase(0, end + 2)) {
      const std::string event = buffer.substr(0, end);
      if (event.rfind("data: ", 0) != 0 || event == "data: [DONE]") continue;
      const Json j = Json::parse(event.substr(6), nullptr, false);
      if (j.is_discarded()) continue;
      if (j.contains("error")) {
        s.error = j["error"].dump();
        return false;
      }
      if (j.contains("usage") && j["usage"].is_object()) {
        s.completion_tokens = j["usage"].value("completion_tokens", size_t{0});
      }
      if (!j.contains("choices") || j["choices"].empty()) continue;
      const Json& c = j["choices"][0];
      const bool content =
          c.contains("text") && c["text"].is_string() && !c["text"].get<std::string>().empty();
      if (!content) continue;
      const Clock::time_point now = Clock::now();
      if (chunks++ == 0) {
        s.ttft = std::chrono::duration<double>(now - start).count();
      } else {
        s.gaps.push_back(std::chrono::duration<double>(now - last).count());
      }
      last = now;
    }
    return true;
  };
  httplib::Response res;
  httplib::Error error = httplib::Error::Success;
  const bool sent = client.send(req, res, error);
  if (!sent && s.error.empty()) s.error = httplib::to_string(error);
  if (sent && res.status != 200 && s.error.empty()) {
    s.error = "HTTP " + std::to_string(res.status) + " " + res.body.substr(0, 200);
  }
  if (s.completion_tokens == 0) s.completion_tokens = chunks;
  s.ok = s.error.empty() && chunks > 0;
  return s;
}

int RunBenchServe(const BenchServeFlags& f) {
  if (f.clients == 0 || f.clients > 4096) {
    throw std::runtime_error("--clients must be 1..4096, got " + std::to_string(f.clients));
  }
  if (f.prompt_tokens == 0 || f.max_tokens == 0) {
    throw std::runtime_error("--prompt-tokens and --max-tokens must be at least 1");
  }
  const size_t total = f.requests != 0 ? f.requests : 4 * f.clients;
  std::mt19937_64 rng(f.seed);
  std::vector<Json> bodies;
  for (size_t i = 0; i < total; ++i) bodies.push_back(Body(f, rng, f.prompt_tokens, f.max_tokens));
  // One warm-up request (first-touch costs on the server are not the load's).
  const RequestStats warm = RunOne(f, Body(f, rng, 8, 2));
  if (!warm.ok)
    throw std::runtime_error("--url " + f.url + ": warm-up request failed: " + warm.error);

  std::vector<RequestStats> results(total);
  std::atomic<size_t> next{0};
  const Clock::time_point start = Clock::now();
  std::vector<std::thread> threads;
  for (size_t c = 0; c < f.clients; ++c) {
    threads.emplace_back([&] {
      for (size_t i; (i = next++) < total;) results[i] = RunOne(f, bodies[i]);
    });
  }
  RequestStats late;
  std::thread late_thread;
  if (f.late_prompt_tokens > 0) {
    const Json body = Body(f, rng, f.late_prompt_tokens, 1);
    late_thread = std::thread([&, body] {
      std::this_thread::sleep_for(std::chrono::duration<double>(f.late_at));
      late = RunOne(f, body);
    });
  }
  for (std::thread& t : threads) t.join();
  const double seconds = std::chrono::duration<double>(Clock::now() - start).count();
  if (late_thread.joinable()) late_thread.join();

  std::vector<double> ttft, itl;
  size_t ok = 0, tokens = 0;
  std::string first_error;
  for (const RequestStats& r : results) {
    if (!r.ok) {
      if (first_error.empty()) first_error = r.error;
      continue;
    }
    ++ok;
    tokens += r.completion_tokens;
    ttft.push_back(r.ttft);
    itl.insert(itl.end(), r.gaps.begin(), r.gaps.end());
  }
  const Json report = {{"url", f.url},
                       {"clients", f.clients},
                       {"requests", total},
                       {"failed", total - ok},
                       {"prompt_tokens", f.prompt_tokens},
                       {"max_tokens", f.max_tokens},
                       {"seconds", seconds},
                       {"requests_per_second", double(ok) / seconds},
                       {"generated_tokens_per_second", double(tokens) / seconds},
                       {"ttft_p50_ms", 1000 * Percentile(ttft, 0.5)},
                       {"ttft_p99_ms", 1000 * Percentile(ttft, 0.99)},
                       {"itl_p50_ms", 1000 * Percentile(itl, 0.5)},
                       {"itl_p99_ms", 1000 * Percentile(itl, 0.99)},
                       {"late_prompt_tokens", f.late_prompt_tokens},
                       {"late_ttft_ms", f.late_prompt_tokens > 0 ? 1000 * late.ttft : 0.0}};
  if (f.json) {
    std::printf("%s\n", report.dump(2).c_str());
  } else {
    std::printf(
        "%zu clients, %zu requests (%zu failed), %zu-token prompts, %zu tokens each: %.2f s\n"
        "requests/s %.3f   generated tokens/s %.1f\n"
        "TTFT p50 %.1f ms  p99 %.1f ms   inter-token p50 %.1f ms  p99 %.1f ms\n",
        f.clients, total, total - ok, f.prompt_tokens, f.max_tokens, seconds,
        report["requests_per_second"].get<double>(),
        report["generated_tokens_per_second"].get<double>(), report["ttft_p50_ms"].get<double>(),
        report["ttft_p99_ms"].get<double>(), report["itl_p50_ms"].get<double>(),
        report["itl_p99_ms"].get<double>());
    if (f.late_prompt_tokens > 0) {
      std::printf("late %zu-token prompt: first token after %.1f ms\n", f.late_prompt_tokens,
                  1000 * late.ttft);
    }
  }
  if (ok != total)
    std::fprintf(stderr, "gemma-rt bench-serve: first failure: %s\n", first_error.c_str());
  return ok == total ? 0 : 1;
}

}  // namespace

void AddBenchServeCommand(CLI::App& app, RunFunction& run) {
  auto f = std::make_shared<BenchServeFlags>();
  CLI::App* cmd = app.add_subcommand(
      "bench-serve", "Load generator for OpenAI-compatible servers (gemma-rt serve, llama-server)");
  cmd->add_option("--url", f->url, "Server base URL")->capture_default_str();
  cmd->add_option("--clients", f->clients, "Concurrent streaming clients")->capture_default_str();
  cmd->add_option("--requests", f->requests, "Requests in all (default: 4 per client)");
  cmd->add_option("--prompt-tokens", f->prompt_tokens, "Prompt length in tokens (<bos> included)")
      ->capture_default_str();
  cmd->add_option("--max-tokens", f->max_tokens, "Tokens generated per request")
      ->capture_default_str();
  cmd->add_option("--late-prompt-tokens", f->late_prompt_tokens,
                  "One more request with a prompt this long, --late-at seconds in");
  cmd->add_option("--late-at", f->late_at, "Seconds into the run for the late prompt")
      ->capture_default_str();
  cmd->add_option("--model", f->model, "The request's \"model\" field");
  cmd->add_option("--api-key", f->api_key, "Sent as 'Authorization: Bearer KEY'");
  cmd->add_option("--seed", f->seed, "Seed of the random prompts")->capture_default_str();
  cmd->add_option("--vocab", f->vocab, "Vocabulary size for the random ids")->capture_default_str();
  cmd->add_flag("--json", f->json, "Print the report as JSON");
  cmd->callback([f, &run] { run = [f] { return RunBenchServe(*f); }; });
}

}  // namespace gemma::cli
