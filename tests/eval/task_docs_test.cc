// Benchmark files read into the prompts lm-evaluation-harness builds from them (expected
// strings worked out with the harness's own Python code on the same records), the Python
// string rules they rely on, and one clear error naming the file and line for bad data.
#include "eval/task_docs.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "eval/data_records.h"
#include "eval/harness_prompts.h"
#include "eval/python_text.h"

namespace gemma::eval {
namespace {

const std::string kData = std::string(GEMMA_TEST_DATA_DIR) + "/eval/";

TEST(PythonText, StripCapitalizeLengthAndHellaswagPreprocess) {
  EXPECT_EQ(PythonStrip(" \t\n x y \r\n"), "x y");
  EXPECT_EQ(PythonStrip("\xc2\xa0x\xe3\x80\x80"), "x");  // U+00A0, U+3000 are whitespace
  EXPECT_EQ(PythonRStrip("Answer: \n"), "Answer:");
  EXPECT_EQ(PythonRStrip("caf\xc3\xa9 "), "caf\xc3\xa9");  // é is not whitespace
  EXPECT_TRUE(StartsWithPythonSpace("\xe2\x80\x83x"));     // U+2003
  EXPECT_FALSE(StartsWithPythonSpace("x "));
  EXPECT_EQ(CodePoints("\xc3\x89lodie caf\xc3\xa9"), 11u);  // len("Élodie café")
  EXPECT_EQ(CodePoints("\xf0\x9f\x99\x82!"), 2u);
  EXPECT_EQ(PythonCapitalize("push a FINGER"), "Push a finger");
  EXPECT_EQ(PythonCapitalize("\xc3\xa9T\xc3\x89"), "\xc3\x89t\xc3\xa9");  // éTÉ -> Été
  EXPECT_EQ(PythonCapitalize(""), "");
  EXPECT_EQ(ReplaceAll("a   b", "  ", " "), "a  b");  // one pass, like str.replace
  EXPECT_EQ(HellaswagPreprocess("[title] Spray it.  [step] Wet [x\n] y."),
            " Spray it.  Wet [x\n] y.");
}

TEST(DataRecords, LinesOfJsonLinesJsonArraysAndCsv) {
  const std::vector<JsonRecord> array = ReadJsonRecords(kData + "generic.json");
  ASSERT_EQ(array.size(), 2u);
  EXPECT_EQ(array[0].line, 2u);
  EXPECT_EQ(array[1].line, 3u);
  EXPECT_EQ(array[1].value["label"], 0);
  const std::vector<CsvRecord> csv = ReadCsvRecords(kData + "mmlu/test/astronomy_test.csv");
  ASSERT_EQ(csv.size(), 3u);
  EXPECT_EQ(csv[1].fields[0], "Which planet has the \"great red spot\"?");
  EXPECT_EQ(csv[2].line, 3u);
  EXPECT_EQ(csv[2].fields[0],
            "Read the two statements.\n1. The Moon orbits the Earth.\n2. The Earth orbits the "
            "Moon.\nWhich is true?");
  EXPECT_EQ(csv[2].fields[5], "A");
}

TEST(TaskDocs, Hellaswag) {
  const std::vector<Doc> docs = ReadDocs(Task::kHellaswag, kData + "hellaswag.jsonl");
  ASSERT_EQ(docs.size(), 3u);
  EXPECT_EQ(docs[0].where, kData + "hellaswag.jsonl:1");
  EXPECT_EQ(docs[0].text,
            "Baking cookies: A woman stands in a bright kitchen next to a tray of dough balls. "
            "She");
  EXPECT_EQ(docs[0].label, 2u);
  EXPECT_EQ(docs[1].text,
            "Home and Garden: How to water a cactus. Check the soil first. Push a finger into the "
            "soil near the base. if it is dry two inches down, it is time to water.");
  EXPECT_EQ(docs[1].choices,
            (std::vector<std::string>{
                " Water deeply but rarely. Pour water until it drains from the bottom of the pot.",
                " Spray the spines every hour.  Cacti like their spines wet.",
                " Put the cactus in the fridge. Cold air keeps it fresh.",
                " Bury the pot in sand. Leave it there for a year."}));
  const std::vector<Doc> hf = ReadDocs(Task::kHellaswag, kData + "hellaswag_hf.jsonl");
  ASSERT_EQ(hf.size(), 2u);
  EXPECT_EQ(hf[0].text,
            "Washing a car: A man sprays a red car with a garden hose in a driveway. "
            "The man");
  EXPECT_EQ(hf[0].label, 0u);  // "0"
  const std::vector<ContinuationText> requests = DocRequests(Task::kHellaswag, docs[1], {});
  ASSERT_EQ(requests.size(), 4u);
  EXPECT_EQ(requests[0].context, docs[1].text);
  EXPECT_EQ(requests[0].continuation,
            "  Water deeply but rarely. Pour water until it drains from the bottom of the pot.");
  EXPECT_EQ(ChoiceLengths(docs[1])[3], std::string(" Bury the pot in sand. Leave it there for "
                                                   "a year.")
                                           .size());
}

TEST(TaskDocs, ArcBothLayouts) {
  const std::vector<Doc> hf = ReadDocs(Task::kArc, kData + "arc_hf.jsonl");
  ASSERT_EQ(hf.size(), 3u);
  EXPECT_EQ(hf[0].text, "Question: Which of these is a source of light?\nAnswer:");
  EXPECT_EQ(hf[0].choices, (std::vector<std::string>{"a rock", "the Sun", "a spoon", "a pillow"}));
  EXPECT_EQ(hf[0].label, 1u);
  EXPECT_EQ(hf[1].choices.size(), 3u);
  EXPECT_EQ(hf[2].label, 2u);  // answerKey "3" among labels "1".."4"
  const std::vector<Doc> ai2 = ReadDocs(Task::kArc, kData + "arc_ai2.jsonl");
  ASSERT_EQ(ai2.size(), 2u);
  EXPECT_EQ(ai2[1].text, "Question: What happens to water when it freezes?\nAnswer:");
  EXPECT_EQ(ai2[1].choices[0], "It becomes ice.");
  EXPECT_EQ(ai2[1].label, 0u);
  const std::vector<ContinuationText> r = DocRequests(Task::kArc, hf[0], {});
  EXPECT_EQ(r[1].continuation, " the Sun");
}

TEST(TaskDocs, PiqaBothLayouts) {
  const std::vector<Doc> hf = ReadDocs(Task::kPiqa, kData + "piqa_hf.jsonl");
  ASSERT_EQ(hf.size(), 2u);
  EXPECT_EQ(hf[1].text, "Question: To open a stuck jar lid,\nAnswer:");
  EXPECT_EQ(hf[1].label, 1u);
  const std::vector<Doc> original = ReadDocs(Task::kPiqa, kData + "piqa_valid.jsonl",
                                             {.labels_path = kData + "piqa_valid-labels.lst"});
  ASSERT_EQ(original.size(), 2u);
  EXPECT_EQ(original[0].label, 1u);
  EXPECT_EQ(original[1].label, 0u);
  EXPECT_EQ(original[0].choices[1], "Set the cup in a bowl of ice water and stir.");
}

TEST(TaskDocs, WinograndePartialScoring) {
  const std::vector<Doc> docs = ReadDocs(Task::kWinogrande, kData + "winogrande.jsonl");
  ASSERT_EQ(docs.size(), 3u);
  EXPECT_TRUE(docs[0].choices_are_contexts);
  EXPECT_EQ(docs[0].choices,
            (std::vector<std::string>{"The bottle did not fit in the bag because the bottle",
                                      "The bottle did not fit in the bag because the bag"}));
  EXPECT_EQ(docs[0].target, "was too small.");
  EXPECT_EQ(docs[0].label, 1u);
  const std::vector<const Doc*> shots = SelectShots(Task::kWinogrande, docs, docs[0], 2);
  ASSERT_EQ(shots.size(), 2u);  // the doc itself is skipped
  EXPECT_EQ(shots[0], &docs[1]);
  const std::vector<ContinuationText> r = DocRequests(Task::kWinogrande, docs[0], shots);
  EXPECT_EQ(r[0].context,
            "Maria lent her umbrella to Ana because Ana was going out into the rain.\n\n"
            "The candle melted faster than the crayon because the candle was closer to the "
            "fire.\n\nThe bottle did not fit in the bag because the bottle");
  EXPECT_EQ(r[0].continuation, " was too small.");
}

TEST(TaskDocs, MmluCsvDirectoryAndJsonRows) {
  const std::vector<Doc> test = ReadDocs(Task::kMmlu, kData + "mmlu/test");
  ASSERT_EQ(test.size(), 5u);
  EXPECT_EQ(test[0].subject, "astronomy");
  EXPECT_EQ(test[3].subject, "virology");
  EXPECT_EQ(test[3].where, kData + "mmlu/test/virology_test.csv:1");
  EXPECT_EQ(test[1].text,
            "Which planet has the \"great red spot\"?\nA. Mars\nB. Venus\nC. Jupiter\nD. "
            "Mercury\nAnswer:");
  EXPECT_EQ(test[1].choices, (std::vector<std::string>{"A", "B", "C", "D"}));
  EXPECT_EQ(test[1].label, 2u);
  const std::vector<Doc> dev = ReadDocs(Task::kMmlu, kData + "mmlu/dev");
  const std::vector<const Doc*> shots = SelectShots(Task::kMmlu, dev, test[3], 2);
  ASSERT_EQ(shots.size(), 2u);
  EXPECT_EQ(shots[1]->subject, "virology");
  const std::vector<ContinuationText> r = DocRequests(Task::kMmlu, test[3], shots);
  EXPECT_EQ(r[2].context,
            "The following are multiple choice questions (with answers) about virology.\n\n"
            "What is the protein coat of a virus called?\nA. Capsid\nB. Cell wall\nC. Nucleus\n"
            "D. Membrane\nAnswer: A\n\n"
            "Which of these is used to prevent viral disease?\nA. Vaccines\nB. Antibiotics "
            "only\nC. Vitamins only\nD. Bandages\nAnswer: A\n\n"
            "Which of these is a virus?\nA. Influenza\nB. E. coli\nC. Yeast\nD. "
            "Plasmodium\nAnswer:");
  EXPECT_EQ(r[2].continuation, " C");
  const std::vector<Doc> hf = ReadDocs(Task::kMmlu, kData + "mmlu_hf.jsonl");
  ASSERT_EQ(hf.size(), 2u);
  EXPECT_EQ(hf[1].text, test[3].text);  // the question is stripped
  EXPECT_EQ(hf[1].subject, "virology");
  EXPECT_EQ(hf[0].label, 1u);
}

TEST(TaskDocs, GenericJsonLinesAndArray) {
  const std::vector<Doc> docs = ReadDocs(Task::kGeneric, kData + "generic.jsonl");
  ASSERT_EQ(docs.size(), 3u);
  EXPECT_EQ(docs[1].text, "Question: How many legs does a spider have?\nAnswer:");
  EXPECT_EQ(docs[1].label, 1u);
  const std::vector<Doc> array = ReadDocs(Task::kGeneric, kData + "generic.json");
  ASSERT_EQ(array.size(), 2u);
  EXPECT_EQ(array[1].where, kData + "generic.json:3");
  EXPECT_EQ(array[1].choices[0], "100 degrees Celsius at sea level.");
  const std::vector<const Doc*> shots = SelectShots(Task::kGeneric, array, docs[0], 1);
  const std::vector<ContinuationText> r = DocRequests(Task::kGeneric, docs[0], shots);
  EXPECT_EQ(r[0].context, "The opposite of up is down\n\nThe opposite of hot is");
  EXPECT_EQ(r[0].continuation, " cold");
  EXPECT_EQ(ParseTask("arc_challenge"), Task::kArc);
  EXPECT_THROW(ParseTask("boolq"), std::invalid_argument);
}

// Writes `text` to a temporary file and returns the message of the error reading it gives.
std::string ErrorFor(Task task, const std::string& name, const std::string& text) {
  const std::string path =
      (std::filesystem::temp_directory_path() / ("gemma-rt-eval-" + name)).string();
  std::ofstream(path) << text;
  std::string message = "(no error)";
  try {
    ReadDocs(task, path);
  } catch (const DataError& e) {
    message = e.what();
    const std::string prefix = path + ":";
    EXPECT_EQ(message.rfind(prefix, 0), 0u) << message;  // starts with the file's name
    message = message.substr(path.size());
  }
  std::filesystem::remove(path);
  return message;
}

TEST(TaskDocs, BadDataNamesTheFileAndLine) {
  const std::string good = R"({"context": "a", "choices": ["b", "c"], "label": 0})";
  EXPECT_EQ(
      ErrorFor(Task::kGeneric, "missing.jsonl", good + "\n" + R"({"context": "a", "label": 0})"),
      ":2: missing field \"choices\"");
  EXPECT_EQ(ErrorFor(Task::kGeneric, "empty.jsonl",
                     good + "\n\n" + R"({"context": "a", "choices": [], "label": 0})"),
            ":3: field \"choices\" is empty");
  EXPECT_EQ(ErrorFor(Task::kGeneric, "empty-choice.jsonl",
                     R"({"context": "a", "choices": ["b", ""], "label": 0})"),
            ":1: choice 1 is empty");
  EXPECT_EQ(ErrorFor(Task::kGeneric, "range.jsonl",
                     R"({"context": "a", "choices": ["b", "c"], "label": 2})"),
            ":1: label 2 (field \"label\") is out of range for 2 choices");
  EXPECT_EQ(
      ErrorFor(Task::kGeneric, "type.jsonl", R"({"context": 5, "choices": ["b"], "label": 0})"),
      ":1: field \"context\" is not a string");
  EXPECT_EQ(ErrorFor(Task::kGeneric, "json.jsonl", good + "\n{\"context\": \"a\",\n"),
            ":2: not valid JSON: parse error at line 1, column 17: syntax error while parsing "
            "object key - unexpected end of input; expected string literal");
  EXPECT_EQ(ErrorFor(Task::kGeneric, "array.json", "[\n" + good + ",\n  {\"context\": 1}\n]"),
            ":3: field \"context\" is not a string");
  EXPECT_EQ(ErrorFor(Task::kGeneric, "nothing.jsonl", "\n\n"), ": no records");
  EXPECT_EQ(
      ErrorFor(
          Task::kHellaswag, "test-split.jsonl",
          R"({"activity_label": "x", "ctx_a": "a", "ctx_b": "b", "endings": ["c"], "label": ""})"),
      ":1: field \"label\" is empty (a split without answers?)");
  EXPECT_EQ(
      ErrorFor(
          Task::kArc, "arc.jsonl",
          R"({"question": "q", "choices": {"text": ["a", "b"], "label": ["A", "B"]}, "answerKey": "E"})"),
      ":1: answerKey \"E\" is not among the choices' labels");
  EXPECT_EQ(
      ErrorFor(Task::kWinogrande, "wino.jsonl",
               R"({"sentence": "no blank here", "option1": "a", "option2": "b", "answer": "1"})"),
      ":1: the sentence has no blank (\"_\")");
  EXPECT_EQ(ErrorFor(Task::kWinogrande, "wino3.jsonl",
                     R"({"sentence": "a _ b", "option1": "a", "option2": "b", "answer": "3"})"),
            ":1: label 2 (field \"answer\") is out of range for 2 choices");
  EXPECT_EQ(ErrorFor(Task::kPiqa, "piqa.jsonl", R"({"goal": "g", "sol1": "a", "sol2": "b"})"),
            ":1: missing field \"label\" (the original layout keeps labels in a file: --labels)");
  EXPECT_EQ(ErrorFor(Task::kMmlu, "bad_test.csv", "q,a,b,c,d,A\n\"q2\",a,b,c,d,E\nq3,a,b\n"),
            ":2: the answer \"E\" is not one of A, B, C, D");
  EXPECT_EQ(ErrorFor(Task::kMmlu, "short_test.csv", "q,a,b,c,d,A\nq3,a,b\n"),
            ":2: an MMLU row has 6 fields (question, A, B, C, D, answer), not 3");
  EXPECT_EQ(ErrorFor(Task::kMmlu, "open_test.csv", "q,a,b,c,d,A\n\"q2,a,b,c,d,A\n"),
            ":2: a quoted field is not closed");
  EXPECT_THROW(ReadDocs(Task::kGeneric, kData + "no-such-file.jsonl"), DataError);
}

}  // namespace
}  // namespace gemma::eval
