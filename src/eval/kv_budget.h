// KV cache budgets for the engines evaluation runs: sized for what the run holds at once
// instead of the engine's default (max_sequences x 2048 positions), so that a run's memory
// is its weights plus a small, known amount.
#pragma once

#include <cstddef>
#include <cstdint>

#include "gemma_rt/gemma_rt.h"

namespace gemma::eval {

// The engine's KV blocks hold 16 positions; keys and values are float32 for every layer
// and key-value head (docs/api.md).
inline constexpr size_t kKvBlockPositions = 16;

inline uint64_t KvBytesFor(const gemma_rt::ModelInfo& info, size_t positions) {
  const uint64_t blocks = (positions + kKvBlockPositions - 1) / kKvBlockPositions;
  return blocks * kKvBlockPositions * 2 * static_cast<uint64_t>(info.layers) *
         static_cast<uint64_t>(info.kv_heads) * static_cast<uint64_t>(info.head_dim) *
         sizeof(float);
}

}  // namespace gemma::eval
