// gemma-rt batch --model M --input requests.jsonl --output results.jsonl [--parallel N]
//   [--max-tokens N] [-t T]
// Offline batch inference through the batched engine (what vLLM's offline mode is used
// for): every line of the input is a request, every line of the output its result, in input
// order, whatever order they finish in.
//   in:  {"id": any, "prompt": "text"} or {"id": any, "prompt_ids": [2, 17, ...]}, optional
//        "max_tokens", "temperature", "top_k", "top_p", "min_p", "seed", "stop" (a string or
//        a list of strings); other fields are ignored.
//   out: {"id", "ids", "text" (with a tokenizer), "finish_reason": "stop" | "length",
//        "prompt_tokens", "completion_tokens"}, or {"id", "error": {"message", "line"}} for a
//        line that cannot run (the others go on).
// The output is written to a temporary file beside it and renamed into place at the end, so
// a killed run never leaves a partial file under the final name. Sampling defaults:
// temperature 1, seed 0, so a file gives the same results on every run.
#include <unistd.h>

#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstring>
#include <deque>
#include <fstream>
#include <map>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "apps/gemma-rt/command.h"
#include "apps/gemma-rt/error_output.h"
#include "base/error.h"
#include "gemma_rt/engine.h"
#include "io/atomic_file.h"

namespace gemma::cli {
namespace {

using Json = nlohmann::json;
using Clock = std::chrono::steady_clock;

// A line longer than this is refused (its output line says so) instead of being read whole;
// an input with no newline in kMaxSkippedBytes is not JSONL and stops the run.
constexpr size_t kMaxLineBytes = 16 << 20;
constexpr uint64_t kMaxSkippedBytes = uint64_t{256} << 20;

struct BatchFlags {
  std::string model;
  std::string input;
  std::string output;
  size_t parallel = 8;
  size_t max_tokens = 256;
  size_t step_tokens = gemma_rt::EngineOptions{}.step_tokens;
  std::string kv_type = "f32";
  int threads = 0;
  bool exact_quant = false;
};

// One input line's request, or why it cannot run.
struct Parsed {
  Json id;
  std::optional<gemma_rt::Request> request;
  std::string error;
};

template <typename T>
T Field(const Json& j, const char* name, T fallback) {
  if (!j.contains(name) || j[name].is_null()) return fallback;
  const Json& v = j[name];
  if constexpr (std::is_same_v<T, float>) {
    if (!v.is_number()) Fail(ErrorCode::kInvalidArgument, "\"", name, "\" must be a number");
    return v.get<float>();
  } else {
    if (!v.is_number_integer() || v.get<int64_t>() < 0) {
      Fail(ErrorCode::kInvalidArgument, "\"", name, "\" must be a non-negative integer");
    }
    return static_cast<T>(v.get<uint64_t>());
  }
}

Parsed ParseLine(const std::string& line, size_t default_max_tokens) {
  Parsed p;
  try {
    const Json j = Json::parse(line);
    if (!j.is_object()) Fail(ErrorCode::kInvalidArgument, "a line must be a JSON object");
    if (j.contains("id")) p.id = j["id"];
    gemma_rt::Request r;
    const bool text = j.contains("prompt"), ids = j.contains("prompt_ids");
    if (text == ids) {
      Fail(ErrorCode::kInvalidArgument, "give exactly one of \"prompt\" and \"prompt_ids\"");
    }
    if (text) {
      if (!j["prompt"].is_string())
        Fail(ErrorCode::kInvalidArgument, "\"prompt\" must be a string");
      r.prompt = j["prompt"].get<std::string>();
      if (r.prompt.empty()) Fail(ErrorCode::kInvalidArgument, "\"prompt\" is empty");
    } else {
      if (!j["prompt_ids"].is_array() || j["prompt_ids"].empty()) {
        Fail(ErrorCode::kInvalidArgument, "\"prompt_ids\" must be a non-empty array of ids");
      }
      for (const Json& v : j["prompt_ids"]) {
        if (!v.is_number_integer() || v.get<int64_t>() < 0 || v.get<int64_t>() > INT32_MAX) {
          Fail(ErrorCode::kInvalidArgument, "\"prompt_ids\" must hold token ids (integers >= 0)");
        }
        r.prompt_ids.push_back(static_cast<int32_t>(v.get<int64_t>()));
      }
    }
    r.options.max_tokens = Field<size_t>(j, "max_tokens", default_max_tokens);
    r.options.sampling.temperature = Field<float>(j, "temperature", 1.0f);
    r.options.sampling.top_k = Field<size_t>(j, "top_k", 0);
    r.options.sampling.top_p = Field<float>(j, "top_p", 1.0f);
    r.options.sampling.min_p = Field<float>(j, "min_p", 0.0f);
    r.options.sampling.seed = Field<uint64_t>(j, "seed", 0);
    if (j.contains("stop") && !j["stop"].is_null()) {
      const Json& stop = j["stop"];
      if (stop.is_string()) {
        r.options.stop_strings.push_back(stop.get<std::string>());
      } else if (stop.is_array()) {
        for (const Json& s : stop) {
          if (!s.is_string()) Fail(ErrorCode::kInvalidArgument, "\"stop\" must hold strings");
          r.options.stop_strings.push_back(s.get<std::string>());
        }
      } else {
        Fail(ErrorCode::kInvalidArgument, "\"stop\" must be a string or a list of strings");
      }
    }
    p.request = std::move(r);
  } catch (const Json::exception& e) {
    p.error = std::string("not valid JSON: ") + e.what();
  } catch (const std::exception& e) {
    p.error = e.what();
  }
  return p;
}

const char* FinishReason(gemma_rt::StopReason reason) {
  switch (reason) {
    case gemma_rt::StopReason::kMaxTokens:
    case gemma_rt::StopReason::kContextFull:
      return "length";
    default:
      return "stop";
  }
}

Json ErrorLine(const Json& id, const std::string& message, size_t line) {
  return {{"id", id}, {"error", {{"message", message}, {"line", line}}}};
}

// Results come back on the engine's thread in any order; the main thread writes them in
// input order.
struct Results {
  std::mutex mutex;
  std::condition_variable ready;
  std::map<size_t, Json> done;  // line index -> output object
  uint64_t completion_tokens = 0;
};

int RunBatch(const BatchFlags& f) {
  if (f.parallel == 0 || f.parallel > 4096) {
    Fail(ErrorCode::kInvalidArgument, "--parallel must be 1..4096, got ", f.parallel);
  }
  std::ifstream in(f.input, std::ios::binary);
  if (!in) Fail(ErrorCode::kIo, f.input, ": cannot open: ", std::strerror(errno));
  RemoveLeftovers(RemoveStaleTemporaryFiles(f.output));
  AtomicFile out(f.output);  // before loading: a bad --output fails at once
  const gemma_rt::Model model = gemma_rt::Model::Load(
      {.path = f.model, .threads = f.threads, .exact_quantized_products = f.exact_quant});
  gemma_rt::Engine engine(
      model, {.max_sequences = f.parallel,
              .step_tokens = f.step_tokens,
              .kv_type = f.kv_type == "bf16" ? gemma_rt::KvType::kBF16 : gemma_rt::KvType::kF32});
  Results results;
  const bool progress = ::isatty(STDERR_FILENO);
  const Clock::time_point start = Clock::now();

  // At most `window` lines between reading and writing: memory stays bounded on any input.
  const size_t window = std::max<size_t>(64, 4 * f.parallel);
  size_t read = 0, written = 0, errors = 0, file_line = 0;
  std::string line;
  const auto write_ready = [&](bool wait_for_one) {
    std::unique_lock lock(results.mutex);
    if (wait_for_one) {
      results.ready.wait(lock, [&] { return results.done.count(written) > 0; });
    }
    while (results.done.count(written)) {
      Json j = std::move(results.done[written]);
      results.done.erase(written++);
      lock.unlock();
      if (j.contains("error")) ++errors;
      out.Write(j.dump(-1, ' ', false, Json::error_handler_t::replace) + "\n");
      lock.lock();
    }
    if (progress) {
      const double seconds = std::chrono::duration<double>(Clock::now() - start).count();
      std::fprintf(stderr, "\r%zu done, %zu in flight, %.1f tokens/s   ", written, read - written,
                   seconds > 0 ? static_cast<double>(results.completion_tokens) / seconds : 0.0);
      SetStderrLineOpen(true);  // an error line printed now starts on a line of its own
    }
  };
  while (true) {
    line.clear();
    bool too_long = false;
    char c;
    bool got_any = false;
    uint64_t skipped = 0;
    while (in.get(c)) {
      got_any = true;
      if (c == '\n') break;
      if (line.size() < kMaxLineBytes) {
        line.push_back(c);
      } else {
        too_long = true;
        // A stream without newlines (/dev/zero) would be skipped through forever.
        if (++skipped > kMaxSkippedBytes) {
          Fail(ErrorCode::kInvalidArgument, f.input, ":", file_line + 1, ": no newline in ",
               kMaxSkippedBytes, " bytes; not a JSONL file");
        }
      }
    }
    if (!got_any) break;
    ++file_line;
    if (in.bad()) Fail(ErrorCode::kIo, f.input, ": cannot read: ", std::strerror(errno));
    if (line.empty() || line.find_first_not_of(" \t\r") == std::string::npos) continue;
    const size_t index = read++;
    const size_t line_number = file_line;
    Parsed p = too_long
                   ? Parsed{.error = StrCat("the line is longer than ", kMaxLineBytes, " bytes")}
                   : ParseLine(line, f.max_tokens);
    if (p.request) {
      const Json id = p.id;
      p.request->on_done = [&results, index, line_number, id,
                            &model](const gemma_rt::RequestResult& r) {
        Json j;
        if (!r.error.empty()) {
          j = ErrorLine(id, r.error, line_number);
        } else {
          j = {{"id", id},
               {"ids", r.ids},
               {"finish_reason", FinishReason(r.stop_reason)},
               {"prompt_tokens", r.prompt_tokens},
               {"completion_tokens", r.ids.size()}};
          if (model.has_tokenizer()) j["text"] = r.text;
        }
        std::lock_guard lock(results.mutex);
        results.completion_tokens += r.ids.size();
        results.done[index] = std::move(j);
        results.ready.notify_all();
      };
      try {
        engine.Submit(std::move(*p.request));
      } catch (const std::exception& e) {
        p.error = e.what();
      }
    }
    if (!p.error.empty()) {
      std::lock_guard lock(results.mutex);
      results.done[index] = ErrorLine(p.id, p.error, line_number);
    }
    write_ready(/*wait_for_one=*/read - written >= window);
  }
  while (written < read) write_ready(/*wait_for_one=*/true);
  out.Commit(out.bytes_written());
  const double seconds = std::chrono::duration<double>(Clock::now() - start).count();
  if (progress) std::fprintf(stderr, "\n");
  SetStderrLineOpen(false);
  std::fprintf(stderr,
               "%zu requests (%zu failed), %llu tokens generated in %.2f s (%.1f tokens/s)\n", read,
               errors, static_cast<unsigned long long>(results.completion_tokens), seconds,
               seconds > 0 ? static_cast<double>(results.completion_tokens) / seconds : 0.0);
  return 0;
}

}  // namespace

void AddBatchCommand(CLI::App& app, RunFunction& run) {
  auto f = std::make_shared<BatchFlags>();
  CLI::App* cmd = app.add_subcommand(
      "batch", "Run a JSONL file of requests through the batched engine (results in input order)");
  cmd->add_option("--model", f->model, "Model directory or .gguf file")->required();
  cmd->add_option("--input", f->input, "Requests, one JSON object per line")->required();
  cmd->add_option("--output", f->output, "Results, one JSON object per line, in input order")
      ->required();
  cmd->add_option("--parallel", f->parallel, "Requests generating at once")->capture_default_str();
  cmd->add_option("--max-tokens", f->max_tokens, "Default max_tokens of a request")
      ->capture_default_str();
  cmd->add_option("--step-tokens", f->step_tokens,
                  "Rows per forward step (decode rows, then prompt chunks): the activation "
                  "memory grows with it, and prompts convert each weight once per step")
      ->capture_default_str();
  AddKvTypeFlag(*cmd, f->kv_type);
  cmd->add_option("-t,--threads", f->threads, "Worker threads (default: hardware concurrency)");
  AddExactQuantFlag(*cmd, f->exact_quant);
  cmd->callback([f, &run] { run = [f] { return RunBatch(*f); }; });
}

}  // namespace gemma::cli
