#include "eval/task_docs.h"

#include <algorithm>
#include <filesystem>
#include <stdexcept>

#include "eval/data_records.h"
#include "eval/python_text.h"

namespace gemma::eval {
namespace {

namespace fs = std::filesystem;

std::string WhereOf(const RecordReader& r) { return r.file() + ":" + std::to_string(r.line()); }

size_t CheckedLabel(const RecordReader& r, long long label, size_t choices,
                    std::string_view field) {
  if (label < 0 || static_cast<size_t>(label) >= choices) {
    r.Fail("label " + std::to_string(label) + " (field \"" + std::string(field) +
           "\") is out of range for " + std::to_string(choices) + " choices");
  }
  return static_cast<size_t>(label);
}

void CheckChoices(const RecordReader& r, const std::vector<std::string>& choices) {
  for (size_t i = 0; i < choices.size(); ++i) {
    if (choices[i].empty()) r.Fail("choice " + std::to_string(i) + " is empty");
  }
}

// Rowan Zellers' hellaswag_{train,val}.jsonl and Hugging Face's "Rowan/hellaswag" (label a
// string there). lm-evaluation-harness: query = preprocess(activity_label + ": " + ctx_a +
// " " + ctx_b.capitalize()), choices = preprocess(each ending).
Doc HellaswagDoc(const RecordReader& r) {
  Doc doc;
  const std::string context = r.String("ctx_a") + " " + PythonCapitalize(r.String("ctx_b"));
  doc.text = HellaswagPreprocess(r.String("activity_label") + ": " + context);
  for (const std::string& ending : r.Strings("endings")) {
    doc.choices.push_back(HellaswagPreprocess(ending));
  }
  CheckChoices(r, doc.choices);
  doc.label = CheckedLabel(r, r.Integer("label"), doc.choices.size(), "label");
  return doc;
}

// Hugging Face's allenai/ai2_arc ({"question": "...", "choices": {"text": [...], "label":
// [...]}, "answerKey": "A"}) or AI2's ARC-*.jsonl ({"question": {"stem": "...", "choices":
// [{"text", "label"}, ...]}, "answerKey"}). "Question: {question}\nAnswer:".
Doc ArcDoc(const RecordReader& r) {
  Doc doc;
  std::string question;
  std::vector<std::string> labels;
  const nlohmann::json& q = r.Field("question");
  if (q.is_object()) {
    question = r.String(q.contains("stem") ? q["stem"] : nlohmann::json(), "question.stem");
    const nlohmann::json& choices = q.contains("choices") ? q["choices"] : nlohmann::json();
    if (!choices.is_array() || choices.empty()) r.Fail("question.choices is not a non-empty array");
    for (const nlohmann::json& c : choices) {
      if (!c.is_object()) r.Fail("question.choices holds a non-object");
      doc.choices.push_back(
          r.String(c.contains("text") ? c["text"] : nlohmann::json(), "a choice's \"text\""));
      labels.push_back(
          r.String(c.contains("label") ? c["label"] : nlohmann::json(), "a choice's \"label\""));
    }
  } else {
    question = r.String("question");
    const nlohmann::json& choices = r.Field("choices");
    if (!choices.is_object()) r.Fail("field \"choices\" is not an object with text and label");
    doc.choices =
        r.Strings(choices.contains("text") ? choices["text"] : nlohmann::json(), "choices.text");
    labels =
        r.Strings(choices.contains("label") ? choices["label"] : nlohmann::json(), "choices.label");
    if (labels.size() != doc.choices.size()) {
      r.Fail("choices.text and choices.label differ in length");
    }
  }
  CheckChoices(r, doc.choices);
  const std::string key = r.String("answerKey");
  const auto it = std::find(labels.begin(), labels.end(), key);
  if (it == labels.end()) r.Fail("answerKey \"" + key + "\" is not among the choices' labels");
  doc.label = static_cast<size_t>(it - labels.begin());
  doc.text = "Question: " + question + "\nAnswer:";
  return doc;
}

// {"goal", "sol1", "sol2", "label"} (Hugging Face's ybisk/piqa), or the original
// {train,valid}.jsonl with the labels in {train,valid}-labels.lst. "Question: {goal}\nAnswer:".
Doc PiqaDoc(const RecordReader& r, const std::vector<long long>* labels, size_t index) {
  Doc doc;
  doc.text = "Question: " + r.String("goal") + "\nAnswer:";
  doc.choices = {r.String("sol1"), r.String("sol2")};
  CheckChoices(r, doc.choices);
  long long label;
  if (labels != nullptr) {
    if (index >= labels->size()) r.Fail("the labels file has no line for this record");
    label = (*labels)[index];
  } else if (r.Has("label")) {
    label = r.Integer("label");
  } else {
    r.Fail("missing field \"label\" (the original layout keeps labels in a file: --labels)");
  }
  doc.label = CheckedLabel(r, label, 2, "label");
  return doc;
}

// {"sentence", "option1", "option2", "answer": "1" | "2"} (AI2's winogrande_1.1 *.jsonl and
// Hugging Face's winogrande). Partial scoring: each option fills the blank ("_") as a
// context; the rest of the sentence is the continuation.
Doc WinograndeDoc(const RecordReader& r) {
  Doc doc;
  const std::string sentence = r.String("sentence");
  const size_t blank = sentence.find('_');
  if (blank == std::string::npos) r.Fail("the sentence has no blank (\"_\")");
  const std::string options[2] = {r.String("option1"), r.String("option2")};
  for (const std::string& option : options) {
    if (option.empty()) r.Fail("an option is empty");
    doc.choices.push_back(sentence.substr(0, blank) + option);
  }
  doc.target = std::string(PythonStrip(std::string_view(sentence).substr(blank + 1)));
  if (doc.target.empty()) r.Fail("nothing follows the blank to score");
  doc.choices_are_contexts = true;
  doc.label = CheckedLabel(r, r.Integer("answer") - 1, 2, "answer");
  return doc;
}

// lm-evaluation-harness's MMLU prompt.
void SetMmluText(Doc& doc, std::string_view question, const std::vector<std::string>& options) {
  doc.text = std::string(PythonStrip(question));
  for (size_t i = 0; i < 4; ++i) {
    doc.text += '\n';
    doc.text += static_cast<char>('A' + i);
    doc.text += ". ";
    doc.text += options[i];
  }
  doc.text += "\nAnswer:";
  doc.choices = {"A", "B", "C", "D"};
}

size_t MmluLetter(const RecordReader& r, const std::string& answer) {
  if (answer.size() != 1 || answer[0] < 'A' || answer[0] > 'D') {
    r.Fail("the answer \"" + answer + "\" is not one of A, B, C, D");
  }
  return static_cast<size_t>(answer[0] - 'A');
}

// A subject from a file name: "abstract_algebra_test.csv" -> "abstract_algebra".
std::string SubjectFromFileName(const std::string& path) {
  std::string name = fs::path(path).stem().string();
  for (const char* suffix : {"_test", "_dev", "_val", "_validation", "_train"}) {
    const std::string_view s = suffix;
    if (name.size() > s.size() && name.compare(name.size() - s.size(), s.size(), s) == 0) {
      name.resize(name.size() - s.size());
      break;
    }
  }
  return name;
}

// Dan Hendrycks' data/{dev,test}/<subject>_{dev,test}.csv: no header; question, four
// options, answer letter.
std::vector<Doc> MmluCsvDocs(const std::string& path) {
  std::vector<Doc> docs;
  const std::string subject = SubjectFromFileName(path);
  for (const CsvRecord& record : ReadCsvRecords(path)) {
    const JsonRecord none{.line = record.line};
    const RecordReader r(path, none);
    if (record.fields.size() != 6) {
      r.Fail("an MMLU row has 6 fields (question, A, B, C, D, answer), not " +
             std::to_string(record.fields.size()));
    }
    Doc doc;
    doc.where = WhereOf(r);
    doc.subject = subject;
    const std::vector<std::string> options(record.fields.begin() + 1, record.fields.begin() + 5);
    for (size_t i = 0; i < 4; ++i) {
      if (options[i].empty()) r.Fail("option " + std::string(1, char('A' + i)) + " is empty");
    }
    SetMmluText(doc, record.fields[0], options);
    doc.label = MmluLetter(r, std::string(PythonStrip(record.fields[5])));
    docs.push_back(std::move(doc));
  }
  return docs;
}

// Hugging Face's cais/mmlu (hails/mmlu_no_train) rows: {"question", "subject", "choices":
// [4], "answer": 0-3} (a letter is accepted too); without "subject", the file name's.
Doc MmluJsonDoc(const RecordReader& r) {
  Doc doc;
  const std::vector<std::string> options = r.Strings("choices");
  if (options.size() != 4)
    r.Fail("an MMLU question has 4 choices, not " + std::to_string(options.size()));
  CheckChoices(r, options);
  SetMmluText(doc, r.String("question"), options);
  const nlohmann::json& answer = r.Field("answer");
  if (answer.is_string() && answer.get<std::string>().size() == 1 &&
      !std::isdigit(static_cast<unsigned char>(answer.get<std::string>()[0]))) {
    doc.label = MmluLetter(r, answer.get<std::string>());
  } else {
    doc.label = CheckedLabel(r, r.Integer("answer"), 4, "answer");
  }
  doc.subject = r.Has("subject") ? r.String("subject") : SubjectFromFileName(r.file());
  return doc;
}

// {"context": "...", "choices": ["...", ...], "label": i}.
Doc GenericDoc(const RecordReader& r) {
  Doc doc;
  doc.text = r.String("context");
  doc.choices = r.Strings("choices");
  CheckChoices(r, doc.choices);
  doc.label = CheckedLabel(r, r.Integer("label"), doc.choices.size(), "label");
  return doc;
}

std::vector<long long> ReadLabelsFile(const std::string& path) {
  std::vector<long long> labels;
  const std::string text = ReadWholeFile(path);
  size_t line = 0;
  for (size_t begin = 0; begin < text.size();) {
    size_t end = text.find('\n', begin);
    if (end == std::string::npos) end = text.size();
    ++line;
    const std::string_view row = PythonStrip(std::string_view(text).substr(begin, end - begin));
    begin = end + 1;
    if (row.empty()) continue;
    if (row.size() > 9 || row.find_first_not_of("0123456789") != std::string_view::npos) {
      throw DataError(path, line, "not a label: \"" + std::string(row) + "\"");
    }
    labels.push_back(std::stoll(std::string(row)));
  }
  return labels;
}

bool EndsWith(const std::string& text, std::string_view suffix) {
  return text.size() >= suffix.size() &&
         text.compare(text.size() - suffix.size(), suffix.size(), suffix) == 0;
}

}  // namespace

Task ParseTask(std::string_view name) {
  if (name == "hellaswag") return Task::kHellaswag;
  if (name == "arc" || name == "arc_easy" || name == "arc_challenge") return Task::kArc;
  if (name == "piqa") return Task::kPiqa;
  if (name == "winogrande") return Task::kWinogrande;
  if (name == "mmlu") return Task::kMmlu;
  if (name == "generic") return Task::kGeneric;
  throw std::invalid_argument("unknown task \"" + std::string(name) +
                              "\" (hellaswag, arc, arc_easy, arc_challenge, piqa, winogrande, "
                              "mmlu, generic)");
}

const char* TaskName(Task task) {
  switch (task) {
    case Task::kHellaswag:
      return "hellaswag";
    case Task::kArc:
      return "arc";
    case Task::kPiqa:
      return "piqa";
    case Task::kWinogrande:
      return "winogrande";
    case Task::kMmlu:
      return "mmlu";
    case Task::kGeneric:
      return "generic";
  }
  return "?";
}

std::vector<Doc> ReadDocs(Task task, const std::string& path, const ReadOptions& options) {
  if (task == Task::kMmlu && fs::is_directory(path)) {
    std::vector<std::string> files;
    for (const fs::directory_entry& e : fs::directory_iterator(path)) {
      if (e.is_regular_file() && e.path().extension() == ".csv") files.push_back(e.path().string());
    }
    if (files.empty()) throw DataError(path, 0, "the directory holds no .csv file");
    std::sort(files.begin(), files.end());
    std::vector<Doc> docs;
    for (const std::string& file : files) {
      std::vector<Doc> more = MmluCsvDocs(file);
      docs.insert(docs.end(), std::make_move_iterator(more.begin()),
                  std::make_move_iterator(more.end()));
    }
    return docs;
  }
  if (task == Task::kMmlu && EndsWith(path, ".csv")) return MmluCsvDocs(path);
  if (fs::is_directory(path)) throw DataError(path, 0, "is a directory, not a data file");

  std::vector<long long> labels;
  const bool labels_file = task == Task::kPiqa && !options.labels_path.empty();
  if (labels_file) labels = ReadLabelsFile(options.labels_path);
  const std::vector<JsonRecord> records = ReadJsonRecords(path);
  if (records.empty()) throw DataError(path, 0, "no records");
  if (labels_file && labels.size() != records.size()) {
    throw DataError(options.labels_path, 0,
                    "holds " + std::to_string(labels.size()) + " labels for the " +
                        std::to_string(records.size()) + " records of " + path);
  }
  std::vector<Doc> docs;
  docs.reserve(records.size());
  for (size_t i = 0; i < records.size(); ++i) {
    const RecordReader r(path, records[i]);
    Doc doc;
    switch (task) {
      case Task::kHellaswag:
        doc = HellaswagDoc(r);
        break;
      case Task::kArc:
        doc = ArcDoc(r);
        break;
      case Task::kPiqa:
        doc = PiqaDoc(r, labels_file ? &labels : nullptr, i);
        break;
      case Task::kWinogrande:
        doc = WinograndeDoc(r);
        break;
      case Task::kMmlu:
        doc = MmluJsonDoc(r);
        break;
      case Task::kGeneric:
        doc = GenericDoc(r);
        break;
    }
    doc.where = WhereOf(r);
    docs.push_back(std::move(doc));
  }
  return docs;
}

}  // namespace gemma::eval
