// Writing GGUF (version 3) tensor by tensor, so a quantizer holds one tensor in memory at a
// time: the header (metadata and every tensor's name, type, shape and offset) is written
// first from the declared tensors, then each tensor's bytes in the declared order.
// The file appears under its final name only when Finish() succeeds (io/atomic_file.h: a
// unique temporary file, fsync, the size checked against the header's plan, rename).
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "io/atomic_file.h"
#include "io/gguf.h"

namespace gemma {

struct GgufTensorDecl {
  std::string name;
  DType dtype = DType::kF32;
  Shape shape;  // HF order ([out, in]); written reversed as ggml's ne
};

class GgufWriter {
 public:
  // Writes the header to a temporary file next to `path`. Throws Error(kInvalidArgument) for
  // shapes that are not whole blocks of their type, duplicate names or keys; Error(kIo) when
  // writing fails.
  GgufWriter(const std::string& path, const std::vector<GgufKeyValue>& metadata,
             const std::vector<GgufTensorDecl>& tensors,
             uint64_t alignment = kGgufDefaultAlignment);
  ~GgufWriter();  // without Finish(), removes the temporary file
  GgufWriter(const GgufWriter&) = delete;
  GgufWriter& operator=(const GgufWriter&) = delete;

  // The next declared tensor's bytes (exactly ByteSize(dtype, elements) of them).
  void WriteTensor(std::string_view name, std::span<const std::byte> bytes);
  // Checks that every tensor was written and the size is the planned one, fsyncs, runs
  // `verify` on the temporary file (e.g. loading it) and renames it to the final path.
  void Finish(const std::function<void(const std::string& temporary_path)>& verify = {});

  size_t tensors_written() const { return next_; }

 private:
  void Write(const void* data, size_t n);
  void WriteString(std::string_view s);
  void WriteValue(const GgufValue& value);
  void PadTo(uint64_t alignment);

  std::string path_;
  std::unique_ptr<AtomicFile> file_;  // null once finished
  std::vector<GgufTensorDecl> tensors_;
  std::vector<uint64_t> sizes_;
  uint64_t alignment_;
  uint64_t position_ = 0;
  uint64_t planned_bytes_ = 0;  // the whole file: header, padding, every tensor padded
  size_t next_ = 0;
};

}  // namespace gemma
