// gemma-rt: the command-line front end. Thin by design: every command calls the library.
#include <cstdio>
#include <exception>

#include "apps/gemma-rt/command.h"
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

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }
  try {
    return run ? run() : 0;
  } catch (const gemma::Error& e) {
    std::fprintf(stderr, "gemma-rt: error: %s\n", e.what());
    return 1;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "gemma-rt: error: %s\n", e.what());
    return 1;
  }
}
