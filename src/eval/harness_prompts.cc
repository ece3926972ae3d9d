#include "eval/harness_prompts.h"

#include <algorithm>

#include "eval/python_text.h"

namespace gemma::eval {

std::string TaskDescription(Task task, const Doc& doc) {
  if (task != Task::kMmlu) return "";
  std::string subject = doc.subject;
  std::replace(subject.begin(), subject.end(), '_', ' ');
  return "The following are multiple choice questions (with answers) about " + subject + ".\n\n";
}

std::string SolvedExample(const Doc& shot) {
  const std::string& text = shot.choices_are_contexts ? shot.choices[shot.label] : shot.text;
  const std::string& answer = shot.choices_are_contexts ? shot.target : shot.choices[shot.label];
  // The harness drops the delimiter's last character (all of " ") when the answer starts
  // with whitespace.
  return text + (StartsWithPythonSpace(answer) ? "" : " ") + answer + "\n\n";
}

std::vector<const Doc*> SelectShots(Task task, std::span<const Doc> pool, const Doc& doc,
                                    size_t shots) {
  std::vector<const Doc*> selected;
  for (const Doc& candidate : pool) {
    if (selected.size() == shots) break;
    if (task == Task::kMmlu && candidate.subject != doc.subject) continue;
    if (candidate.where == doc.where) continue;
    selected.push_back(&candidate);
  }
  return selected;
}

std::vector<ContinuationText> DocRequests(Task task, const Doc& doc,
                                          std::span<const Doc* const> shots) {
  std::string prefix = TaskDescription(task, doc);
  for (const Doc* shot : shots) prefix += SolvedExample(*shot);
  std::vector<ContinuationText> requests;
  for (const std::string& choice : doc.choices) {
    if (doc.choices_are_contexts) {
      requests.push_back({prefix + choice, " " + doc.target});
    } else {
      requests.push_back({prefix + doc.text, " " + choice});
    }
  }
  return requests;
}

std::vector<size_t> ChoiceLengths(const Doc& doc) {
  std::vector<size_t> lengths;
  for (const std::string& choice : doc.choices) lengths.push_back(CodePoints(choice));
  return lengths;
}

std::vector<ContinuationRequest> EncodePairs(const gemma_rt::Model& model,
                                             std::span<const ContinuationText> texts) {
  std::vector<ContinuationRequest> out;
  std::string last_context;
  std::vector<int32_t> last_context_ids;
  for (const ContinuationText& text : texts) {
    const std::string_view kept = PythonRStrip(text.context);
    const std::string context(kept);
    const std::string continuation = text.context.substr(kept.size()) + text.continuation;
    if (out.empty() || context != last_context) {
      last_context = context;
      last_context_ids = model.Tokenize(context, /*add_bos=*/true);
    }
    const std::vector<int32_t> whole = model.Tokenize(context + continuation, /*add_bos=*/true);
    ContinuationRequest request;
    request.context = last_context_ids;
    if (whole.size() > last_context_ids.size()) {
      request.continuation.assign(
          whole.begin() + static_cast<std::ptrdiff_t>(last_context_ids.size()), whole.end());
    }
    out.push_back(std::move(request));
  }
  return out;
}

}  // namespace gemma::eval
