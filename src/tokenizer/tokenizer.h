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

// A SentencePiece-style vocabulary as GGUF stores it (`tokenizer.ggml.tokens`, `.scores`,
// `.token_type`, model "llama"). Types use the SentencePiece/GGUF numbering.
enum class PieceType : int32_t {
  kNormal = 1,
  kUnknown = 2,
  kControl = 3,
  kUserDefined = 4,
  kUnused = 5,
  kByte = 6,
};

struct PieceVocab {
  std::vector<std::string> pieces;  // (vocab,) UTF-8, '▁' for a space, "<0xXX>" for bytes
  std::vector<float> scores;        // (vocab,) a higher score merges first
  std::vector<PieceType> types;     // (vocab,)
  int32_t bos_id = 2;
  int32_t eos_id = 1;
  int32_t unk_id = 3;
};

class Tokenizer {
 public:
  virtual ~Tokenizer() = default;

  // tokenizer.json (Hugging Face) or tokenizer.model (SentencePiece), told apart by content.
  // Throws Error naming the file when it is missing, corrupt or of the wrong kind.
  static std::unique_ptr<Tokenizer> FromFile(const std::string& path);
  // A model directory's tokenizer.json, else its tokenizer.model; nullptr when it has neither.
  static std::unique_ptr<Tokenizer> FromModelDirectory(const std::string& dir);
  // A BPE tokenizer from a SentencePiece-style vocabulary (e.g. GGUF `tokenizer.ggml.*` with
  // model "llama"). Merges are derived from the pieces: two adjacent symbols merge when their
  // concatenation is a kNormal piece, the highest score first (ties: lower id, then leftmost).
  // kControl, kUnknown and kUserDefined pieces are cut out of the input text first, by longest
  // match, like tokenizer.json's added tokens; kByte pieces "<0xXX>" are the byte fallback.
  // For Gemma's vocabulary (scores falling with id) this gives the same ids as tokenizer.json.
  // Throws Error(kInvalidArgument) when the three arrays disagree in length or ids are bad.
  static std::unique_ptr<Tokenizer> FromPieces(const PieceVocab& vocab);

  // Ids exactly as the reference tokenizer gives them; with add_bos, <bos> goes first.
  // Invalid UTF-8 in `text` is replaced first, each maximal invalid subpart by one U+FFFD
  // (the Unicode / WHATWG rule, as Python's errors="replace"); see docs/tokenizer.md.
  virtual std::vector<int32_t> Encode(std::string_view text, bool add_bos) const = 0;
  // Text of the ids (special tokens kept). Throws Error(kOutOfRange) for an unknown id.
  // Each id gives DecodedText(id), except that runs of byte-fallback ids are joined into
  // bytes and read as UTF-8 (each maximal invalid subpart becomes U+FFFD).
  virtual std::string Decode(std::span<const int32_t> ids) const;
  // The vocabulary piece of one id as stored (e.g. "▁the", "<0x0A>"); throws when out of range.
  virtual std::string_view Piece(int32_t id) const = 0;
  virtual int32_t vocab_size() const = 0;
  virtual int32_t bos_id() const { return 2; }
  virtual int32_t eos_id() const { return 1; }

  // The id of a vocabulary piece as stored (e.g. "<end_of_turn>", "▁the"); -1 when absent.
  virtual int32_t PieceToId(std::string_view piece) const = 0;
  // What one id decodes to on its own: the raw byte 0..255 of a byte-fallback piece, else -1.
  virtual int ByteValue(int32_t id) const = 0;
  // The text of a non-byte id ('▁' shown as a space). Throws Error(kOutOfRange) when unknown.
  virtual std::string_view DecodedText(int32_t id) const = 0;

 protected:
  void CheckId(int32_t id) const;  // throws Error(kOutOfRange) naming the id and vocab size
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
