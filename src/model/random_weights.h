// Random-weight checkpoints of any Gemma config, written in the exact Hugging Face layout
// (config.json + safetensors, sharded like transformers). They let benchmarks and tests run
// at full size without downloading weights. Values are drawn like the golden test data
// (tests/data/golden/README.md): linear layers N(0, (2.2/sqrt(fan_in))^2), the embedding
// N(0, (1.5/sqrt(H))^2), per-layer norms N(0, 0.25^2) and the final norm N(1, 0.25^2).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "base/dtype.h"
#include "io/safetensors_writer.h"
#include "model/config.h"
#include "model/tensor_table.h"

namespace gemma {

struct RandomCheckpointOptions {
  ModelConfig config;
  DType dtype = DType::kBF16;  // F32, F16 or BF16
  uint64_t seed = 0;
  std::string out_dir;
  uint64_t max_shard_bytes = kDefaultMaxShardBytes;
  int threads = 0;  // 0: every hardware thread
};

// Standard deviation and mean the golden data uses for this tensor.
struct Distribution {
  float mean = 0.0f;
  float stddev = 1.0f;
};
Distribution InitDistribution(const TensorSpec& spec);

// Fills `out` with elements [first, first + out.size()) of a tensor's values, as float32.
// Counter-based (each value depends only on seed, stream and index), so any chunking and
// any number of threads give the same bytes. The normal deviate is the sum of four 16-bit
// uniforms (Irwin-Hall, rescaled): mean and variance are exact, tails stop at 3.46 sigma,
// which is all a benchmark or a loader test needs, at ~1 ns per value.
void RandomNormalValues(uint64_t seed, uint64_t stream, uint64_t first, Distribution dist,
                        std::span<float> out);

// Writes config.json and the safetensors files into out_dir; returns what was written.
WrittenCheckpoint WriteRandomCheckpoint(const RandomCheckpointOptions& options);

}  // namespace gemma
