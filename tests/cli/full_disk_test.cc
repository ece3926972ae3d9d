// Issue 17: every write gemma-rt makes is checked. On a full disk (ulimit -f stands in for it:
// a write past the limit fails, as ENOSPC fails it) or on a device that takes nothing
// (/dev/full), each command exits 1 with one error line naming the file, and nothing partial
// is left under the final name. The one exception is the tokenizer cache: it is a cache, so
// failing to write it is no error. (make-random and quantize: file_safety_test.cc.)
#include <gtest/gtest.h>

#include <sys/stat.h>

#include <filesystem>
#include <string>

#include "cli/cli_runner.h"
#include "io/safetensors_test_util.h"

namespace gemma {
namespace {

namespace fs = std::filesystem;
using cli_test::Cli;
using cli_test::ExpectOneClearError;
using cli_test::RunCli;
using cli_test::RunCliWithFileSizeLimit;
using cli_test::RunResult;
using cli_test::RunShell;
using testing::ScratchDir;
using testing::WriteFile;

const std::string kData = GEMMA_TEST_DATA_DIR;
const std::string kTiny = kData + "/golden/tiny-2b-f32";
const std::string kGgufF32 = kData + "/gguf/small-2b-256/model-f32.gguf";
const std::string kGeneric = kData + "/eval/generic.jsonl";

// Commands that report progress on stderr (perplexity, eval) end with the error line: exit
// code 1, the last line "gemma-rt: error: <message>" containing `part`, and no other error.
void ExpectErrorAsLastLine(const RunResult& r, const std::string& part) {
  EXPECT_EQ(r.exit_code, 1) << r.output;
  ASSERT_FALSE(r.output.empty());
  ASSERT_EQ(r.output.back(), '\n') << r.output;
  const size_t start = r.output.rfind('\n', r.output.size() - 2);
  const std::string last = r.output.substr(start == std::string::npos ? 0 : start + 1);
  EXPECT_EQ(last.rfind("gemma-rt: error: ", 0), 0u) << r.output;
  EXPECT_NE(last.find(part), std::string::npos) << "'" << part << "' missing in " << r.output;
  EXPECT_EQ(r.output.find("gemma-rt: error: "), r.output.rfind("gemma-rt: error: ")) << r.output;
}

// Nothing under `dir`: no partial output, no temporary file.
void ExpectEmpty(const ScratchDir& dir) {
  for (const fs::directory_entry& e : fs::directory_iterator(dir.path())) {
    ADD_FAILURE() << "left behind: " << e.path();
  }
}

// The commands that print results (besides those in error_contract_test.cc) fail with one
// line naming stdout when stdout is full, instead of exiting 0 with nothing written.
TEST(CliFullDisk, StdoutOfEveryPrintingCommand) {
  ScratchDir dir("full");
  WriteFile(dir.File("text.txt"), std::string(400, 'a') + " hello world\n");
  const std::string cases[] = {
      "bench --model " + kTiny + " -p 2 -n 2 -r 1",
      "compare --model " + kTiny + " --reference " + kTiny + " --random-prompts 1 --length 2",
      "perplexity --model " + kGgufF32 + " --file " + dir.File("text.txt") + " --ctx 16",
      "eval --model " + kGgufF32 + " --task generic --data " + kGeneric,
      "tokenize --model " + kGgufF32 + " --text hello",
  };
  for (const std::string& args : cases) {
    SCOPED_TRACE(args);
    ExpectErrorAsLastLine(RunShell(Cli() + " " + args + " 2>&1 >/dev/full"), "<stdout>");
  }
}

TEST(CliFullDisk, BatchOutputOnAFullDisk) {
  ScratchDir dir("full"), out_dir("full-out");
  std::string lines;
  for (int i = 0; i < 40; ++i) lines += "{\"prompt_ids\": [2, 3], \"max_tokens\": 4}\n";
  WriteFile(dir.File("in.jsonl"), lines);
  const std::string out = out_dir.File("out.jsonl");
  const RunResult r = RunCliWithFileSizeLimit(
      "batch --model " + kTiny + " --input " + dir.File("in.jsonl") + " --output " + out, 1);
  ExpectOneClearError(r, out);
  ExpectEmpty(out_dir);
}

// eval's per-item file used to be renamed over --output whatever it was: a device such as
// /dev/full included (root may create /dev/full.tmp.<pid> and rename it over the device).
// A FIFO stands in for the device here, so a regression cannot damage this machine's /dev.
TEST(CliFullDisk, EvalOutputOnAFullDiskOrANonRegularFile) {
  ScratchDir dir("full");
  const std::string out = dir.File("items.jsonl");
  const std::string eval = "eval --model " + kGgufF32 + " --task generic --data " + kGeneric;
  const RunResult full = RunCliWithFileSizeLimit(eval + " --output " + out, 0);
  ExpectErrorAsLastLine(full, out);
  ExpectEmpty(dir);

  const std::string fifo = dir.File("fifo");
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
  const RunResult device = RunCli(eval + " --output " + fifo);
  ExpectOneClearError(device, fifo + ": exists and is not a regular file");
  struct stat st {};
  ASSERT_EQ(::stat(fifo.c_str(), &st), 0);
  EXPECT_TRUE(S_ISFIFO(st.st_mode)) << "the FIFO was replaced";
  for (const fs::directory_entry& e : fs::directory_iterator(dir.path())) {
    EXPECT_EQ(e.path(), fs::path(fifo)) << "left behind: " << e.path();
  }
}

// The tokenizer cache is only a cache: when it cannot be written, tokenizing still works.
TEST(CliFullDisk, ATokenizerCacheThatCannotBeWrittenIsNoError) {
  ScratchDir dir("full");
  const std::string json = dir.File("tokenizer.json");
  WriteFile(json, R"({"model": {"type": "BPE", "byte_fallback": true, "vocab": {"<pad>": 0,
      "<eos>": 1, "<bos>": 2, "x": 3, "y": 4, "xy": 5}, "merges": ["x y"]}})");
  const RunResult r = RunShell("trap '' XFSZ; ulimit -f 0; XDG_CACHE_HOME=" + dir.File("cache") +
                               " " + Cli() + " tokenize --tokenizer " + json + " --text xy");
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_EQ(r.output, "[5]\n");
}

}  // namespace
}  // namespace gemma
