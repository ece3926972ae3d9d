// Activations rounded to int8 for the integer decode kernels (QuantDot::kInt8): the same
// trade llama.cpp makes, with a finer grid. Every 32 consecutive values share one float32
// scale d = max|x| / 127 and x[c] ~= d * q[c], q in [-127, 127] (round to nearest even):
// an error of at most half a step, 1/254 of the block's largest magnitude. llama.cpp uses
// the same 32-value blocks for Q8_0/Q4_0 (with a float16 scale) but 256-value blocks for
// the K-quants; docs/quantization.md has the measured effect on the logits.
#pragma once

#include <cstddef>
#include <cstdint>

#include "hwy/aligned_allocator.h"

namespace gemma::quant {

inline constexpr size_t kInt8ActivationBlock = 32;

struct Int8Activations {
  size_t cols = 0;
  const int8_t* q = nullptr;       // [cols], 64-byte aligned
  const float* d = nullptr;        // [cols / 32] the block scales
  const float* dsum = nullptr;     // [cols / 32] d[b] * (sum of q over block b), for offsets
  const int16_t* sum16 = nullptr;  // [cols / 16] sum of q over each 16 values (Q6_K)
  // The same values arranged for kernels that work on two 32-value blocks b = 2p, 2p + 1 at
  // a time (Q4_0, whose bytes hold values j and j + 16): q_pairs[64p ..] holds values 0-15
  // of b, 0-15 of b + 1, 16-31 of b, 16-31 of b + 1; an odd last block is not included.
  // d4 and dsum4 hold each d[b] and dsum[b] four times (one per row of a 4-row group).
  const int8_t* q_pairs = nullptr;  // [cols rounded down to 64]
  const float* d4 = nullptr;        // [4 * cols / 32]
  const float* dsum4 = nullptr;     // [4 * cols / 32]

  // Owned storage; grows to the widest vector seen and is then reused.
  hwy::AlignedFreeUniquePtr<int8_t[]> q_storage;     // q, then q_pairs
  hwy::AlignedFreeUniquePtr<float[]> scale_storage;  // d, dsum, d4, dsum4
  hwy::AlignedFreeUniquePtr<int16_t[]> sum16_storage;
  size_t capacity = 0;
};

// Rounds x[0, cols) into `out` (cols must be a multiple of 32). Returns false, leaving `out`
// unusable, if x holds a NaN or an infinity: the caller then uses the float32 kernels,
// which propagate it. SIMD; bit-identical to QuantizeActivationsReference.
bool QuantizeActivations(const float* x, size_t cols, Int8Activations& out);

// The plain scalar version of the same rounding.
bool QuantizeActivationsReference(const float* x, size_t cols, Int8Activations& out);

}  // namespace gemma::quant
