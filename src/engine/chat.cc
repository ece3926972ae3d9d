#include "engine/chat.h"

#include "base/error.h"

namespace gemma {

std::string ChatTurnText(std::string_view user_text, std::string_view system_text, bool first) {
  std::string text;
  // The reply ended at <end_of_turn> (not fed to the model) or at another stop rule; either
  // way the model's turn is closed here, as the template has it.
  if (!first) text += "<end_of_turn>\n";
  text += "<start_of_turn>user\n";
  if (first && !system_text.empty()) {
    text += system_text;
    text += "\n\n";
  }
  text += user_text;
  text += "<end_of_turn>\n<start_of_turn>model\n";
  return text;
}

Chat::Chat(Session& session, const Tokenizer& tokenizer, std::string system_text)
    : session_(session), tokenizer_(tokenizer), system_text_(std::move(system_text)) {}

GenerateResult Chat::Reply(std::string_view user_text, GenerateOptions options,
                           const TokenCallback& callback) {
  const bool first = session_.position() == 0;
  // <bos> only at the very start of the conversation.
  const std::vector<int32_t> ids =
      tokenizer_.Encode(ChatTurnText(user_text, system_text_, first), /*add_bos=*/first);
  session_.Append(ids);
  options.stop_at_end_of_turn = true;
  ++turns_;
  return Generate(session_, &tokenizer_, options, callback);
}

}  // namespace gemma
