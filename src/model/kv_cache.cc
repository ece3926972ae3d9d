#include "model/kv_cache.h"

#include "base/error.h"

namespace gemma {

KVCache::KVCache(const ModelConfig& config, size_t capacity) : capacity_(capacity) {
  if (capacity == 0 || capacity > static_cast<size_t>(config.max_position_embeddings)) {
    Fail(ErrorCode::kInvalidArgument, "KV cache capacity ", capacity,
         " must be between 1 and the model's max_position_embeddings (",
         config.max_position_embeddings, ")");
  }
  const size_t block_size = KVPool::kDefaultBlockSize;
  pool_ = std::make_unique<KVPool>(config, (capacity + block_size - 1) / block_size, block_size);
  sequence_ = std::make_unique<SequenceKV>(*pool_, /*publish=*/false);
  sequence_->ReserveCapacity(capacity);
}

}  // namespace gemma
