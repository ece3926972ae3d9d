// Runs the gemma-rt binary as a user would (through /bin/sh) and captures what it prints,
// for the CLI tests.
#pragma once

#include <gtest/gtest.h>
#include <sys/wait.h>

#include <algorithm>
#include <cstdio>
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

// The gemma-rt binary, quoted for the shell.
inline std::string Cli() { return std::string("'") + GEMMA_CLI_PATH + "'"; }

inline RunResult RunCli(const std::string& args, bool with_stderr = true) {
  return RunShell(Cli() + " " + args + (with_stderr ? " 2>&1" : " 2>/dev/null"));
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
