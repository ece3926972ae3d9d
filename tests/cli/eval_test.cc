// gemma-rt eval as a user runs it, on a full-vocabulary model with Gemma's tokenizer: the
// JSON figures agree with the per-item lines of --output, and bad data or a missing split
// is one clear error line naming the file (and line).
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>

#include "cli/cli_runner.h"
#include "support/real_vocab_model.h"

namespace {

using gemma::cli_test::RunCli;
using gemma::cli_test::RunResult;

const std::string kData = std::string(GEMMA_TEST_DATA_DIR) + "/eval/";

TEST(EvalCli, JsonAndPerItemLines) {
  const std::string model = gemma::testing::RealVocabModelDir();
  ASSERT_FALSE(model.empty());
  const std::string items =
      (std::filesystem::temp_directory_path() / "gemma-rt-eval-items.jsonl").string();
  std::filesystem::remove(items);
  const RunResult r = RunCli("eval --model " + model + " --task hellaswag --data " + kData +
                                 "hellaswag.jsonl --json -t 2 --output " + items,
                             /*with_stderr=*/false);
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const nlohmann::json out = nlohmann::json::parse(r.output);
  EXPECT_EQ(out["task"], "hellaswag");
  EXPECT_EQ(out["items"], 3);
  EXPECT_EQ(out["shots"], 0);
  EXPECT_EQ(out["requests"], 12);
  for (const char* key : {"acc", "acc_stderr", "acc_norm", "acc_norm_stderr", "items_per_s"}) {
    EXPECT_TRUE(out[key].is_number()) << key;
  }
  std::ifstream in(items);
  std::string line;
  int n = 0, hits = 0, hits_norm = 0;
  while (std::getline(in, line)) {
    const nlohmann::json item = nlohmann::json::parse(line);
    EXPECT_EQ(item["index"], n);
    EXPECT_EQ(item["doc"], kData + "hellaswag.jsonl:" + std::to_string(n + 1));
    EXPECT_EQ(item["loglikelihoods"].size(), 4u);
    EXPECT_EQ(item["lengths"].size(), 4u);
    EXPECT_EQ(item["lengths"][0], n == 0 ? 49 : n == 1 ? 80 : 37);
    const std::vector<double> ll = item["loglikelihoods"];
    const size_t pred = std::max_element(ll.begin(), ll.end()) - ll.begin();
    EXPECT_EQ(item["pred"], pred);
    hits += item["acc"].get<int>();
    hits_norm += item["acc_norm"].get<int>();
    EXPECT_EQ(item["acc"], item["pred"] == item["label"] ? 1 : 0);
    ++n;
  }
  EXPECT_EQ(n, 3);
  EXPECT_DOUBLE_EQ(out["acc"].get<double>(), hits / 3.0);
  EXPECT_DOUBLE_EQ(out["acc_norm"].get<double>(), hits_norm / 3.0);
  std::filesystem::remove(items);
}

TEST(EvalCli, BadDataIsOneClearErrorLine) {
  const std::string model = gemma::testing::RealVocabModelDir();
  ASSERT_FALSE(model.empty());
  const std::string bad = (std::filesystem::temp_directory_path() / "gemma-rt-bad.jsonl").string();
  std::ofstream(bad) << R"({"context": "a", "choices": ["b", "c"], "label": 1})"
                     << "\n"
                     << R"({"context": "a", "choices": ["b", "c"], "label": 7})"
                     << "\n";
  const RunResult r = RunCli("eval --model " + model + " --task generic --data " + bad);
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_EQ(r.output, "gemma-rt: error: " + bad +
                          ":2: label 7 (field \"label\") is out of range for 2 choices\n");
  std::filesystem::remove(bad);

  const RunResult mmlu =
      RunCli("eval --model " + model + " --task mmlu --data " + kData + "mmlu/test");
  EXPECT_EQ(mmlu.exit_code, 1);
  EXPECT_EQ(mmlu.output,
            "gemma-rt: error: 5 shots need --fewshot-data (MMLU: the dev split), or --shots 0\n");
  const RunResult task = RunCli("eval --model " + model + " --task boolq --data x.jsonl");
  EXPECT_EQ(task.exit_code, 1);
  EXPECT_NE(task.output.find("gemma-rt: error: unknown task \"boolq\""), std::string::npos);
}

}  // namespace
