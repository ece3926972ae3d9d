// gemma-rt chat driven through its stdin, one line per user turn, on a small model with
// Gemma's real tokenizer: what it prints is each reply of the same conversation run through
// the public API (greedy), one reply per line; empty lines are skipped and /exit ends it.
#include <gtest/gtest.h>

#include <fstream>
#include <string>
#include <vector>

#include "cli/cli_runner.h"
#include "gemma_rt/gemma_rt.h"
#include "support/real_vocab_model.h"

namespace {

using gemma::cli_test::RunCli;

std::string WriteInput(const std::string& name, const std::string& text) {
  const std::string path = ::testing::TempDir() + name;
  std::ofstream(path) << text;
  return path;
}

TEST(CliChat, RepliesToEachStdinLineAsTheApiDoesInOneConversation) {
  const std::string dir = gemma::testing::RealVocabModelDir();
  ASSERT_FALSE(dir.empty());
  const std::vector<std::string> turns = {"Hello there", "What is 2+2?", "Thanks"};
  // The same conversation through the API.
  const gemma_rt::Model model = gemma_rt::Model::Load({.path = dir, .threads = 2});
  gemma_rt::Session session(model);
  std::string expected;
  for (const std::string& turn : turns) {
    expected +=
        session
            .ChatTurn(turn, {.max_tokens = 6, .sampling = {.temperature = 0.0f}}, {}, "Be brief.")
            .text;
    expected += "\n";
  }
  ASSERT_GT(expected.size(), 3 * turns.size()) << "the replies should not be empty";
  const std::string input =
      WriteInput("chat_input.txt", "Hello there\n\nWhat is 2+2?\nThanks\n/exit\nnever read\n");
  const auto r = RunCli("chat --model " + dir +
                            " --system 'Be brief.' --temperature 0 --max-tokens 6 -t 2 < " + input,
                        /*with_stderr=*/false);
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_EQ(r.output, expected);
}

TEST(CliChat, SeededSamplingFlagsAreUsedAndReproducible) {
  const std::string dir = gemma::testing::RealVocabModelDir();
  ASSERT_FALSE(dir.empty());
  const std::string input = WriteInput("chat_seeded.txt", "Tell me something\nMore\n");
  auto run = [&](int seed) {
    return RunCli("chat --model " + dir + " --temperature 1.5 --top-p 1 --max-tokens 8 --seed " +
                      std::to_string(seed) + " < " + input,
                  false)
        .output;
  };
  EXPECT_EQ(run(1), run(1));
  EXPECT_NE(run(1), run(2));
}

}  // namespace
