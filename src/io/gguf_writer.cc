#include "io/gguf_writer.h"

#include <cerrno>
#include <cstring>
#include <set>

#include "base/error.h"

namespace gemma {

GgufWriter::GgufWriter(const std::string& path, const std::vector<GgufKeyValue>& metadata,
                       const std::vector<GgufTensorDecl>& tensors, uint64_t alignment)
    : path_(path), tensors_(tensors), alignment_(alignment) {
  if (alignment == 0 || (alignment & (alignment - 1)) != 0) {
    Fail(ErrorCode::kInvalidArgument, path, ": alignment ", alignment, " is not a power of two");
  }
  std::set<std::string> keys;
  for (const GgufKeyValue& kv : metadata) {
    if (!keys.insert(kv.key).second) {
      Fail(ErrorCode::kInvalidArgument, path, ": duplicate metadata key '", kv.key, "'");
    }
  }
  if ((keys.count("general.alignment") != 0) != (alignment != kGgufDefaultAlignment)) {
    Fail(ErrorCode::kInvalidArgument, path,
         ": general.alignment must be in the metadata exactly when the alignment is not 32");
  }
  std::set<std::string> names;
  for (const GgufTensorDecl& t : tensors_) {
    if (!names.insert(t.name).second) {
      Fail(ErrorCode::kInvalidArgument, path, ": duplicate tensor '", t.name, "'");
    }
    if (t.shape.empty() || t.shape.size() > 4) {
      Fail(ErrorCode::kInvalidArgument, path, ": tensor '", t.name, "' has ", t.shape.size(),
           " dimensions");
    }
    const int64_t elements = ElementCount(t.shape);
    const size_t block = Traits(t.dtype).block_elements;
    if (elements <= 0 || t.shape.back() % static_cast<int64_t>(block) != 0) {
      Fail(ErrorCode::kInvalidArgument, path, ": tensor '", t.name, "' of shape ",
           ShapeToString(t.shape), " is not whole ", DTypeName(t.dtype), " blocks of ", block);
    }
    sizes_.push_back(ByteSize(t.dtype, static_cast<size_t>(elements)));
  }

  file_ = std::make_unique<AtomicFile>(path);
  const uint32_t magic = kGgufMagic;
  const uint32_t version = 3;
  const uint64_t tensor_count = tensors_.size();
  const uint64_t kv_count = metadata.size();
  Write(&magic, 4);
  Write(&version, 4);
  Write(&tensor_count, 8);
  Write(&kv_count, 8);
  for (const GgufKeyValue& kv : metadata) {
    WriteString(kv.key);
    const auto type = static_cast<uint32_t>(kv.value.type());
    Write(&type, 4);
    WriteValue(kv.value);
  }
  uint64_t offset = 0;
  for (size_t i = 0; i < tensors_.size(); ++i) {
    const GgufTensorDecl& t = tensors_[i];
    WriteString(t.name);
    const auto dims = static_cast<uint32_t>(t.shape.size());
    Write(&dims, 4);
    for (auto it = t.shape.rbegin(); it != t.shape.rend(); ++it) {
      const auto ne = static_cast<uint64_t>(*it);
      Write(&ne, 8);
    }
    const uint32_t ggml_type = GgmlTypeOf(t.dtype);
    Write(&ggml_type, 4);
    Write(&offset, 8);
    offset += (sizes_[i] + alignment_ - 1) / alignment_ * alignment_;
  }
  PadTo(alignment_);
  planned_bytes_ = position_ + offset;
}

GgufWriter::~GgufWriter() = default;  // an unfinished file_ removes its temporary file

void GgufWriter::Write(const void* data, size_t n) {
  file_->Write(data, n);
  position_ += n;
}

void GgufWriter::WriteString(std::string_view s) {
  const uint64_t length = s.size();
  Write(&length, 8);
  Write(s.data(), s.size());
}

void GgufWriter::WriteValue(const GgufValue& value) {
  if (value.type() == GgufType::kString) {
    WriteString(value.ToString(""));
    return;
  }
  if (value.is_array()) {
    const auto element = static_cast<uint32_t>(value.element_type());
    const uint64_t count = value.array_size();
    Write(&element, 4);
    Write(&count, 8);
    if (value.element_type() == GgufType::kString) {
      for (const std::string& s : value.ToStrings("")) WriteString(s);
      return;
    }
  }
  Write(value.raw_bytes().data(), value.raw_bytes().size());
}

void GgufWriter::PadTo(uint64_t alignment) {
  static constexpr std::byte kZeros[64] = {};
  uint64_t pad = (alignment - position_ % alignment) % alignment;
  while (pad > 0) {
    const uint64_t n = std::min<uint64_t>(pad, sizeof(kZeros));
    Write(kZeros, n);
    pad -= n;
  }
}

void GgufWriter::WriteTensor(std::string_view name, std::span<const std::byte> bytes) {
  if (file_ == nullptr) Fail(ErrorCode::kInvalidArgument, path_, ": writer already finished");
  if (next_ >= tensors_.size()) {
    Fail(ErrorCode::kInvalidArgument, path_, ": tensor '", name, "' was not declared");
  }
  const GgufTensorDecl& t = tensors_[next_];
  if (t.name != name) {
    Fail(ErrorCode::kInvalidArgument, path_, ": expected tensor '", t.name, "' next, got '", name,
         "'");
  }
  if (bytes.size() != sizes_[next_]) {
    Fail(ErrorCode::kInvalidArgument, path_, ": tensor '", name, "' has ", bytes.size(),
         " bytes, its declared ", DTypeName(t.dtype), " shape ", ShapeToString(t.shape), " needs ",
         sizes_[next_]);
  }
  Write(bytes.data(), bytes.size());
  PadTo(alignment_);
  ++next_;
}

void GgufWriter::Finish(const std::function<void(const std::string& temporary_path)>& verify) {
  if (file_ == nullptr) Fail(ErrorCode::kInvalidArgument, path_, ": writer already finished");
  if (next_ != tensors_.size()) {
    Fail(ErrorCode::kInvalidArgument, path_, ": only ", next_, " of ", tensors_.size(),
         " tensors were written (next: '", tensors_[next_].name, "')");
  }
  file_->Finish(planned_bytes_);
  if (verify) verify(file_->temporary_path());
  file_->Publish();
  file_.reset();
}

}  // namespace gemma
