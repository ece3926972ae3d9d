// Issue 17, hostile input: malformed files and flags never crash gemma-rt, never make it
// read without bound, and always give one error line that names the file, with names read
// from the file escaped and cut. Each test is one case of the issue, run as a user would.
#include <gtest/gtest.h>

#include <sys/stat.h>

#include <algorithm>
#include <filesystem>
#include <string>

#include "cli/cli_runner.h"
#include "cli/hostile_files.h"
#include "io/safetensors_test_util.h"

namespace gemma {
namespace {

using cli_test::ExpectOneClearError;
using cli_test::RawGguf;
using cli_test::RunCli;
using cli_test::RunResult;
using testing::ScratchDir;
using testing::WriteFile;

const std::string kData = GEMMA_TEST_DATA_DIR;
const std::string kTiny = kData + "/golden/tiny-2b-f32";
const std::string kGgufF32 = kData + "/gguf/small-2b-256/model-f32.gguf";
const std::string kSpm = kData + "/tokenizer/spm_small.model";

// No raw control character may reach the terminal: the only one allowed is the final '\n'.
void ExpectNoControlCharacters(const RunResult& r) {
  ASSERT_FALSE(r.output.empty());
  const std::string body = r.output.substr(0, r.output.size() - 1);
  const auto control = std::find_if(body.begin(), body.end(), [](char c) {
    return static_cast<unsigned char>(c) < 0x20 || c == 0x7f;
  });
  EXPECT_EQ(control, body.end()) << "raw byte " << int(*control) << " in: " << r.output;
}

// A model directory of the tiny golden checkpoint whose config.json is `config` (a symlink
// target when `link` is true, else the file's text).
std::string TinyModelWithConfig(const ScratchDir& dir, const std::string& config, bool link) {
  std::filesystem::create_symlink(kTiny + "/model.safetensors", dir.File("model.safetensors"));
  if (link) {
    std::filesystem::create_symlink(config, dir.File("config.json"));
  } else {
    WriteFile(dir.File("config.json"), config);
  }
  return dir.path().string();
}

TEST(CliHostileInput, ConfigJsonThatIsDevZeroIsRefusedAsNotARegularFile) {
  ScratchDir dir("hostile");
  const std::string model = TinyModelWithConfig(dir, "/dev/zero", /*link=*/true);
  for (const std::string& args :
       {"inspect --model " + model, "generate --model " + model + " --prompt-ids 2 --print-ids"}) {
    const RunResult r = RunCli(args);
    ExpectOneClearError(r, dir.File("config.json"));
    EXPECT_NE(r.output.find("not a regular file"), std::string::npos) << r.output;
  }
}

TEST(CliHostileInput, PromptFileOfDevZeroStopsAtTheSizeLimit) {
  const RunResult r =
      RunCli("generate --model " + kGgufF32 + " --prompt-file /dev/zero --max-tokens 1");
  ExpectOneClearError(r, "/dev/zero");
  EXPECT_NE(r.output.find("limit"), std::string::npos) << r.output;
}

TEST(CliHostileInput, PromptFileThatIsADirectoryIsNamed) {
  ScratchDir dir("hostile");
  const RunResult r = RunCli("generate --model " + kGgufF32 + " --prompt-file " +
                             dir.path().string() + " --max-tokens 1");
  ExpectOneClearError(r, dir.path().string() + ": is a directory");
}

TEST(CliHostileInput, TokenizeFileOfDevZeroStopsAtTheSizeLimit) {
  const RunResult r = RunCli("tokenize --tokenizer " + kSpm + " --file /dev/zero");
  ExpectOneClearError(r, "/dev/zero");
  EXPECT_NE(r.output.find("limit"), std::string::npos) << r.output;
}

TEST(CliHostileInput, TokenizeJsonlOfDevZeroIsAnErrorNotSilence) {
  const RunResult r = RunCli("tokenize --tokenizer " + kSpm + " --jsonl /dev/zero");
  ExpectOneClearError(r, "/dev/zero");
}

// batch skips the rest of a line that is too long; on a stream without newlines that skipping
// never ended. (A hang fails here through `timeout`, exit 124.)
TEST(CliHostileInput, BatchInputOfDevZeroIsAnErrorNotAHang) {
  ScratchDir dir("hostile");
  const RunResult r =
      cli_test::RunShell("timeout 300 " + cli_test::Cli() + " batch --model " + kGgufF32 +
                         " --input /dev/zero --output " + dir.File("out.jsonl") + " 2>&1");
  ExpectOneClearError(r, "/dev/zero:1: no newline");
  EXPECT_FALSE(std::filesystem::exists(dir.File("out.jsonl")));
}

TEST(CliHostileInput, ControlCharactersInATensorNameAreEscaped) {
  ScratchDir dir("hostile");
  // A newline, a terminal escape (clear screen), a bell and a NUL, then more text.
  const std::string name = std::string("evil\n\x1b[2J\x07name", 15) + std::string(1, '\0') + "tail";
  const std::string path = dir.File("evil.gguf");
  RawGguf().Tensor(name, {32}, 0, 0).Tensor(name, {32}, 0, 128).Write(path, 256);
  for (const std::string& args :
       {"inspect --model " + path, "generate --model " + path + " --prompt-ids 2"}) {
    const RunResult r = RunCli(args);
    ExpectOneClearError(r, path);
    ExpectNoControlCharacters(r);
    EXPECT_NE(r.output.find("duplicate tensor"), std::string::npos) << r.output;
    EXPECT_NE(r.output.find("\\x1b[2J"), std::string::npos) << r.output;
    EXPECT_NE(r.output.find("tail"), std::string::npos) << "the NUL cut the line: " << r.output;
  }
}

TEST(CliHostileInput, ControlCharactersInAMetadataKeyAreEscaped) {
  ScratchDir dir("hostile");
  const std::string key = "general.\x1b]0;pwned\x07\r";
  const std::string path = dir.File("evil.gguf");
  RawGguf().Uint32(key, 1).Uint32(key, 2).Write(path);
  const RunResult r = RunCli("generate --model " + path + " --prompt-ids 2");
  ExpectOneClearError(r, path);
  ExpectNoControlCharacters(r);
  EXPECT_NE(r.output.find("duplicate key"), std::string::npos) << r.output;
}

TEST(CliHostileInput, AFortyMegabyteTensorNameIsCutWithItsLength) {
  ScratchDir dir("hostile");
  const std::string name = "\x1b[31m" + std::string(40'000'000, 'A');
  const std::string path = dir.File("long.gguf");
  RawGguf().Tensor(name, {32}, /*ggml_type=*/99, 0).Write(path, 128);
  const RunResult r = RunCli("generate --model " + path + " --prompt-ids 2");
  ExpectOneClearError(r, path);
  ExpectNoControlCharacters(r);
  EXPECT_LT(r.output.size(), 1000u);
  EXPECT_NE(r.output.find("40000005 bytes"), std::string::npos) << r.output.substr(0, 1000);
  EXPECT_NE(r.output.find("ggml type 99"), std::string::npos) << r.output.substr(0, 1000);
}

TEST(CliHostileInput, ControlCharactersInASafetensorsNameAreEscaped) {
  ScratchDir dir("hostile");
  WriteFile(dir.File("config.json"), testing::ReadFile(kTiny + "/config.json"));
  WriteFile(dir.File("model.safetensors"),
            testing::Safetensors(
                R"({"bad\n\u001b[2Jname":{"dtype":"Q9","shape":[1],"data_offsets":[0,4]}})", 4));
  const RunResult r = RunCli("inspect --model " + dir.path().string());
  ExpectOneClearError(r, dir.File("model.safetensors"));
  ExpectNoControlCharacters(r);
  EXPECT_NE(r.output.find("unsupported dtype"), std::string::npos) << r.output;
}

TEST(CliHostileInput, ControlCharactersInATokenizerPieceAreEscaped) {
  ScratchDir dir("hostile");
  const std::string json = dir.File("tokenizer.json");
  WriteFile(json, R"({"model": {"type": "BPE", "vocab": {"<bos>": 0, "<eos>": 1},
                                "merges": ["\u001b[2J x"]}})");
  const RunResult r = RunCli("tokenize --tokenizer " + json + " --text hi");
  ExpectOneClearError(r, json);
  ExpectNoControlCharacters(r);
  EXPECT_NE(r.output.find("\\x1b[2J"), std::string::npos) << r.output;
}

TEST(CliHostileInput, ControlCharactersInAGgufStringValueAreEscaped) {
  ScratchDir dir("hostile");
  const std::string path = dir.File("arch.gguf");
  cli_test::WriteEditedGguf(kGgufF32, path, [](std::vector<GgufKeyValue>& metadata) {
    cli_test::SetKey(metadata, "general.architecture", GgufValue::String("\x1b[31mllama\n"));
  });
  const RunResult r = RunCli("generate --model " + path + " --prompt-ids 2");
  ExpectOneClearError(r, path);
  ExpectNoControlCharacters(r);
  EXPECT_NE(r.output.find("architecture"), std::string::npos) << r.output;
}

TEST(CliHostileInput, AGgufKeyOfTheWrongTypeNamesTheFile) {
  ScratchDir dir("hostile");
  const std::string path = dir.File("key-type.gguf");
  cli_test::WriteEditedGguf(kGgufF32, path, [](std::vector<GgufKeyValue>& metadata) {
    cli_test::SetKey(metadata, "gemma.block_count", GgufValue::String("two"));
  });
  const RunResult r = RunCli("generate --model " + path + " --prompt-ids 2");
  ExpectOneClearError(r, path);
  EXPECT_NE(r.output.find("gemma.block_count"), std::string::npos) << r.output;
}

// A merged piece longer than the tokenizer supports fails when the tokenizer is built,
// after the file was read: the message must still name the file.
TEST(CliHostileInput, ATokenizerConstructionErrorNamesTheJsonFile) {
  ScratchDir dir("hostile");
  const std::string json = dir.File("tokenizer.json");
  const std::string a4999(4999, 'a');
  WriteFile(json, R"({"model": {"type": "BPE", "vocab": {"<bos>": 0, "<eos>": 1, "a": 2, ")" +
                      a4999 + R"(": 3, ")" + a4999 + R"(a": 4}, "merges": [")" + a4999 +
                      R"( a"]}})");
  ExpectOneClearError(RunCli("tokenize --tokenizer " + json + " --text a"), json);
}

TEST(CliHostileInput, ATokenizerConstructionErrorNamesTheGgufFile) {
  ScratchDir dir("hostile");
  const std::string path = dir.File("vocab.gguf");
  // Pieces "a", 4999 x "a" and 5000 x "a" (all normal): the last is a merge of the other two.
  const GgufFile base = GgufFile::Open(kGgufF32);
  std::vector<std::string> tokens = base.header().Find("tokenizer.ggml.tokens")->ToStrings("");
  tokens[1000] = std::string(4999, 'a');
  tokens[1001] = std::string(5000, 'a');
  tokens[1002] = "a";
  cli_test::WriteEditedGguf(kGgufF32, path, [&](std::vector<GgufKeyValue>& metadata) {
    cli_test::SetKey(metadata, "tokenizer.ggml.tokens", GgufValue::StringArray(tokens));
  });
  ExpectOneClearError(RunCli("generate --model " + path + " --prompt hi --max-tokens 1"), path);
}

TEST(CliHostileInput, InspectOfAFileWithABadMagicSaysWhatItIsNot) {
  ScratchDir dir("hostile");
  const std::string path = dir.File("garbage.bin");
  WriteFile(path, std::string(64, 'x'));
  const RunResult r = RunCli("inspect --model " + path);
  ExpectOneClearError(r, path);
  EXPECT_NE(r.output.find("neither a safetensors nor a GGUF file"), std::string::npos) << r.output;
}

}  // namespace
}  // namespace gemma
