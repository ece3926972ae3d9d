// Facts about vocabulary pieces shared by every tokenizer kind: SentencePiece's '▁' for a
// space and the "<0xXX>" spelling of byte-fallback pieces.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "tokenizer/piece_table.h"

namespace gemma {

inline constexpr std::string_view kUnderline = "\xE2\x96\x81";  // '▁' U+2581
inline constexpr char32_t kUnderlineCodePoint = 0x2581;

// "<0x41>" -> 0x41; -1 for any other piece. Upper-case hex, as Gemma's vocabulary spells it.
int ParseBytePiece(std::string_view piece);

// What a (non-byte) piece decodes to: every '▁' becomes ' '.
std::string DecodedPieceText(std::string_view piece);

}  // namespace gemma

namespace gemma {

// Piece text -> id over a vocabulary owned elsewhere: open addressing over int32 ids, so a
// 256k vocabulary costs one 2 MB array instead of 256k hash-map nodes (built in ~10 ms).
class PieceIndex {
 public:
  PieceIndex() = default;
  // `pieces` must outlive the index and not move. The first id of a repeated piece wins.
  explicit PieceIndex(const PieceTable* pieces);
  int32_t Find(std::string_view piece) const;  // -1 when absent

 private:
  static uint64_t Hash(std::string_view piece);
  const PieceTable* pieces_ = nullptr;
  std::vector<int32_t> slots_;  // ids, -1 empty; size a power of two
};

}  // namespace gemma
