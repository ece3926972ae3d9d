// A single sequence's key/value cache of `capacity` positions in a private KVPool, with all
// its blocks reserved up front (the memory is reserved, not touched, until positions are
// written). Session and the single-sequence Forward use it; the batched engine shares one
// pool between its sequences instead (kv_pool.h, sequence_kv.h).
#pragma once

#include <cstddef>
#include <memory>
#include <span>

#include "model/config.h"
#include "model/kv_pool.h"
#include "model/sequence_kv.h"

namespace gemma {

class KVCache {
 public:
  // capacity: positions, 1..config.max_position_embeddings; throws Error(kInvalidArgument)
  // otherwise.
  KVCache(const ModelConfig& config, size_t capacity);
  KVCache(KVCache&&) noexcept = default;
  KVCache& operator=(KVCache&&) noexcept = default;

  size_t capacity() const { return capacity_; }
  KVPool& pool() { return *pool_; }
  const KVPool& pool() const { return *pool_; }
  std::span<const int32_t> blocks() const { return sequence_->blocks(); }

 private:
  size_t capacity_;
  std::unique_ptr<KVPool> pool_;  // stable address: the sequence points into it
  std::unique_ptr<SequenceKV> sequence_;
};

}  // namespace gemma
