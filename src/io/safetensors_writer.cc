#include "io/safetensors_writer.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <memory>
#include <nlohmann/json.hpp>
#include <set>

#include "base/error.h"

namespace gemma {
namespace {

namespace fs = std::filesystem;

uint64_t DataBytes(const TensorToWrite& t) {
  return static_cast<uint64_t>(ElementCount(t.shape)) * Traits(t.dtype).block_bytes;
}

void CheckWritable(const std::vector<TensorToWrite>& tensors, const std::string& origin) {
  std::set<std::string> seen;
  for (const TensorToWrite& t : tensors) {
    if (t.dtype != DType::kF32 && t.dtype != DType::kF16 && t.dtype != DType::kBF16) {
      Fail(ErrorCode::kUnsupported, origin, ": tensor '", t.name, "' has dtype ",
           DTypeName(t.dtype), "; safetensors files hold F32, F16 or BF16 here");
    }
    if (t.name.empty() || t.name == "__metadata__") {
      Fail(ErrorCode::kInvalidArgument, origin, ": invalid tensor name '", t.name, "'");
    }
    for (int64_t d : t.shape) {
      if (d < 0)
        Fail(ErrorCode::kInvalidArgument, origin, ": tensor '", t.name, "' has shape ",
             ShapeToString(t.shape));
    }
    if (!seen.insert(t.name).second) {
      Fail(ErrorCode::kInvalidArgument, origin, ": tensor '", t.name, "' is listed twice");
    }
  }
}

// A file descriptor that closes itself; writes retry on short writes and EINTR.
class OutputFile {
 public:
  explicit OutputFile(const std::string& path) : path_(path) {
    fd_ = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd_ < 0) Fail(ErrorCode::kIo, path, ": cannot create: ", std::strerror(errno));
  }
  OutputFile(const OutputFile&) = delete;
  OutputFile& operator=(const OutputFile&) = delete;
  ~OutputFile() {
    if (fd_ >= 0) ::close(fd_);
  }

  void Write(const void* data, size_t size) {
    const char* p = static_cast<const char*>(data);
    while (size > 0) {
      const ssize_t n = ::write(fd_, p, size);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) Fail(ErrorCode::kIo, path_, ": write failed: ", std::strerror(errno));
      p += n;
      size -= static_cast<size_t>(n);
    }
  }

  void Close() {
    const int fd = fd_;
    fd_ = -1;
    if (::close(fd) != 0) Fail(ErrorCode::kIo, path_, ": close failed: ", std::strerror(errno));
  }

 private:
  std::string path_;
  int fd_ = -1;
};

std::string ShardName(size_t index, size_t count) {
  char name[64];
  std::snprintf(name, sizeof(name), "model-%05zu-of-%05zu.safetensors", index + 1, count);
  return name;
}

}  // namespace

void SortInDataOrder(std::vector<TensorToWrite>& tensors) {
  std::stable_sort(tensors.begin(), tensors.end(),
                   [](const TensorToWrite& a, const TensorToWrite& b) {
                     const size_t a_size = Traits(a.dtype).block_bytes;
                     const size_t b_size = Traits(b.dtype).block_bytes;
                     return a_size != b_size ? a_size > b_size : a.name < b.name;
                   });
}

std::string SafetensorsHeaderBytes(const std::vector<TensorToWrite>& tensors,
                                   const std::map<std::string, std::string>& metadata) {
  // ordered_json keeps insertion order: "__metadata__" first, entries in data order, and
  // each entry's keys as dtype, shape, data_offsets, as the safetensors library writes.
  nlohmann::ordered_json header = nlohmann::ordered_json::object();
  if (!metadata.empty()) header["__metadata__"] = metadata;
  uint64_t offset = 0;
  for (const TensorToWrite& t : tensors) {
    const uint64_t end = offset + DataBytes(t);
    header[t.name] = {{"dtype", std::string(DTypeName(t.dtype))},
                      {"shape", t.shape},
                      {"data_offsets", {offset, end}}};
    offset = end;
  }
  std::string json = header.dump();
  json.append((8 - json.size() % 8) % 8, ' ');  // the data starts 8-aligned
  std::string bytes(8, '\0');
  uint64_t length = json.size();
  for (int i = 0; i < 8; ++i) bytes[i] = static_cast<char>((length >> (8 * i)) & 0xff);
  return bytes + json;
}

void WriteSafetensorsFile(const std::string& path, std::vector<TensorToWrite> tensors,
                          const TensorBytesSource& source, const SafetensorsWriteOptions& options) {
  CheckWritable(tensors, path);
  SortInDataOrder(tensors);
  OutputFile out(path);
  const std::string header = SafetensorsHeaderBytes(tensors, options.metadata);
  out.Write(header.data(), header.size());

  // Chunks are whole elements of every dtype (a multiple of 8 bytes).
  const size_t chunk_bytes = std::max<size_t>(options.chunk_bytes / 8 * 8, 8);
  uint64_t largest = 0;
  for (const TensorToWrite& t : tensors) largest = std::max(largest, DataBytes(t));
  std::vector<std::byte> buffer(static_cast<size_t>(std::min<uint64_t>(largest, chunk_bytes)));
  for (const TensorToWrite& t : tensors) {
    const uint64_t size = DataBytes(t);
    for (uint64_t offset = 0; offset < size; offset += chunk_bytes) {
      const size_t n = static_cast<size_t>(std::min<uint64_t>(chunk_bytes, size - offset));
      const std::span<std::byte> chunk(buffer.data(), n);
      source(t, offset, chunk);
      out.Write(chunk.data(), chunk.size());
    }
  }
  out.Close();
}

std::vector<size_t> AssignShards(const std::vector<TensorToWrite>& tensors,
                                 uint64_t max_shard_bytes) {
  // transformers' split: walk in model order; start a new shard when this tensor would
  // tip the current one over the cap (a tensor larger than the cap gets a shard alone).
  std::vector<size_t> shard_of;
  size_t shard = 0;
  size_t in_shard = 0;
  uint64_t shard_bytes = 0;
  for (const TensorToWrite& t : tensors) {
    const uint64_t size = DataBytes(t);
    if (in_shard > 0 && shard_bytes + size > max_shard_bytes) {
      ++shard;
      in_shard = 0;
      shard_bytes = 0;
    }
    shard_of.push_back(shard);
    ++in_shard;
    shard_bytes += size;
  }
  return shard_of;
}

WrittenCheckpoint WriteSafetensorsCheckpoint(const std::vector<TensorToWrite>& tensors,
                                             const TensorBytesSource& source,
                                             const CheckpointWriteOptions& options) {
  CheckWritable(tensors, options.dir);
  if (options.max_shard_bytes == 0) {
    Fail(ErrorCode::kInvalidArgument, options.dir, ": the maximum shard size must be positive");
  }
  std::error_code ec;
  fs::create_directories(options.dir, ec);
  if (ec) Fail(ErrorCode::kIo, options.dir, ": cannot create directory: ", ec.message());

  const std::vector<size_t> shard_of = AssignShards(tensors, options.max_shard_bytes);
  std::vector<std::vector<TensorToWrite>> shards(shard_of.empty() ? 1 : shard_of.back() + 1);
  WrittenCheckpoint written;
  for (size_t i = 0; i < tensors.size(); ++i) {
    shards[shard_of[i]].push_back(tensors[i]);
    written.total_size += DataBytes(tensors[i]);
  }

  const fs::path dir(options.dir);
  // A checkpoint from an earlier run in the same directory must not shadow this one: the
  // index wins over model.safetensors when readers find both.
  fs::remove(dir / (shards.size() == 1 ? "model.safetensors.index.json" : "model.safetensors"), ec);
  if (shards.size() == 1) {
    const std::string path = (dir / "model.safetensors").string();
    WriteSafetensorsFile(path, shards[0], source, options.file);
    for (const TensorToWrite& t : shards[0]) written.weight_map[t.name] = "model.safetensors";
    written.files.push_back(path);
    return written;
  }
  for (size_t i = 0; i < shards.size(); ++i) {
    const std::string name = ShardName(i, shards.size());
    const std::string path = (dir / name).string();
    WriteSafetensorsFile(path, shards[i], source, options.file);
    for (const TensorToWrite& t : shards[i]) written.weight_map[t.name] = name;
    written.files.push_back(path);
  }
  // Same text as transformers' json.dumps(index, indent=2, sort_keys=True) + "\n".
  const nlohmann::json index = {{"metadata", {{"total_size", written.total_size}}},
                                {"weight_map", written.weight_map}};
  const std::string text = index.dump(2) + "\n";
  const std::string index_path = (dir / "model.safetensors.index.json").string();
  OutputFile out(index_path);
  out.Write(text.data(), text.size());
  out.Close();
  written.files.push_back(index_path);
  return written;
}

}  // namespace gemma
