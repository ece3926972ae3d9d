// Reading GGUF, llama.cpp's model container (versions 2 and 3, little-endian):
//   magic "GGUF", u32 version, u64 tensor_count, u64 kv_count,
//   kv_count x (string key, u32 type, value), tensor_count x (string name, u32 n_dims,
//   u64 ne[n_dims], u32 ggml_type, u64 offset), padding to `general.alignment` (default 32),
//   then the tensor data; each offset is relative to the data start and aligned.
// Files are untrusted input: every count, length, offset and size is checked against the
// bytes that are actually there before anything is allocated or read.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "base/tensor_view.h"
#include "io/mapped_file.h"

namespace gemma {

// Metadata value types, numbered as in the file.
enum class GgufType : uint32_t {
  kUint8 = 0,
  kInt8 = 1,
  kUint16 = 2,
  kInt16 = 3,
  kUint32 = 4,
  kInt32 = 5,
  kFloat32 = 6,
  kBool = 7,
  kString = 8,
  kArray = 9,
  kUint64 = 10,
  kInt64 = 11,
  kFloat64 = 12,
  kCount,  // sentinel
};

std::string_view GgufTypeName(GgufType type);
// Bytes of one value of a fixed-size type; 0 for kString and kArray.
size_t GgufScalarBytes(GgufType type);

// One metadata value. Scalars of fixed size and numeric arrays keep their little-endian
// bytes (so a writer reproduces them exactly); strings and string arrays are decoded.
// Nested arrays are refused (llama.cpp refuses them too).
class GgufValue {
 public:
  static GgufValue Uint32(uint32_t v);
  static GgufValue Int32(int32_t v);
  static GgufValue Uint64(uint64_t v);
  static GgufValue Float32(float v);
  static GgufValue Bool(bool v);
  static GgufValue String(std::string v);
  static GgufValue StringArray(std::vector<std::string> v);
  static GgufValue Float32Array(std::span<const float> v);
  static GgufValue Int32Array(std::span<const int32_t> v);
  // A scalar or numeric array from raw little-endian bytes (count elements for arrays).
  static GgufValue FromBytes(GgufType type, GgufType element_type, uint64_t count,
                             std::vector<uint8_t> bytes);

  GgufType type() const { return type_; }
  GgufType element_type() const { return element_type_; }  // arrays only
  bool is_array() const { return type_ == GgufType::kArray; }
  uint64_t array_size() const { return count_; }

  // Conversions throw Error(kFormat) naming `key` when the value has another kind.
  uint64_t ToUint64(std::string_view key) const;  // any non-negative integer or bool
  int64_t ToInt64(std::string_view key) const;    // any integer
  double ToDouble(std::string_view key) const;    // any number
  bool ToBool(std::string_view key) const;
  const std::string& ToString(std::string_view key) const;
  const std::vector<std::string>& ToStrings(std::string_view key) const;
  std::vector<double> ToDoubles(std::string_view key) const;  // numeric arrays
  std::vector<int64_t> ToInt64s(std::string_view key) const;  // integer arrays

  // For writers and printing.
  const std::vector<uint8_t>& raw_bytes() const { return bytes_; }
  std::string Summary() const;  // "u32 8192", "string[1024]", ...

 private:
  double ElementAsDouble(size_t i) const;
  bool ElementIsInteger() const;
  GgufType type_ = GgufType::kUint8;
  GgufType element_type_ = GgufType::kUint8;
  uint64_t count_ = 0;
  std::vector<uint8_t> bytes_;        // fixed-size scalar, or numeric array elements
  std::string string_;                // kString
  std::vector<std::string> strings_;  // array of strings
};

struct GgufKeyValue {
  std::string key;
  GgufValue value;
};

// ggml's tensor type ids as stored in the file.
enum class GgmlType : uint32_t {
  kF32 = 0,
  kF16 = 1,
  kQ4_0 = 2,
  kQ4_1 = 3,
  kQ5_0 = 6,
  kQ5_1 = 7,
  kQ8_0 = 8,
  kQ4_K = 12,
  kQ5_K = 13,
  kQ6_K = 14,
  kBF16 = 30,
};
std::optional<DType> DTypeFromGgml(uint32_t ggml_type);  // nullopt: not supported
uint32_t GgmlTypeOf(DType type);

struct GgufTensorInfo {
  std::string name;
  std::vector<uint64_t> ne;  // ggml order: ne[0] is the contiguous dimension
  DType dtype = DType::kF32;
  uint64_t offset = 0;  // relative to GgufHeader::data_start
  uint64_t bytes = 0;

  Shape HfShape() const;  // ne reversed: [out, in] for a matrix
};

struct GgufHeader {
  uint32_t version = 3;
  std::vector<GgufKeyValue> metadata;   // in file order
  std::vector<GgufTensorInfo> tensors;  // in file order of their infos
  uint64_t alignment = 32;
  uint64_t data_start = 0;  // absolute offset of the tensor data in the file

  const GgufValue* Find(std::string_view key) const;  // nullptr when absent
  const GgufTensorInfo* FindTensor(std::string_view name) const;
};

inline constexpr uint32_t kGgufMagic = 0x46554747;  // "GGUF" read as little-endian u32
inline constexpr uint64_t kGgufDefaultAlignment = 32;

// Parses and validates the header of a complete file image; `origin` names the file in
// errors. Throws Error(kFormat) for malformed bytes, Error(kUnsupported) for valid files
// gemma-rt does not handle (version 1, a tensor type it has no kernels for).
GgufHeader ParseGgufHeader(std::span<const std::byte> file, const std::string& origin);

// One mapped .gguf file.
class GgufFile {
 public:
  static GgufFile Open(const std::string& path);

  const std::string& path() const { return file_.path(); }
  const GgufHeader& header() const { return header_; }
  const MappedFile& mapping() const { return file_; }
  const GgufTensorInfo* FindTensor(std::string_view name) const { return header_.FindTensor(name); }
  // The tensor's bytes where they lie in the mapping; shape in HF order.
  TensorView View(const GgufTensorInfo& tensor) const;

 private:
  MappedFile file_;
  GgufHeader header_;
};

// True when the file starts with the GGUF magic (reads 4 bytes).
bool LooksLikeGguf(const std::string& path);

}  // namespace gemma
