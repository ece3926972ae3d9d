// gemma-rt serve as a user runs it: one "listening on http://HOST:PORT" line once it serves,
// /health 200, and SIGTERM or SIGINT during a running stream ends it with exit 0 within a
// few seconds. Bad flags are one clear error.
#include <arpa/inet.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <string>
#include <thread>
#include <vector>

#include "cli/cli_runner.h"

namespace gemma {
namespace {

using cli_test::ExpectOneClearError;
using cli_test::RunCli;

const std::string kModel = std::string(GEMMA_TEST_DATA_DIR) + "/golden/tiny-2b-f32";

struct Served {
  pid_t pid = -1;
  int port = -1;
};

// Starts `gemma-rt serve` and reads its stdout until the listening line (60 s at most).
Served StartServe(const std::vector<std::string>& extra) {
  int out[2];
  EXPECT_EQ(::pipe(out), 0);
  Served s;
  s.pid = ::fork();
  if (s.pid == 0) {
    std::vector<std::string> args = {GEMMA_CLI_PATH, "serve", "--model", kModel,
                                     "--port",       "0",     "-t",      "1"};
    args.insert(args.end(), extra.begin(), extra.end());
    std::vector<char*> argv;
    for (std::string& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    ::dup2(out[1], STDOUT_FILENO);
    ::close(out[0]);
    ::execv(GEMMA_CLI_PATH, argv.data());
    ::_exit(127);
  }
  ::close(out[1]);
  std::string line;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  while (line.find('\n') == std::string::npos && std::chrono::steady_clock::now() < deadline) {
    pollfd p{.fd = out[0], .events = POLLIN, .revents = 0};
    if (::poll(&p, 1, 100) <= 0) continue;
    char c;
    if (::read(out[0], &c, 1) != 1) break;
    line += c;
  }
  ::close(out[0]);
  const std::string prefix = "listening on http://127.0.0.1:";
  EXPECT_EQ(line.rfind(prefix, 0), 0u) << line;
  if (line.rfind(prefix, 0) == 0) s.port = std::stoi(line.substr(prefix.size()));
  return s;
}

int Connect(int port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  EXPECT_EQ(::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
  return fd;
}

// Sends a request and returns the first bytes of the answer.
std::string Exchange(int fd, const std::string& request) {
  EXPECT_EQ(::send(fd, request.data(), request.size(), MSG_NOSIGNAL), ssize_t(request.size()));
  char buffer[1024];
  const ssize_t n = ::recv(fd, buffer, sizeof buffer, 0);
  return n > 0 ? std::string(buffer, size_t(n)) : std::string();
}

// Exit status within `seconds`, or -1 (then the process is killed).
int WaitExit(pid_t pid, int seconds) {
  for (int i = 0; i < seconds * 100; ++i) {
    int status = 0;
    if (::waitpid(pid, &status, WNOHANG) == pid) {
      return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  ::kill(pid, SIGKILL);
  ::waitpid(pid, nullptr, 0);
  return -1;
}

TEST(ServeCli, ListensAnswersAndStopsOnSignalsWithExitZero) {
  for (const int sig : {SIGTERM, SIGINT}) {
    const Served s = StartServe({"--parallel", "2", "--alias", "tiny"});
    ASSERT_GT(s.port, 0);
    const int health = Connect(s.port);
    const std::string answer =
        Exchange(health, "GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    EXPECT_EQ(answer.rfind("HTTP/1.1 200", 0), 0u) << answer;
    ::close(health);
    // A stream that would run for a long time.
    const std::string body =
        R"({"prompt": [2, 5, 9], "max_tokens": 8000, "stream": true, "logit_bias": {"1": -100}})";
    const int stream = Connect(s.port);
    const std::string first =
        Exchange(stream,
                 "POST /v1/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                 "Content-Length: " +
                     std::to_string(body.size()) + "\r\n\r\n" + body);
    EXPECT_EQ(first.rfind("HTTP/1.1 200", 0), 0u) << first;
    ::kill(s.pid, sig);
    EXPECT_EQ(WaitExit(s.pid, 10), 0) << "signal " << sig;
    ::close(stream);
  }
}

TEST(ServeCli, BadFlagsAreOneClearError) {
  ExpectOneClearError(RunCli("serve --model " + kModel + " --port 70000"), "--port");
  ExpectOneClearError(RunCli("serve --model " + kModel + " --kv-budget lots"), "--kv-budget");
  ExpectOneClearError(RunCli("serve --model " + kModel + " --parallel 0"), "--parallel");
  ExpectOneClearError(RunCli("serve --model " + kModel + " --prefill-while-decoding 0"),
                      "--prefill-while-decoding");
  ExpectOneClearError(RunCli("serve --model " + kModel + " --api-key a --api-key-file /dev/null"),
                      "not both");
  ExpectOneClearError(RunCli("serve --model " + kModel + " --api-key-file /nonexistent/key"),
                      "/nonexistent/key");
  ExpectOneClearError(RunCli("serve --model /nonexistent/model --port 0"), "/nonexistent/model");
  ExpectOneClearError(RunCli("serve --model " + kModel + " --host 203.0.113.7 --port 0"),
                      "cannot listen");
}

}  // namespace
}  // namespace gemma
