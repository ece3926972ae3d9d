// Blocking constants and per-thread scratch of the blocked prefill products (the float32
// product in kernels/matmul_kernel-inl.h and the integer and bf16 kernels beside it).
#pragma once

#include <cstddef>

#include "base/error.h"
#include "hwy/aligned_allocator.h"
#include "kernels/packed_tiles.h"

namespace gemma::matmul_blocking {
// kMR, kKC, kMC: kernels/packed_tiles.h.
// Weight rows per packed block (a multiple of every NR): 2 MiB, in L3. Large, because the
// activations are re-packed once per block of rows (and that copy reads x from L3).
constexpr size_t kNC = 2048;
// Row stride (floats) of the block of y that a row block accumulates in, over all column
// blocks, before it is copied out. y's own stride is the weight's row count, often a
// multiple of 4 KiB (gemma-2b's 16384-row gate/up: 64 KiB): the 6 rows of a register tile
// then fall in one L1 set, and a block's tokens in one L2 set, and evict each other and
// the weight strip. The extra 64 bytes put consecutive tokens in consecutive sets
// (1-thread MatMul 16384x2048x512 ~75-82 -> ~81-87 GFLOP/s in a scratch test, like
// 16400 rows).
constexpr size_t kLdc = kNC + 16;
// Floats of scratch one thread needs for `tokens` tokens: packed weights, packed
// activations, and the block of y (tokens rounded up to whole register tiles).
// PackActivations writes up to 2 floats past its block; 16 keep what follows aligned.
constexpr size_t kPackSlack = 16;
inline size_t ScratchFloats(size_t tokens) {
  return kKC * kNC + kKC * kMC + kPackSlack + (tokens + kMR - 1) / kMR * kMR * kLdc;
}

// The calling thread's scratch for `tokens` tokens: allocated on its first MatMul, grown
// when more tokens come, then reused, so the pool's persistent threads allocate nothing
// per call. One buffer per thread for every weight type.
inline float* ThreadScratch(size_t tokens) {
  thread_local hwy::AlignedFreeUniquePtr<float[]> scratch;
  thread_local size_t capacity = 0;
  const size_t needed = ScratchFloats(tokens);
  if (needed > capacity) {
    scratch = hwy::AllocateAligned<float>(needed);
    if (!scratch) Fail(ErrorCode::kInternal, "MatMul: cannot allocate packing buffers");
    capacity = needed;
  }
  return scratch.get();
}
}  // namespace gemma::matmul_blocking
