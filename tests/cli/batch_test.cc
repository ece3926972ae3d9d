// gemma-rt batch as a user runs it: a JSONL file with good and bad lines gives one output
// line per input line, in input order (although they finish in another), the golden greedy
// ids for the golden prompt, an error object naming the line for each bad one; text prompts
// on a model with Gemma's tokenizer give the API's text; a bad --output or --input is one
// clear error and no file.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

#include "cli/cli_runner.h"
#include "gemma_rt/gemma_rt.h"
#include "model/golden_support.h"
#include "support/real_vocab_model.h"

namespace {

using gemma::cli_test::RunCli;
using Json = nlohmann::json;

std::string Write(const std::string& name, const std::string& text) {
  const std::string path = ::testing::TempDir() + name;
  std::ofstream(path) << text;
  return path;
}

std::vector<Json> ReadLines(const std::string& path) {
  std::ifstream in(path);
  std::vector<Json> lines;
  for (std::string line; std::getline(in, line);) lines.push_back(Json::parse(line));
  return lines;
}

TEST(CliBatch, GoodAndBadLinesInInputOrder) {
  const auto g = gemma::testing::LoadGoldenCase("tiny-2b-f32");
  const Json golden_prompt = g.prompt_ids;
  std::string input;
  // A long request first and short ones after it: they finish first, but are written after.
  input +=
      Json{{"id", "long"}, {"prompt_ids", golden_prompt}, {"max_tokens", 16}, {"temperature", 0}}
          .dump() +
      "\n";
  input += "{\"id\": 2, \"prompt_ids\": [2, 9], \"max_tokens\": 1}\n";
  input += "this is not json\n";
  input += "\n";  // blank lines are skipped
  input += "{\"id\": 4, \"prompt\": \"text, but the model has no tokenizer\"}\n";
  input += "{\"id\": 5, \"prompt_ids\": [2, 600]}\n";
  input += "{\"id\": 6, \"prompt_ids\": [2, 5], \"max_tokens\": -3}\n";
  input += "{\"id\": 7, \"prompt_ids\": [2, 5], \"temperature\": \"hot\"}\n";
  input += "[1, 2]\n";
  input +=
      "{\"id\": {\"any\": [\"json\"]}, \"prompt_ids\": [2, 5, 6], \"max_tokens\": 2, "
      "\"seed\": 3, \"top_k\": 5, \"top_p\": 0.9, \"min_p\": 0.01}\n";
  input += "{\"id\": 11, \"prompt_ids\": [2, 5], \"stop\": [\"x\"]}\n";  // no tokenizer
  const std::string in = Write("batch_in.jsonl", input);
  const std::string out = ::testing::TempDir() + "batch_out.jsonl";
  std::filesystem::remove(out);
  const auto r = RunCli("batch --model " + g.dir + " --input " + in + " --output " + out +
                        " --parallel 3 -t 2");
  EXPECT_EQ(r.exit_code, 0) << r.output;
  const std::vector<Json> lines = ReadLines(out);
  ASSERT_EQ(lines.size(), 10u) << r.output;
  EXPECT_EQ(lines[0]["id"], "long");
  EXPECT_EQ(lines[0]["ids"].get<std::vector<int32_t>>(), g.greedy_ids);
  EXPECT_EQ(lines[0]["finish_reason"], "length");
  EXPECT_EQ(lines[0]["prompt_tokens"], g.prompt_ids.size());
  EXPECT_EQ(lines[0]["completion_tokens"], 16);
  EXPECT_FALSE(lines[0].contains("text")) << "no tokenizer, no text";
  EXPECT_EQ(lines[1]["id"], 2);
  EXPECT_EQ(lines[1]["ids"].size(), 1u);
  // Errors name the file's line (the blank line counts) and keep the id when there is one.
  const std::vector<std::pair<size_t, size_t>> errors = {{2, 3}, {3, 5}, {4, 6}, {5, 7},
                                                         {6, 8}, {7, 9}, {9, 11}};
  for (const auto& [out_index, file_line] : errors) {
    ASSERT_TRUE(lines[out_index].contains("error")) << lines[out_index];
    EXPECT_EQ(lines[out_index]["error"]["line"], file_line) << lines[out_index];
    EXPECT_FALSE(lines[out_index]["error"]["message"].get<std::string>().empty());
  }
  EXPECT_EQ(lines[3]["id"], 4);
  EXPECT_NE(lines[4]["error"]["message"].get<std::string>().find("600"), std::string::npos);
  EXPECT_EQ(lines[8]["id"], Json({{"any", {"json"}}}));
  EXPECT_EQ(lines[8]["ids"].size(), 2u);
  EXPECT_NE(lines[9]["error"]["message"].get<std::string>().find("tokenizer"), std::string::npos);
  EXPECT_NE(r.output.find("10 requests (7 failed)"), std::string::npos) << r.output;
}

TEST(CliBatch, TextPromptsGiveTheApisText) {
  const std::string dir = gemma::testing::RealVocabModelDir();
  ASSERT_FALSE(dir.empty());
  const std::vector<std::string> prompts = {"Write me a poem about Machine Learning.", "Hello"};
  std::string input;
  for (const std::string& p : prompts) {
    input += Json{{"prompt", p}, {"max_tokens", 8}, {"temperature", 0}}.dump() + "\n";
  }
  const std::string in = Write("batch_text.jsonl", input);
  const std::string out = ::testing::TempDir() + "batch_text_out.jsonl";
  const auto r = RunCli("batch --model " + dir + " --input " + in + " --output " + out);
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const std::vector<Json> lines = ReadLines(out);
  ASSERT_EQ(lines.size(), prompts.size());
  const gemma_rt::Model model = gemma_rt::Model::Load({.path = dir, .threads = 2});
  for (size_t i = 0; i < prompts.size(); ++i) {
    gemma_rt::Session session(model);
    session.PrefillText(prompts[i]);
    const gemma_rt::GenerateResult alone =
        session.Generate({.max_tokens = 8, .sampling = {.temperature = 0.0f}});
    EXPECT_EQ(lines[i]["ids"].get<std::vector<int32_t>>(), alone.ids);
    EXPECT_EQ(lines[i]["text"], alone.text);
    EXPECT_TRUE(lines[i]["id"].is_null());
  }
}

// --kv-type bf16 and a small --step-tokens run the golden prompt (its prompt in several
// steps); an unknown KV type is one clear error.
TEST(CliBatch, KvTypeAndStepTokens) {
  const auto g = gemma::testing::LoadGoldenCase("tiny-2b-f32");
  const std::string in = Write(
      "batch_kv.jsonl",
      Json{{"id", 1}, {"prompt_ids", g.prompt_ids}, {"max_tokens", 16}, {"temperature", 0}}.dump() +
          "\n");
  const std::string out = ::testing::TempDir() + "batch_kv_out.jsonl";
  std::filesystem::remove(out);
  auto r = RunCli("batch --model " + g.dir + " --input " + in + " --output " + out +
                  " --kv-type bf16 --step-tokens 3 -t 2");
  EXPECT_EQ(r.exit_code, 0) << r.output;
  const std::vector<Json> lines = ReadLines(out);
  ASSERT_EQ(lines.size(), 1u) << r.output;
  EXPECT_EQ(lines[0]["completion_tokens"], 16) << lines[0];
  r = RunCli("batch --model " + g.dir + " --input " + in + " --output " + out + " --kv-type q8_0");
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.output.find("--kv-type"), std::string::npos) << r.output;
}

TEST(CliBatch, BadFilesAreOneClearErrorAndLeaveNoFile) {
  const std::string dir = gemma::testing::GoldenRoot() + "/tiny-2b-f32";
  const std::string in = Write("batch_one.jsonl", "{\"prompt_ids\": [2]}\n");
  auto r = RunCli("batch --model " + dir + " --input /no/such/file.jsonl --output /tmp/x.jsonl");
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.output.find("gemma-rt: error: /no/such/file.jsonl"), std::string::npos) << r.output;
  r = RunCli("batch --model " + dir + " --input " + in + " --output /dev/full");
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.output.find("/dev/full: exists and is not a regular file"), std::string::npos)
      << r.output;
  r = RunCli("batch --model " + dir + " --input " + in + " --output /no/such/dir/out.jsonl");
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.output.find("/no/such/dir/out.jsonl"), std::string::npos) << r.output;
  // A failed run leaves neither the output nor its temporary file behind.
  const std::string out = ::testing::TempDir() + "batch_failed.jsonl";
  std::filesystem::remove(out);
  r = RunCli("batch --model /no/such/model --input " + in + " --output " + out);
  EXPECT_EQ(r.exit_code, 1);
  for (const auto& entry : std::filesystem::directory_iterator(::testing::TempDir())) {
    EXPECT_EQ(entry.path().filename().string().rfind("batch_failed.jsonl", 0), std::string::npos)
        << entry.path();
  }
}

}  // namespace
