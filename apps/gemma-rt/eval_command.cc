// gemma-rt eval --model M --task TASK --data FILE [--shots K --fewshot-data FILE] [--limit N]
//   [--parallel N] [--json] [--output items.jsonl]
// Multiple-choice benchmarks scored by log-likelihood as lm-evaluation-harness scores them
// (src/eval/multiple_choice.h; tasks, data layouts and the card's settings: docs/eval.md).
#include <cstdio>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "apps/gemma-rt/command.h"
#include "apps/gemma-rt/progress_line.h"
#include "base/error.h"
#include "eval/multiple_choice.h"
#include "eval/task_docs.h"
#include "gemma_rt/gemma_rt.h"
#include "io/atomic_file.h"

namespace gemma::cli {
namespace {

struct EvalFlags {
  std::string model;
  std::string tokenizer;
  std::string task;
  std::string data;
  std::string fewshot_data;
  std::string labels;
  std::optional<size_t> shots;
  size_t limit = 0;
  size_t parallel = 16;
  bool no_prefix_reuse = false;
  bool json = false;
  std::string output;
  int threads = 0;
  bool exact_quant = false;
};

nlohmann::json AccuracyJson(const eval::Accuracy& a) {
  return {{"items", a.items},
          {"acc", a.acc},
          {"acc_stderr", a.acc_stderr},
          {"acc_norm", a.acc_norm},
          {"acc_norm_stderr", a.acc_norm_stderr}};
}

nlohmann::json ItemJson(const eval::ItemResult& r) {
  nlohmann::json item = {{"index", r.index},
                         {"doc", r.doc->where},
                         {"loglikelihoods", r.loglikelihoods},
                         {"lengths", r.lengths},
                         {"greedy", r.greedy},
                         {"pred", r.pred},
                         {"pred_norm", r.pred_norm},
                         {"label", r.doc->label},
                         {"acc", r.pred == r.doc->label ? 1 : 0},
                         {"acc_norm", r.pred_norm == r.doc->label ? 1 : 0}};
  if (!r.doc->subject.empty()) item["subject"] = r.doc->subject;
  return item;
}

int RunEval(const EvalFlags& f) {
  const eval::Task task = eval::ParseTask(f.task);
  const size_t shots = f.shots ? *f.shots : task == eval::Task::kMmlu ? 5 : 0;
  if (shots > 0 && f.fewshot_data.empty()) {
    Fail(ErrorCode::kInvalidArgument, shots, " shots need --fewshot-data (",
         task == eval::Task::kMmlu ? "MMLU: the dev split" : "a training split", "), or --shots 0");
  }
  if (!f.labels.empty() && task != eval::Task::kPiqa) {
    Fail(ErrorCode::kInvalidArgument, "--labels is for piqa's original layout only");
  }
  // The data first: bad data is reported before the model loads.
  const std::vector<eval::Doc> docs = eval::ReadDocs(task, f.data, {.labels_path = f.labels});
  std::vector<eval::Doc> pool;
  if (shots > 0) pool = eval::ReadDocs(task, f.fewshot_data);

  // Per-item lines go through AtomicFile (io/atomic_file.h): an interrupted run or a full disk
  // never leaves a partial file under the final name, and a device such as /dev/full is
  // refused, not renamed over. Opened before the model loads, so a bad --output fails at once.
  std::optional<AtomicFile> items_file;
  if (!f.output.empty()) {
    RemoveLeftovers(RemoveStaleTemporaryFiles(f.output));
    items_file.emplace(f.output);
  }
  const gemma_rt::Model model = gemma_rt::Model::Load({.path = f.model,
                                                       .tokenizer = f.tokenizer,
                                                       .threads = f.threads,
                                                       .exact_quantized_products = f.exact_quant});
  if (!model.has_tokenizer()) {
    Fail(ErrorCode::kInvalidArgument, "model ", f.model,
         " has no tokenizer: give one with --tokenizer (tokenizer.json or tokenizer.model)");
  }
  const size_t count = f.limit == 0 ? docs.size() : std::min(f.limit, docs.size());
  std::fprintf(stderr, "eval: %s, %zu of %zu items from %s, %zu-shot\n", eval::TaskName(task),
               count, docs.size(), f.data.c_str(), shots);

  ProgressLine bar;
  const eval::EvalReport report = eval::EvaluateMultipleChoice(
      model, docs, pool,
      {.task = task,
       .shots = shots,
       .limit = f.limit,
       .scorer = {.max_sequences = f.parallel, .prefix_reuse = !f.no_prefix_reuse}},
      [&](const eval::ItemResult& r) {
        if (items_file) items_file->Write(ItemJson(r).dump() + "\n");
      },
      [&](const eval::ScorerProgress& p) {
        char rate[32];
        std::snprintf(rate, sizeof(rate), "%.2f items/s", p.items_done / p.seconds);
        bar.Update(p.items_done, p.items, p.seconds, rate);
      });
  if (items_file) items_file->Commit(items_file->bytes_written());

  const eval::ScorerStats& st = report.stats;
  const double items_per_s = st.seconds > 0 ? st.items / st.seconds : 0.0;
  if (f.json) {
    nlohmann::json out = AccuracyJson(report.overall);
    out["task"] = eval::TaskName(task);
    out["shots"] = shots;
    out["requests"] = st.requests;
    out["prompt_tokens"] = st.prompt_tokens;
    out["cached_tokens"] = st.cached_tokens;
    out["seconds"] = st.seconds;
    out["items_per_s"] = items_per_s;
    if (!report.subjects.empty()) {
      nlohmann::json subjects = nlohmann::json::object();
      for (const auto& [subject, a] : report.subjects) subjects[subject] = AccuracyJson(a);
      out["subjects"] = subjects;
    }
    std::printf("%s\n", out.dump(2).c_str());
    return 0;
  }
  for (const auto& [subject, a] : report.subjects) {
    std::printf("  %-40s %5zu items  acc %.4f ± %.4f\n", subject.c_str(), a.items, a.acc,
                a.acc_stderr);
  }
  const eval::Accuracy& a = report.overall;
  std::printf("%s, %zu items, %zu-shot\n", eval::TaskName(task), a.items, shots);
  std::printf("acc       %.4f ± %.4f\n", a.acc, a.acc_stderr);
  std::printf("acc_norm  %.4f ± %.4f\n", a.acc_norm, a.acc_norm_stderr);
  std::printf(
      "%zu requests; %llu prompt tokens computed, %llu from the prefix cache; %.1f s, "
      "%.2f items/s\n",
      st.requests, static_cast<unsigned long long>(st.prompt_tokens),
      static_cast<unsigned long long>(st.cached_tokens), st.seconds, items_per_s);
  return 0;
}

}  // namespace

void AddEvalCommand(CLI::App& app, RunFunction& run) {
  auto f = std::make_shared<EvalFlags>();
  CLI::App* cmd = app.add_subcommand(
      "eval", "Score a multiple-choice benchmark by log-likelihood, as lm-evaluation-harness does");
  cmd->add_option("--model", f->model, "Model directory or .gguf file")->required();
  cmd->add_option("--task", f->task,
                  "hellaswag, arc (arc_easy, arc_challenge), piqa, winogrande, mmlu, generic")
      ->required();
  cmd->add_option("--data", f->data,
                  "The evaluated split: JSON Lines or a JSON array (MMLU: also a .csv file or "
                  "a directory of them); layouts in docs/eval.md")
      ->required();
  cmd->add_option("--shots", f->shots, "Solved examples before each question (mmlu: 5, else 0)");
  cmd->add_option("--fewshot-data", f->fewshot_data,
                  "Where the solved examples come from, first ones first (MMLU: the dev split, "
                  "by subject)");
  cmd->add_option("--labels", f->labels, "piqa: the labels file of the original layout (*.lst)");
  cmd->add_option("--limit", f->limit, "Score only the first N items")->capture_default_str();
  cmd->add_option("--parallel", f->parallel, "Requests (choices) in the engine at once")
      ->capture_default_str();
  cmd->add_flag("--no-prefix-reuse", f->no_prefix_reuse,
                "Compute every choice's context anew (slower; for comparison)");
  cmd->add_option("--tokenizer", f->tokenizer,
                  "tokenizer.json / tokenizer.model (default: the model's own)");
  cmd->add_flag("--json", f->json, "Print the final figures as one JSON object");
  cmd->add_option("--output", f->output,
                  "Write one JSON line per item (log-likelihoods, lengths, predictions, label)");
  cmd->add_option("-t,--threads", f->threads, "Worker threads (default: all)");
  AddExactQuantFlag(*cmd, f->exact_quant);
  cmd->callback([f, &run] { run = [f] { return RunEval(*f); }; });
}

}  // namespace gemma::cli
