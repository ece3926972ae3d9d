// gemma-rt tokenize / detokenize end to end: the whole golden corpus through --jsonl, the
// other inputs and sources, and one clear error line for bad input.
#include <gtest/gtest.h>

#include <sys/wait.h>
#include <unistd.h>
#include "cli/cli_runner.h"

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

#include "tokenizer/gemma_tokenizer_path.h"  // tests/tokenizer/

namespace gemma {
namespace {

const std::string kData = std::string(GEMMA_TEST_DATA_DIR) + "/tokenizer/";

using gemma::cli_test::ExpectOneClearError;
using gemma::cli_test::RunCli;
using gemma::cli_test::RunResult;

std::string Quote(const std::string& s) {  // for /bin/sh
  std::string out = "'";
  for (const char c : s) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return out + "'";
}

std::string GemmaJson() {
  EXPECT_NE(testing::GemmaTokenizer(), nullptr);  // fails with instructions when absent
  return Quote(testing::GemmaTokenizerJsonPath());
}

TEST(CliTokenize, JsonlReproducesTheGoldenCorpus) {
  const RunResult r = RunCli("tokenize --tokenizer " + GemmaJson() + " --jsonl " +
                                 Quote(kData + "gemma_tokenizer_public.jsonl"),
                             /*with_stderr=*/false);
  ASSERT_EQ(r.exit_code, 0) << r.output.substr(0, 500);
  std::ifstream golden(kData + "gemma_tokenizer_public.jsonl");
  std::istringstream output(r.output);
  std::string expected_line, output_line;
  int lines = 0;
  while (std::getline(golden, expected_line)) {
    ASSERT_TRUE(std::getline(output, output_line)) << "output ended after " << lines << " lines";
    const nlohmann::json expected = nlohmann::json::parse(expected_line);
    EXPECT_EQ(nlohmann::json::parse(output_line).at("ids"), expected.at("ids")) << "line " << lines;
    ++lines;
  }
  EXPECT_EQ(lines, 354);
  EXPECT_FALSE(std::getline(output, output_line)) << "extra output: " << output_line;
}

TEST(CliTokenize, TextFileAndBos) {
  const std::string json = GemmaJson();
  RunResult r = RunCli("tokenize --tokenizer " + json + " --bos --text " +
                       Quote("<start_of_turn>user\nHi<end_of_turn>\n"));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_EQ(r.output, "[2,106,1645,108,2151,107,108]\n");

  const std::filesystem::path file =
      std::filesystem::temp_directory_path() / ("gemma_cli_tokenize_" + std::to_string(::getpid()));
  std::ofstream(file, std::ios::binary) << "Hello world";
  r = RunCli("tokenize --tokenizer " + json + " --file " + Quote(file));
  std::filesystem::remove(file);
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_EQ(r.output, "[4521,2134]\n");

  r = RunCli("detokenize --tokenizer " + json + " --ids 2,4521,235269,2134,235341");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_EQ(r.output, "<bos>Hello, world!");
}

TEST(CliTokenize, SentencePieceModelDirectory) {
  const std::filesystem::path dir =
      std::filesystem::temp_directory_path() / ("gemma_cli_spm_" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  std::filesystem::copy_file(kData + "spm_small.model", dir / "tokenizer.model",
                             std::filesystem::copy_options::overwrite_existing);
  const RunResult r =
      RunCli("tokenize --model " + Quote(dir) + " --text " + Quote("<start_of_turn>user"));
  const RunResult back = RunCli("detokenize --model " + Quote(dir) + " --ids 4,381,275");
  const RunResult none = RunCli("tokenize --model " + Quote(dir / "nothing") + " --text x");
  std::filesystem::remove_all(dir);
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_EQ(r.output, "[4,381,275]\n");  // spm_encode's ids (spm_small_expected.jsonl)
  EXPECT_EQ(back.output, "<start_of_turn>user");
  ExpectOneClearError(none, (dir / "nothing").string() + ": no such model directory or file");
  const RunResult empty =
      RunCli("tokenize --model " + Quote(kData + "../golden/tiny-2b-f32") + " --text x");
  ExpectOneClearError(empty, "neither tokenizer.json nor tokenizer.model");
}

// Issue 12: a .gguf file is accepted wherever --model is, with the tokenizer it carries
// (the synthetic vocabulary of tests/data/gguf/README.md: <start_of_turn> 106,
// <end_of_turn> 107, byte pieces from 108).
TEST(CliTokenize, GgufModelUsesTheTokenizerItCarries) {
  const std::string gguf =
      Quote(std::string(GEMMA_TEST_DATA_DIR) + "/gguf/small-2b-256/model-q4_k_m.gguf");
  const RunResult r =
      RunCli("tokenize --model " + gguf + " --bos --text " + Quote("<start_of_turn><end_of_turn>"));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_EQ(r.output, "[2,106,107]\n");
  const RunResult back = RunCli("detokenize --model " + gguf + " --ids 106,107,108");
  ASSERT_EQ(back.exit_code, 0) << back.output;
  EXPECT_EQ(back.output, std::string("<start_of_turn><end_of_turn>\0", 29));
}

TEST(CliTokenize, BadInputGivesOneClearError) {
  const std::string json = GemmaJson();
  ExpectOneClearError(RunCli("detokenize --tokenizer " + json + " --ids 2,256000"), "256000");
  ExpectOneClearError(RunCli("detokenize --tokenizer " + json + " --ids 2,abc"), "abc");
  ExpectOneClearError(RunCli("tokenize --tokenizer /no/such/tokenizer.json --text x"),
                      "/no/such/tokenizer.json");
  ExpectOneClearError(RunCli("tokenize --tokenizer " + Quote(kData + "README.md") + " --text x"),
                      "README.md");

  const std::filesystem::path bad = std::filesystem::temp_directory_path() /
                                    ("gemma_cli_bad_" + std::to_string(::getpid()) + ".jsonl");
  std::ofstream(bad) << "{\"text\": \"ok\"}\nnot json\n";
  const RunResult r = RunCli("tokenize --tokenizer " + json + " --jsonl " + Quote(bad));
  std::filesystem::remove(bad);
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.output.find(":2: not a JSON object"), std::string::npos) << r.output;

  EXPECT_NE(RunCli("tokenize --tokenizer " + json).exit_code, 0);  // no input given
  EXPECT_NE(RunCli("tokenize --text x").exit_code, 0);             // no tokenizer given
}

}  // namespace
}  // namespace gemma
