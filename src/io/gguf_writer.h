// Writing GGUF (version 3) tensor by tensor, so a quantizer holds one tensor in memory at a
// time: the header (metadata and every tensor's name, type, shape and offset) is written
// first from the declared tensors, then each tensor's bytes in the declared order.
// The file appears under its final name only when Finish() succeeds.
#pragma once

#include <cstdint>
#include <cstdio>
#include <span>
#include <string>
#include <vector>

#include "io/gguf.h"

namespace gemma {

struct GgufTensorDecl {
  std::string name;
  DType dtype = DType::kF32;
  Shape shape;  // HF order ([out, in]); written reversed as ggml's ne
};

class GgufWriter {
 public:
  // Writes the header to `path`.tmp. Throws Error(kInvalidArgument) for shapes that are not
  // whole blocks of their type, duplicate names or keys; Error(kIo) when writing fails.
  GgufWriter(const std::string& path, const std::vector<GgufKeyValue>& metadata,
             const std::vector<GgufTensorDecl>& tensors,
             uint64_t alignment = kGgufDefaultAlignment);
  ~GgufWriter();  // without Finish(), removes the temporary file
  GgufWriter(const GgufWriter&) = delete;
  GgufWriter& operator=(const GgufWriter&) = delete;

  // The next declared tensor's bytes (exactly ByteSize(dtype, elements) of them).
  void WriteTensor(std::string_view name, std::span<const std::byte> bytes);
  // Checks that every tensor was written, flushes, and renames to the final path.
  void Finish();

  size_t tensors_written() const { return next_; }

 private:
  void Write(const void* data, size_t n);
  void WriteString(std::string_view s);
  void WriteValue(const GgufValue& value);
  void PadTo(uint64_t alignment);

  std::string path_;
  std::string temp_path_;
  std::FILE* file_ = nullptr;
  std::vector<GgufTensorDecl> tensors_;
  std::vector<uint64_t> sizes_;
  uint64_t alignment_;
  uint64_t position_ = 0;
  size_t next_ = 0;
};

}  // namespace gemma
