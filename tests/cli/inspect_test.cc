// The gemma-rt binary end to end: inspect and make-random on good input, and on bad input
// a non-zero exit with one clear message (no crash, no stack trace).
#include <gtest/gtest.h>

#include <sys/wait.h>
#include "cli/cli_runner.h"

#include <cstdio>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <string>

#include "io/safetensors_test_util.h"

namespace gemma {
namespace {

using testing::ScratchDir;
using testing::WriteFile;

const std::string kGolden = std::string(GEMMA_TEST_DATA_DIR) + "/golden/";

using gemma::cli_test::ExpectOneClearError;
using gemma::cli_test::RunCli;
using gemma::cli_test::RunResult;

TEST(CliInspect, TextOutputListsEveryTensor) {
  const RunResult r = RunCli("inspect --model " + kGolden + "tiny-7b-f32");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("parameters   529056"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("bytes F32    2116224"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("model.layers.2.self_attn.q_proj.weight"), std::string::npos);
  EXPECT_NE(r.output.find("[128, 96]"), std::string::npos);
  EXPECT_NE(r.output.find("model-00002-of-00002.safetensors"), std::string::npos);
}

TEST(CliInspect, JsonOutput) {
  const RunResult r = RunCli("inspect --json --model " + kGolden + "tiny-2b-bf16");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const nlohmann::json j = nlohmann::json::parse(r.output);
  EXPECT_EQ(j["parameters"], 151872);
  EXPECT_EQ(j["bytes_per_dtype"]["BF16"], 303744);
  EXPECT_EQ(j["config"]["num_key_value_heads"], 1);
  ASSERT_EQ(j["tensors"].size(), 2u + 2 * 9);
  EXPECT_EQ(j["tensors"][0]["name"], "model.embed_tokens.weight");
  EXPECT_EQ(j["tensors"][0]["dtype"], "BF16");
  EXPECT_EQ(j["tensors"][0]["shape"], nlohmann::json::array({512, 64}));
  EXPECT_EQ(j["tensors"][0]["shard"], "model.safetensors");
}

// Issue 12: inspect reads a .gguf file too: its config, metadata, tokenizer and tensor types.
TEST(CliInspect, GgufFileShowsMetadataTokenizerAndTensorTypes) {
  const std::string gguf =
      std::string(GEMMA_TEST_DATA_DIR) + "/gguf/small-2b-256/model-q4_k_m.gguf";
  const RunResult r = RunCli("inspect --model " + gguf);
  ASSERT_EQ(r.exit_code, 0) << r.output;
  for (const char* part : {"format       GGUF version 3", "vocab 1024", "parameters   2229504",
                           "tokenizer    llama, 1024 pieces", "general.file_type",
                           "tokenizer.ggml.tokens                       string[1024]", "bytes Q4_K",
                           "bytes Q6_K", "blk.1.ffn_down.weight"}) {
    EXPECT_NE(r.output.find(part), std::string::npos) << part << " missing in " << r.output;
  }
  const RunResult j = RunCli("inspect --json --model " + gguf, /*with_stderr=*/false);
  ASSERT_EQ(j.exit_code, 0) << j.output;
  const nlohmann::json json = nlohmann::json::parse(j.output);
  EXPECT_EQ(json["format"]["name"], "GGUF");
  EXPECT_EQ(json["parameters"], 2229504);
  EXPECT_EQ(json["tokenizer"]["pieces"], 1024);
  EXPECT_EQ(json["tokenizer"]["bos_id"], 2);
  ASSERT_EQ(json["tensors"].size(), 20u);
  bool found = false;
  for (const auto& t : json["tensors"]) {
    if (t["name"] == "blk.0.attn_q.weight") {
      found = true;
      EXPECT_EQ(t["dtype"], "Q4_K");
      EXPECT_EQ(t["shape"], nlohmann::json::array({256, 256}));
    }
  }
  EXPECT_TRUE(found);
  bool has_arch = false;
  for (const auto& kv : json["metadata"]) has_arch |= kv["key"] == "general.architecture";
  EXPECT_TRUE(has_arch);
}

TEST(CliInspect, NonexistentDirectory) {
  ScratchDir dir("cli");
  ExpectOneClearError(RunCli("inspect --model " + dir.File("nope")), dir.File("nope"));
}

TEST(CliInspect, TruncatedFile) {
  ScratchDir dir("cli");
  std::filesystem::copy(kGolden + "tiny-2b-f32/config.json", dir.File("config.json"));
  const std::string bytes = testing::ReadFile(kGolden + "tiny-2b-f32/model.safetensors");
  WriteFile(dir.File("model.safetensors"), bytes.substr(0, bytes.size() / 2));
  const RunResult r = RunCli("inspect --model " + dir.path().string());
  ExpectOneClearError(r, dir.File("model.safetensors"));
  EXPECT_NE(r.output.find("truncated"), std::string::npos) << r.output;
}

TEST(CliInspect, GarbageHeader) {
  ScratchDir dir("cli");
  std::filesystem::copy(kGolden + "tiny-2b-f32/config.json", dir.File("config.json"));
  WriteFile(dir.File("model.safetensors"), std::string(64, '\xff'));
  ExpectOneClearError(RunCli("inspect --model " + dir.path().string()), "exceeds");
}

TEST(CliInspect, BadConfig) {
  ScratchDir dir("cli");
  std::filesystem::copy(kGolden + "tiny-2b-f32/model.safetensors", dir.File("model.safetensors"));
  WriteFile(dir.File("config.json"), R"({"vocab_size": 512, "hidden_size": 64})");
  ExpectOneClearError(RunCli("inspect --model " + dir.path().string()), "intermediate_size");
}

TEST(CliMakeRandom, SmallConfigFileRoundTripsThroughInspect) {
  ScratchDir dir("cli");
  const std::string out = dir.File("model");
  const RunResult made =
      RunCli("make-random --preset " + kGolden +
             "tiny-7b-f32/config.json --dtype f32 --seed 3 --out " + out + " --shard-size 1100000");
  ASSERT_EQ(made.exit_code, 0) << made.output;
  // The same split as the golden case: two shards and an index identical to it.
  EXPECT_TRUE(testing::ReadFile(out + "/model.safetensors.index.json") ==
              testing::ReadFile(kGolden + "tiny-7b-f32/model.safetensors.index.json"));
  const RunResult r = RunCli("inspect --json --model " + out);
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const nlohmann::json j = nlohmann::json::parse(r.output);
  EXPECT_EQ(j["parameters"], 529056);
  EXPECT_EQ(j["shards"].size(), 2u);
}

TEST(CliMakeRandom, BadArguments) {
  ScratchDir dir("cli");
  ExpectOneClearError(RunCli("make-random --preset 3b --out " + dir.File("m")), "'3b'");
  ExpectOneClearError(RunCli("make-random --preset 2b --dtype q4_0 --out " + dir.File("m")),
                      "--dtype");
}

}  // namespace
}  // namespace gemma
