// The multiple-choice tasks and their data files, read into lm-evaluation-harness's view of
// a document: the text its doc_to_text renders, its choices (doc_to_choice) and the index of
// the right one (doc_to_target). The layouts each reader accepts are in docs/eval.md.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

namespace gemma::eval {

enum class Task { kHellaswag, kArc, kPiqa, kWinogrande, kMmlu, kGeneric };

// "hellaswag", "arc" (also "arc_easy", "arc_challenge": the same layout), "piqa",
// "winogrande", "mmlu", "generic"; std::invalid_argument listing them otherwise.
Task ParseTask(std::string_view name);
const char* TaskName(Task task);

struct Doc {
  std::string where;  // "file:line" of its record
  std::string text;   // the question as the prompt shows it ("Question: ...\nAnswer:")
  std::vector<std::string> choices;
  size_t label = 0;  // the right choice
  // WinoGrande's partial scoring: the choices are contexts (the sentence up to the blank,
  // filled with each option) and `target`, the rest of the sentence, is the continuation
  // scored after each of them.
  bool choices_are_contexts = false;
  std::string target;
  std::string subject;  // MMLU: the subject ("high_school_physics"); "" for other tasks
};

struct ReadOptions {
  // PIQA's original layout keeps labels in a file of their own (one per line, in order).
  std::string labels_path;
};

// Reads every record of `path` (MMLU: a .csv file or a directory of them, or JSON / JSON
// Lines) and checks it; DataError names the file and line of the first bad record.
std::vector<Doc> ReadDocs(Task task, const std::string& path, const ReadOptions& options = {});

}  // namespace gemma::eval
