// gemma-rt bench: prompt-processing and generation speed, like llama.cpp's llama-bench.
#include <chrono>
#include <cstdio>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>

#include "apps/gemma-rt/command.h"
#include "base/error.h"
#include "base/threads.h"
#include "engine/benchmark.h"
#include "engine/parallel_benchmark.h"
#include "kernels/cpu_features.h"
#include "model/model_loader.h"
#include "model/random_model.h"

namespace gemma::cli {
namespace {

struct BenchOptions {
  std::string model;
  std::string random;  // preset name or config.json path
  std::string dtype = "bf16";
  size_t prompt_tokens = 512;
  size_t gen_tokens = 128;
  int threads = 0;
  int repetitions = 3;
  uint64_t seed = 1;
  bool json = false;
  bool exact_quant = false;
  size_t parallel = 0;  // 0: the single-sequence benchmark
  size_t step_tokens = 0;
  std::string kv_type = "f32";
};

ModelConfig RandomConfig(const std::string& what) {
  if (what.size() > 5 && what.substr(what.size() - 5) == ".json") return LoadConfigFile(what);
  return PresetConfig(what);
}

// bench --parallel N: N sequences decoding together through the batched engine.
int RunParallel(const BenchOptions& o, const ModelWeights& weights, const std::string& source,
                int threads, ThreadPool& pool) {
  const ParallelBenchmarkResult r =
      RunParallelBenchmark(weights, pool,
                           {.parallel = o.parallel,
                            .prompt_tokens = o.prompt_tokens,
                            .gen_tokens = o.gen_tokens,
                            .repetitions = o.repetitions,
                            .seed = o.seed,
                            .step_tokens = o.step_tokens,
                            .kv_dtype = o.kv_type == "bf16" ? DType::kBF16 : DType::kF32});
  if (o.json) {
    nlohmann::json out = {
        {"model", source},
        {"weight_bytes", weights.WeightBytes()},
        {"threads", threads},
        {"parallel", o.parallel},
        {"prompt_tokens", o.prompt_tokens},
        {"gen_tokens", o.gen_tokens},
        {"repetitions", o.repetitions},
        {"prompt_tokens_per_s", r.prompt_tokens_per_s.mean},
        {"prompt_tokens_per_s_samples", r.prompt_tokens_per_s.samples},
        {"gen_tokens_per_s", r.gen_tokens_per_s.mean},
        {"gen_tokens_per_s_stddev", r.gen_tokens_per_s.stddev},
        {"gen_tokens_per_s_samples", r.gen_tokens_per_s.samples},
        {"kv_bytes", r.kv_bytes},
        {"kv_type", o.kv_type},
        {"step_tokens", o.step_tokens},
        {"peak_rss_bytes", r.peak_rss_bytes},
        {"cpu", {{"model", Cpu().model}, {"features", CpuFeatureNames(Cpu().features)}}},
        {"kernels", nlohmann::json::object()},
    };
    for (const auto& [kernel, isa] : KernelChoices()) out["kernels"][kernel] = isa;
    std::printf("%s\n", out.dump().c_str());
    return 0;
  }
  std::printf("model: %s, %d threads, %zu sequences of %zu + %zu tokens, %d repetitions\n",
              source.c_str(), threads, o.parallel, o.prompt_tokens, o.gen_tokens, o.repetitions);
  std::printf("prompt %8.2f tok/s (all sequences)\n", r.prompt_tokens_per_s.mean);
  std::printf("gen    %8.2f ± %.2f tok/s (all sequences)\n", r.gen_tokens_per_s.mean,
              r.gen_tokens_per_s.stddev);
  std::printf("KV pool %.3f GB, peak RSS %.3f GB\n", static_cast<double>(r.kv_bytes) / 1e9,
              static_cast<double>(r.peak_rss_bytes) / 1e9);
  return 0;
}

int RunBench(const BenchOptions& o) {
  if (o.model.empty() == o.random.empty()) {
    Fail(ErrorCode::kInvalidArgument, "bench: give exactly one of --model or --random");
  }
  const int threads = ResolveThreadCount(o.threads, "--threads");
  const auto start = std::chrono::steady_clock::now();
  ModelWeights weights;
  std::string source;
  if (!o.random.empty()) {
    const std::optional<DType> dtype = ParseDType(o.dtype);
    if (!dtype) Fail(ErrorCode::kInvalidArgument, "bench: unknown --dtype '", o.dtype, "'");
    weights = MakeRandomModel(
        {.config = RandomConfig(o.random), .dtype = *dtype, .seed = o.seed, .threads = threads});
    SetQuantDot(weights, o.exact_quant ? QuantDot::kFloat32 : QuantDot::kInt8);
    source = StrCat("random ", o.random, " ", DTypeName(*dtype));
  } else {
    weights = LoadModelWeights(o.model,
                               {.quant_dot = o.exact_quant ? QuantDot::kFloat32 : QuantDot::kInt8});
    source = o.model;
  }
  const double load_s =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();

  ThreadPool pool(threads);
  if (o.parallel > 0) return RunParallel(o, weights, source, threads, pool);
  if (o.step_tokens != 0 || o.kv_type != "f32") {
    Fail(ErrorCode::kInvalidArgument, "bench: --step-tokens and --kv-type need --parallel");
  }
  const BenchmarkResult r = RunBenchmark(weights, pool,
                                         {.prompt_tokens = o.prompt_tokens,
                                          .gen_tokens = o.gen_tokens,
                                          .repetitions = o.repetitions,
                                          .seed = o.seed});
  const double weight_gb = static_cast<double>(weights.WeightBytes()) / 1e9;
  if (o.json) {
    nlohmann::json out = {
        {"model", source},
        {"weight_bytes", weights.WeightBytes()},
        {"parameters", weights.config.ParameterCount()},
        {"threads", threads},
        {"prompt_tokens", o.prompt_tokens},
        {"gen_tokens", o.gen_tokens},
        {"repetitions", o.repetitions},
        {"prompt_tokens_per_s", r.prompt_tokens_per_s.mean},
        {"prompt_tokens_per_s_stddev", r.prompt_tokens_per_s.stddev},
        {"prompt_tokens_per_s_samples", r.prompt_tokens_per_s.samples},
        {"gen_tokens_per_s", r.gen_tokens_per_s.mean},
        {"gen_tokens_per_s_stddev", r.gen_tokens_per_s.stddev},
        {"gen_tokens_per_s_samples", r.gen_tokens_per_s.samples},
        {"time_to_first_token_s", r.time_to_first_token_s.mean},
        {"load_s", load_s},
        {"peak_rss_bytes", r.peak_rss_bytes},
        {"quantized_decode", o.exact_quant ? "float32" : "int8"},
        {"cpu", {{"model", Cpu().model}, {"features", CpuFeatureNames(Cpu().features)}}},
        {"kernels", nlohmann::json::object()},
    };
    // Which instruction set each kernel family used, so every figure says where it ran.
    for (const auto& [kernel, isa] : KernelChoices()) out["kernels"][kernel] = isa;
    std::printf("%s\n", out.dump().c_str());
    return 0;
  }
  std::printf("model: %s, %.2f GB of weights, %d threads, %d repetitions after a warm-up\n",
              source.c_str(), weight_gb, threads, o.repetitions);
  std::printf("cpu: %s (%s); kernels: %s\n", Cpu().model.c_str(),
              CpuFeatureNames(Cpu().features).c_str(), KernelIsaSummary().c_str());
  std::printf("load (%s): %.3f s\n", o.random.empty() ? "mmap" : "generate in memory", load_s);
  if (o.prompt_tokens > 0) {
    std::printf("pp%-5zu %8.2f ± %.2f tok/s   time to first token %.3f s\n", o.prompt_tokens,
                r.prompt_tokens_per_s.mean, r.prompt_tokens_per_s.stddev,
                r.time_to_first_token_s.mean);
  }
  if (o.gen_tokens > 0) {
    std::printf("tg%-5zu %8.2f ± %.2f tok/s   (%.1f GB/s of weights read)\n", o.gen_tokens,
                r.gen_tokens_per_s.mean, r.gen_tokens_per_s.stddev,
                r.gen_tokens_per_s.mean * weight_gb);
  }
  std::printf("peak RSS: %.3f GB\n", static_cast<double>(r.peak_rss_bytes) / 1e9);
  return 0;
}

}  // namespace

void AddBenchCommand(CLI::App& app, RunFunction& run) {
  auto o = std::make_shared<BenchOptions>();
  CLI::App* cmd =
      app.add_subcommand("bench", "Measure prompt and generation speed (llama-bench style)");
  cmd->add_option("--model", o->model, "Model directory or .gguf file");
  cmd->add_option("--random", o->random,
                  "Build random weights in memory instead: 2b, 7b or a config.json path");
  cmd->add_option("--dtype", o->dtype, "Weight type of --random (bf16, f16, f32, q8_0, q4_0, ...)")
      ->capture_default_str();
  cmd->add_option("-p,--prompt-tokens", o->prompt_tokens, "Prompt length (0: skip)")
      ->capture_default_str();
  cmd->add_option("-n,--gen-tokens", o->gen_tokens, "Generated tokens (0: skip)")
      ->capture_default_str();
  cmd->add_option("-t,--threads", o->threads, "Threads (0: all hardware threads)")
      ->capture_default_str();
  cmd->add_option("-r,--repetitions", o->repetitions, "Measured repetitions")
      ->capture_default_str();
  cmd->add_option("--seed", o->seed, "Seed of the random weights and prompt")
      ->capture_default_str();
  cmd->add_option("--parallel", o->parallel,
                  "N sequences decoding together through the batched engine (aggregate "
                  "tokens/s, like llama-batched-bench -npp P -ntg N -npl N)");
  cmd->add_option("--step-tokens", o->step_tokens,
                  "With --parallel: rows per engine step (0: every prompt in one step, up to "
                  "4096 rows)")
      ->capture_default_str();
  AddKvTypeFlag(*cmd, o->kv_type);
  cmd->add_flag("--json", o->json, "Print one JSON object");
  AddExactQuantFlag(*cmd, o->exact_quant);
  cmd->callback([o, &run] { run = [o] { return RunBench(*o); }; });
}

}  // namespace gemma::cli
