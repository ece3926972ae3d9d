// A vocabulary's pieces by id, all in one buffer: piece i is text[offsets[i] .. offsets[i+1]).
// Gemma's 256,000 pieces are 1.93 MB of text; as a vector<string> they took 8.2 MB of 32-byte
// string objects plus heap for every piece over 15 bytes, and as many small allocations.
// Here they cost the text plus 4 bytes an id (2.9 MB), and the buffer is also the binary
// cache's format (tokenizer_cache.cc), so reading a copy is two bulk copies.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace gemma {

class PieceTable {
 public:
  PieceTable() = default;
  explicit PieceTable(const std::vector<std::string>& pieces);
  // The table whose buffers these are, or nullopt unless the offsets start at 0, never
  // decrease and end at text.size() (a cache file is untrusted).
  static std::optional<PieceTable> FromParts(std::string text, std::vector<uint32_t> offsets);

  // Appends the piece with id size(). Throws Error(kUnsupported) past 4 GiB of text.
  void Add(std::string_view piece);
  void Reserve(size_t pieces, size_t text_bytes);

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
  std::string text_;
  std::vector<uint32_t> offsets_{0};
};

}  // namespace gemma
