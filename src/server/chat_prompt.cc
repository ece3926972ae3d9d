#include "server/chat_prompt.h"

#include "server/api_error.h"

namespace gemma_rt::server {

std::string ChatPromptText(const std::vector<ChatMessage>& messages) {
  const auto fail = [](size_t index, const std::string& what) -> ApiError {
    return ApiError(400, "'messages[" + std::to_string(index) + "]': " + what, "messages");
  };
  if (messages.empty()) throw ApiError(400, "'messages' must not be empty", "messages");
  size_t first = 0;
  std::string system;
  if (messages[0].role == "system" || messages[0].role == "developer") {
    system = messages[0].content;
    first = 1;
  }
  if (first == messages.size()) throw fail(0, "a system message needs a user message after it");
  std::string text;
  for (size_t i = first; i < messages.size(); ++i) {
    const ChatMessage& m = messages[i];
    const bool user_turn = (i - first) % 2 == 0;
    const char* expected = user_turn ? "user" : "assistant";
    if (m.role != expected) {
      if (m.role == "system" || m.role == "developer") {
        throw fail(i,
                   "a system message may only come first (Gemma has no system role: it "
                   "is put at the start of the first user turn)");
      }
      if (m.role != "user" && m.role != "assistant") {
        throw fail(i, "unsupported role '" + m.role + "' (system, user or assistant)");
      }
      throw fail(i, "expected a " + std::string(expected) +
                        " message: user and assistant messages must alternate, starting with "
                        "user");
    }
    if (user_turn) {
      text += "<start_of_turn>user\n";
      if (i == first && !system.empty()) text += system + "\n\n";
      text += m.content;
      text += "<end_of_turn>\n<start_of_turn>model\n";
    } else {
      text += m.content;
      text += "<end_of_turn>\n";
    }
  }
  if (messages.back().role != "user") {
    throw fail(messages.size() - 1, "the last message must be from the user");
  }
  return text;
}

}  // namespace gemma_rt::server
