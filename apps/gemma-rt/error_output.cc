#include "apps/gemma-rt/error_output.h"

#include "apps/gemma-rt/command.h"

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "base/error.h"
#include "base/printable.h"
#include "base/threads.h"

namespace gemma::cli {
namespace {

bool stderr_line_open = false;

std::vector<const CLI::App*> Subcommands(const CLI::App& app) {
  return app.get_subcommands([](const CLI::App*) { return true; });
}
std::vector<CLI::App*> Subcommands(CLI::App& app) {
  return app.get_subcommands([](CLI::App*) { return true; });
}

std::string CommandNames(const CLI::App& app) {
  std::string names;
  for (const CLI::App* sub : Subcommands(app))
    names += (names.empty() ? "" : ", ") + sub->get_name();
  return names;
}

// "-5" for an unsigned option: CLI11 would wrap it around to 2^64 - 5.
const CLI::Validator kNotNegative(
    [](std::string& value) -> std::string {
      const size_t first = value.find_first_not_of(" \t");
      if (first != std::string::npos && value[first] == '-') {
        return "'" + value + "' is negative; expected 0 or more";
      }
      return "";
    },
    "", "not negative");

const CLI::Validator kThreadCount(
    [](std::string& value) -> std::string {
      long long threads = 0;
      try {
        size_t used = 0;
        threads = std::stoll(value, &used);
        if (used != value.size()) return "'" + value + "' is not a whole number of threads";
      } catch (const std::exception&) {
        return "'" + value + "' is not a whole number of threads";
      }
      try {
        ResolveThreadCount(threads, "");
      } catch (const Error& e) {
        return std::string(e.what()).substr(1);  // without the empty name's space
      }
      return "";
    },
    "", "thread count");

void AddChecks(CLI::App& app) {
  for (CLI::Option* option : app.get_options()) {
    if (option->get_type_name() == "UINT") option->check(kNotNegative);
    for (const std::string& name : option->get_lnames()) {
      if (name == "threads") option->check(kThreadCount);
    }
  }
  for (CLI::App* sub : Subcommands(app)) AddChecks(*sub);
}

}  // namespace

int PrintErrorLine(std::string_view message) {
  std::fflush(stdout);
  if (stderr_line_open) std::fputc('\n', stderr);
  stderr_line_open = false;
  const std::string line = "gemma-rt: error: " + OneLineMessage(message) + "\n";
  std::fwrite(line.data(), 1, line.size(), stderr);
  std::fflush(stderr);
  return 1;
}

void SetStderrLineOpen(bool open) { stderr_line_open = open; }

void RemoveLeftovers(const std::vector<std::string>& removed) {
  for (const std::string& path : removed) {
    std::fprintf(stderr, "gemma-rt: removed %s, a partial file left by an interrupted run\n",
                 OneLineMessage(path).c_str());
  }
}

void AddFlagChecks(CLI::App& app) { AddChecks(app); }

int ReportFlagError(const CLI::App& app, int argc, char** argv, const CLI::ParseError& error) {
  // The first word that is not a flag names the subcommand.
  std::string command;
  for (int i = 1; i < argc && command.empty(); ++i) {
    if (argv[i][0] != '-') command = argv[i];
  }
  const std::vector<const CLI::App*> subs = Subcommands(app);
  const bool known = std::any_of(subs.begin(), subs.end(),
                                 [&](const CLI::App* sub) { return sub->get_name() == command; });
  if (command.empty() && error.get_name() == "RequiredError") {
    return PrintErrorLine("give a subcommand: one of " + CommandNames(app) +
                          " (see gemma-rt --help)");
  }
  if (!command.empty() && !known) {
    return PrintErrorLine("'" + command + "' is not a gemma-rt subcommand; expected one of " +
                          CommandNames(app));
  }
  const std::string where = command.empty() ? "gemma-rt" : command;
  return PrintErrorLine(where + ": " + error.what() + " (see gemma-rt " +
                        (command.empty() ? "" : command + " ") + "--help)");
}

std::string OutOfMemoryMessage(const CLI::App& app, int argc, char** argv) {
  std::string subject =
      app.get_subcommands().empty() ? "gemma-rt" : app.get_subcommands()[0]->get_name();
  for (int i = 1; i < argc; ++i) {
    const std::string_view arg = argv[i];
    if (arg == "--model" && i + 1 < argc) subject = argv[i + 1];
    if (arg.starts_with("--model=")) subject = std::string(arg.substr(8));
  }
  return subject +
         ": out of memory (the machine could not give what this model, input or these flags "
         "need)";
}

int CheckStdout() {
  errno = 0;
  if (std::fflush(stdout) == 0 && !std::ferror(stdout)) return 0;
  const int error = errno;
  return PrintErrorLine(std::string("<stdout>: cannot write the output") +
                        (error != 0 ? std::string(": ") + std::strerror(error) : ""));
}

}  // namespace gemma::cli
