// Each subcommand of the gemma-rt tool lives in its own file and registers itself here:
// it declares its flags once (name, default, help) and sets `run` when it is chosen.
#pragma once

#include <CLI/CLI.hpp>
#include <functional>
#include <string>
#include <vector>

namespace gemma::cli {

using RunFunction = std::function<int()>;

// --exact-quant, shared by every command that runs a model.
inline void AddExactQuantFlag(CLI::App& cmd, bool& exact_quant) {
  cmd.add_flag("--exact-quant", exact_quant,
               "Quantized and bf16 weights: float32 activations (exact products of the file's "
               "weights) instead of activations rounded to int8 (quantized types) or to bf16 "
               "(bf16 weights), as llama.cpp does (default, faster)");
}

// --kv-type f32|bf16, shared by the commands that run the batched engine.
inline void AddKvTypeFlag(CLI::App& cmd, std::string& kv_type) {
  cmd.add_option("--kv-type", kv_type,
                 "Storage of the KV cache: f32, or bf16 (half the memory per position; the "
                 "logits move by what rounding keys and values to bf16 costs)")
      ->check(CLI::IsMember({"f32", "bf16"}))
      ->capture_default_str();
}

// Removes what killed runs left next to the files a command is about to write (temporary
// files no live process holds; io/atomic_file.h) and says so on stderr.
void RemoveLeftovers(const std::vector<std::string>& removed);

void AddInspectCommand(CLI::App& app, RunFunction& run);
void AddTokenizeCommands(CLI::App& app, RunFunction& run);  // tokenize, detokenize
void AddGenerateCommand(CLI::App& app, RunFunction& run);
void AddChatCommand(CLI::App& app, RunFunction& run);
void AddLogitsCommand(CLI::App& app, RunFunction& run);
void AddMakeRandomCommand(CLI::App& app, RunFunction& run);
void AddQuantizeCommand(CLI::App& app, RunFunction& run);
void AddCompareCommand(CLI::App& app, RunFunction& run);
void AddBenchCommand(CLI::App& app, RunFunction& run);
void AddBatchCommand(CLI::App& app, RunFunction& run);
void AddPerplexityCommand(CLI::App& app, RunFunction& run);
void AddEvalCommand(CLI::App& app, RunFunction& run);
void AddServeCommand(CLI::App& app, RunFunction& run);
void AddBenchServeCommand(CLI::App& app, RunFunction& run);  // load generator for servers

}  // namespace gemma::cli
