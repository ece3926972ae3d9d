#include "tokenizer/pieces.h"

namespace gemma {

int ParseBytePiece(std::string_view piece) {
  if (piece.size() != 6 || piece.substr(0, 3) != "<0x" || piece[5] != '>') return -1;
  int value = 0;
  for (const char c : piece.substr(3, 2)) {
    value *= 16;
    if (c >= '0' && c <= '9') {
      value += c - '0';
    } else if (c >= 'A' && c <= 'F') {
      value += c - 'A' + 10;
    } else {
      return -1;
    }
  }
  return value;
}

std::string DecodedPieceText(std::string_view piece) {
  std::string out;
  out.reserve(piece.size());
  size_t pos = 0;
  while (pos < piece.size()) {
    if (piece.compare(pos, kUnderline.size(), kUnderline) == 0) {
      out.push_back(' ');
      pos += kUnderline.size();
    } else {
      out.push_back(piece[pos++]);
    }
  }
  return out;
}

}  // namespace gemma
