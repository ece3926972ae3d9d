// Multi-turn chat with Gemma's instruction template, keeping the KV cache across turns:
//   <bos><start_of_turn>user\n{text}<end_of_turn>\n<start_of_turn>model\n{reply}<end_of_turn>\n
//   <start_of_turn>user\n ...
// Gemma has no system role: a system text goes at the start of the first user turn.
#pragma once

#include <string>
#include <string_view>

#include "engine/generate.h"
#include "engine/session.h"
#include "tokenizer/tokenizer.h"

namespace gemma {

// The text of one user turn as the model must see it. `first` adds nothing for <bos>
// (the tokenizer adds it); a later turn starts by closing the model's previous reply.
std::string ChatTurnText(std::string_view user_text, std::string_view system_text, bool first);

class Chat {
 public:
  // `session` and `tokenizer` must outlive the chat; the session should be empty.
  Chat(Session& session, const Tokenizer& tokenizer, std::string system_text);

  // Appends the user's turn, then generates the reply until <end_of_turn> (or another stop
  // rule). options.stop_at_end_of_turn is forced on.
  GenerateResult Reply(std::string_view user_text, GenerateOptions options,
                       const TokenCallback& callback);

  size_t turns() const { return turns_; }

 private:
  Session& session_;
  const Tokenizer& tokenizer_;
  std::string system_text_;
  size_t turns_ = 0;
};

}  // namespace gemma
