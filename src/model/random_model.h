// Random weights of any Gemma config built in memory, in any weight dtype, so that speed
// can be measured at full size without a checkpoint on disk (`gemma-rt bench --random`).
// Values follow the same distributions as `make-random` checkpoints.
#pragma once

#include <cstdint>

#include "base/dtype.h"
#include "model/config.h"
#include "model/weights.h"

namespace gemma {

struct RandomModelOptions {
  ModelConfig config;
  DType dtype = DType::kBF16;  // matrices; any type QuantizeRow accepts (norms stay float32)
  uint64_t seed = 0;
  int threads = 0;  // 0: every hardware thread
};

ModelWeights MakeRandomModel(const RandomModelOptions& options);

}  // namespace gemma
