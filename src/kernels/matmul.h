// Products of a weight matrix (any dtype) with float32 activations. These are the hot
// path: decode is bound by reading each weight byte once, prefill by FMA throughput.
#pragma once

#include <cstddef>

#include "kernels/thread_pool.h"
#include "kernels/weight_matrix.h"

namespace gemma {

class PackedActivations;  // kernels/packed_activations.h
class DecodeActivations;  // kernels/decode_activations.h

// y[r] = sum_c W[r, c] * x[c] for r in [0, w.rows). x: [w.cols], y: [w.rows].
// Float32 accumulation in a blocked order (not the reference's sequential one).
void MatVec(const WeightMatrix& w, const float* x, float* y, ThreadPool& pool);

// y[t * w.rows + r] = sum_c W[r, c] * x[t * w.cols + c] for `tokens` rows of x.
// tokens == 1 is MatVec; more tokens use a cache-blocked, register-tiled kernel that
// converts each weight once into a packed float32 panel and reuses it for every token.
void MatMul(const WeightMatrix& w, const float* x, size_t tokens, float* y, ThreadPool& pool);

// y[t * w.rows + r] += the same product, for any token count (one token too, through the
// blocked kernel). For a product split along the shared dimension: the feed-forward block of
// a prefill runs its down projection in column slices of W (ColumnRange).
void MatMulAdd(const WeightMatrix& w, const float* x, size_t tokens, float* y, ThreadPool& pool);

// The same two products with x prepared once for several of them (PackedActivations:
// packed tiles, int8 rows), as the products of a prefill layer that share an input do.
// Identical results. Error(kInvalidArgument) if x.cols() != w.cols.
void MatMul(const WeightMatrix& w, PackedActivations& x, float* y, ThreadPool& pool);
void MatMulAdd(const WeightMatrix& w, PackedActivations& x, float* y, ThreadPool& pool);

// The blocked product for any number of rows, one included: a row's result does not depend
// on how many rows share the call or where it sits among them (each output sums its row's
// products in the same order whatever the tiling). The batched engine relies on it: a
// sequence gets the same numbers alone or in any batch. MatMul above uses MatVec for a lone
// row instead (faster, another summation order, and integer activations for quantized
// weights).
void MatMulRowInvariant(const WeightMatrix& w, PackedActivations& x, float* y, ThreadPool& pool);

// The decode arithmetic for several rows at once: y[t] = W x[t] for each row of x, every
// row bit for bit what MatVec gives it alone (the same kernels, each row's activations
// rounded as MatVec rounds them), but each weight read from memory once for all the rows:
// small groups of weight rows stay in cache while every row of x passes over them. The
// batched engine's decode steps, whose rows must not depend on how many share the step.
void MatVecBatch(const WeightMatrix& w, DecodeActivations& x, float* y, ThreadPool& pool);

// Two products of the same x in one pass over the pool (e.g. the gate and up projections
// of the feed-forward block): y0 = W0 x, y1 = W1 x. W0 and W1 must have equal cols.
void MatVecPair(const WeightMatrix& w0, const WeightMatrix& w1, const float* x, float* y0,
                float* y1, ThreadPool& pool);

// Single-threaded MatVec of rows [row_begin, row_end) only: for callers that split the
// work themselves.
void MatVecRows(const WeightMatrix& w, const float* x, float* y, size_t row_begin, size_t row_end);

}  // namespace gemma
