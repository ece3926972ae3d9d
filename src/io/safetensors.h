// Reading the safetensors format (https://huggingface.co/docs/safetensors): an 8-byte
// little-endian header length, a JSON header describing every tensor, then raw bytes.
// Everything in the header is checked before any byte is used, because checkpoints are
// untrusted input.
#pragma once

#include <cstdint>
#include <map>
#include <span>
#include <string>
#include <vector>

#include "base/tensor_view.h"
#include "io/mapped_file.h"

namespace gemma {

// Headers larger than this are refused before anything is allocated (the Rust reference
// library uses the same 100 MB cap).
inline constexpr uint64_t kMaxSafetensorsHeaderBytes = 100u << 20;

struct SafetensorsEntry {
  std::string name;
  DType dtype = DType::kF32;
  Shape shape;
  uint64_t begin = 0;  // [begin, end) relative to the first byte after the header
  uint64_t end = 0;
};

struct SafetensorsHeader {
  std::vector<SafetensorsEntry> tensors;  // in file order of their data
  std::map<std::string, std::string> metadata;
  uint64_t data_start = 0;  // 8 + header length
};

// Parses and validates the header of a complete file image. `origin` names the file in
// error messages. Throws Error(kFormat / kUnsupported).
SafetensorsHeader ParseSafetensorsHeader(std::span<const std::byte> file,
                                         const std::string& origin);

// One mapped .safetensors file. Views point into the mapping (zero copy). A well-formed
// file's data starts 8-aligned; a file from an old writer whose header was not padded has
// its data section copied once to aligned memory, so no kernel ever sees a misaligned
// float*. A tensor misaligned within the data section itself is refused.
class SafetensorsFile {
 public:
  static SafetensorsFile Open(const std::string& path);

  const std::string& path() const { return file_.path(); }
  const SafetensorsHeader& header() const { return header_; }
  const MappedFile& mapping() const { return file_; }
  // nullptr when absent.
  const SafetensorsEntry* Find(const std::string& name) const;
  TensorView View(const SafetensorsEntry& entry) const;

 private:
  std::span<const std::byte> data() const;  // the data section, aligned

  MappedFile file_;
  SafetensorsHeader header_;
  std::vector<uint64_t> aligned_copy_;  // only for files whose data is not aligned
  std::map<std::string, size_t> index_;
};

}  // namespace gemma
