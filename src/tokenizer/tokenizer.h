// Text <-> token ids for Gemma. The contract the engine relies on; implementations live
// next to this file (tokenizer.json BPE, SentencePiece tokenizer.model, GGUF metadata).
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace gemma {

class Tokenizer {
 public:
  virtual ~Tokenizer() = default;

  // tokenizer.json (Hugging Face) or tokenizer.model (SentencePiece), told apart by content.
  // Throws Error naming the file when it is missing, corrupt or of the wrong kind.
  static std::unique_ptr<Tokenizer> FromFile(const std::string& path);
  // A model directory's tokenizer.json, else its tokenizer.model; nullptr when it has neither.
  static std::unique_ptr<Tokenizer> FromModelDirectory(const std::string& dir);

  // Ids exactly as the reference tokenizer gives them; with add_bos, <bos> goes first.
  virtual std::vector<int32_t> Encode(std::string_view text, bool add_bos) const = 0;
  // Text of the ids (special tokens kept). Throws Error(kOutOfRange) for an unknown id.
  virtual std::string Decode(std::span<const int32_t> ids) const = 0;
  // The vocabulary piece of one id as stored (e.g. "▁the", "<0x0A>"); throws when out of range.
  virtual std::string_view Piece(int32_t id) const = 0;
  virtual int32_t vocab_size() const = 0;
  virtual int32_t bos_id() const { return 2; }
  virtual int32_t eos_id() const { return 1; }
};

// Turns ids arriving one at a time into text that is always complete UTF-8: bytes of a
// character split over byte-fallback tokens are held back until the character is whole.
// The concatenation of every Push() and the final Flush() equals Tokenizer::Decode(all ids).
class StreamingDecoder {
 public:
  explicit StreamingDecoder(const Tokenizer& tokenizer);
  ~StreamingDecoder();
  StreamingDecoder(StreamingDecoder&&) noexcept;
  StreamingDecoder& operator=(StreamingDecoder&&) noexcept;

  std::string Push(int32_t id);  // text that became complete with this id (may be empty)
  std::string Flush();           // whatever is held back (incomplete UTF-8 as U+FFFD)

 private:
  struct State;
  std::unique_ptr<State> state_;
};

}  // namespace gemma
