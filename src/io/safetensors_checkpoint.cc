#include "io/safetensors_checkpoint.h"

#include <algorithm>
#include <filesystem>
#include <nlohmann/json.hpp>

#include "base/error.h"
#include "base/printable.h"
#include "io/input_file.h"

namespace gemma {
namespace {

namespace fs = std::filesystem;
using Json = nlohmann::json;

constexpr const char* kSingleFile = "model.safetensors";
constexpr const char* kIndexFile = "model.safetensors.index.json";

std::string ReadSmallTextFile(const fs::path& path) {
  return ReadInputFile(path.string(), {.what = kIndexFile, .max_bytes = kMaxMetadataFileBytes});
}

}  // namespace

bool SafetensorsCheckpoint::IsCheckpointDirectory(const std::string& dir) {
  std::error_code ec;
  return fs::is_regular_file(fs::path(dir) / kSingleFile, ec) ||
         fs::is_regular_file(fs::path(dir) / kIndexFile, ec);
}

SafetensorsCheckpoint SafetensorsCheckpoint::Open(const std::string& path) {
  SafetensorsCheckpoint ckpt;
  const fs::path root(path);
  std::error_code ec;
  // (shard file name, tensors that the index says it holds; empty = take all)
  std::map<std::string, std::vector<std::string>> shard_to_tensors;
  fs::path dir = root;

  if (fs::is_regular_file(root, ec)) {
    dir = root.parent_path();
    shard_to_tensors[root.filename().string()] = {};
  } else if (!fs::is_directory(root, ec)) {
    Fail(ErrorCode::kNotFound, path, ": no such model directory or file");
  } else if (fs::is_regular_file(root / kIndexFile, ec)) {
    const std::string index_path = (root / kIndexFile).string();
    const Json index = Json::parse(ReadSmallTextFile(root / kIndexFile), nullptr, false);
    if (index.is_discarded() || !index.is_object()) {
      Fail(ErrorCode::kFormat, index_path, ": not a JSON object");
    }
    const auto map_it = index.find("weight_map");
    if (map_it == index.end() || !map_it->is_object() || map_it->empty()) {
      Fail(ErrorCode::kFormat, index_path, ": missing or empty \"weight_map\" object");
    }
    for (const auto& [tensor, file] : map_it->items()) {
      if (!file.is_string()) {
        Fail(ErrorCode::kFormat, index_path, ": weight_map entry for '", PrintableName(tensor),
             "' is not a file name");
      }
      const std::string shard = file.get<std::string>();
      if (shard.empty() || shard.find('/') != std::string::npos || shard == "..") {
        Fail(ErrorCode::kFormat, index_path, ": weight_map entry for '", PrintableName(tensor),
             "' names '", PrintableName(shard), "', which is not a file in the model directory");
      }
      shard_to_tensors[shard].push_back(tensor);
    }
    if (const auto meta = index.find("metadata"); meta != index.end() && meta->is_object()) {
      if (const auto total = meta->find("total_size");
          total != meta->end() && total->is_number_unsigned()) {
        ckpt.index_total_size_ = total->get<uint64_t>();
      }
    }
  } else if (fs::is_regular_file(root / kSingleFile, ec)) {
    shard_to_tensors[kSingleFile] = {};
  } else {
    Fail(ErrorCode::kNotFound, path, ": neither ", kSingleFile, " nor ", kIndexFile,
         " found in the model directory");
  }

  for (const auto& [shard, expected] : shard_to_tensors) {
    const fs::path shard_path = dir / shard;
    if (!fs::is_regular_file(shard_path, ec)) {
      Fail(ErrorCode::kNotFound, (dir / PrintableName(shard)).string(), ": shard named by ",
           kIndexFile, " is missing");
    }
    auto file = std::make_unique<SafetensorsFile>(SafetensorsFile::Open(shard_path.string()));
    for (const std::string& name : expected) {
      if (file->Find(name) == nullptr) {
        Fail(ErrorCode::kFormat, shard_path.string(), ": the index places tensor '",
             PrintableName(name), "' in this shard but it is not there");
      }
    }
    for (const SafetensorsEntry& entry : file->header().tensors) {
      if (!expected.empty() &&
          std::find(expected.begin(), expected.end(), entry.name) == expected.end()) {
        continue;  // a tensor the index assigns elsewhere (or not at all) is not ours here
      }
      if (ckpt.index_.count(entry.name) != 0) {
        Fail(ErrorCode::kFormat, shard_path.string(), ": tensor '", PrintableName(entry.name),
             "' appears in more than one shard");
      }
      ckpt.index_[entry.name] = ckpt.tensors_.size();
      ckpt.tensors_.push_back({.name = entry.name, .file = shard, .view = file->View(entry)});
    }
    ckpt.shard_paths_.push_back(shard_path.string());
    ckpt.shards_.push_back(std::move(file));
  }

  std::sort(ckpt.tensors_.begin(), ckpt.tensors_.end(),
            [](const LocatedTensor& a, const LocatedTensor& b) { return a.name < b.name; });
  ckpt.index_.clear();
  for (size_t i = 0; i < ckpt.tensors_.size(); ++i) ckpt.index_[ckpt.tensors_[i].name] = i;
  return ckpt;
}

const LocatedTensor* SafetensorsCheckpoint::Find(const std::string& name) const {
  const auto it = index_.find(name);
  return it == index_.end() ? nullptr : &tensors_[it->second];
}

}  // namespace gemma
