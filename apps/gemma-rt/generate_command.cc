// gemma-rt generate --model DIR (--prompt T | --prompt-file F | --prompt-ids 2,17,33 | stdin)
//   [--max-tokens N] [sampling flags] [--stop STR]... [--print-ids] [--stats] [-t N]
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "apps/gemma-rt/command.h"
#include "apps/gemma-rt/id_list.h"
#include "apps/gemma-rt/sampling_flags.h"
#include "base/error.h"
#include "gemma_rt/gemma_rt.h"
#include "io/input_file.h"

namespace gemma::cli {

gemma_rt::SamplingOptions SamplingFlags::Options() const {
  return {.temperature = temperature,
          .top_k = top_k,
          .top_p = top_p,
          .min_p = min_p,
          .repeat_penalty = repeat_penalty,
          .seed = seed ? *seed : std::random_device{}()};
}

namespace {

// A prompt file or stdin may be a pipe; either way no more than this is read.
constexpr InputFileOptions kPromptInput = {
    .what = "a prompt", .max_bytes = kMaxPromptBytes, .allow_streams = true};

using Clock = std::chrono::steady_clock;
double Seconds(Clock::time_point a, Clock::time_point b) {
  return std::chrono::duration<double>(b - a).count();
}

struct GenerateFlags {
  std::string model;
  std::string tokenizer;
  std::string prompt;
  std::string prompt_file;
  std::string prompt_ids;
  size_t max_tokens = 256;
  SamplingFlags sampling;
  std::vector<std::string> stop;
  bool print_ids = false;
  bool stats = false;
  int threads = 0;
  bool exact_quant = false;
};

int RunGenerate(const GenerateFlags& f, const CLI::App& cmd) {
  const int given = (cmd.count("--prompt") > 0) + (cmd.count("--prompt-file") > 0) +
                    (cmd.count("--prompt-ids") > 0);
  if (given > 1) {
    Fail(ErrorCode::kInvalidArgument, "give only one of --prompt, --prompt-file, --prompt-ids");
  }
  const Clock::time_point load_start = Clock::now();
  const gemma_rt::Model model = gemma_rt::Model::Load({.path = f.model,
                                                       .tokenizer = f.tokenizer,
                                                       .threads = f.threads,
                                                       .exact_quantized_products = f.exact_quant});
  const double load_seconds = Seconds(load_start, Clock::now());
  if (!model.has_tokenizer() && !f.print_ids) {
    Fail(ErrorCode::kInvalidArgument, "model ", f.model,
         " has no tokenizer: give the prompt with --prompt-ids and read the output with "
         "--print-ids");
  }

  // Ids given explicitly are used exactly; text gets <bos> first.
  std::vector<int32_t> prompt;
  if (cmd.count("--prompt-ids") > 0) {
    prompt = ParseList<int32_t>(f.prompt_ids, "--prompt-ids");
  } else {
    std::string text;
    if (cmd.count("--prompt") > 0) {
      text = f.prompt;
    } else if (cmd.count("--prompt-file") > 0) {
      text = ReadInputFile(f.prompt_file, kPromptInput);
    } else {
      text = ReadInputFd(STDIN_FILENO, "<stdin>", kPromptInput);
    }
    prompt = model.Tokenize(text, /*add_bos=*/true);
  }
  if (prompt.empty()) Fail(ErrorCode::kInvalidArgument, "the prompt is empty");

  gemma_rt::Session session(model);
  const Clock::time_point prefill_start = Clock::now();
  session.Prefill(prompt);
  const double prefill_seconds = Seconds(prefill_start, Clock::now());

  const gemma_rt::GenerateResult result = session.Generate(
      {.max_tokens = f.max_tokens, .sampling = f.sampling.Options(), .stop_strings = f.stop},
      [](int32_t, std::string_view text) {
        if (text.empty()) return true;
        // A failed write (a full disk) stops generating; main reports it.
        return std::fwrite(text.data(), 1, text.size(), stdout) == text.size() &&
               std::fflush(stdout) == 0;
      });
  if (model.has_tokenizer()) std::printf("\n");
  std::fflush(stdout);  // before --stats on stderr, so the two do not interleave on a terminal
  if (f.print_ids) {
    std::string ids = "[";
    for (size_t i = 0; i < result.ids.size(); ++i) {
      ids += (i ? ", " : "") + std::to_string(result.ids[i]);
    }
    std::printf("%s]\n", ids.c_str());
  }
  if (result.stop_reason == gemma_rt::StopReason::kContextFull) {
    // Not an error, but the text was cut: say so even without --stats.
    std::fprintf(stderr, "gemma-rt: stopped after %zu tokens: the context is full (%lld tokens)\n",
                 result.ids.size(), static_cast<long long>(model.info().max_context));
  }
  if (f.stats) {
    std::fprintf(stderr,
                 "load: %.3f s\n"
                 "prompt: %zu tokens in %.3f s = %.2f tokens/s\n"
                 "generation: %zu tokens, %.2f tokens/s\n"
                 "time to first token: %.3f s\n"
                 "stop: %s\n",
                 load_seconds, prompt.size(), prefill_seconds, prompt.size() / prefill_seconds,
                 result.ids.size(), result.decode_tokens_per_second,
                 prefill_seconds + result.first_token_seconds,
                 gemma_rt::StopReasonName(result.stop_reason));
  }
  return 0;
}

}  // namespace

void AddGenerateCommand(CLI::App& app, RunFunction& run) {
  auto f = std::make_shared<GenerateFlags>();
  CLI::App* cmd = app.add_subcommand("generate", "Generate text from a prompt");
  cmd->add_option("--model", f->model, "Model directory (config.json + safetensors)")->required();
  cmd->add_option("--tokenizer", f->tokenizer,
                  "tokenizer.json or tokenizer.model (default: the one in the model directory)");
  cmd->add_option("--prompt", f->prompt, "Prompt text (<bos> is added)");
  cmd->add_option("--prompt-file", f->prompt_file, "Read the prompt text from a file");
  cmd->add_option("--prompt-ids", f->prompt_ids, "Prompt token ids, used exactly: 2,17,33");
  cmd->add_option("--max-tokens", f->max_tokens, "Most tokens to generate")->capture_default_str();
  f->sampling.Add(cmd);
  cmd->add_option("--stop", f->stop, "Stop when the text contains STR (repeatable)");
  cmd->add_flag("--print-ids", f->print_ids, "Print the generated ids as a JSON array");
  cmd->add_flag("--stats", f->stats,
                "Print load time, prompt and generation tokens/s, time to first token (stderr)");
  cmd->add_option("-t,--threads", f->threads, "Worker threads (default: hardware concurrency)");
  AddExactQuantFlag(*cmd, f->exact_quant);
  cmd->callback([f, cmd, &run] { run = [f, cmd] { return RunGenerate(*f, *cmd); }; });
}

}  // namespace gemma::cli
