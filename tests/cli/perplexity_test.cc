// gemma-rt perplexity as a user runs it, on a full-vocabulary model with Gemma's tokenizer:
// the JSON figures, the same perplexity with chunks in parallel and with a reference
// model (where the KL divergence from itself is 0), a progress line per chunk, and one
// clear error for a text shorter than a chunk.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>

#include "cli/cli_runner.h"
#include "support/real_vocab_model.h"

namespace {

using gemma::cli_test::RunCli;
using gemma::cli_test::RunResult;

std::string WriteText(const std::string& name, const std::string& text) {
  const std::string path =
      (std::filesystem::temp_directory_path() / ("gemma-rt-ppl-" + name)).string();
  std::ofstream(path) << text;
  return path;
}

std::string LongText() {
  std::string text;
  for (int i = 0; i < 40; ++i) {
    text += "Paragraph " + std::to_string(i) +
            ": the quick brown fox jumps over the lazy dog, and the dog sleeps on in the "
            "afternoon sun while the river runs past the old mill.\n";
  }
  return text;
}

nlohmann::json Json(const RunResult& r) {
  EXPECT_EQ(r.exit_code, 0) << r.output;
  return nlohmann::json::parse(r.output, nullptr, /*allow_exceptions=*/false);
}

TEST(PerplexityCli, JsonFiguresParallelChunksAndAReferenceModel) {
  const std::string model = gemma::testing::RealVocabModelDir();
  ASSERT_FALSE(model.empty());
  const std::string text = WriteText("long.txt", LongText());
  const std::string base = "perplexity --model " + model + " --file " + text + " --ctx 64 -t 2";
  const nlohmann::json one = Json(RunCli(base + " --json", /*with_stderr=*/false));
  ASSERT_TRUE(one.is_object());
  const size_t chunks = one["chunks"];
  EXPECT_GE(chunks, 10u);
  EXPECT_EQ(one["tokens"], chunks * 64);
  EXPECT_EQ(one["scored_tokens"], chunks * 31);
  EXPECT_EQ(one["ctx"], 64);
  EXPECT_GT(one["perplexity"].get<double>(), 1.0);
  EXPECT_GT(one["stderr"].get<double>(), 0.0);
  EXPECT_GT(one["tokens_per_s"].get<double>(), 0.0);

  const nlohmann::json parallel = Json(RunCli(base + " --json --parallel 3", false));
  EXPECT_EQ(parallel["perplexity"], one["perplexity"]);  // bit for bit
  EXPECT_EQ(parallel["stderr"], one["stderr"]);

  const nlohmann::json kl =
      Json(RunCli(base + " --json --chunks 4 --reference-model " + model, false));
  EXPECT_EQ(kl["chunks"], 4);
  EXPECT_EQ(kl["kl_divergence"]["mean"], 0.0);
  EXPECT_EQ(kl["kl_divergence"]["p99"], 0.0);
  EXPECT_EQ(kl["top1_agreement"]["value"], 1.0);
  EXPECT_EQ(kl["perplexity"], kl["reference_perplexity"]);
  EXPECT_EQ(kl["ppl_difference"]["value"], 0.0);

  // Human output: a progress line per chunk on stderr, llama-perplexity's final line.
  const RunResult human = RunCli(base + " --chunks 3");
  EXPECT_EQ(human.exit_code, 0) << human.output;
  EXPECT_NE(human.output.find("] 1/3 ppl "), std::string::npos) << human.output;
  EXPECT_NE(human.output.find("] 3/3 ppl "), std::string::npos) << human.output;
  EXPECT_NE(human.output.find("Final estimate: PPL = "), std::string::npos) << human.output;
  std::filesystem::remove(text);
}

TEST(PerplexityCli, TextShorterThanAChunkIsOneClearError) {
  const std::string model = gemma::testing::RealVocabModelDir();
  ASSERT_FALSE(model.empty());
  // One trailing newline is dropped, as llama-perplexity -f does: still 6 tokens.
  const std::string text = WriteText("short.txt", "Too short to score.\n");
  const RunResult r = RunCli("perplexity --model " + model + " --file " + text);
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_EQ(r.output, "gemma-rt: error: " + text +
                          ": the text has 6 tokens, fewer than one chunk of 512 (--ctx)\n");
  const RunResult missing = RunCli("perplexity --model " + model + " --file /no/such/text.txt");
  EXPECT_EQ(missing.exit_code, 1);
  EXPECT_EQ(missing.output, "gemma-rt: error: /no/such/text.txt: cannot open the file\n");
  std::filesystem::remove(text);
}

}  // namespace
