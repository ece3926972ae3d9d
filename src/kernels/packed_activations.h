// Activations prepared once for several prefill products with the same x: the queries,
// keys and values of a layer read one normalized x, and so do all the gate and up slices of
// its feed-forward block. Each MatMul would otherwise pack x into register tiles (or round
// it to int8) again, in every thread; PackedActivations does it once, over the pool, the
// first time a product needs it, and the products read the result in place.
#pragma once

#include <cstddef>
#include <cstdint>

#include "hwy/aligned_allocator.h"
#include "kernels/bf16_activations.h"
#include "kernels/quant/int8_matmul.h"
#include "kernels/thread_pool.h"

namespace gemma {

class PackedActivations {
 public:
  // Starts on a new x [tokens, cols]: nothing is prepared until a product asks. x is kept
  // by pointer and must not change while this object is used with it.
  void Reset(const float* x, size_t tokens, size_t cols);

  const float* x() const { return x_; }
  size_t tokens() const { return tokens_; }
  size_t cols() const { return cols_; }

  // x in the register tiles of the blocked float32 product (kernels/packed_tiles.h).
  const float* FloatTiles(ThreadPool& pool);
  // x rounded to int8 per token, as decode rounds it (kernels/quant/int8_matmul.h); null if
  // x holds a NaN or an infinity. cols must be a multiple of 32.
  const quant::Int8Rows* Int8Rows(ThreadPool& pool);
  // x rounded to bf16 (kernels/bf16_activations.h), for bf16 weights with QuantDot::kInt8;
  // with_values: also as float32 (the portable kernels; the AVX-512 BF16 kernel reads the
  // bits only).
  const Bf16Rows& RoundedBf16(ThreadPool& pool, bool with_values = true);
  // Those rounded values in the register tiles of the blocked float32 product.
  const float* RoundedBf16Tiles(ThreadPool& pool);
  // Those rounded values in the tiles of the AVX-512 BF16 kernel (x86::PackBf16Tiles).
  const uint32_t* Bf16PairTiles(ThreadPool& pool);

 private:
  const float* x_ = nullptr;
  size_t tokens_ = 0;
  size_t cols_ = 0;
  // What tiles_ holds: nothing yet, x's tiles, or the tiles of x rounded to bf16.
  enum class Tiles { kNone, kOfX, kOfRoundedBf16 } tiles_of_ = Tiles::kNone;
  enum class Int8State { kNotYet, kReady, kNotFinite } int8_ = Int8State::kNotYet;
  enum class Bf16State { kNotYet, kBits, kBitsAndValues } bf16_ = Bf16State::kNotYet;
  bool bf16_pairs_ready_ = false;
  hwy::AlignedFreeUniquePtr<uint32_t[]> bf16_pairs_;
  size_t bf16_pairs_capacity_ = 0;
  hwy::AlignedFreeUniquePtr<float[]> tiles_;
  size_t tiles_capacity_ = 0;
  quant::Int8Rows int8_rows_;
  Bf16Rows bf16_rows_;

  const float* PackTilesOf(const float* source, Tiles what, ThreadPool& pool);
};

}  // namespace gemma
