// Facts about vocabulary pieces shared by every tokenizer kind: SentencePiece's '▁' for a
// space and the "<0xXX>" spelling of byte-fallback pieces.
#pragma once

#include <string>
#include <string_view>

namespace gemma {

inline constexpr std::string_view kUnderline = "\xE2\x96\x81";  // '▁' U+2581
inline constexpr char32_t kUnderlineCodePoint = 0x2581;

// "<0x41>" -> 0x41; -1 for any other piece. Upper-case hex, as Gemma's vocabulary spells it.
int ParseBytePiece(std::string_view piece);

// What a (non-byte) piece decodes to: every '▁' becomes ' '.
std::string DecodedPieceText(std::string_view piece);

}  // namespace gemma
