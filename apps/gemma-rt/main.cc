// gemma-rt: the command-line front end. Thin by design: every command calls the library.
// Every failure ends here as one line, "gemma-rt: error: <file or flag>: <what is wrong>",
// with exit code 1 (apps/gemma-rt/error_output.h).
#include <cstdio>
#include <exception>
#include <new>

#include "apps/gemma-rt/command.h"
#include "apps/gemma-rt/error_output.h"
#include "base/error.h"
#include "gemma_rt/version.h"

int main(int argc, char** argv) {
  CLI::App app{"gemma-rt: run Google's Gemma models, exactly and fast", "gemma-rt"};
  app.set_version_flag("--version", gemma::VersionString());
  app.require_subcommand(1);

  gemma::cli::RunFunction run;
  gemma::cli::AddInspectCommand(app, run);
  gemma::cli::AddTokenizeCommands(app, run);
  gemma::cli::AddGenerateCommand(app, run);
  gemma::cli::AddChatCommand(app, run);
  gemma::cli::AddLogitsCommand(app, run);
  gemma::cli::AddMakeRandomCommand(app, run);
  gemma::cli::AddQuantizeCommand(app, run);
  gemma::cli::AddCompareCommand(app, run);
  gemma::cli::AddBenchCommand(app, run);
  gemma::cli::AddBatchCommand(app, run);
  gemma::cli::AddPerplexityCommand(app, run);
  gemma::cli::AddEvalCommand(app, run);
  gemma::cli::AddServeCommand(app, run);
  gemma::cli::AddBenchServeCommand(app, run);
  gemma::cli::AddFlagChecks(app);  // after every command: it walks all their options

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    if (e.get_exit_code() == 0) return app.exit(e);  // --help, --version
    return gemma::cli::ReportFlagError(app, argc, argv, e);
  }
  int code = 0;
  try {
    code = run ? run() : 0;
  } catch (const gemma::Error& e) {
    return gemma::cli::PrintErrorLine(e.what());
  } catch (const std::bad_alloc&) {
    return gemma::cli::PrintErrorLine(gemma::cli::OutOfMemoryMessage(app, argc, argv));
  } catch (const std::exception& e) {
    return gemma::cli::PrintErrorLine(e.what());
  }
  const int stdout_code = gemma::cli::CheckStdout();
  return code != 0 ? code : stdout_code;
}
