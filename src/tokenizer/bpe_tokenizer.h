// Byte-pair encoding with byte fallback, the model of Gemma's tokenizer.json. Encoding:
// cut added tokens out by longest match; in each remaining piece map ' ' to '▁'; start from
// its code points; merge the lowest-rank adjacent pair (leftmost on ties) until none is left;
// a final piece that is not in the vocabulary becomes one <0xXX> id per UTF-8 byte.
// The rules and their quirks are in docs/tokenizer.md and tests/data/tokenizer/README.md.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "tokenizer/added_token_matcher.h"
#include "tokenizer/merge_table.h"
#include "tokenizer/piece_table.h"
#include "tokenizer/pieces.h"
#include "tokenizer/tokenizer.h"

namespace gemma {

// Everything a BpeTokenizer is made of, however it was read (tokenizer.json, GGUF pieces).
struct BpeModel {
  PieceTable pieces;                     // (vocab,) by id
  std::vector<MergeTable::Rule> merges;  // by rank: merges[0] is applied first
  std::vector<AddedToken> added_tokens;  // cut out of the text before BPE
  bool space_to_underline = true;        // the normalizer: ' ' -> '▁' (U+2581)
  bool byte_fallback = true;
  int32_t unk_id = -1;  // used only when a byte has no <0xXX> piece
  int32_t bos_id = 2;
  int32_t eos_id = 1;
};

class BpeTokenizer final : public Tokenizer {
 public:
  explicit BpeTokenizer(BpeModel model);       // throws Error(kInvalidArgument) on bad ids
  BpeTokenizer(const BpeTokenizer&) = delete;  // id_of_piece_ points into pieces_
  BpeTokenizer& operator=(const BpeTokenizer&) = delete;

  std::vector<int32_t> Encode(std::string_view text, bool add_bos) const override;
  std::string_view Piece(int32_t id) const override;
  int32_t vocab_size() const override { return static_cast<int32_t>(pieces_.size()); }
  int32_t bos_id() const override { return bos_id_; }
  int32_t eos_id() const override { return eos_id_; }
  int32_t PieceToId(std::string_view piece) const override;
  int ByteValue(int32_t id) const override;
  std::string_view DecodedText(int32_t id) const override;

 private:
  struct Symbol;
  struct Scratch;
  int32_t CodePointId(char32_t code_point) const;
  void EncodeWord(std::string_view word, Scratch& scratch, std::vector<int32_t>& ids) const;

  // Resident size for Gemma (256,000 pieces, 580,604 merges), 26.4 MB in all: pieces_ 2.9 MB,
  // decoded text 2.0 MB, byte_value_ 0.5 MB, id_of_piece_ 2.1 MB, merges_ 19.1 MB, bmp_id_
  // 0.26 MB.
  PieceTable pieces_;  // (vocab,)
  // The decoded text of id i (the piece with '▁' as ' ') is stored only where it differs from
  // the piece, i.e. for the pieces with a '▁' (125k of Gemma's 256k):
  // decoded_text_[decoded_offset_[i] .. decoded_offset_[i+1]), and equal offsets mean "the
  // piece itself" (such text is never empty). A copy of every piece took 1 MB more.
  std::string decoded_text_;
  std::vector<uint32_t> decoded_offset_;  // (vocab + 1,)
  // (vocab,) 0..255 for "<0xXX>" pieces, else -1. Parsing the spelling instead made
  // streaming decoding 10% slower (4.4 -> 4.9 ms per megabyte of English text).
  std::vector<int16_t> byte_value_;
  PieceIndex id_of_piece_;  // over pieces_
  MergeTable merges_;
  AddedTokenMatcher added_tokens_;

  // Initial symbols: the id of each single-code-point piece, after the normalizer.
  std::array<int32_t, 128> ascii_id_;                // -1: not in the vocabulary
  std::vector<int32_t> bmp_id_;                      // (65536,) for U+0080..U+FFFF
  std::unordered_map<char32_t, int32_t> astral_id_;  // for U+10000 and up
  std::array<int32_t, 256> byte_id_;                 // the <0xXX> piece of each byte, or -1

  bool byte_fallback_;
  int32_t unk_id_, bos_id_, eos_id_;
};

}  // namespace gemma
