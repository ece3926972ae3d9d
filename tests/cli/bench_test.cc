// gemma-rt bench as a user runs it: it measures what it claims (positive rates, the
// requested sizes, the model's weight bytes) and refuses bad requests with one clear error.
// Speed itself is not asserted here: that is what the benchmark is for.
#include <gtest/gtest.h>

#include <sys/wait.h>
#include "cli/cli_runner.h"
#include "kernels/cpu_features.h"

#include <array>
#include <cstdio>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace {

using gemma::cli_test::RunCli;
using gemma::cli_test::RunResult;

const std::string kData = GEMMA_TEST_DATA_DIR;

void ExpectSaneJson(const std::string& text, size_t prompt, size_t gen, int reps) {
  const nlohmann::json j = nlohmann::json::parse(text);
  for (const char* key : {"prompt_tokens_per_s", "gen_tokens_per_s", "time_to_first_token_s",
                          "load_s", "peak_rss_bytes"}) {
    ASSERT_TRUE(j.contains(key)) << key;
  }
  EXPECT_GT(j["prompt_tokens_per_s"].get<double>(), 0.0);
  EXPECT_GT(j["gen_tokens_per_s"].get<double>(), 0.0);
  EXPECT_GT(j["time_to_first_token_s"].get<double>(), 0.0);
  EXPECT_GT(j["peak_rss_bytes"].get<uint64_t>(), 0u);
  EXPECT_EQ(j["prompt_tokens"].get<size_t>(), prompt);
  EXPECT_EQ(j["gen_tokens"].get<size_t>(), gen);
  EXPECT_EQ(j["prompt_tokens_per_s_samples"].size(), static_cast<size_t>(reps));
  EXPECT_EQ(j["gen_tokens_per_s_samples"].size(), static_cast<size_t>(reps));
}

TEST(CliBench, RandomModelInMemory) {
  const RunResult r = RunCli("bench --random " + kData +
                                 "/golden/tiny-7b-f32/config.json --dtype f32 -p 12 -n 5 -r 2 -t 2 "
                                 "--json",
                             /*with_stderr=*/false);
  ASSERT_EQ(r.exit_code, 0) << r.output;
  ExpectSaneJson(r.output, 12, 5, 2);
  // tiny-7b: 512 x 96 embedding + 3 layers of 4x32 attention and 384-wide MLP, float32.
  const nlohmann::json j = nlohmann::json::parse(r.output);
  EXPECT_EQ(j["parameters"].get<int64_t>(), 529056);
}

TEST(CliBench, CheckpointAndGguf) {
  const std::vector<std::string> models = {kData + "/golden/tiny-2b-bf16",
                                           kData + "/gguf/small-2b-256/model-q8_0.gguf"};
  for (const std::string& model : models) {
    const RunResult r = RunCli("bench --model " + model + " -p 8 -n 3 -r 1 --json", false);
    ASSERT_EQ(r.exit_code, 0) << model << ": " << r.output;
    ExpectSaneJson(r.output, 8, 3, 1);
  }
}

// Quantized weights decode with int8 activations unless --exact-quant asks for float32.
TEST(CliBench, ReportsTheQuantizedDecodeArithmetic) {
  const std::string model = kData + "/gguf/small-2b-256/model-q4_0.gguf";
  for (const bool exact : {false, true}) {
    const RunResult r = RunCli(
        "bench --model " + model + " -p 4 -n 2 -r 1 --json" + (exact ? " --exact-quant" : ""),
        false);
    ASSERT_EQ(r.exit_code, 0) << r.output;
    EXPECT_EQ(nlohmann::json::parse(r.output)["quantized_decode"], exact ? "float32" : "int8");
  }
}

// Every figure says where it was measured: the CPU model and flags, and the instruction set
// each kernel family chose (the same as the library reports in this process).
TEST(CliBench, ReportsTheCpuAndTheKernelsInstructionSets) {
  const RunResult r =
      RunCli("bench --model " + kData + "/golden/tiny-2b-bf16 -p 4 -n 2 -r 1 --json", false);
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const nlohmann::json j = nlohmann::json::parse(r.output);
  EXPECT_EQ(j["cpu"]["model"], gemma::Cpu().model);
  EXPECT_EQ(j["cpu"]["features"], gemma::CpuFeatureNames(gemma::Cpu().features));
  for (const auto& [kernel, isa] : gemma::KernelChoices()) {
    EXPECT_EQ(j["kernels"][kernel], isa) << kernel;
  }
  EXPECT_TRUE(j["kernels"].contains("highway"));
  EXPECT_TRUE(j["kernels"].contains("bf16"));
}

// bench --parallel: N sequences through the batched engine, aggregate rates in --json.
TEST(CliBench, ParallelSequencesThroughTheEngine) {
  const RunResult r = RunCli(
      "bench --model " + kData + "/golden/tiny-2b-long --parallel 3 -p 10 -n 4 -r 2 -t 2 --json",
      false);
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const nlohmann::json j = nlohmann::json::parse(r.output);
  EXPECT_EQ(j["parallel"], 3);
  EXPECT_EQ(j["prompt_tokens"], 10);
  EXPECT_EQ(j["gen_tokens"], 4);
  EXPECT_GT(j["prompt_tokens_per_s"].get<double>(), 0.0);
  EXPECT_GT(j["gen_tokens_per_s"].get<double>(), 0.0);
  EXPECT_EQ(j["gen_tokens_per_s_samples"].size(), 2u);
  // KV for exactly the 3 x (10 + 4 + 1) positions, in whole 16-position blocks: 3 x 1 block
  // of 2 layers x 16 positions x 16 values x 2 (keys, values) x 4 bytes.
  EXPECT_EQ(j["kv_bytes"], 3 * 2 * 16 * 16 * 2 * 4);
  EXPECT_TRUE(j.contains("cpu"));
  EXPECT_NE(RunCli("bench --model " + kData + "/golden/tiny-2b-long --parallel 2 -n 0").exit_code,
            0);
}

TEST(CliBench, BadRequestsFailCleanly) {
  const std::string tiny = kData + "/golden/tiny-2b-f32";
  const std::vector<std::string> bad_requests = {"bench",
                                                 "bench --model " + tiny + " --random 2b",
                                                 "bench --model " + tiny + " -p 9000",
                                                 "bench --random 2b --dtype q9_9",
                                                 "bench --model /nonexistent",
                                                 "bench --model " + tiny + " -r 0"};
  for (const std::string& args : bad_requests) {
    const RunResult r = RunCli(args);
    EXPECT_NE(r.exit_code, 0) << args;
    EXPECT_NE(r.output.find("error"), std::string::npos) << args << ": " << r.output;
  }
}

}  // namespace
