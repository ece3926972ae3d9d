// Products of bf16 weights with bf16-rounded activations (kernels/bf16_activations.h) on
// AVX-512 BF16 (Zen 4/5, Sapphire Rapids and later): vdpbf16ps multiplies 32 bf16 pairs
// and adds them into 16 float32 lanes, twice the multiply-adds of a float32 FMA and no
// widening of the weights. Call only where CpuFeatureEnabled(kCpuAvx512Bf16); the portable
// twin is the float32 product of the same rounded values (kernels/matvec.cc, matmul.cc),
// which gives the same products summed in another order.
#pragma once

#include <cstddef>
#include <cstdint>

#include "kernels/bf16_activations.h"
#include "kernels/weight_matrix.h"

namespace gemma::x86 {

// y[r] = sum_c W[r, c] * x[c] for r in [row_begin, row_end); w.dtype is BF16, x: [w.cols]
// bf16 bits.
void Bf16MatVecRowsAvx512(const WeightMatrix& w, const uint16_t* x, float* y, size_t row_begin,
                          size_t row_end);

// The prefill kernel reads x as register tiles packed once for every product with the same
// x (PackedActivations): per block of 256 columns, per tile of 14 tokens, [pairs][14]
// uint32 (two bf16 values of one token each). Bf16TileWords: their size in uint32;
// Bf16TileUnits: the (block, tile) units that PackBf16Tiles fills, [first, last) of them
// per call, so threads can pack disjoint ranges at once.
size_t Bf16TileWords(size_t tokens, size_t cols);
size_t Bf16TileUnits(size_t tokens, size_t cols);
void PackBf16Tiles(const Bf16Rows& x, size_t first, size_t last, uint32_t* tiles);

// y[t * w.rows + r] (+)= sum_c W[r, c] * x[t, c] for r in [row_begin, row_end) and every
// token of x (x.cols == w.cols), x's tiles packed by PackBf16Tiles. Overwrites y, or adds
// to it when add_to_y.
void Bf16MatMulRowsAvx512(const WeightMatrix& w, const Bf16Rows& x, const uint32_t* tiles, float* y,
                          size_t row_begin, size_t row_end, bool add_to_y);

}  // namespace gemma::x86
