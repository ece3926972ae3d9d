// Hand-made hostile input files for the CLI tests (issue 17): GGUF files with names that
// hold control characters or run to megabytes, and edited copies of the test models.
#pragma once

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <functional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "io/gguf.h"
#include "io/gguf_writer.h"

namespace gemma::cli_test {

// A GGUF file assembled byte by byte, so it can break rules the writer enforces (duplicate
// names, unknown types). Tensors have no data unless `data_bytes` is given.
class RawGguf {
 public:
  RawGguf& String(std::string_view key, std::string_view value) {
    ++kv_count_;
    Str(kvs_, key);
    U32(kvs_, 8);
    Str(kvs_, value);
    return *this;
  }
  RawGguf& Uint32(std::string_view key, uint32_t value) {
    ++kv_count_;
    Str(kvs_, key);
    U32(kvs_, 4);
    U32(kvs_, value);
    return *this;
  }
  RawGguf& Tensor(std::string_view name, std::vector<uint64_t> ne, uint32_t ggml_type,
                  uint64_t offset) {
    ++tensor_count_;
    Str(infos_, name);
    U32(infos_, static_cast<uint32_t>(ne.size()));
    for (uint64_t n : ne) U64(infos_, n);
    U32(infos_, ggml_type);
    U64(infos_, offset);
    return *this;
  }
  std::string Bytes(size_t data_bytes = 0) const {
    std::string out = "GGUF";
    U32(out, 3);
    U64(out, tensor_count_);
    U64(out, kv_count_);
    out += kvs_;
    out += infos_;
    out.append((32 - out.size() % 32) % 32, '\0');
    out.append(data_bytes, '\0');
    return out;
  }
  void Write(const std::string& path, size_t data_bytes = 0) const {
    const std::string bytes = Bytes(data_bytes);
    std::ofstream(path, std::ios::binary).write(bytes.data(), std::streamsize(bytes.size()));
  }

 private:
  static void U32(std::string& out, uint32_t v) { out.append(reinterpret_cast<char*>(&v), 4); }
  static void U64(std::string& out, uint64_t v) { out.append(reinterpret_cast<char*>(&v), 8); }
  static void Str(std::string& out, std::string_view s) {
    U64(out, s.size());
    out.append(s);
  }
  std::string kvs_, infos_;
  uint64_t kv_count_ = 0, tensor_count_ = 0;
};

// A copy of the GGUF file `from` at `to` with its metadata changed by `edit` (tensors kept).
inline void WriteEditedGguf(const std::string& from, const std::string& to,
                            const std::function<void(std::vector<GgufKeyValue>&)>& edit) {
  const GgufFile in = GgufFile::Open(from);
  std::vector<GgufKeyValue> metadata = in.header().metadata;
  edit(metadata);
  std::vector<GgufTensorDecl> decls;
  for (const GgufTensorInfo& t : in.header().tensors) {
    decls.push_back({.name = t.name, .dtype = t.dtype, .shape = t.HfShape()});
  }
  GgufWriter writer(to, metadata, decls);
  for (const GgufTensorInfo& t : in.header().tensors) writer.WriteTensor(t.name, in.View(t).bytes);
  writer.Finish();
}

// Replaces (or adds) the metadata value of `key`.
inline void SetKey(std::vector<GgufKeyValue>& metadata, const std::string& key, GgufValue value) {
  for (GgufKeyValue& kv : metadata) {
    if (kv.key == key) {
      kv.value = std::move(value);
      return;
    }
  }
  metadata.push_back({key, std::move(value)});
}

}  // namespace gemma::cli_test
