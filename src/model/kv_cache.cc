#include "model/kv_cache.h"

#include <algorithm>

#include "base/error.h"

namespace gemma {

KVCache::KVCache(const ModelConfig& config, size_t capacity)
    : capacity_(capacity),
      kv_heads_(static_cast<size_t>(config.num_key_value_heads)),
      head_dim_(static_cast<size_t>(config.head_dim)) {
  if (capacity == 0 || capacity > static_cast<size_t>(config.max_position_embeddings)) {
    Fail(ErrorCode::kInvalidArgument, "KV cache capacity ", capacity,
         " must be between 1 and the model's max_position_embeddings (",
         config.max_position_embeddings, ")");
  }
  const size_t per_layer = kv_heads_ * capacity_ * head_dim_;
  for (int64_t layer = 0; layer < config.num_hidden_layers; ++layer) {
    keys_.emplace_back(new float[per_layer]);
    values_.emplace_back(new float[per_layer]);
  }
}

KVCache KVCache::Copy(size_t positions) const {
  if (positions > capacity_) {
    Fail(ErrorCode::kInvalidArgument, "KVCache::Copy of ", positions,
         " positions from a cache of capacity ", capacity_);
  }
  KVCache copy;
  copy.capacity_ = capacity_;
  copy.kv_heads_ = kv_heads_;
  copy.head_dim_ = head_dim_;
  const size_t per_layer = kv_heads_ * capacity_ * head_dim_;
  for (size_t layer = 0; layer < keys_.size(); ++layer) {
    copy.keys_.emplace_back(new float[per_layer]);
    copy.values_.emplace_back(new float[per_layer]);
    for (size_t g = 0; g < kv_heads_; ++g) {
      const size_t begin = Offset(g, 0);
      const size_t count = positions * head_dim_;
      std::copy_n(keys_[layer].get() + begin, count, copy.keys_[layer].get() + begin);
      std::copy_n(values_[layer].get() + begin, count, copy.values_[layer].get() + begin);
    }
  }
  return copy;
}

}  // namespace gemma
