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

namespace gemma {

uint64_t PieceIndex::Hash(std::string_view piece) {  // FNV-1a; pieces are short
  uint64_t hash = 0xCBF29CE484222325ull;
  for (const char c : piece) hash = (hash ^ static_cast<uint8_t>(c)) * 0x100000001B3ull;
  return hash ^ (hash >> 29);
}

PieceIndex::PieceIndex(const PieceTable* pieces) : pieces_(pieces) {
  size_t capacity = 16;
  while (capacity < pieces->size() * 2) capacity *= 2;
  slots_.assign(capacity, -1);
  const size_t mask = capacity - 1;
  for (size_t id = 0; id < pieces->size(); ++id) {
    const std::string_view piece = (*pieces)[id];
    for (size_t slot = Hash(piece) & mask;; slot = (slot + 1) & mask) {
      if (slots_[slot] < 0) {
        slots_[slot] = static_cast<int32_t>(id);
        break;
      }
      if ((*pieces)[slots_[slot]] == piece) break;  // repeated piece: keep the first id
    }
  }
}

int32_t PieceIndex::Find(std::string_view piece) const {
  if (slots_.empty()) return -1;
  const size_t mask = slots_.size() - 1;
  for (size_t slot = Hash(piece) & mask;; slot = (slot + 1) & mask) {
    const int32_t id = slots_[slot];
    if (id < 0) return -1;
    if ((*pieces_)[id] == piece) return id;
  }
}

}  // namespace gemma
