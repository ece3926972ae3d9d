#include "model/kv_pool.h"

#include <algorithm>
#include <cstring>

#include "base/error.h"

namespace gemma {

namespace {

size_t ElementBytes(DType dtype) {
  switch (dtype) {
    case DType::kF32:
      return sizeof(float);
    case DType::kBF16:
      return sizeof(uint16_t);
    default:
      Fail(ErrorCode::kInvalidArgument, "KV cache of ", DTypeName(dtype),
           " values (F32 or BF16 are supported)");
  }
}

// Stores n float32 values as `dtype` elements.
void Store(const float* from, size_t n, DType dtype, std::byte* to) {
  if (dtype == DType::kF32) {
    std::memcpy(to, from, n * sizeof(float));
    return;
  }
  for (size_t i = 0; i < n; ++i) {
    const uint16_t bits = F32ToBF16(from[i]);
    std::memcpy(to + i * sizeof(bits), &bits, sizeof(bits));
  }
}

}  // namespace

size_t KVPool::BytesPerBlock(const ModelConfig& c, size_t block_size, DType dtype) {
  return 2 * static_cast<size_t>(c.num_hidden_layers) * static_cast<size_t>(c.kv_dim()) *
         block_size * ElementBytes(dtype);
}

KVPool::KVPool(const ModelConfig& config, size_t num_blocks, size_t block_size, DType dtype)
    : block_size_(block_size),
      kv_heads_(static_cast<size_t>(config.num_key_value_heads)),
      head_dim_(static_cast<size_t>(config.head_dim)),
      dtype_(dtype),
      element_bytes_(ElementBytes(dtype)),
      refs_(num_blocks, 0),
      evictable_at_(num_blocks),
      hash_of_(num_blocks),
      tokens_of_(num_blocks),
      parent_of_(num_blocks) {
  if (block_size == 0 || num_blocks == 0 || num_blocks > (size_t{1} << 30)) {
    Fail(ErrorCode::kInvalidArgument, "KV pool of ", num_blocks, " blocks of ", block_size,
         " positions");
  }
  const size_t per_layer = num_blocks * kv_heads_ * block_size_ * head_dim_ * element_bytes_;
  for (int64_t layer = 0; layer < config.num_hidden_layers; ++layer) {
    keys_.emplace_back(new std::byte[per_layer]);
    values_.emplace_back(new std::byte[per_layer]);
  }
  free_.resize(num_blocks);
  for (size_t i = 0; i < num_blocks; ++i) free_[i] = static_cast<int32_t>(num_blocks - 1 - i);
}

std::optional<int32_t> KVPool::Allocate() {
  int32_t block;
  if (!free_.empty()) {
    block = free_.back();
    free_.pop_back();
  } else if (!evictable_.empty()) {
    block = evictable_.front();
    evictable_.pop_front();
    Forget(block);
  } else {
    return std::nullopt;
  }
  refs_[block] = 1;
  return block;
}

void KVPool::Retain(int32_t block) {
  if (refs_[block]++ == 0) evictable_.erase(evictable_at_[block]);  // only recorded blocks
}

void KVPool::Release(int32_t block) {
  if (refs_[block] <= 0) Fail(ErrorCode::kInternal, "KV block ", block, " released too often");
  if (--refs_[block] > 0) return;
  if (!tokens_of_[block].empty()) {
    evictable_at_[block] = evictable_.insert(evictable_.end(), block);
  } else {
    free_.push_back(block);
  }
}

void KVPool::Record(int32_t block, uint64_t parent, std::span<const int32_t> tokens) {
  if (hash_of_[block] || tokens.empty() || tokens.size() > block_size_) {
    Fail(ErrorCode::kInternal, "KV block ", block, ": a record of ", tokens.size(), " positions",
         hash_of_[block] ? " for a published block" : "");
  }
  std::vector<int32_t>& held = tokens_of_[block];
  if (held.empty() || parent_of_[block] != parent) {
    if (!held.empty()) Forget(block);
    by_parent_.emplace(parent, block);
    parent_of_[block] = parent;
  }
  held.assign(tokens.begin(), tokens.end());
}

bool KVPool::Publish(int32_t block, uint64_t hash) {
  if (hash_of_[block] || tokens_of_[block].size() != block_size_) {
    Fail(ErrorCode::kInternal, "KV block ", block, " published twice or before it is full");
  }
  if (by_hash_.count(hash)) {
    Forget(block);
    return false;
  }
  by_hash_[hash] = block;
  hash_of_[block] = hash;
  return true;
}

std::optional<int32_t> KVPool::Lookup(uint64_t hash, std::span<const int32_t> tokens) {
  const auto it = by_hash_.find(hash);
  if (it == by_hash_.end()) return std::nullopt;
  const int32_t block = it->second;
  // The tokens guard against a 64-bit hash collision within the block itself.
  if (!std::equal(tokens.begin(), tokens.end(), tokens_of_[block].begin(),
                  tokens_of_[block].end())) {
    return std::nullopt;
  }
  Retain(block);
  return block;
}

std::optional<KVPool::CachedStart> KVPool::CopyCachedStart(uint64_t parent,
                                                           std::span<const int32_t> tokens) {
  int32_t source = -1;
  size_t longest = 0;
  const auto [first, last] = by_parent_.equal_range(parent);
  for (auto it = first; it != last; ++it) {
    const std::vector<int32_t>& held = tokens_of_[it->second];
    const size_t n = std::min(held.size(), tokens.size());
    const size_t same = static_cast<size_t>(
        std::mismatch(held.begin(), held.begin() + long(n), tokens.begin()).first - held.begin());
    if (same > longest) {
      longest = same;
      source = it->second;
    }
  }
  if (longest == 0) return std::nullopt;
  Retain(source);  // so that the allocation cannot evict it
  const std::optional<int32_t> copy = Allocate();
  if (copy) CopyBlock(source, *copy, longest);
  Release(source);
  if (!copy) return std::nullopt;
  return CachedStart{.block = *copy, .positions = longest};
}

void KVPool::Forget(int32_t block) {
  if (hash_of_[block]) by_hash_.erase(*hash_of_[block]);
  hash_of_[block].reset();
  if (tokens_of_[block].empty()) return;
  const auto [first, last] = by_parent_.equal_range(parent_of_[block]);
  for (auto it = first; it != last; ++it) {
    if (it->second == block) {
      by_parent_.erase(it);
      break;
    }
  }
  tokens_of_[block].clear();
}

void KVPool::Write(size_t layer, int32_t block, size_t offset, const float* keys,
                   const float* values) {
  for (size_t g = 0; g < kv_heads_; ++g) {
    const size_t at = Offset(block, g, offset) * element_bytes_;
    Store(keys + g * head_dim_, head_dim_, dtype_, keys_[layer].get() + at);
    Store(values + g * head_dim_, head_dim_, dtype_, values_[layer].get() + at);
  }
}

float KVPool::KeyAt(size_t layer, size_t element) const {
  const std::byte* at = keys_[layer].get() + element * element_bytes_;
  if (dtype_ == DType::kF32) {
    float f;
    std::memcpy(&f, at, sizeof(f));
    return f;
  }
  uint16_t bits;
  std::memcpy(&bits, at, sizeof(bits));
  return BF16ToF32(bits);
}

void KVPool::CopyBlock(int32_t from, int32_t to, size_t positions) {
  const size_t bytes = positions * head_dim_ * element_bytes_;
  for (size_t layer = 0; layer < layers(); ++layer) {
    for (size_t g = 0; g < kv_heads_; ++g) {
      std::memcpy(keys_[layer].get() + Offset(to, g, 0) * element_bytes_,
                  keys_[layer].get() + Offset(from, g, 0) * element_bytes_, bytes);
      std::memcpy(values_[layer].get() + Offset(to, g, 0) * element_bytes_,
                  values_[layer].get() + Offset(from, g, 0) * element_bytes_, bytes);
    }
  }
}

}  // namespace gemma
