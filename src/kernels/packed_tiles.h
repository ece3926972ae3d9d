// The layout of activations packed once for several products (PackedActivations), shared
// by the blocked float32 product (kernels/matmul_kernel-inl.h) and the class that fills it.
#pragma once

#include <cstddef>

namespace gemma::matmul_blocking {

constexpr size_t kMR = 6;    // tokens per register tile
constexpr size_t kKC = 256;  // columns per block: a [kKC][NR] strip is 16 KiB on AVX2 (L1);
                             // also one K-quant super-block, or eight 32-value blocks
constexpr size_t kMC = 120;  // tokens per packed block (multiple of kMR): 120 KiB (L2)

// Activations packed once for several products (PackedActivations): the column block that
// starts at pc (kc <= kKC columns) holds TileRows(tokens) x kc floats at pc * TileRows,
// laid out as PackActivations lays out a block (token block ic at + ic * kc), so the
// kernel reads them in place.
inline size_t TileRows(size_t tokens) { return (tokens + kMR - 1) / kMR * kMR; }
inline size_t PackedTileFloats(size_t tokens, size_t cols) { return TileRows(tokens) * cols; }
// Where block (pc, ic) of those tiles starts (pc, ic: its first column and token).
inline size_t PackedTileOffset(size_t tokens, size_t pc, size_t ic, size_t kc) {
  return pc * TileRows(tokens) + ic * kc;
}
// Packs the (pc, ic) blocks numbered [first, last) of PackedTileBlocks (column-block
// major) of x [tokens, cols] into `tiles`; threads may pack disjoint ranges at once.
// Defined in kernels/matmul.cc (per-target dispatch).
size_t PackedTileBlocks(size_t tokens, size_t cols);
void PackTiles(const float* x, size_t tokens, size_t cols, size_t first, size_t last, float* tiles);

}  // namespace gemma::matmul_blocking
