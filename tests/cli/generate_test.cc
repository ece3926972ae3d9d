// gemma-rt generate / logits as a user runs them: exact golden greedy ids through the CLI,
// and clear error exits for bad input.
#include <gtest/gtest.h>

#include "cli/cli_runner.h"

#include <sys/wait.h>
#include <array>
#include <cstdio>
#include <sstream>
#include <string>

#include "model/golden_support.h"

namespace {

using gemma::testing::GoldenCaseNames;
using gemma::testing::LoadGoldenCase;

using gemma::cli_test::RunCli;
using gemma::cli_test::RunResult;

std::string Join(const std::vector<int32_t>& ids, const char* separator) {
  std::string s;
  for (size_t i = 0; i < ids.size(); ++i) s += (i ? separator : "") + std::to_string(ids[i]);
  return s;
}

class CliGoldenTest : public ::testing::TestWithParam<std::string> {};

TEST_P(CliGoldenTest, GreedyPrintIdsIsExactlyTheGoldenIds) {
  const auto g = LoadGoldenCase(GetParam());
  const RunResult r =
      RunCli("generate --model " + g.dir + " --prompt-ids " + Join(g.prompt_ids, ",") +
             " --max-tokens 16 --temperature 0 --print-ids -t 2");
  EXPECT_EQ(r.exit_code, 0) << r.output;
  std::string expected = "[";  // built in steps: g++ 12 warns (-Wrestrict) on the one-liner
  expected += Join(g.greedy_ids, ", ");
  expected += "]\n";
  EXPECT_EQ(r.output, expected);
}

INSTANTIATE_TEST_SUITE_P(AllCases, CliGoldenTest, ::testing::ValuesIn(GoldenCaseNames()),
                         [](const auto& info) {
                           std::string name = info.param;
                           std::replace(name.begin(), name.end(), '-', '_');
                           return name;
                         });

TEST(CliGenerate, StatsGoToStderrWithEveryNumber) {
  const std::string dir = gemma::testing::GoldenRoot() + "/tiny-2b-f32";
  const RunResult r =
      RunCli("generate --model " + dir +
             " --prompt-ids 2,3,4 --max-tokens 4 --temperature 0 --print-ids --stats");
  EXPECT_EQ(r.exit_code, 0) << r.output;
  for (const char* field :
       {"load:", "prompt:", "tokens/s", "generation:", "time to first token:"}) {
    EXPECT_NE(r.output.find(field), std::string::npos) << field << " missing in " << r.output;
  }
}

TEST(CliGenerate, BadInputsGiveAClearErrorExit) {
  const std::string model = "--model " + gemma::testing::GoldenRoot() + "/tiny-2b-f32";
  struct Case {
    std::string args, message;
  } cases[] = {
      {"generate " + model + " --prompt-ids 2,512 --print-ids", "outside the vocabulary"},
      {"generate " + model + " --prompt-ids 2,-3 --print-ids", "outside the vocabulary"},
      {"generate " + model + " --prompt-ids 2,x --print-ids", "--prompt-ids"},
      {"generate " + model + " --prompt hello --print-ids", "no tokenizer"},
      {"generate --model /nonexistent --prompt-ids 2 --print-ids", "/nonexistent"},
      {"generate " + model + " --prompt-ids 2 --print-ids --temperature -1", "temperature"},
      {"logits " + model + " --ids 2,3 --positions 5", "--positions"},
  };
  for (const Case& c : cases) {
    const RunResult r = RunCli(c.args);
    EXPECT_EQ(r.exit_code, 1) << c.args << "\n" << r.output;
    EXPECT_NE(r.output.find("error"), std::string::npos) << r.output;
    EXPECT_NE(r.output.find(c.message), std::string::npos) << c.args << "\n" << r.output;
  }
}

TEST(CliGenerate, PromptPastTheContextIsAClearError) {
  // max_position_embeddings is 8192: a 8193-id prompt cannot fit.
  const std::string dir = gemma::testing::GoldenRoot() + "/tiny-2b-f32";
  std::string ids = "2";
  for (int i = 1; i < 8193; ++i) ids += ",5";
  const RunResult r = RunCli("generate --model " + dir + " --prompt-ids " + ids + " --print-ids");
  EXPECT_EQ(r.exit_code, 1) << r.output.substr(0, 500);
  EXPECT_NE(r.output.find("context"), std::string::npos) << r.output.substr(0, 500);
}

TEST(CliLogits, PrintsOneJsonLinePerPositionMatchingTheGolden) {
  const auto g = LoadGoldenCase("tiny-2b-f32");
  const RunResult r = RunCli("logits --model " + g.dir + " --ids " + Join(g.prompt_ids, ",") +
                             " --positions 0,9 --top 5 --full");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  std::istringstream lines(r.output);
  std::string line;
  const size_t rows[] = {0, 9};
  for (size_t row : rows) {
    ASSERT_TRUE(std::getline(lines, line));
    const nlohmann::json j = nlohmann::json::parse(line);
    EXPECT_EQ(j.at("position").get<size_t>(), row);
    std::vector<int32_t> top;
    for (const auto& pair : j.at("top")) top.push_back(pair.at(0).get<int32_t>());
    EXPECT_EQ(top, g.top5_ids[row]);
    const auto logits = j.at("logits").get<std::vector<float>>();
    ASSERT_EQ(logits.size(), g.logits[row].size());
    for (size_t v = 0; v < logits.size(); ++v) {
      EXPECT_NEAR(logits[v], g.logits[row][v],
                  gemma::testing::kGoldenLogitsTolerance * g.max_abs_logit);
    }
  }
  EXPECT_FALSE(std::getline(lines, line));
}

}  // namespace
