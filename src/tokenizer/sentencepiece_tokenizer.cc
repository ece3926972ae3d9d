#include "tokenizer/sentencepiece_tokenizer.h"

#include <sentencepiece_processor.h>

#include "base/error.h"
#include "tokenizer/pieces.h"
#include "tokenizer/utf8.h"

namespace gemma {

SentencePieceTokenizer::~SentencePieceTokenizer() = default;

std::unique_ptr<SentencePieceTokenizer> SentencePieceTokenizer::FromSerialized(
    std::string_view serialized, const std::string& name) {
  std::unique_ptr<SentencePieceTokenizer> tokenizer(new SentencePieceTokenizer());
  tokenizer->processor_ = std::make_unique<sentencepiece::SentencePieceProcessor>();
  const auto status = tokenizer->processor_->LoadFromSerializedProto(
      absl::string_view(serialized.data(), serialized.size()));
  if (!status.ok()) {
    Fail(ErrorCode::kFormat, name, ": not a SentencePiece model (", status.ToString(), ")");
  }
  const sentencepiece::SentencePieceProcessor& sp = *tokenizer->processor_;
  const int vocab = sp.GetPieceSize();
  if (vocab <= 0) Fail(ErrorCode::kFormat, name, ": SentencePiece model has no pieces");
  tokenizer->pieces_.reserve(vocab);
  tokenizer->decoded_text_.reserve(vocab);
  tokenizer->byte_value_.reserve(vocab);
  for (int id = 0; id < vocab; ++id) {
    const std::string piece = sp.IdToPiece(id);
    const int byte = sp.IsByte(id) ? ParseBytePiece(piece) : -1;
    tokenizer->pieces_.push_back(piece);
    tokenizer->decoded_text_.push_back(DecodedPieceText(piece));
    tokenizer->byte_value_.push_back(static_cast<int16_t>(byte));
  }
  for (int id = 0; id < vocab; ++id) tokenizer->id_of_piece_.emplace(tokenizer->pieces_[id], id);
  // SentencePiece reports -1 for a model trained without <bos>/<eos>; keep Gemma's ids then.
  if (sp.bos_id() >= 0) tokenizer->bos_id_ = sp.bos_id();
  if (sp.eos_id() >= 0) tokenizer->eos_id_ = sp.eos_id();
  return tokenizer;
}

std::vector<int32_t> SentencePieceTokenizer::Encode(std::string_view text, bool add_bos) const {
  // The same invalid-UTF-8 policy as the BPE path, so both kinds of file agree on it.
  std::string sanitized;
  if (!utf8::IsValid(text)) {
    sanitized = utf8::Sanitize(text);
    text = sanitized;
  }
  std::vector<int> ids;
  const auto status = processor_->Encode(absl::string_view(text.data(), text.size()), &ids);
  if (!status.ok()) Fail(ErrorCode::kInternal, "SentencePiece encode failed: ", status.ToString());
  std::vector<int32_t> out;
  out.reserve(ids.size() + 1);
  if (add_bos) out.push_back(bos_id_);
  out.insert(out.end(), ids.begin(), ids.end());
  return out;
}

std::string_view SentencePieceTokenizer::Piece(int32_t id) const {
  CheckId(id);
  return pieces_[id];
}

int32_t SentencePieceTokenizer::PieceToId(std::string_view piece) const {
  const auto it = id_of_piece_.find(piece);
  return it == id_of_piece_.end() ? -1 : it->second;
}

int SentencePieceTokenizer::ByteValue(int32_t id) const {
  CheckId(id);
  return byte_value_[id];
}

std::string_view SentencePieceTokenizer::DecodedText(int32_t id) const {
  CheckId(id);
  return decoded_text_[id];
}

}  // namespace gemma
