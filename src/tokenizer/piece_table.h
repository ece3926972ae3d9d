// A vocabulary's pieces by id, all in one buffer: piece i is text[offsets[i] .. offsets[i+1]).
// Gemma's 256,000 pieces are 1.93 MB of text; as a vector<string> they took 8.2 MB of 32-byte
// string objects plus heap for every piece over 15 bytes, and as many small allocations.
// Here they cost the text plus 4 bytes an id (2.9 MB), and the buffer is also the binary
// cache's format (tokenizer_cache.cc), so reading a copy is two bulk copies.
#pragma once

#include <cstddef>
#include <cstdint>
#include <iterator>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace gemma {

class PieceTable {
 public:
  PieceTable() = default;
  // The pieces of any range whose elements convert to string_view (strings, views into a
  // parser's buffer), by id. Throws Error(kUnsupported) past 4 GiB of text.
  template <class Pieces>
  explicit PieceTable(const Pieces& pieces) {
    size_t text_bytes = 0;
    for (const std::string_view piece : pieces) text_bytes += piece.size();
    offsets_.reserve(std::size(pieces) + 1);
    text_.reserve(text_bytes);
    for (const std::string_view piece : pieces) Add(piece);
  }
  // The table whose buffers these are, or nullopt unless the offsets start at 0, never
  // decrease and end at text.size() (a cache file is untrusted).
  static std::optional<PieceTable> FromParts(std::string text, std::vector<uint32_t> offsets);

  // Unchecked: 0 <= id < size().
  std::string_view operator[](size_t id) const {
    return std::string_view(text_).substr(offsets_[id], offsets_[id + 1] - offsets_[id]);
  }
  size_t size() const { return offsets_.size() - 1; }
  bool empty() const { return size() == 0; }

  const std::string& text() const { return text_; }                  // (text bytes,)
  const std::vector<uint32_t>& offsets() const { return offsets_; }  // (size + 1,)
  bool operator==(const PieceTable&) const = default;

 private:
  void Add(std::string_view piece);  // appends the piece with id size()

  std::string text_;
  std::vector<uint32_t> offsets_{0};
};

}  // namespace gemma
