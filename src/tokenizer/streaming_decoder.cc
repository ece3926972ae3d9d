// Incremental decoding. It follows the same rule as Tokenizer::Decode but holds back only
// the bytes of an unfinished character, so text appears as soon as it is complete. Decode
// reads a whole byte run at once; this reads it a byte at a time. The maximal-subpart rule
// gives the same answer either way, which the property test checks.
#include "tokenizer/tokenizer.h"
#include "tokenizer/utf8.h"

namespace gemma {

struct StreamingDecoder::State {
  const Tokenizer* tokenizer;
  std::string pending;  // <= 3 bytes: the start of a character still waiting for its bytes
};

StreamingDecoder::StreamingDecoder(const Tokenizer& tokenizer)
    : state_(std::make_unique<State>(State{.tokenizer = &tokenizer, .pending = {}})) {}
StreamingDecoder::~StreamingDecoder() = default;
StreamingDecoder::StreamingDecoder(StreamingDecoder&&) noexcept = default;
StreamingDecoder& StreamingDecoder::operator=(StreamingDecoder&&) noexcept = default;

std::string StreamingDecoder::Push(int32_t id) {
  std::string out;
  const int byte = state_->tokenizer->ByteValue(id);  // throws for an unknown id
  std::string& pending = state_->pending;
  if (byte < 0) {
    out = Flush();
    out.append(state_->tokenizer->DecodedText(id));
    return out;
  }
  pending.push_back(static_cast<char>(byte));
  // Emit every character (or invalid subpart) that is settled; keep an incomplete tail.
  size_t pos = 0;
  while (pos < pending.size()) {
    const utf8::Scan scan = utf8::ScanAt(pending, pos);
    if (scan.status == utf8::ScanStatus::kIncomplete) break;
    if (scan.status == utf8::ScanStatus::kValid) {
      out.append(pending, pos, scan.length);
    } else {
      out.append(utf8::kReplacementCharacter);
    }
    pos += scan.length;
  }
  pending.erase(0, pos);
  return out;
}

std::string StreamingDecoder::Flush() {
  std::string out = utf8::Sanitize(state_->pending);
  state_->pending.clear();
  return out;
}

}  // namespace gemma
