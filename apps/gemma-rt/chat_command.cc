// gemma-rt chat --model DIR [--system TEXT] [--max-tokens N] [sampling flags] [-t N]:
// interactive multi-turn chat. One line of stdin is one user turn; the KV cache is kept
// across turns. Ends at EOF or "/exit".
#include <unistd.h>

#include <cstdio>
#include <iostream>
#include <memory>
#include <string>

#include "apps/gemma-rt/command.h"
#include "apps/gemma-rt/sampling_flags.h"
#include "base/error.h"
#include "gemma_rt/gemma_rt.h"
#include "io/input_file.h"

namespace gemma::cli {
namespace {

struct ChatFlags {
  std::string model;
  std::string tokenizer;
  std::string system;
  size_t max_tokens = 1024;
  SamplingFlags sampling{.temperature = 0.7f, .top_p = 0.95f};  // moderate, for conversation
  int threads = 0;
  bool exact_quant = false;
};

int RunChat(const ChatFlags& f) {
  const gemma_rt::Model model = gemma_rt::Model::Load({.path = f.model,
                                                       .tokenizer = f.tokenizer,
                                                       .threads = f.threads,
                                                       .exact_quantized_products = f.exact_quant});
  if (!model.has_tokenizer()) {
    Fail(ErrorCode::kNotFound, "model ", f.model, " has no tokenizer; chat needs one");
  }
  gemma_rt::Session session(model);
  const gemma_rt::GenerateOptions options{.max_tokens = f.max_tokens,
                                          .sampling = f.sampling.Options()};
  const bool interactive = isatty(STDIN_FILENO);
  std::string line;
  int64_t line_number = 0;
  while (true) {
    if (interactive) std::fputs("> ", stderr);
    if (!ReadBoundedLine(std::cin, line, kMaxLineBytes, "<stdin>", line_number) ||
        line == "/exit") {
      break;
    }
    if (line.empty()) continue;
    const gemma_rt::GenerateResult result = session.ChatTurn(
        line, options,
        [](int32_t, std::string_view text) {
          // A failed write (a full disk) stops the turn; main reports it.
          return std::fwrite(text.data(), 1, text.size(), stdout) == text.size() &&
                 std::fflush(stdout) == 0;
        },
        f.system);
    std::printf("\n");
    if (std::ferror(stdout)) break;
    if (result.stop_reason == gemma_rt::StopReason::kContextFull) {
      std::fprintf(stderr, "gemma-rt: the context is full; start a new chat\n");
      break;
    }
  }
  return 0;
}

}  // namespace

void AddChatCommand(CLI::App& app, RunFunction& run) {
  auto f = std::make_shared<ChatFlags>();
  CLI::App* cmd = app.add_subcommand("chat", "Interactive multi-turn chat (Gemma's template)");
  cmd->add_option("--model", f->model, "Model directory (config.json + safetensors + tokenizer)")
      ->required();
  cmd->add_option("--tokenizer", f->tokenizer,
                  "tokenizer.json or tokenizer.model (default: the one in the model directory)");
  cmd->add_option("--system", f->system, "Text put at the start of the first user turn");
  cmd->add_option("--max-tokens", f->max_tokens, "Most tokens per reply")->capture_default_str();
  f->sampling.Add(cmd);
  cmd->add_option("-t,--threads", f->threads, "Worker threads (default: hardware concurrency)");
  AddExactQuantFlag(*cmd, f->exact_quant);
  cmd->callback([f, &run] { run = [f] { return RunChat(*f); }; });
}

}  // namespace gemma::cli
