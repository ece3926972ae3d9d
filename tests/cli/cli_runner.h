// Runs the gemma-rt binary as a user would (through /bin/sh) and captures what it prints,
// for the CLI tests.
#pragma once

#include <gtest/gtest.h>
#include <sys/wait.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <string>

namespace gemma::cli_test {

struct RunResult {
  int exit_code = -1;  // 128 + signal when killed by one
  std::string output;  // stdout (and stderr when asked)
};

// Runs `command` with /bin/sh and returns its stdout (redirect stderr in the command to see it).
inline RunResult RunShell(const std::string& command) {
  RunResult result;
  FILE* pipe = ::popen(command.c_str(), "r");
  if (pipe == nullptr) return result;
  char buffer[4096];
  size_t n;
  while ((n = std::fread(buffer, 1, sizeof(buffer), pipe)) > 0) result.output.append(buffer, n);
  const int status = ::pclose(pipe);
  result.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  return result;
}

// The gemma-rt binary under test: the one built with the tests, or $GEMMA_TEST_CLI, so the
// same tests can be run against an older binary to show that they fail there.
inline const char* CliPath() {
  const char* other = std::getenv("GEMMA_TEST_CLI");
  return other != nullptr && *other != '\0' ? other : GEMMA_CLI_PATH;
}

// The gemma-rt binary, quoted for the shell.
inline std::string Cli() { return std::string("'") + CliPath() + "'"; }

inline RunResult RunCli(const std::string& args, bool with_stderr = true) {
  return RunShell(Cli() + " " + args + (with_stderr ? " 2>&1" : " 2>/dev/null"));
}

// Runs gemma-rt with `args`, stderr included, with files limited to `kib` KiB: a write past
// the limit fails with EFBIG as a full disk fails it with ENOSPC (SIGXFSZ is ignored).
inline RunResult RunCliWithFileSizeLimit(const std::string& args, int kib) {
  // /bin/sh (dash) counts ulimit -f in 512-byte blocks.
  return RunShell("trap '' XFSZ; ulimit -f " + std::to_string(kib * 2) + "; " + Cli() + " " + args +
                  " 2>&1");
}

// The error contract: exit code 1 and exactly one line, "gemma-rt: error: <message>",
// containing `part`.
inline void ExpectOneClearError(const RunResult& r, const std::string& part) {
  EXPECT_EQ(r.exit_code, 1) << r.output;
  EXPECT_EQ(r.output.rfind("gemma-rt: error: ", 0), 0u) << r.output;
  EXPECT_EQ(std::count(r.output.begin(), r.output.end(), '\n'), 1) << r.output;
  EXPECT_NE(r.output.find(part), std::string::npos) << "'" << part << "' missing in " << r.output;
}

}  // namespace gemma::cli_test
