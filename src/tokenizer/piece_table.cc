#include "tokenizer/piece_table.h"

#include <algorithm>
#include <utility>

#include "base/error.h"

namespace gemma {

std::optional<PieceTable> PieceTable::FromParts(std::string text, std::vector<uint32_t> offsets) {
  if (offsets.empty() || offsets.front() != 0 || offsets.back() != text.size() ||
      !std::is_sorted(offsets.begin(), offsets.end())) {
    return std::nullopt;
  }
  PieceTable table;
  table.text_ = std::move(text);
  table.offsets_ = std::move(offsets);
  return table;
}

void PieceTable::Add(std::string_view piece) {
  if (piece.size() > UINT32_MAX - text_.size()) {
    Fail(ErrorCode::kUnsupported, "vocabulary: more than 4 GiB of piece text");
  }
  text_.append(piece);
  offsets_.push_back(static_cast<uint32_t>(text_.size()));
}

}  // namespace gemma
