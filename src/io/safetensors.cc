#include "io/safetensors.h"

#include <algorithm>
#include <cstring>
#include <limits>
#include <nlohmann/json.hpp>

#include "base/error.h"
#include "base/printable.h"

namespace gemma {
namespace {

using Json = nlohmann::json;

uint64_t ReadLE64(const std::byte* p) {
  uint64_t v = 0;
  for (int i = 7; i >= 0; --i) v = (v << 8) | static_cast<uint8_t>(p[i]);
  return v;
}

uint64_t NonNegativeInt(const Json& value, const std::string& origin, const std::string& what) {
  if (value.is_number_unsigned()) return value.get<uint64_t>();
  if (value.is_number_integer() && value.get<int64_t>() >= 0) return value.get<uint64_t>();
  Fail(ErrorCode::kFormat, origin, ": ", what, " must be a non-negative integer, got ",
       value.dump());
}

SafetensorsEntry ParseEntry(const std::string& name, const Json& info, const std::string& origin) {
  const std::string where = StrCat(origin, ": tensor '", PrintableName(name), "'");
  if (!info.is_object()) Fail(ErrorCode::kFormat, where, ": entry is not a JSON object");
  SafetensorsEntry entry;
  entry.name = name;

  const auto dtype_it = info.find("dtype");
  if (dtype_it == info.end() || !dtype_it->is_string()) {
    Fail(ErrorCode::kFormat, where, ": missing or non-string \"dtype\"");
  }
  const std::string dtype = dtype_it->get<std::string>();
  if (dtype == "F32") {
    entry.dtype = DType::kF32;
  } else if (dtype == "F16") {
    entry.dtype = DType::kF16;
  } else if (dtype == "BF16") {
    entry.dtype = DType::kBF16;
  } else {
    Fail(ErrorCode::kUnsupported, where, ": unsupported dtype \"", PrintableName(dtype),
         "\" (gemma-rt reads F32, F16 and BF16 safetensors)");
  }

  const auto shape_it = info.find("shape");
  if (shape_it == info.end() || !shape_it->is_array()) {
    Fail(ErrorCode::kFormat, where, ": missing or non-array \"shape\"");
  }
  if (shape_it->size() > 8) Fail(ErrorCode::kFormat, where, ": more than 8 dimensions");
  // Element count with overflow checks: a hostile header may claim 2^62 x 2^62.
  uint64_t elements = 1;
  for (const Json& dim : *shape_it) {
    const uint64_t d = NonNegativeInt(dim, where, "each shape dimension");
    if (d > static_cast<uint64_t>(std::numeric_limits<int64_t>::max()) ||
        (d != 0 && elements > std::numeric_limits<uint64_t>::max() / 8 / d)) {
      Fail(ErrorCode::kFormat, where, ": shape ", shape_it->dump(), " is absurdly large");
    }
    elements *= d;
    entry.shape.push_back(static_cast<int64_t>(d));
  }

  const auto offsets_it = info.find("data_offsets");
  if (offsets_it == info.end() || !offsets_it->is_array() || offsets_it->size() != 2) {
    Fail(ErrorCode::kFormat, where, ": \"data_offsets\" must be an array [begin, end]");
  }
  entry.begin = NonNegativeInt((*offsets_it)[0], where, "data_offsets[0]");
  entry.end = NonNegativeInt((*offsets_it)[1], where, "data_offsets[1]");
  if (entry.end < entry.begin) {
    Fail(ErrorCode::kFormat, where, ": data_offsets [", entry.begin, ", ", entry.end,
         "] end before begin");
  }
  const uint64_t expected = elements * Traits(entry.dtype).block_bytes;
  if (entry.end - entry.begin != expected) {
    Fail(ErrorCode::kFormat, where, ": data_offsets cover ", entry.end - entry.begin, " bytes but ",
         dtype, " ", ShapeToString(entry.shape), " needs ", expected);
  }
  return entry;
}

}  // namespace

SafetensorsHeader ParseSafetensorsHeader(std::span<const std::byte> file,
                                         const std::string& origin) {
  if (file.size() < 8) {
    Fail(ErrorCode::kFormat, origin, ": truncated: ", file.size(),
         " bytes, too short for the 8-byte header length");
  }
  const uint64_t header_len = ReadLE64(file.data());
  if (header_len > kMaxSafetensorsHeaderBytes) {
    Fail(ErrorCode::kFormat, origin, ": header length ", header_len, " exceeds the ",
         kMaxSafetensorsHeaderBytes,
         "-byte limit: corrupt, or neither a safetensors nor a GGUF file");
  }
  if (header_len > file.size() - 8) {
    Fail(ErrorCode::kFormat, origin, ": truncated: header length ", header_len, " but only ",
         file.size() - 8, " bytes follow");
  }
  const char* text = reinterpret_cast<const char*>(file.data() + 8);
  Json json = Json::parse(text, text + header_len, nullptr, /*allow_exceptions=*/false);
  if (json.is_discarded()) {
    Fail(ErrorCode::kFormat, origin,
         ": header is not valid JSON: corrupt, or neither a safetensors nor a GGUF file");
  }
  if (!json.is_object()) Fail(ErrorCode::kFormat, origin, ": header is not a JSON object");

  SafetensorsHeader header;
  header.data_start = 8 + header_len;
  const uint64_t data_size = file.size() - header.data_start;
  for (const auto& [key, value] : json.items()) {
    if (key == "__metadata__") {
      if (!value.is_object()) Fail(ErrorCode::kFormat, origin, ": __metadata__ is not an object");
      for (const auto& [mk, mv] : value.items()) {
        if (!mv.is_string()) {
          Fail(ErrorCode::kFormat, origin, ": __metadata__ value for '", PrintableName(mk),
               "' is not a string");
        }
        header.metadata[mk] = mv.get<std::string>();
      }
      continue;
    }
    header.tensors.push_back(ParseEntry(key, value, origin));
  }

  // Data must lie inside the file, and no two tensors may share bytes.
  std::sort(header.tensors.begin(), header.tensors.end(),
            [](const SafetensorsEntry& a, const SafetensorsEntry& b) {
              return a.begin != b.begin ? a.begin < b.begin : a.end < b.end;
            });
  for (size_t i = 0; i < header.tensors.size(); ++i) {
    const SafetensorsEntry& t = header.tensors[i];
    if (t.end > data_size) {
      Fail(ErrorCode::kFormat, origin, ": truncated or corrupt: tensor '", PrintableName(t.name),
           "' data_offsets end at ", t.end, " but the data section has ", data_size, " bytes");
    }
    if (i > 0 && t.begin < header.tensors[i - 1].end) {
      Fail(ErrorCode::kFormat, origin, ": tensors '", PrintableName(header.tensors[i - 1].name),
           "' and '", PrintableName(t.name), "' overlap");
    }
  }
  return header;
}

SafetensorsFile SafetensorsFile::Open(const std::string& path) {
  SafetensorsFile file;
  file.file_ = MappedFile::Open(path);
  file.header_ = ParseSafetensorsHeader(file.file_.bytes(), path);
  auto first_misaligned = [&](const std::byte* data) -> const SafetensorsEntry* {
    for (const SafetensorsEntry& t : file.header_.tensors) {
      if (t.begin != t.end &&
          reinterpret_cast<uintptr_t>(data + t.begin) % Traits(t.dtype).block_bytes != 0) {
        return &t;
      }
    }
    return nullptr;
  };
  if (first_misaligned(file.data().data()) != nullptr) {
    const std::span<const std::byte> data = file.data();
    file.aligned_copy_.resize((data.size() + 7) / 8);
    std::memcpy(file.aligned_copy_.data(), data.data(), data.size());
    if (const SafetensorsEntry* t = first_misaligned(file.data().data())) {
      Fail(ErrorCode::kFormat, path, ": tensor '", PrintableName(t->name),
           "' starts at data offset ", t->begin, ", which is not aligned to its ",
           Traits(t->dtype).block_bytes,
           "-byte elements (re-save the file with the safetensors library)");
    }
  }
  for (size_t i = 0; i < file.header_.tensors.size(); ++i) {
    file.index_[file.header_.tensors[i].name] = i;
  }
  return file;
}

const SafetensorsEntry* SafetensorsFile::Find(const std::string& name) const {
  const auto it = index_.find(name);
  return it == index_.end() ? nullptr : &header_.tensors[it->second];
}

std::span<const std::byte> SafetensorsFile::data() const {
  const size_t size = file_.size() - header_.data_start;
  if (!aligned_copy_.empty()) {
    return {reinterpret_cast<const std::byte*>(aligned_copy_.data()), size};
  }
  return file_.bytes().subspan(header_.data_start, size);
}

TensorView SafetensorsFile::View(const SafetensorsEntry& entry) const {
  return TensorView{
      .dtype = entry.dtype,
      .shape = entry.shape,
      .bytes = data().subspan(entry.begin, entry.end - entry.begin),
  };
}

}  // namespace gemma
