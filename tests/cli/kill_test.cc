// Issue 17: `make-random` and `quantize` killed (SIGKILL) at random points. After each kill
// every file under a final name is complete: byte for byte the previous run's or the new
// run's. The next complete run leaves no temporary file behind.
#include <gtest/gtest.h>

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <map>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "cli/cli_runner.h"
#include "io/safetensors_test_util.h"

namespace gemma {
namespace {

namespace fs = std::filesystem;
using cli_test::RunCli;
using testing::ReadFile;
using testing::ScratchDir;
using testing::WriteFile;

const std::string kData = GEMMA_TEST_DATA_DIR;

std::map<std::string, std::string> Snapshot(const std::string& dir) {
  std::map<std::string, std::string> files;
  for (const fs::directory_entry& e : fs::directory_iterator(dir)) {
    if (e.is_regular_file()) files[e.path().filename().string()] = ReadFile(e.path().string());
  }
  return files;
}

// Starts gemma-rt with `args` (no shell), its output discarded.
pid_t Start(const std::vector<std::string>& args) {
  const pid_t pid = ::fork();
  if (pid == 0) {
    std::vector<char*> argv = {const_cast<char*>(cli_test::CliPath())};
    for (const std::string& a : args) argv.push_back(const_cast<char*>(a.c_str()));
    argv.push_back(nullptr);
    const int null = ::open("/dev/null", O_WRONLY);
    ::dup2(null, STDOUT_FILENO);
    ::dup2(null, STDERR_FILENO);
    ::execv(cli_test::CliPath(), argv.data());
    ::_exit(127);
  }
  return pid;
}

// Seconds a complete run of `args` takes.
double TimeRun(const std::vector<std::string>& args) {
  const auto start = std::chrono::steady_clock::now();
  int status = 0;
  ::waitpid(Start(args), &status, 0);
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    std::string command;
    for (const std::string& a : args) command += " " + a;
    ADD_FAILURE() << "failed: gemma-rt" << command << "\n" << RunCli(command).output;
  }
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

// Runs `args` `rounds` times, each killed after a random time within a full run's duration,
// and checks after each kill that every file of `dir` is one of the versions in `versions`
// (file name -> the complete contents it may have), and that no other file is left under a
// final name. Returns how many runs were killed before they finished.
int KillAtRandomPoints(const std::vector<std::string>& args, const std::string& dir,
                       const std::vector<std::map<std::string, std::string>>& versions,
                       int rounds) {
  const double full = TimeRun(args);
  std::mt19937 rng(1234);
  std::uniform_real_distribution<double> when(0.0, full);
  int killed = 0;
  for (int round = 0; round < rounds; ++round) {
    const pid_t pid = Start(args);
    std::this_thread::sleep_for(std::chrono::duration<double>(when(rng)));
    ::kill(pid, SIGKILL);
    int status = 0;
    ::waitpid(pid, &status, 0);
    killed += WIFSIGNALED(status);
    for (const auto& [name, bytes] : Snapshot(dir)) {
      if (name.find(".gemma-rt-tmp.") != std::string::npos) continue;  // not a final name
      bool known = false;
      for (const auto& version : versions) {
        const auto it = version.find(name);
        known |= it != version.end() && it->second == bytes;
      }
      EXPECT_TRUE(known) << "round " << round << ": " << name << " (" << bytes.size()
                         << " bytes) is partial or unknown";
    }
  }
  return killed;
}

void ExpectNoTemporaryFiles(const std::string& dir) {
  for (const fs::directory_entry& e : fs::directory_iterator(dir)) {
    EXPECT_EQ(e.path().filename().string().find(".gemma-rt-tmp."), std::string::npos) << e.path();
  }
}

// A config big enough that a run takes a while (so kills land in the middle of writing):
// 12.9 M parameters, three shards.
std::string WriteConfig(const ScratchDir& dir) {
  std::string config = ReadFile(kData + "/golden/tiny-2b-f32/config.json");
  auto set = [&](const std::string& key, const std::string& value) {
    const size_t at = config.find("\"" + key + "\": ");
    ASSERT_NE(at, std::string::npos) << key;
    const size_t begin = at + key.size() + 4, end = config.find_first_of(",\n}", begin);
    config.replace(begin, end - begin, value);
  };
  set("hidden_size", "256");
  set("intermediate_size", "2048");
  set("num_hidden_layers", "4");
  set("vocab_size", "16384");
  const std::string path = dir.File("config.json");
  WriteFile(path, config);
  return path;
}

TEST(CliKill, MakeRandomKilledAnywhereLeavesCompleteFiles) {
  ScratchDir dir("kill");
  const std::string config = WriteConfig(dir);
  auto args = [&](const std::string& out, int seed) {
    return std::vector<std::string>{
        "make-random", "--preset",           config,  "--dtype", "f32", "--shard-size", "20000000",
        "--seed",      std::to_string(seed), "--out", out};
  };
  const std::string a = dir.File("a"), b = dir.File("b"), target = dir.File("target");
  ASSERT_EQ(TimeRun(args(a, 1)) > 0, true);
  TimeRun(args(b, 2));
  const auto version_a = Snapshot(a), version_b = Snapshot(b);
  ASSERT_EQ(version_a.size(), 5u);  // three shards, the index, config.json
  fs::copy(a, target);
  const int killed = KillAtRandomPoints(args(target, 2), target, {version_a, version_b}, 8);
  EXPECT_GT(killed, 0) << "no run was killed before it finished: the test tests nothing";
  ASSERT_EQ(RunCli("make-random --preset " + config +
                   " --dtype f32 --shard-size 20000000 --seed 2 --out " + target)
                .exit_code,
            0);
  ExpectNoTemporaryFiles(target);
  EXPECT_TRUE(Snapshot(target) == version_b);
}

TEST(CliKill, QuantizeKilledAnywhereLeavesTheOldOrTheNewFile) {
  ScratchDir dir("kill");
  const std::string hf = kData + "/gguf/small-2b-256/hf";
  auto args = [&](const std::string& type, const std::string& out) {
    return std::vector<std::string>{"quantize", "--model", hf, "--type", type, "--out", out};
  };
  fs::create_directory(dir.File("a"));
  fs::create_directory(dir.File("b"));
  fs::create_directory(dir.File("target"));
  TimeRun(args("q8_0", dir.File("a/m.gguf")));
  TimeRun(args("q4_k_m", dir.File("b/m.gguf")));
  const auto version_a = Snapshot(dir.File("a")), version_b = Snapshot(dir.File("b"));
  fs::copy(dir.File("a/m.gguf"), dir.File("target/m.gguf"));
  const int killed = KillAtRandomPoints(args("q4_k_m", dir.File("target/m.gguf")),
                                        dir.File("target"), {version_a, version_b}, 8);
  EXPECT_GT(killed, 0) << "no run was killed before it finished: the test tests nothing";
  ASSERT_EQ(TimeRun(args("q4_k_m", dir.File("target/m.gguf"))) > 0, true);
  ExpectNoTemporaryFiles(dir.File("target"));
  EXPECT_TRUE(Snapshot(dir.File("target")) == version_b);
}

}  // namespace
}  // namespace gemma
