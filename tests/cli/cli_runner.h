// Runs the gemma-rt binary as a user would (through /bin/sh) and captures what it prints,
// for the CLI tests.
#pragma once

#include <sys/wait.h>

#include <cstdio>
#include <string>

namespace gemma::cli_test {

struct RunResult {
  int exit_code = -1;  // 128 + signal when killed by one
  std::string output;  // stdout (and stderr when asked)
};

inline RunResult RunCli(const std::string& args, bool with_stderr = true) {
  const std::string command =
      std::string("'") + GEMMA_CLI_PATH + "' " + args + (with_stderr ? " 2>&1" : " 2>/dev/null");
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

}  // namespace gemma::cli_test
