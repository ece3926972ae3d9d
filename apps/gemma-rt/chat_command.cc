// gemma-rt chat --model DIR [--system TEXT] [-t N]: interactive multi-turn chat. One line
// of stdin is one user turn; the KV cache is kept across turns. Ends at EOF or "/exit".
#include <unistd.h>

#include <cstdio>
#include <iostream>
#include <memory>
#include <random>
#include <string>

#include "apps/gemma-rt/command.h"
#include "base/error.h"
#include "gemma_rt/gemma_rt.h"

namespace gemma::cli {
namespace {

struct ChatFlags {
  std::string model;
  std::string system;
  int threads = 0;
  bool exact_quant = false;
};

int RunChat(const ChatFlags& f) {
  const gemma_rt::Model model = gemma_rt::Model::Load(
      {.path = f.model, .threads = f.threads, .exact_quantized_products = f.exact_quant});
  if (!model.has_tokenizer()) {
    Fail(ErrorCode::kNotFound, "model ", f.model, " has no tokenizer; chat needs one");
  }
  gemma_rt::Session session(model);
  // Moderate sampling for conversation; generate exposes every knob.
  const gemma_rt::GenerateOptions options{
      .max_tokens = 1024,
      .sampling = {.temperature = 0.7f, .top_p = 0.95f, .seed = std::random_device{}()}};
  const bool interactive = isatty(STDIN_FILENO);
  std::string line;
  while (true) {
    if (interactive) std::fputs("> ", stderr);
    if (!std::getline(std::cin, line) || line == "/exit") break;
    if (line.empty()) continue;
    const gemma_rt::GenerateResult result = session.ChatTurn(
        line, options,
        [](int32_t, std::string_view text) {
          std::fwrite(text.data(), 1, text.size(), stdout);
          std::fflush(stdout);
          return true;
        },
        f.system);
    std::printf("\n");
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
  cmd->add_option("--system", f->system, "Text put at the start of the first user turn");
  cmd->add_option("-t,--threads", f->threads, "Worker threads (default: hardware concurrency)");
  AddExactQuantFlag(*cmd, f->exact_quant);
  cmd->callback([f, &run] { run = [f] { return RunChat(*f); }; });
}

}  // namespace gemma::cli
