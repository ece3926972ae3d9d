// Writing the safetensors format exactly as Hugging Face does, one tensor at a time, so a
// 5 GB checkpoint never has to fit in memory:
// - header: compact JSON, "__metadata__" first ({"format": "pt"}), then one entry per tensor
//   in data order, padded with spaces so that the data starts at a multiple of 8;
// - data order: larger elements first, then by name (the safetensors library's rule; for
//   a one-dtype checkpoint it is simply sorted by name);
// - sharded checkpoints: tensors are assigned to shards in model (state_dict) order, a new
//   shard starting when the next tensor would push the current one past the size cap
//   (transformers' rule), named model-0000i-of-0000n.safetensors, plus
//   model.safetensors.index.json whose total_size is the sum of the tensors' data bytes.
// Every file is written atomically (io/atomic_file.h); a checkpoint's files are all written
// and checked first, then renamed into place one after another.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <span>
#include <string>
#include <vector>

#include "base/tensor_view.h"

namespace gemma {

// transformers' default max_shard_size "5GB" (decimal). gemma-2b in bf16 (5,012,344,832
// bytes of data) gives two shards, split like the published checkpoint.
inline constexpr uint64_t kDefaultMaxShardBytes = 5'000'000'000;

struct TensorToWrite {
  std::string name;
  DType dtype = DType::kF32;  // F32, F16 or BF16
  Shape shape;
};

// Fills `out` with bytes [byte_offset, byte_offset + out.size()) of `tensor`'s data.
// Called in data order, with chunks that are whole elements.
using TensorBytesSource = std::function<void(const TensorToWrite& tensor, uint64_t byte_offset,
                                             std::span<std::byte> out)>;

struct SafetensorsWriteOptions {
  std::map<std::string, std::string> metadata = {{"format", "pt"}};
  size_t chunk_bytes = size_t{64} << 20;  // the most memory the writer holds at once
};

// The bytes before the data: 8-byte little-endian length + padded JSON header. `tensors`
// must already be in data order (see SortInDataOrder).
std::string SafetensorsHeaderBytes(const std::vector<TensorToWrite>& tensors,
                                   const std::map<std::string, std::string>& metadata);
void SortInDataOrder(std::vector<TensorToWrite>& tensors);

// Writes one .safetensors file (atomically). Throws Error(kIo) naming `path` when writing fails,
// Error(kInvalidArgument) for duplicate names, Error(kUnsupported) for other dtypes.
void WriteSafetensorsFile(const std::string& path, std::vector<TensorToWrite> tensors,
                          const TensorBytesSource& source,
                          const SafetensorsWriteOptions& options = {});

struct CheckpointWriteOptions {
  std::string dir;  // created if missing
  uint64_t max_shard_bytes = kDefaultMaxShardBytes;
  SafetensorsWriteOptions file;
  // Other files of the checkpoint (file name -> contents, e.g. config.json), published with
  // the shards, after them.
  std::map<std::string, std::string> extra_files;
};

struct WrittenCheckpoint {
  std::vector<std::string> files;                 // paths written: shards, index, extra files
  uint64_t total_size = 0;                        // sum of tensor data bytes
  std::map<std::string, std::string> weight_map;  // tensor name -> shard file name
};

// The shard (0-based) of each tensor under transformers' rule, for tensors in model order.
std::vector<size_t> AssignShards(const std::vector<TensorToWrite>& tensors_in_model_order,
                                 uint64_t max_shard_bytes);

// Writes model.safetensors when everything fits in one shard, otherwise shards + index
// (then removing a stale model.safetensors.index.json / model.safetensors of the other kind).
// Nothing under a final name changes until every file is complete on disk.
// `tensors_in_model_order` decides the shard split, so pass them in state_dict order.
WrittenCheckpoint WriteSafetensorsCheckpoint(
    const std::vector<TensorToWrite>& tensors_in_model_order, const TensorBytesSource& source,
    const CheckpointWriteOptions& options);

}  // namespace gemma
