// The one way gemma-rt reports failure (README): a single line on stderr,
// "gemma-rt: error: <file or flag>: <what is wrong>", and exit code 1; also for flag errors
// that CLI11 finds. And the checks that make flags fail that way: negative values for
// unsigned flags, thread counts beyond the cap.
#pragma once

#include <CLI/CLI.hpp>
#include <string>
#include <string_view>

namespace gemma::cli {

// Prints the error line (escaped, one line; a progress line still open is ended first) and
// returns the exit code 1.
int PrintErrorLine(std::string_view message);

// A progress bar that rewrites its stderr line with '\r' says whether the line is open (no
// '\n' yet), so that an error printed meanwhile starts on a line of its own.
void SetStderrLineOpen(bool open);

// Adds to every option of `app` and its subcommands: unsigned values must not be negative
// (CLI11 reads "-5" into an unsigned as 2^64 - 5), and --threads must be 0..MaxThreads().
void AddFlagChecks(CLI::App& app);

// The error line for a CLI11 parse error: names the subcommand (or the unknown word).
int ReportFlagError(const CLI::App& app, int argc, char** argv, const CLI::ParseError& error);

// The error for std::bad_alloc: names --model's value when given, else the subcommand.
std::string OutOfMemoryMessage(const CLI::App& app, int argc, char** argv);

// Flushes stdout; a failed write to it (a full disk, /dev/full) is an error naming it.
int CheckStdout();

}  // namespace gemma::cli
