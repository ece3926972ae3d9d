// gemma-rt logits --model DIR (--ids 2,17,33 | --prompt T) [--positions 0,5] [--top K] [--full]
// One forward pass; one JSON line per position:
//   {"position": p, "top": [[id, logit], ...], "logits": [...]}   ("logits" only with --full)
#include <algorithm>
#include <charconv>
#include <cstdio>
#include <memory>
#include <numeric>
#include <string>
#include <vector>

#include "apps/gemma-rt/command.h"
#include "apps/gemma-rt/id_list.h"
#include "base/error.h"
#include "gemma_rt/gemma_rt.h"

namespace gemma::cli {
namespace {

struct LogitsFlags {
  std::string model;
  std::string ids;
  std::string prompt;
  std::string positions;
  size_t top = 5;
  bool full = false;
  int threads = 0;
  bool exact_quant = false;
};

// The shortest decimal that reads back as the same float32.
void AppendFloat(std::string& out, float value) {
  char buffer[32];
  const auto [end, ec] = std::to_chars(buffer, buffer + sizeof(buffer), value);
  out.append(buffer, end);
}

int RunLogits(const LogitsFlags& f, const CLI::App& cmd) {
  if ((cmd.count("--ids") > 0) == (cmd.count("--prompt") > 0)) {
    Fail(ErrorCode::kInvalidArgument, "give exactly one of --ids and --prompt");
  }
  const gemma_rt::Model model = gemma_rt::Model::Load(
      {.path = f.model, .threads = f.threads, .exact_quantized_products = f.exact_quant});
  const std::vector<int32_t> ids =
      cmd.count("--ids") > 0 ? ParseList<int32_t>(f.ids, "--ids") : model.Tokenize(f.prompt, true);
  if (ids.empty()) Fail(ErrorCode::kInvalidArgument, "no token ids");
  std::vector<size_t> positions;
  if (cmd.count("--positions") > 0) {
    positions = ParseList<size_t>(f.positions, "--positions");
    std::sort(positions.begin(), positions.end());
    positions.erase(std::unique(positions.begin(), positions.end()), positions.end());
  } else {
    positions.resize(ids.size());
    std::iota(positions.begin(), positions.end(), size_t{0});
  }
  for (size_t p : positions) {
    if (p >= ids.size()) {
      Fail(ErrorCode::kOutOfRange, "--positions: ", p, " is past the last of the ", ids.size(),
           " tokens");
    }
  }
  gemma_rt::Session session(model,
                            {.context = std::min<size_t>(ids.size(), model.info().max_context)});
  const std::vector<float> logits = session.PrefillWithLogits(ids, positions);
  const size_t vocab = model.info().vocab_size;
  const size_t top = std::min(f.top, vocab);
  std::vector<int32_t> order(vocab);
  std::string line;
  for (size_t i = 0; i < positions.size(); ++i) {
    const float* row = &logits[i * vocab];
    std::iota(order.begin(), order.end(), 0);
    std::partial_sort(order.begin(), order.begin() + top, order.end(), [&](int32_t a, int32_t b) {
      return row[a] > row[b] || (row[a] == row[b] && a < b);
    });
    line = "{\"position\": " + std::to_string(positions[i]) + ", \"top\": [";
    for (size_t k = 0; k < top; ++k) {
      line += (k ? ", [" : "[") + std::to_string(order[k]) + ", ";
      AppendFloat(line, row[order[k]]);
      line += "]";
    }
    line += "]";
    if (f.full) {
      line += ", \"logits\": [";
      for (size_t v = 0; v < vocab; ++v) {
        if (v) line += ", ";
        AppendFloat(line, row[v]);
      }
      line += "]";
    }
    line += "}\n";
    std::fwrite(line.data(), 1, line.size(), stdout);
  }
  return 0;
}

}  // namespace

void AddLogitsCommand(CLI::App& app, RunFunction& run) {
  auto f = std::make_shared<LogitsFlags>();
  CLI::App* cmd = app.add_subcommand("logits", "One forward pass; print logits as JSON lines");
  cmd->add_option("--model", f->model, "Model directory (config.json + safetensors)")->required();
  cmd->add_option("--ids", f->ids, "Token ids, used exactly: 2,17,33");
  cmd->add_option("--prompt", f->prompt, "Prompt text (<bos> is added)");
  cmd->add_option("--positions", f->positions, "Positions to print (default: all)");
  cmd->add_option("--top", f->top, "How many of the largest logits to list")->capture_default_str();
  cmd->add_flag("--full", f->full, "Also print the whole logits row");
  cmd->add_option("-t,--threads", f->threads, "Worker threads (default: hardware concurrency)");
  AddExactQuantFlag(*cmd, f->exact_quant);
  cmd->callback([f, cmd, &run] { run = [f, cmd] { return RunLogits(*f, *cmd); }; });
}

}  // namespace gemma::cli
