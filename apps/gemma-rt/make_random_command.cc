// gemma-rt make-random --preset 2b|7b|FILE.json --dtype bf16|f32 --seed S --out DIR:
// a random-weight checkpoint of any config, in the exact Hugging Face layout.
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <string>

#include "apps/gemma-rt/command.h"
#include "base/error.h"
#include "io/atomic_file.h"
#include "model/random_weights.h"

namespace gemma::cli {
namespace {

struct MakeRandomOptions {
  std::string preset = "2b";
  std::string dtype = "bf16";
  uint64_t seed = 0;
  std::string out;
  uint64_t shard_size = kDefaultMaxShardBytes;
  int threads = 0;
};

int RunMakeRandom(const MakeRandomOptions& options) {
  const bool is_file =
      options.preset.ends_with(".json") || std::filesystem::is_regular_file(options.preset);
  const ModelConfig config =
      is_file ? LoadConfigFile(options.preset) : PresetConfig(options.preset);
  const std::optional<DType> dtype = ParseDType(options.dtype);
  if (!dtype || (*dtype != DType::kBF16 && *dtype != DType::kF32 && *dtype != DType::kF16)) {
    Fail(ErrorCode::kInvalidArgument, "--dtype '", options.dtype, "': expected bf16, f16 or f32");
  }
  std::error_code error;
  if (std::filesystem::is_directory(options.out, error)) {
    RemoveLeftovers(RemoveStaleTemporaryFilesIn(options.out));
  }
  const auto start = std::chrono::steady_clock::now();
  const WrittenCheckpoint written = WriteRandomCheckpoint({.config = config,
                                                           .dtype = *dtype,
                                                           .seed = options.seed,
                                                           .out_dir = options.out,
                                                           .max_shard_bytes = options.shard_size,
                                                           .threads = options.threads});
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  for (const std::string& file : written.files) std::printf("wrote %s\n", file.c_str());
  std::printf("%lld parameters, %llu bytes of tensor data in %.1f s\n",
              static_cast<long long>(config.ParameterCount()),
              static_cast<unsigned long long>(written.total_size), seconds);
  return 0;
}

}  // namespace

void AddMakeRandomCommand(CLI::App& app, RunFunction& run) {
  auto options = std::make_shared<MakeRandomOptions>();
  CLI::App* cmd = app.add_subcommand(
      "make-random", "Write a random-weight checkpoint (config.json + safetensors, HF layout)");
  cmd->add_option("--preset", options->preset, "2b, 7b, or a config.json file")
      ->capture_default_str();
  cmd->add_option("--dtype", options->dtype, "bf16, f16 or f32")->capture_default_str();
  cmd->add_option("--seed", options->seed, "Random seed")->capture_default_str();
  cmd->add_option("--out", options->out, "Output directory (created if missing)")->required();
  cmd->add_option("--shard-size", options->shard_size,
                  "Largest shard in bytes; more data than this is split into shards + index")
      ->capture_default_str();
  cmd->add_option("--threads", options->threads, "Generator threads (0: all cores)")
      ->capture_default_str();
  cmd->callback([options, &run] { run = [options] { return RunMakeRandom(*options); }; });
}

}  // namespace gemma::cli
