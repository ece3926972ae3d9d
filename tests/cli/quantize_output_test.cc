// Issue 17: every file quantize writes loads and runs in gemma-rt, and a tokenizer that does
// not fit the model is refused instead of being written into a file that then fails.
#include <gtest/gtest.h>

#include <filesystem>
#include <string>

#include "cli/cli_runner.h"
#include "io/safetensors_test_util.h"

namespace gemma {
namespace {

namespace fs = std::filesystem;
using cli_test::ExpectOneClearError;
using cli_test::RunCli;
using cli_test::RunResult;
using testing::ScratchDir;
using testing::WriteFile;

const std::string kData = GEMMA_TEST_DATA_DIR;
const std::string kSmallHf = kData + "/gguf/small-2b-256/hf";
const std::string kSmallGguf = kData + "/gguf/small-2b-256/model-f32.gguf";
const std::string kSpm = kData + "/tokenizer/spm_small.model";

// Every type quantize offers writes a file that gemma-rt then loads and runs: from the
// Hugging Face checkpoint (no tokenizer: ids in and out) and from llama.cpp's GGUF, whose
// tokenizer is copied (text in and out).
TEST(CliQuantizeOutput, EveryQuantizeTypeWritesAFileThatLoadsAndRuns) {
  ScratchDir dir("files");
  for (const char* type : {"q8_0", "q4_0", "q4_1", "q5_0", "q5_1", "q4_k_s", "q4_k_m", "q5_k_s",
                           "q5_k_m", "q6_k", "f16", "bf16", "f32"}) {
    SCOPED_TRACE(type);
    const std::string from_hf = dir.File(std::string(type) + "-hf.gguf");
    const RunResult q =
        RunCli("quantize --model " + kSmallHf + " --type " + type + " --out " + from_hf);
    ASSERT_EQ(q.exit_code, 0) << q.output;
    const RunResult g = RunCli("generate --model " + from_hf +
                               " --prompt-ids 2,100,200 --max-tokens 3 --print-ids");
    EXPECT_EQ(g.exit_code, 0) << g.output;
    const std::string from_gguf = dir.File(std::string(type) + "-gguf.gguf");
    const RunResult q2 =
        RunCli("quantize --model " + kSmallGguf + " --type " + type + " --out " + from_gguf);
    ASSERT_EQ(q2.exit_code, 0) << q2.output;
    const RunResult g2 = RunCli("generate --model " + from_gguf +
                                " --prompt 'Hello world' --max-tokens 3 --temperature 0");
    EXPECT_EQ(g2.exit_code, 0) << g2.output;
  }
}

// A tokenizer whose vocabulary does not match the model's used to be written into the GGUF
// (exit 0); generating then failed on the first id past the tokenizer ("token id 906 is
// outside the vocabulary"), and llama.cpp refuses such files. quantize now refuses them.
TEST(CliQuantizeOutput, QuantizeRefusesATokenizerThatDoesNotFitTheModel) {
  ScratchDir dir("files");
  const std::string spm_dir = dir.File("spm"), json_dir = dir.File("json");
  for (const std::string& d : {spm_dir, json_dir}) {
    fs::create_directory(d);
    fs::create_symlink(kSmallHf + "/config.json", d + "/config.json");
    fs::create_symlink(kSmallHf + "/model.safetensors", d + "/model.safetensors");
  }
  fs::create_symlink(kSpm, spm_dir + "/tokenizer.model");  // 700 pieces
  WriteFile(json_dir + "/tokenizer.json", R"({"model": {"type": "BPE", "byte_fallback": true,
      "vocab": {"<pad>": 0, "<eos>": 1, "<bos>": 2}, "merges": []}})");
  for (const std::string& tokenizer :
       {spm_dir + "/tokenizer.model", json_dir + "/tokenizer.json"}) {
    const std::string model = fs::path(tokenizer).parent_path().string();
    const std::string out = dir.File("out.gguf");
    const RunResult q = RunCli("quantize --model " + model + " --type q8_0 --out " + out);
    ExpectOneClearError(q, tokenizer);
    EXPECT_NE(q.output.find("1024"), std::string::npos) << q.output;
    EXPECT_FALSE(fs::exists(out));
  }
}

}  // namespace
}  // namespace gemma
