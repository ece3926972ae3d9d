// The keys and values of every position seen so far, per layer, in float32. Layout per layer:
// [kv_heads][capacity][head_dim], the layout CausalAttention reads (kernels/attention.h).
// A cache belongs to one session; copying one is explicit (Copy()), never implicit.
#pragma once

#include <cstddef>
#include <memory>
#include <vector>

#include "model/config.h"

namespace gemma {

class KVCache {
 public:
  // capacity: positions per layer, 1..config.max_position_embeddings; throws
  // Error(kInvalidArgument) otherwise. The memory is reserved, not touched: pages become
  // resident only as positions are written, so a long capacity costs nothing until used.
  KVCache(const ModelConfig& config, size_t capacity);

  KVCache(KVCache&&) noexcept = default;
  KVCache& operator=(KVCache&&) noexcept = default;
  KVCache(const KVCache&) = delete;
  KVCache& operator=(const KVCache&) = delete;

  // A deep copy of the first `positions` positions (e.g. to fork a conversation).
  KVCache Copy(size_t positions) const;

  size_t capacity() const { return capacity_; }
  size_t layers() const { return keys_.size(); }
  size_t kv_heads() const { return kv_heads_; }
  size_t head_dim() const { return head_dim_; }

  // [kv_heads][capacity][head_dim] of one layer; keys are stored after RoPE.
  float* keys(size_t layer) { return keys_[layer].get(); }
  float* values(size_t layer) { return values_[layer].get(); }
  const float* keys(size_t layer) const { return keys_[layer].get(); }
  const float* values(size_t layer) const { return values_[layer].get(); }

  // Where position `position` of kv head `kv_head` lives inside one layer's buffer.
  size_t Offset(size_t kv_head, size_t position) const {
    return (kv_head * capacity_ + position) * head_dim_;
  }

  size_t BytesPerLayer() const { return 2 * kv_heads_ * capacity_ * head_dim_ * sizeof(float); }

 private:
  KVCache() = default;  // for Copy()

  size_t capacity_ = 0;
  size_t kv_heads_ = 0;
  size_t head_dim_ = 0;
  // new float[n] (default-initialized) rather than std::vector: a vector would zero, and so
  // touch, every page of an 8192-position cache up front.
  std::vector<std::unique_ptr<float[]>> keys_;    // per layer: [kv_heads][capacity][head_dim]
  std::vector<std::unique_ptr<float[]>> values_;  // per layer: [kv_heads][capacity][head_dim]
};

}  // namespace gemma
