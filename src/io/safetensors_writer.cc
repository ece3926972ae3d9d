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
#include "io/atomic_file.h"

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

namespace {

// Writes header and data of `tensors` (in data order) to `out`; returns the planned size.
uint64_t WriteSafetensorsInto(AtomicFile& out, const std::vector<TensorToWrite>& tensors,
                              const TensorBytesSource& source,
                              const SafetensorsWriteOptions& options) {
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
  uint64_t planned = header.size();
  for (const TensorToWrite& t : tensors) planned += DataBytes(t);
  return planned;
}

std::vector<TensorToWrite> InDataOrder(std::vector<TensorToWrite> tensors,
                                       const std::string& origin) {
  CheckWritable(tensors, origin);
  SortInDataOrder(tensors);
  return tensors;
}

}  // namespace

void WriteSafetensorsFile(const std::string& path, std::vector<TensorToWrite> tensors,
                          const TensorBytesSource& source, const SafetensorsWriteOptions& options) {
  tensors = InDataOrder(std::move(tensors), path);
  AtomicFile out(path);
  out.Commit(WriteSafetensorsInto(out, tensors, source, options));
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
  // Every file complete and checked on disk under a temporary name first; only then are
  // they renamed into place, one after another.
  std::vector<AtomicFile> files;
  files.reserve(shards.size() + 2 + options.extra_files.size());
  const auto add_text = [&](const std::string& name, const std::string& text) {
    files.emplace_back((dir / name).string());
    files.back().Write(text);
    files.back().Finish(text.size());
  };
  for (size_t i = 0; i < shards.size(); ++i) {
    const std::string name = shards.size() == 1 ? "model.safetensors" : ShardName(i, shards.size());
    const std::vector<TensorToWrite> shard = InDataOrder(shards[i], (dir / name).string());
    files.emplace_back((dir / name).string());
    files.back().Finish(WriteSafetensorsInto(files.back(), shard, source, options.file));
    for (const TensorToWrite& t : shard) written.weight_map[t.name] = name;
  }
  if (shards.size() > 1) {
    // Same text as transformers' json.dumps(index, indent=2, sort_keys=True) + "\n".
    const nlohmann::json index = {{"metadata", {{"total_size", written.total_size}}},
                                  {"weight_map", written.weight_map}};
    add_text("model.safetensors.index.json", index.dump(2) + "\n");
  }
  for (const auto& [name, text] : options.extra_files) add_text(name, text);
  for (AtomicFile& file : files) {
    file.Publish();
    written.files.push_back(file.path());
  }
  // A checkpoint of the other kind from an earlier run must not shadow this one (the index
  // wins over model.safetensors when readers find both); removed once this one is in place.
  fs::remove(dir / (shards.size() == 1 ? "model.safetensors.index.json" : "model.safetensors"), ec);
  return written;
}

}  // namespace gemma
