// A read-only memory mapping of a whole file. Weights are used where they lie in the
// mapping (zero copy), so a loaded model costs page cache, not heap.
#pragma once

#include <cstddef>
#include <span>
#include <string>

namespace gemma {

class MappedFile {
 public:
  // Throws Error(kIo) naming the path when the file cannot be opened or mapped.
  static MappedFile Open(const std::string& path);

  MappedFile() = default;
  MappedFile(MappedFile&& other) noexcept;
  MappedFile& operator=(MappedFile&& other) noexcept;
  MappedFile(const MappedFile&) = delete;
  MappedFile& operator=(const MappedFile&) = delete;
  ~MappedFile();

  std::span<const std::byte> bytes() const { return {data_, size_}; }
  size_t size() const { return size_; }
  const std::string& path() const { return path_; }

  // Hints the kernel to read the whole file ahead (used before a first forward pass).
  void PrefetchAll() const;

 private:
  const std::byte* data_ = nullptr;
  size_t size_ = 0;
  std::string path_;
};

}  // namespace gemma
