// Issue 17, the error contract (README): every failure is one line on stderr,
// "gemma-rt: error: <file or flag>: <what is wrong>", with exit code 1. Flag errors found by
// CLI11, negative values for unsigned flags, absurd thread counts and failed writes to stdout
// included; a generation cut by the context limit says so.
#include <gtest/gtest.h>

#include <chrono>
#include <string>

#include "cli/cli_runner.h"
#include "io/safetensors_test_util.h"

namespace gemma {
namespace {

using cli_test::Cli;
using cli_test::ExpectOneClearError;
using cli_test::RunCli;
using cli_test::RunResult;
using cli_test::RunShell;
using testing::ScratchDir;

const std::string kData = GEMMA_TEST_DATA_DIR;
const std::string kTiny = kData + "/golden/tiny-2b-f32";
const std::string kSpm = kData + "/tokenizer/spm_small.model";
const std::string kModel = "--model " + kTiny;

TEST(CliErrorContract, FlagErrorsAreOneLineWithExitCodeOne) {
  struct Case {
    std::string args, part;
  } cases[] = {
      {"", "subcommand"},
      {"frobnicate", "frobnicate"},
      {"generate --prompt-ids 2", "--model"},
      {"generate " + kModel + " --prompt-ids 2 --bogus", "--bogus"},
      {"generate " + kModel + " --prompt-ids 2 --top-k abc", "--top-k"},
      {"generate " + kModel + " --prompt-ids 2 --max-tokens", "--max-tokens"},
      {"tokenize " + kModel + " --tokenizer " + kSpm + " --text x", "--tokenizer"},
      {"tokenize --tokenizer " + kSpm, "--text"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.args);
    ExpectOneClearError(RunCli(c.args), c.part);
  }
}

TEST(CliErrorContract, HelpAndVersionStillExitZero) {
  const RunResult help = RunCli("--help");
  EXPECT_EQ(help.exit_code, 0) << help.output;
  EXPECT_NE(help.output.find("generate"), std::string::npos) << help.output;
  const RunResult sub = RunCli("generate --help");
  EXPECT_EQ(sub.exit_code, 0) << sub.output;
  EXPECT_NE(sub.output.find("--max-tokens"), std::string::npos) << sub.output;
  EXPECT_EQ(RunCli("--version").exit_code, 0);
}

TEST(CliErrorContract, NegativeValuesForUnsignedFlagsAreRejected) {
  ScratchDir dir("errors");
  const std::string generate = "generate " + kModel + " --prompt-ids 2 --print-ids ";
  struct Case {
    std::string args, flag;
  } cases[] = {
      {generate + "--top-k -5", "--top-k"},
      {generate + "--max-tokens -1", "--max-tokens"},
      {generate + "--seed -1", "--seed"},
      {"logits " + kModel + " --ids 2 --top -1", "--top"},
      {"bench " + kModel + " -p -1 -n 1 -r 1", "--prompt-tokens"},
      {"compare " + kModel + " --reference " + kTiny + " --random-prompts 1 --length -2",
       "--length"},
      {"make-random --preset " + kTiny + "/config.json --seed -1 --out " + dir.File("m"), "--seed"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.args);
    ExpectOneClearError(RunCli(c.args), c.flag);
  }
}

TEST(CliErrorContract, CompareWithZeroRandomPromptsIsRejected) {
  ExpectOneClearError(RunCli("compare " + kModel + " --reference " + kTiny + " --random-prompts 0"),
                      "--random-prompts");
}

// Tens of thousands of threads used to be started one by one until the system refused, and
// the refusal aborted the process (exit 134).
TEST(CliErrorContract, ThreadCountsAreCappedWithAClearError) {
  ScratchDir dir("errors");
  const std::string tiny_config = kTiny + "/config.json";
  const std::string cases[] = {
      "generate " + kModel + " --prompt-ids 2 --max-tokens 1 --print-ids -t 100000",
      "generate " + kModel + " --prompt-ids 2 --max-tokens 1 --print-ids -t -3",
      "logits " + kModel + " --ids 2 -t 100000",
      "bench " + kModel + " -p 1 -n 1 -r 1 -t 100000",
      "compare " + kModel + " --reference " + kTiny + " --random-prompts 1 --threads 100000",
      "make-random --preset " + tiny_config + " --out " + dir.File("m") + " --threads 100000",
      "quantize " + kModel + " --type q8_0 --out " + dir.File("q.gguf") + " --threads 100000",
  };
  for (const std::string& args : cases) {
    SCOPED_TRACE(args);
    const auto start = std::chrono::steady_clock::now();
    ExpectOneClearError(RunCli(args), "threads");
    EXPECT_LT(std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count(),
              10.0);
  }
}

// A thread count within the cap can still fail to start (a thread's stack is RLIMIT_STACK
// bytes by default in glibc: 1 GB stacks under 4 GB of address space run out at the third
// or fourth). The started workers used to be destroyed joinable: std::terminate, exit 134.
TEST(CliErrorContract, AThreadThatCannotStartIsAnErrorNotAnAbort) {
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
  GTEST_SKIP() << "ulimit -v and the sanitizers' shadow memory do not mix; runs in Release";
#else
  const RunResult r = RunShell("ulimit -s 1000000; ulimit -v 4000000; " + Cli() + " generate " +
                               kModel + " --prompt-ids 2 --max-tokens 1 --print-ids -t 8 2>&1");
  ExpectOneClearError(r, "8 threads asked for, but only ");
#endif
}

TEST(CliErrorContract, AFullContextIsReportedOnStderrWithoutStats) {
  ScratchDir dir("errors");
  std::string config = testing::ReadFile(kTiny + "/config.json");
  const std::string from = "\"max_position_embeddings\": 8192";
  ASSERT_NE(config.find(from), std::string::npos);
  config.replace(config.find(from), from.size(), "\"max_position_embeddings\": 6");
  testing::WriteFile(dir.File("config.json"), config);
  std::filesystem::create_symlink(kTiny + "/model.safetensors", dir.File("model.safetensors"));
  const std::string args = "generate --model " + dir.path().string() +
                           " --prompt-ids 2,3 --max-tokens 20 --temperature 0 --print-ids";
  const RunResult out = RunCli(args, /*with_stderr=*/false);
  ASSERT_EQ(out.exit_code, 0) << out.output;
  const RunResult err = RunShell(Cli() + " " + args + " 2>&1 >/dev/null");
  EXPECT_NE(err.output.find("context"), std::string::npos) << err.output;
  EXPECT_NE(err.output.find("6 tokens"), std::string::npos) << err.output;
}

// A write to stdout that fails (a full disk: /dev/full) is an error, not exit code 0.
TEST(CliErrorContract, AFailedWriteToStdoutIsAnError) {
  const std::string cases[] = {
      "tokenize --tokenizer " + kSpm + " --text hello",
      "detokenize --tokenizer " + kSpm + " --ids 2,100,200",
      "inspect " + kModel,
      "generate " + kModel + " --prompt-ids 2 --max-tokens 2 --print-ids",
      "logits " + kModel + " --ids 2",
  };
  for (const std::string& args : cases) {
    SCOPED_TRACE(args);
    const RunResult r = RunShell(Cli() + " " + args + " 2>&1 >/dev/full");
    ExpectOneClearError(r, "stdout");
  }
}

// std::bad_alloc used to be printed as "gemma-rt: error: std::bad_alloc". Memory is limited
// with ulimit -v, which AddressSanitizer's shadow memory cannot run under: skipped there.
TEST(CliErrorContract, OutOfMemoryIsOneLineNamingWhatWasLoaded) {
#if defined(__SANITIZE_ADDRESS__)
  GTEST_SKIP() << "ulimit -v and AddressSanitizer do not mix; runs in the Release build";
#else
  // A random gemma-2b in float32 needs 10 GB; 1 GB of address space is not enough.
  const RunResult r =
      RunShell("ulimit -v 1000000; " + Cli() + " bench --random 2b --dtype f32 -p 1 -n 1 2>&1");
  ExpectOneClearError(r, "bench: out of memory");
  const RunResult m = RunShell("ulimit -v 1000000; " + Cli() + " logits --model " + kTiny +
                               " --ids 2 --positions 0 --full 2>&1 >/dev/null");
  EXPECT_EQ(m.exit_code, 0) << m.output;  // a small model still runs under the limit
#endif
}

}  // namespace
}  // namespace gemma
