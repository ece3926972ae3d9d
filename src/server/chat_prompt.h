// A chat conversation as the text Gemma was trained on, the template the `chat` command
// builds turn by turn (src/engine/chat.cc):
//   <start_of_turn>user\n{system}\n\n{user}<end_of_turn>\n<start_of_turn>model\n{assistant}
//   <end_of_turn>\n<start_of_turn>user\n{user}<end_of_turn>\n<start_of_turn>model\n
// (<bos> is added when the text is tokenized). Gemma has no system role: a system message is
// put at the start of the first user turn. Any other order of roles is the client's error.
#pragma once

#include <string>
#include <vector>

namespace gemma_rt::server {

struct ChatMessage {
  std::string role;  // "system" (or "developer"), "user", "assistant"
  std::string content;
};

// Throws ApiError(400, param "messages") unless the messages are: an optional system (or
// developer) message first, then user and assistant alternating from a user message, ending
// with a user message.
std::string ChatPromptText(const std::vector<ChatMessage>& messages);

}  // namespace gemma_rt::server
