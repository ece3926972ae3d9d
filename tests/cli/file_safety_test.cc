// Issue 17, files: what gemma-rt writes appears under its final name only when complete
// (unique temporary name in the same directory, fsync, size check, rename), a failed write is
// one error line naming the file and leaves the previous file as it was, two runs writing the
// same file do not mix their bytes, and leftovers of killed runs are removed.
#include <gtest/gtest.h>

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include "cli/cli_runner.h"
#include "io/mapped_file.h"
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
using testing::ReadFile;
using testing::ScratchDir;
using testing::WriteFile;

const std::string kData = GEMMA_TEST_DATA_DIR;
const std::string kTiny7bConfig = kData + "/golden/tiny-7b-f32/config.json";
const std::string kSmallHf = kData + "/gguf/small-2b-256/hf";

// Every regular file of `dir` by name, with its bytes.
std::map<std::string, std::string> Snapshot(const std::string& dir) {
  std::map<std::string, std::string> files;
  for (const fs::directory_entry& e : fs::directory_iterator(dir)) {
    if (e.is_regular_file()) files[e.path().filename().string()] = ReadFile(e.path().string());
  }
  return files;
}

std::vector<std::string> Names(const std::map<std::string, std::string>& files) {
  std::vector<std::string> names;
  for (const auto& [name, bytes] : files) names.push_back(name);
  return names;
}

std::string MakeRandom(const std::string& out, int seed) {
  return "make-random --preset " + kTiny7bConfig + " --dtype f32 --shard-size 1100000 --seed " +
         std::to_string(seed) + " --out " + out;
}

TEST(CliFileSafety, MakeRandomReplacesFilesInsteadOfOverwritingThem) {
  ScratchDir dir("files");
  const std::string out = dir.File("model");
  ASSERT_EQ(RunCli(MakeRandom(out, 1)).exit_code, 0);
  const std::map<std::string, std::string> before = Snapshot(out);
  ASSERT_EQ(before.size(), 4u);  // two shards, the index, config.json
  // A reader that has the old shard mapped (a `generate` running at the time) keeps seeing
  // the old bytes: the new file is a new inode, not the old one rewritten.
  const MappedFile mapped = MappedFile::Open(out + "/model-00001-of-00002.safetensors");
  const RunResult r = RunCli(MakeRandom(out, 2));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const std::string still(reinterpret_cast<const char*>(mapped.bytes().data()), mapped.size());
  EXPECT_TRUE(still == before.at("model-00001-of-00002.safetensors"));
  const std::map<std::string, std::string> after = Snapshot(out);
  EXPECT_EQ(Names(after), Names(before));  // no temporary file is left
  EXPECT_FALSE(after.at("model-00001-of-00002.safetensors") ==
               before.at("model-00001-of-00002.safetensors"));
}

TEST(CliFileSafety, MakeRandomWriteFailureLeavesThePreviousCheckpoint) {
  ScratchDir dir("files");
  const std::string out = dir.File("model");
  ASSERT_EQ(RunCli(MakeRandom(out, 1)).exit_code, 0);
  const std::map<std::string, std::string> before = Snapshot(out);
  const RunResult r = RunCliWithFileSizeLimit(MakeRandom(out, 2), 256);
  ExpectOneClearError(r, out + "/model-0000");
  EXPECT_TRUE(Snapshot(out) == before) << "the previous checkpoint changed";
}

TEST(CliFileSafety, QuantizeWriteFailureEndsTheProgressLineAndKeepsTheOldFile) {
  ScratchDir dir("files");
  const std::string out = dir.File("model.gguf");
  ASSERT_EQ(RunCli("quantize --model " + kSmallHf + " --type q8_0 --out " + out).exit_code, 0);
  const std::string before = ReadFile(out);
  const RunResult r =
      RunCliWithFileSizeLimit("quantize --model " + kSmallHf + " --type f32 --out " + out, 1024);
  EXPECT_EQ(r.exit_code, 1) << r.output;
  // The progress bar went to the same stream: the error must start a line of its own.
  const size_t error = r.output.find("gemma-rt: error: ");
  ASSERT_NE(error, std::string::npos) << r.output;
  EXPECT_TRUE(error == 0 || r.output[error - 1] == '\n') << r.output;
  EXPECT_NE(r.output.find(out, error), std::string::npos) << r.output;
  EXPECT_TRUE(ReadFile(out) == before);
  EXPECT_EQ(Names(Snapshot(dir.path().string())), std::vector<std::string>{"model.gguf"});
}

// What a killed run leaves behind (a temporary name that no live process holds) is removed by
// the next run of the same command, which says so.
TEST(CliFileSafety, StaleTemporaryFilesOfKilledRunsAreRemoved) {
  ScratchDir dir("files");
  const std::string out = dir.File("model.gguf");
  const std::string stale = out + ".gemma-rt-tmp.Ab12Cd";
  WriteFile(stale, "half a file");
  // One that a live process still writes (it holds the lock) must be left alone.
  const std::string live = out + ".gemma-rt-tmp.Xy34Zw";
  WriteFile(live, "being written");
  const int fd = ::open(live.c_str(), O_RDONLY | O_CLOEXEC);
  ASSERT_GE(fd, 0);
  ASSERT_EQ(::flock(fd, LOCK_EX), 0);
  const RunResult r = RunCli("quantize --model " + kSmallHf + " --type q8_0 --out " + out);
  ::close(fd);
  EXPECT_EQ(r.exit_code, 0) << r.output;
  EXPECT_FALSE(fs::exists(stale));
  EXPECT_NE(r.output.find(stale), std::string::npos) << r.output;
  EXPECT_TRUE(fs::exists(live));

  const std::string model = dir.File("random");
  ASSERT_EQ(RunCli(MakeRandom(model, 1)).exit_code, 0);
  const std::string shard_stale = model + "/model-00002-of-00002.safetensors.gemma-rt-tmp.Qq00Rr";
  WriteFile(shard_stale, "half a shard");
  const RunResult again = RunCli(MakeRandom(model, 2));
  EXPECT_EQ(again.exit_code, 0) << again.output;
  EXPECT_FALSE(fs::exists(shard_stale));
}

// Two runs with the same --out: each writes its own temporary file, so the result is one
// run's complete file, never a mix (which used to load without complaint).
TEST(CliFileSafety, ConcurrentQuantizeRunsToOneFileDoNotMix) {
  ScratchDir dir("files");
  const std::string q8 = dir.File("ref-q8_0.gguf"), q4 = dir.File("ref-q4_k_m.gguf");
  ASSERT_EQ(RunCli("quantize --model " + kSmallHf + " --type q8_0 --out " + q8).exit_code, 0);
  ASSERT_EQ(RunCli("quantize --model " + kSmallHf + " --type q4_k_m --out " + q4).exit_code, 0);
  const std::string ref_q8 = ReadFile(q8), ref_q4 = ReadFile(q4);
  const std::string out = dir.File("shared.gguf");
  for (int round = 0; round < 4; ++round) {
    const std::string run = Cli() + " quantize --model " + kSmallHf + " --out " + out;
    // stdout is dropped; stderr is kept, so a failed run says why.
    const RunResult r = RunShell(run + " --type q8_0 2>&1 >/dev/null & a=$!; " + run +
                                 " --type q4_k_m 2>&1 >/dev/null & b=$!; wait $a; ra=$?; "
                                 "wait $b; echo \"exit: $ra $?\"");
    EXPECT_NE(r.output.find("exit: 0 0\n"), std::string::npos)
        << "round " << round << ": " << r.output;
    const std::string result = ReadFile(out);
    EXPECT_TRUE(result == ref_q8 || result == ref_q4) << "round " << round << ": a mix";
  }
}

}  // namespace
}  // namespace gemma
