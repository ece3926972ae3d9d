// A SentencePiece tokenizer.model (what Kaggle and the Hugging Face repo ship next to the
// weights), encoded by libsentencepiece itself so the ids are SentencePiece's. Decoding uses
// the same rule as tokenizer.json (see Tokenizer::Decode); docs/tokenizer.md lists where
// SentencePiece and tokenizer.json differ.
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "tokenizer/tokenizer.h"

namespace sentencepiece {
class SentencePieceProcessor;
}

namespace gemma {

class SentencePieceTokenizer final : public Tokenizer {
 public:
  // Throws Error(kFormat) naming `name` when `serialized` is not a SentencePiece model.
  static std::unique_ptr<SentencePieceTokenizer> FromSerialized(std::string_view serialized,
                                                                const std::string& name);
  ~SentencePieceTokenizer() override;

  std::vector<int32_t> Encode(std::string_view text, bool add_bos) const override;
  std::string_view Piece(int32_t id) const override;
  int32_t vocab_size() const override { return static_cast<int32_t>(pieces_.size()); }
  int32_t bos_id() const override { return bos_id_; }
  int32_t eos_id() const override { return eos_id_; }
  int32_t PieceToId(std::string_view piece) const override;
  int ByteValue(int32_t id) const override;
  std::string_view DecodedText(int32_t id) const override;

 private:
  SentencePieceTokenizer() = default;

  std::unique_ptr<sentencepiece::SentencePieceProcessor> processor_;
  std::vector<std::string> pieces_;        // (vocab,)
  std::vector<std::string> decoded_text_;  // (vocab,) '▁' as ' '
  std::vector<int16_t> byte_value_;        // (vocab,) 0..255 for byte pieces, else -1
  std::unordered_map<std::string_view, int32_t> id_of_piece_;
  int32_t bos_id_ = 2;
  int32_t eos_id_ = 1;
};

}  // namespace gemma
