// Activations rounded to bf16 for products with bf16 weights (QuantDot::kInt8 on a bf16
// matrix, the default of the CLI and the API; docs/quantization.md): llama.cpp's arithmetic
// for bf16 files. Each value is rounded to the nearest bf16 (ties to even, NaN kept), a
// relative error of at most 2^-9. The product of a bf16 weight and a bf16 activation is
// exact in float32, so every kernel computes the same products and differs from the others
// only in the order of the float32 sums: the AVX-512 BF16 kernels (vdpbf16ps, 32
// multiply-adds per instruction, twice the float32 FMA's rate) and the portable float32
// kernels, which multiply by the rounded values.
#pragma once

#include <cstddef>
#include <cstdint>

#include "hwy/aligned_allocator.h"
#include "kernels/weight_matrix.h"

namespace gemma {

// True for the matrices whose products round x to bf16: bf16 weights with QuantDot::kInt8.
bool UsesRoundedBf16(const WeightMatrix& w);

// `tokens` rows of `cols` values rounded to bf16: bits (for vdpbf16ps) and, when asked
// for, the same values as float32 (for the float32 kernels). Storage grows to the largest
// size seen, then is reused.
struct Bf16Rows {
  size_t tokens = 0;
  size_t cols = 0;
  uint16_t* bits = nullptr;  // [tokens][cols]
  float* values = nullptr;   // [tokens][cols], or null when prepared without them

  hwy::AlignedFreeUniquePtr<uint16_t[]> bits_storage;
  hwy::AlignedFreeUniquePtr<float[]> values_storage;
  size_t capacity = 0;         // of bits_storage
  size_t values_capacity = 0;  // of values_storage
};

// Sizes `rows` for tokens x cols values. Without values (the AVX-512 BF16 kernels read the
// bits only) a row costs 2 bytes per value instead of 6: 4 MB less for a 512-token prompt
// on gemma-2b, per prepared input.
void PrepareBf16Rows(size_t tokens, size_t cols, Bf16Rows& rows, bool with_values = true);

// Rounds rows [t_begin, t_end) of x ([rows.tokens, rows.cols]) into `rows` (the values too
// when prepared with them). Threads may fill disjoint ranges.
void RoundRowsToBf16(const float* x, size_t t_begin, size_t t_end, Bf16Rows& rows);

}  // namespace gemma
