#include "io/gguf.h"

#include <algorithm>
#include <array>
#include <cstring>
#include <fstream>
#include <limits>
#include <set>

#include "base/error.h"
#include "base/printable.h"

namespace gemma {
namespace {

constexpr uint32_t kMaxDims = 4;  // GGML_MAX_DIMS

// A cursor over untrusted bytes: every read checks that the bytes are there.
class Reader {
 public:
  Reader(std::span<const std::byte> bytes, const std::string& origin)
      : bytes_(bytes), origin_(origin) {}

  uint64_t position() const { return position_; }
  uint64_t remaining() const { return bytes_.size() - position_; }

  void Need(uint64_t n, std::string_view what) const {
    if (n > remaining()) {
      Fail(ErrorCode::kFormat, origin_, ": truncated GGUF file: ", PrintableName(what), " needs ",
           n, " bytes at offset ", position_, " but only ", remaining(), " remain");
    }
  }
  template <typename T>
  T Read(std::string_view what) {
    Need(sizeof(T), what);
    T value;
    std::memcpy(&value, bytes_.data() + position_, sizeof(T));
    position_ += sizeof(T);
    return value;
  }
  std::vector<uint8_t> ReadBytes(uint64_t n, std::string_view what) {
    Need(n, what);
    const auto* p = reinterpret_cast<const uint8_t*>(bytes_.data() + position_);
    position_ += n;
    return std::vector<uint8_t>(p, p + n);
  }
  std::string ReadString(std::string_view what) {
    const uint64_t length = Read<uint64_t>(what);
    Need(length, what);
    std::string s(reinterpret_cast<const char*>(bytes_.data() + position_), length);
    position_ += length;
    return s;
  }

 private:
  std::span<const std::byte> bytes_;
  const std::string& origin_;
  uint64_t position_ = 0;
};

template <typename T>
GgufValue Scalar(GgufType type, T v) {
  std::vector<uint8_t> bytes(sizeof(T));
  std::memcpy(bytes.data(), &v, sizeof(T));
  return GgufValue::FromBytes(type, GgufType::kUint8, 0, std::move(bytes));
}

template <typename T>
T Load(const uint8_t* p) {
  T v;
  std::memcpy(&v, p, sizeof(T));
  return v;
}

bool IsIntegerType(GgufType t) {
  switch (t) {
    case GgufType::kUint8:
    case GgufType::kInt8:
    case GgufType::kUint16:
    case GgufType::kInt16:
    case GgufType::kUint32:
    case GgufType::kInt32:
    case GgufType::kUint64:
    case GgufType::kInt64:
    case GgufType::kBool:
      return true;
    default:
      return false;
  }
}

// Reads one value of the given type (not an array of arrays).
GgufValue ReadValue(Reader& in, GgufType type, const std::string& key, const std::string& origin) {
  if (type == GgufType::kString) return GgufValue::String(in.ReadString(key));
  if (type != GgufType::kArray) {
    const size_t n = GgufScalarBytes(type);
    if (n == 0)
      Fail(ErrorCode::kFormat, origin, ": key '", PrintableName(key), "' has invalid value type");
    std::vector<uint8_t> bytes = in.ReadBytes(n, key);
    if (type == GgufType::kBool && bytes[0] > 1) {
      Fail(ErrorCode::kFormat, origin, ": key '", PrintableName(key), "' holds bool value ",
           int{bytes[0]});
    }
    return GgufValue::FromBytes(type, GgufType::kUint8, 0, std::move(bytes));
  }
  const uint32_t raw_element = in.Read<uint32_t>(key);
  if (raw_element >= static_cast<uint32_t>(GgufType::kCount)) {
    Fail(ErrorCode::kFormat, origin, ": key '", PrintableName(key),
         "' is an array of unknown type ", raw_element);
  }
  const auto element = static_cast<GgufType>(raw_element);
  if (element == GgufType::kArray) {
    Fail(ErrorCode::kUnsupported, origin, ": key '", PrintableName(key), "' is an array of arrays");
  }
  const uint64_t count = in.Read<uint64_t>(key);
  if (element == GgufType::kString) {
    // Each string takes at least its 8-byte length: refuse counts the file cannot hold
    // before reserving memory for them.
    if (count > in.remaining() / 8) {
      Fail(ErrorCode::kFormat, origin, ": key '", PrintableName(key), "' claims ", count,
           " strings but only ", in.remaining(), " bytes remain");
    }
    std::vector<std::string> strings;
    strings.reserve(count);
    for (uint64_t i = 0; i < count; ++i) strings.push_back(in.ReadString(key));
    return GgufValue::StringArray(std::move(strings));
  }
  const size_t element_bytes = GgufScalarBytes(element);
  if (count > in.remaining() / element_bytes) {
    Fail(ErrorCode::kFormat, origin, ": key '", PrintableName(key), "' claims ", count,
         " elements of ", GgufTypeName(element), " but only ", in.remaining(), " bytes remain");
  }
  std::vector<uint8_t> bytes = in.ReadBytes(count * element_bytes, key);
  if (element == GgufType::kBool) {
    for (uint8_t b : bytes) {
      if (b > 1)
        Fail(ErrorCode::kFormat, origin, ": key '", PrintableName(key), "' holds bool value ",
             int{b});
    }
  }
  return GgufValue::FromBytes(GgufType::kArray, element, count, std::move(bytes));
}

}  // namespace

std::string_view GgufTypeName(GgufType type) {
  static constexpr std::array<std::string_view, 13> kNames = {
      "u8",   "i8",     "u16",   "i16", "u32", "i32", "f32",
      "bool", "string", "array", "u64", "i64", "f64"};
  const auto i = static_cast<size_t>(type);
  return i < kNames.size() ? kNames[i] : "invalid";
}

size_t GgufScalarBytes(GgufType type) {
  switch (type) {
    case GgufType::kUint8:
    case GgufType::kInt8:
    case GgufType::kBool:
      return 1;
    case GgufType::kUint16:
    case GgufType::kInt16:
      return 2;
    case GgufType::kUint32:
    case GgufType::kInt32:
    case GgufType::kFloat32:
      return 4;
    case GgufType::kUint64:
    case GgufType::kInt64:
    case GgufType::kFloat64:
      return 8;
    default:
      return 0;
  }
}

GgufValue GgufValue::Uint32(uint32_t v) { return Scalar(GgufType::kUint32, v); }
GgufValue GgufValue::Int32(int32_t v) { return Scalar(GgufType::kInt32, v); }
GgufValue GgufValue::Uint64(uint64_t v) { return Scalar(GgufType::kUint64, v); }
GgufValue GgufValue::Float32(float v) { return Scalar(GgufType::kFloat32, v); }
GgufValue GgufValue::Bool(bool v) { return Scalar(GgufType::kBool, static_cast<uint8_t>(v)); }

GgufValue GgufValue::String(std::string v) {
  GgufValue value;
  value.type_ = GgufType::kString;
  value.string_ = std::move(v);
  return value;
}

GgufValue GgufValue::StringArray(std::vector<std::string> v) {
  GgufValue value;
  value.type_ = GgufType::kArray;
  value.element_type_ = GgufType::kString;
  value.count_ = v.size();
  value.strings_ = std::move(v);
  return value;
}

GgufValue GgufValue::Float32Array(std::span<const float> v) {
  std::vector<uint8_t> bytes(v.size_bytes());
  if (!v.empty()) std::memcpy(bytes.data(), v.data(), bytes.size());
  return FromBytes(GgufType::kArray, GgufType::kFloat32, v.size(), std::move(bytes));
}

GgufValue GgufValue::Int32Array(std::span<const int32_t> v) {
  std::vector<uint8_t> bytes(v.size_bytes());
  if (!v.empty()) std::memcpy(bytes.data(), v.data(), bytes.size());
  return FromBytes(GgufType::kArray, GgufType::kInt32, v.size(), std::move(bytes));
}

GgufValue GgufValue::FromBytes(GgufType type, GgufType element_type, uint64_t count,
                               std::vector<uint8_t> bytes) {
  GgufValue value;
  value.type_ = type;
  value.element_type_ = element_type;
  value.count_ = count;
  value.bytes_ = std::move(bytes);
  return value;
}

bool GgufValue::ElementIsInteger() const {
  return IsIntegerType(is_array() ? element_type_ : type_);
}

double GgufValue::ElementAsDouble(size_t i) const {
  const GgufType t = is_array() ? element_type_ : type_;
  const uint8_t* p = bytes_.data() + i * GgufScalarBytes(t);
  switch (t) {
    case GgufType::kUint8:
      return Load<uint8_t>(p);
    case GgufType::kInt8:
      return Load<int8_t>(p);
    case GgufType::kUint16:
      return Load<uint16_t>(p);
    case GgufType::kInt16:
      return Load<int16_t>(p);
    case GgufType::kUint32:
      return Load<uint32_t>(p);
    case GgufType::kInt32:
      return Load<int32_t>(p);
    case GgufType::kFloat32:
      return Load<float>(p);
    case GgufType::kBool:
      return Load<uint8_t>(p);
    case GgufType::kUint64:
      return static_cast<double>(Load<uint64_t>(p));
    case GgufType::kInt64:
      return static_cast<double>(Load<int64_t>(p));
    case GgufType::kFloat64:
      return Load<double>(p);
    default:
      return 0.0;
  }
}

int64_t GgufValue::ToInt64(std::string_view key) const {
  if (is_array() || !IsIntegerType(type_)) {
    Fail(ErrorCode::kFormat, "GGUF key '", PrintableName(key), "' is ", Summary(),
         ", expected an integer");
  }
  if (type_ == GgufType::kUint64) {
    const uint64_t v = Load<uint64_t>(bytes_.data());
    if (v > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) {
      Fail(ErrorCode::kFormat, "GGUF key '", PrintableName(key), "' value ", v, " is out of range");
    }
    return static_cast<int64_t>(v);
  }
  if (type_ == GgufType::kInt64) return Load<int64_t>(bytes_.data());
  return static_cast<int64_t>(ElementAsDouble(0));  // exact for types of 32 bits or less
}

uint64_t GgufValue::ToUint64(std::string_view key) const {
  if (type_ == GgufType::kUint64) return Load<uint64_t>(bytes_.data());
  const int64_t v = ToInt64(key);
  if (v < 0) Fail(ErrorCode::kFormat, "GGUF key '", PrintableName(key), "' is negative (", v, ")");
  return static_cast<uint64_t>(v);
}

double GgufValue::ToDouble(std::string_view key) const {
  if (is_array() || type_ == GgufType::kString || type_ == GgufType::kBool) {
    Fail(ErrorCode::kFormat, "GGUF key '", PrintableName(key), "' is ", Summary(),
         ", expected a number");
  }
  return ElementAsDouble(0);
}

bool GgufValue::ToBool(std::string_view key) const {
  if (type_ != GgufType::kBool) {
    Fail(ErrorCode::kFormat, "GGUF key '", PrintableName(key), "' is ", Summary(),
         ", expected a bool");
  }
  return bytes_[0] != 0;
}

const std::string& GgufValue::ToString(std::string_view key) const {
  if (type_ != GgufType::kString) {
    Fail(ErrorCode::kFormat, "GGUF key '", PrintableName(key), "' is ", Summary(),
         ", expected a string");
  }
  return string_;
}

const std::vector<std::string>& GgufValue::ToStrings(std::string_view key) const {
  if (!is_array() || element_type_ != GgufType::kString) {
    Fail(ErrorCode::kFormat, "GGUF key '", PrintableName(key), "' is ", Summary(),
         ", expected an array of strings");
  }
  return strings_;
}

std::vector<double> GgufValue::ToDoubles(std::string_view key) const {
  if (!is_array() || element_type_ == GgufType::kString) {
    Fail(ErrorCode::kFormat, "GGUF key '", PrintableName(key), "' is ", Summary(),
         ", expected an array of numbers");
  }
  std::vector<double> out(count_);
  for (size_t i = 0; i < count_; ++i) out[i] = ElementAsDouble(i);
  return out;
}

std::vector<int64_t> GgufValue::ToInt64s(std::string_view key) const {
  if (!is_array() || !ElementIsInteger() || element_type_ == GgufType::kUint64) {
    Fail(ErrorCode::kFormat, "GGUF key '", PrintableName(key), "' is ", Summary(),
         ", expected an array of integers");
  }
  std::vector<int64_t> out(count_);
  for (size_t i = 0; i < count_; ++i) {
    out[i] = element_type_ == GgufType::kInt64 ? Load<int64_t>(bytes_.data() + 8 * i)
                                               : static_cast<int64_t>(ElementAsDouble(i));
  }
  return out;
}

std::string GgufValue::Summary() const {
  if (is_array()) return StrCat(GgufTypeName(element_type_), "[", count_, "]");
  if (type_ == GgufType::kString) {
    return StrCat("string \"", PrintableName(string_, 60), "\"");
  }
  if (type_ == GgufType::kBool) return bytes_[0] ? "bool true" : "bool false";
  if (type_ == GgufType::kUint64) return StrCat("u64 ", Load<uint64_t>(bytes_.data()));
  if (type_ == GgufType::kInt64) return StrCat("i64 ", Load<int64_t>(bytes_.data()));
  return StrCat(GgufTypeName(type_), " ", ElementAsDouble(0));
}

std::optional<DType> DTypeFromGgml(uint32_t ggml_type) {
  switch (static_cast<GgmlType>(ggml_type)) {
    case GgmlType::kF32:
      return DType::kF32;
    case GgmlType::kF16:
      return DType::kF16;
    case GgmlType::kBF16:
      return DType::kBF16;
    case GgmlType::kQ8_0:
      return DType::kQ8_0;
    case GgmlType::kQ4_0:
      return DType::kQ4_0;
    case GgmlType::kQ4_1:
      return DType::kQ4_1;
    case GgmlType::kQ5_0:
      return DType::kQ5_0;
    case GgmlType::kQ5_1:
      return DType::kQ5_1;
    case GgmlType::kQ4_K:
      return DType::kQ4_K;
    case GgmlType::kQ5_K:
      return DType::kQ5_K;
    case GgmlType::kQ6_K:
      return DType::kQ6_K;
  }
  return std::nullopt;
}

uint32_t GgmlTypeOf(DType type) {
  switch (type) {
    case DType::kF32:
      return static_cast<uint32_t>(GgmlType::kF32);
    case DType::kF16:
      return static_cast<uint32_t>(GgmlType::kF16);
    case DType::kBF16:
      return static_cast<uint32_t>(GgmlType::kBF16);
    case DType::kQ8_0:
      return static_cast<uint32_t>(GgmlType::kQ8_0);
    case DType::kQ4_0:
      return static_cast<uint32_t>(GgmlType::kQ4_0);
    case DType::kQ4_1:
      return static_cast<uint32_t>(GgmlType::kQ4_1);
    case DType::kQ5_0:
      return static_cast<uint32_t>(GgmlType::kQ5_0);
    case DType::kQ5_1:
      return static_cast<uint32_t>(GgmlType::kQ5_1);
    case DType::kQ4_K:
      return static_cast<uint32_t>(GgmlType::kQ4_K);
    case DType::kQ5_K:
      return static_cast<uint32_t>(GgmlType::kQ5_K);
    case DType::kQ6_K:
      return static_cast<uint32_t>(GgmlType::kQ6_K);
    case DType::kCount:
      break;
  }
  Fail(ErrorCode::kInternal, "GgmlTypeOf: invalid dtype");
}

Shape GgufTensorInfo::HfShape() const {
  Shape shape;
  for (auto it = ne.rbegin(); it != ne.rend(); ++it) shape.push_back(static_cast<int64_t>(*it));
  return shape;
}

const GgufValue* GgufHeader::Find(std::string_view key) const {
  for (const GgufKeyValue& kv : metadata) {
    if (kv.key == key) return &kv.value;
  }
  return nullptr;
}

const GgufTensorInfo* GgufHeader::FindTensor(std::string_view name) const {
  for (const GgufTensorInfo& t : tensors) {
    if (t.name == name) return &t;
  }
  return nullptr;
}

GgufHeader ParseGgufHeader(std::span<const std::byte> file, const std::string& origin) {
  Reader in(file, origin);
  GgufHeader header;
  if (in.remaining() < 4 || in.Read<uint32_t>("magic") != kGgufMagic) {
    Fail(ErrorCode::kFormat, origin, ": not a GGUF file (the first 4 bytes are not \"GGUF\")");
  }
  header.version = in.Read<uint32_t>("version");
  if (header.version == 1) {
    Fail(ErrorCode::kUnsupported, origin,
         ": GGUF version 1 (32-bit counts, 2023) is not supported; convert it again");
  }
  if (header.version != 2 && header.version != 3) {
    Fail(ErrorCode::kFormat, origin, ": unknown GGUF version ", header.version,
         " (expected 2 or 3; a big-endian file reads as a huge version)");
  }
  const uint64_t tensor_count = in.Read<uint64_t>("tensor count");
  const uint64_t kv_count = in.Read<uint64_t>("metadata count");
  // A key-value pair takes at least 8 (key length) + 4 (type) + 1 bytes, a tensor info at
  // least 8 + 4 + 4 + 8: counts beyond that are lies, refused before any allocation.
  if (kv_count > in.remaining() / 13) {
    Fail(ErrorCode::kFormat, origin, ": metadata count ", kv_count, " cannot fit in ",
         in.remaining(), " bytes");
  }
  if (tensor_count > in.remaining() / 24) {
    Fail(ErrorCode::kFormat, origin, ": tensor count ", tensor_count, " cannot fit in ",
         in.remaining(), " bytes");
  }

  std::set<std::string> keys;
  header.metadata.reserve(kv_count);
  for (uint64_t i = 0; i < kv_count; ++i) {
    std::string key = in.ReadString(StrCat("key #", i));
    if (!keys.insert(key).second)
      Fail(ErrorCode::kFormat, origin, ": duplicate key '", PrintableName(key), "'");
    const uint32_t raw_type = in.Read<uint32_t>(key);
    if (raw_type >= static_cast<uint32_t>(GgufType::kCount)) {
      Fail(ErrorCode::kFormat, origin, ": key '", PrintableName(key), "' has unknown value type ",
           raw_type);
    }
    GgufValue value = ReadValue(in, static_cast<GgufType>(raw_type), key, origin);
    header.metadata.push_back({std::move(key), std::move(value)});
  }
  if (const GgufValue* alignment = header.Find("general.alignment")) {
    if (alignment->type() != GgufType::kUint32) {
      Fail(ErrorCode::kFormat, origin, ": general.alignment is ", alignment->Summary(),
           ", expected u32");
    }
    header.alignment = alignment->ToUint64("general.alignment");
    if (header.alignment == 0 || (header.alignment & (header.alignment - 1)) != 0) {
      Fail(ErrorCode::kFormat, origin, ": general.alignment ", header.alignment,
           " is not a power of two");
    }
  }

  std::set<std::string> names;
  header.tensors.reserve(tensor_count);
  for (uint64_t i = 0; i < tensor_count; ++i) {
    GgufTensorInfo t;
    t.name = in.ReadString(StrCat("tensor name #", i));
    if (!names.insert(t.name).second) {
      Fail(ErrorCode::kFormat, origin, ": duplicate tensor '", PrintableName(t.name), "'");
    }
    const uint32_t dims = in.Read<uint32_t>(t.name);
    if (dims == 0 || dims > kMaxDims) {
      Fail(ErrorCode::kFormat, origin, ": tensor '", PrintableName(t.name), "' has ", dims,
           " dimensions (1 to ", kMaxDims, " allowed)");
    }
    uint64_t elements = 1;
    for (uint32_t d = 0; d < dims; ++d) {
      const uint64_t ne = in.Read<uint64_t>(t.name);
      if (ne == 0 || ne > static_cast<uint64_t>(std::numeric_limits<int64_t>::max()) / elements) {
        Fail(ErrorCode::kFormat, origin, ": tensor '", PrintableName(t.name), "' dimension ", d,
             " is ", ne, " (zero, or the element count overflows)");
      }
      elements *= ne;
      t.ne.push_back(ne);
    }
    const uint32_t ggml_type = in.Read<uint32_t>(t.name);
    const std::optional<DType> dtype = DTypeFromGgml(ggml_type);
    if (!dtype) {
      Fail(ErrorCode::kUnsupported, origin, ": tensor '", PrintableName(t.name), "' has ggml type ",
           ggml_type,
           ", which gemma-rt does not support (F32, F16, BF16, Q8_0, Q4_0, Q4_1, Q5_0, Q5_1, "
           "Q4_K, Q5_K, Q6_K are)");
    }
    t.dtype = *dtype;
    const DTypeTraits& traits = Traits(t.dtype);
    if (t.ne[0] % traits.block_elements != 0) {
      Fail(ErrorCode::kFormat, origin, ": tensor '", PrintableName(t.name), "' rows of ", t.ne[0],
           " values are not whole ", traits.name, " blocks of ", traits.block_elements);
    }
    if (elements / traits.block_elements >
        std::numeric_limits<uint64_t>::max() / traits.block_bytes) {
      Fail(ErrorCode::kFormat, origin, ": tensor '", PrintableName(t.name), "' is too large");
    }
    t.bytes = elements / traits.block_elements * traits.block_bytes;
    t.offset = in.Read<uint64_t>(t.name);
    if (t.offset % header.alignment != 0) {
      Fail(ErrorCode::kFormat, origin, ": tensor '", PrintableName(t.name), "' offset ", t.offset,
           " is not a multiple of the alignment ", header.alignment);
    }
    header.tensors.push_back(std::move(t));
  }

  const uint64_t end_of_infos = in.position();
  header.data_start = (end_of_infos + header.alignment - 1) / header.alignment * header.alignment;
  if (header.data_start < end_of_infos || (tensor_count > 0 && header.data_start > file.size())) {
    Fail(ErrorCode::kFormat, origin, ": the tensor data would start at byte ", header.data_start,
         " but the file has ", file.size(), " bytes");
  }
  const uint64_t data_bytes = file.size() - std::min<uint64_t>(header.data_start, file.size());
  // Bounds, and no two tensors sharing bytes (sorted by offset, each must end before the next).
  std::vector<const GgufTensorInfo*> by_offset;
  for (const GgufTensorInfo& t : header.tensors) {
    // Tensors are used in place in the mapping; the kernels read float16 scales and float32
    // values with their natural alignment. Files written with llama.cpp's default alignment
    // (32) always satisfy this; only a general.alignment below 4 can break it.
    if ((header.data_start + t.offset) % 4 != 0) {
      Fail(ErrorCode::kFormat, origin, ": tensor '", PrintableName(t.name),
           "' starts at file byte ", header.data_start + t.offset,
           ", not a multiple of 4 (general.alignment ", header.alignment,
           "); gemma-rt needs 4-byte aligned tensor data");
    }
    if (t.offset > data_bytes || t.bytes > data_bytes - t.offset) {
      Fail(ErrorCode::kFormat, origin, ": tensor '", PrintableName(t.name), "' spans bytes [",
           t.offset, ", ", t.offset + t.bytes, ") of the data section but it has only ", data_bytes,
           " bytes (truncated file?)");
    }
    by_offset.push_back(&t);
  }
  std::sort(by_offset.begin(), by_offset.end(),
            [](const GgufTensorInfo* a, const GgufTensorInfo* b) { return a->offset < b->offset; });
  for (size_t i = 1; i < by_offset.size(); ++i) {
    if (by_offset[i - 1]->offset + by_offset[i - 1]->bytes > by_offset[i]->offset) {
      Fail(ErrorCode::kFormat, origin, ": tensors '", PrintableName(by_offset[i - 1]->name),
           "' and '", PrintableName(by_offset[i]->name), "' overlap");
    }
  }
  return header;
}

GgufFile GgufFile::Open(const std::string& path) {
  GgufFile f;
  f.file_ = MappedFile::Open(path);
  f.header_ = ParseGgufHeader(f.file_.bytes(), path);
  return f;
}

TensorView GgufFile::View(const GgufTensorInfo& tensor) const {
  return TensorView{
      .dtype = tensor.dtype,
      .shape = tensor.HfShape(),
      .bytes = file_.bytes().subspan(header_.data_start + tensor.offset, tensor.bytes)};
}

bool LooksLikeGguf(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  char magic[4] = {};
  if (!in.read(magic, 4)) return false;
  return std::memcmp(magic, "GGUF", 4) == 0;
}

}  // namespace gemma
