// A Hugging Face checkpoint's weights: one `model.safetensors`, or shards listed by
// `model.safetensors.index.json` ({"metadata": {"total_size": N}, "weight_map": {...}}).
#pragma once

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "io/safetensors.h"

namespace gemma {

struct LocatedTensor {
  std::string name;
  std::string file;  // shard file name (no directory)
  TensorView view;
};

class SafetensorsCheckpoint {
 public:
  // `path` is a model directory or a single .safetensors file. Every shard named by the
  // index must exist and hold the tensors the index says it holds.
  static SafetensorsCheckpoint Open(const std::string& path);

  // True when `dir` holds model.safetensors or model.safetensors.index.json.
  static bool IsCheckpointDirectory(const std::string& dir);

  const std::vector<LocatedTensor>& tensors() const { return tensors_; }  // sorted by name
  const LocatedTensor* Find(const std::string& name) const;
  // total_size from the index (0 for a single file): the sum of the tensors' data bytes.
  uint64_t index_total_size() const { return index_total_size_; }
  const std::vector<std::string>& shard_paths() const { return shard_paths_; }

 private:
  std::vector<std::unique_ptr<SafetensorsFile>> shards_;
  std::vector<std::string> shard_paths_;
  std::vector<LocatedTensor> tensors_;
  std::map<std::string, size_t> index_;
  uint64_t index_total_size_ = 0;
};

}  // namespace gemma
