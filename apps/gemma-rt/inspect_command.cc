// gemma-rt inspect --model DIR|FILE.gguf [--json]: what a checkpoint holds, read from the
// mapping (headers only: no tensor data is touched except the small norm vectors).
#include <cstdio>
#include <filesystem>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>

#include "apps/gemma-rt/command.h"
#include "apps/gemma-rt/inspect.h"
#include "base/error.h"
#include "base/printable.h"
#include "io/safetensors_checkpoint.h"
#include "model/model_loader.h"
#include "model/weights.h"

namespace gemma::cli {
namespace {

struct InspectOptions {
  std::string model;
  bool json = false;
};

int RunInspect(const InspectOptions& options) {
  if (IsGgufModelPath(options.model)) return InspectGguf(options.model, options.json);
  auto checkpoint =
      std::make_shared<const SafetensorsCheckpoint>(SafetensorsCheckpoint::Open(options.model));
  const ModelConfig config = LoadConfigFile(ConfigPathFor(options.model));
  // Binding checks every tensor's name and shape against config.json before anything is
  // printed, so a broken checkpoint fails here with the full list of problems.
  const ModelWeights weights = BindSafetensorsCheckpoint(checkpoint, config, options.model);
  const ModelConfig& c = weights.config;

  std::map<std::string, uint64_t> bytes_per_dtype;
  std::map<std::string, uint64_t> bytes_per_shard;
  uint64_t data_bytes = 0;
  for (const LocatedTensor& t : checkpoint->tensors()) {
    bytes_per_dtype[std::string(DTypeName(t.view.dtype))] += t.view.bytes.size();
    bytes_per_shard[t.file] += t.view.bytes.size();
    data_bytes += t.view.bytes.size();
  }

  if (options.json) {
    nlohmann::json out;
    out["model"] = options.model;
    out["config"] = nlohmann::json::parse(ConfigToJson(c));
    out["parameters"] = c.ParameterCount();
    out["tensor_data_bytes"] = data_bytes;
    out["bytes_per_dtype"] = bytes_per_dtype;
    nlohmann::json shards = nlohmann::json::array();
    for (const std::string& path : checkpoint->shard_paths()) {
      const std::string file = std::filesystem::path(path).filename().string();
      shards.push_back(
          {{"file", file}, {"path", path}, {"tensor_data_bytes", bytes_per_shard[file]}});
    }
    out["shards"] = shards;
    nlohmann::json tensors = nlohmann::json::array();
    for (const LocatedTensor& t : checkpoint->tensors()) {
      tensors.push_back({{"name", t.name},
                         {"dtype", DTypeName(t.view.dtype)},
                         {"shape", t.view.shape},
                         {"bytes", t.view.bytes.size()},
                         {"shard", t.file}});
    }
    out["tensors"] = tensors;
    PrintLine(out.dump(2, ' ', false, nlohmann::json::error_handler_t::replace));
    return 0;
  }

  PrintLine(StrCat("model        ", options.model));
  PrintConfigLines(c);
  std::printf("tensor data  %llu bytes in %zu file(s)\n", (unsigned long long)data_bytes,
              checkpoint->shard_paths().size());
  for (const auto& [shard, bytes] : bytes_per_shard) {
    std::printf("  %-40s %llu bytes\n", PrintableName(shard).c_str(), (unsigned long long)bytes);
  }
  for (const auto& [dtype, bytes] : bytes_per_dtype) {
    std::printf("bytes %-6s %llu\n", dtype.c_str(), (unsigned long long)bytes);
  }
  std::printf("%-56s %-5s %-16s %s\n", "tensor", "dtype", "shape", "shard");
  for (const LocatedTensor& t : checkpoint->tensors()) {
    std::printf("%-56s %-5s %-16s %s\n", PrintableName(t.name, 100).c_str(),
                std::string(DTypeName(t.view.dtype)).c_str(), ShapeToString(t.view.shape).c_str(),
                PrintableName(t.file).c_str());
  }
  return 0;
}

}  // namespace

void PrintLine(std::string_view line) {
  std::fwrite(line.data(), 1, line.size(), stdout);
  std::fputc('\n', stdout);
}

void PrintConfigLines(const ModelConfig& c) {
  std::printf(
      "architecture gemma: %lld layers, hidden %lld, ffn %lld, heads %lld (kv %lld), "
      "head_dim %lld, vocab %lld, context %lld\n",
      (long long)c.num_hidden_layers, (long long)c.hidden_size, (long long)c.intermediate_size,
      (long long)c.num_attention_heads, (long long)c.num_key_value_heads, (long long)c.head_dim,
      (long long)c.vocab_size, (long long)c.max_position_embeddings);
  std::printf("norm eps     %g, rope theta %g, activation %s (run as GELU tanh)\n", c.rms_norm_eps,
              c.rope_theta, PrintableName(c.hidden_act).c_str());
  std::printf("parameters   %lld\n", (long long)c.ParameterCount());
}

void AddInspectCommand(CLI::App& app, RunFunction& run) {
  auto options = std::make_shared<InspectOptions>();
  CLI::App* cmd = app.add_subcommand("inspect", "Show a checkpoint's config and tensors");
  cmd->add_option("--model", options->model,
                  "Model directory (config.json + model.safetensors or shards + index), "
                  ".safetensors file or .gguf file")
      ->required();
  cmd->add_flag("--json", options->json, "Print one JSON object");
  cmd->callback([options, &run] { run = [options] { return RunInspect(*options); }; });
}

}  // namespace gemma::cli
