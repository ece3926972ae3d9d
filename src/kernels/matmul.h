// Products of a weight matrix (any dtype) with float32 activations. These are the hot
// path: decode is bound by reading each weight byte once, prefill by FMA throughput.
#pragma once

#include <cstddef>

#include "kernels/thread_pool.h"
#include "kernels/weight_matrix.h"

namespace gemma {

// y[r] = sum_c W[r, c] * x[c] for r in [0, w.rows). x: [w.cols], y: [w.rows].
void MatVec(const WeightMatrix& w, const float* x, float* y, ThreadPool& pool);

// y[t * w.rows + r] = sum_c W[r, c] * x[t * w.cols + c] for `tokens` rows of x.
void MatMul(const WeightMatrix& w, const float* x, size_t tokens, float* y, ThreadPool& pool);

}  // namespace gemma
