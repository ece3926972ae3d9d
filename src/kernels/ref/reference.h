// Plain scalar reference versions of every kernel. They are the definition of what each
// fast kernel computes: tests compare the SIMD versions with these on random inputs of
// awkward sizes. Slow on purpose; never used on the hot path. Each float operation is rounded
// as written: reference.cc is compiled with -ffp-contract=off (CMakeLists.txt), so no
// compiler fuses a multiply and an add into an FMA on the targets that have one (aarch64).
#pragma once

#include <cstddef>

#include "kernels/weight_matrix.h"

namespace gemma::ref {

// y[r] = sum_c W[r, c] * x[c], accumulated in double for a stable reference.
void MatVec(const WeightMatrix& w, const float* x, float* y);
// y[t * rows + r] = sum_c W[r, c] * x[t * cols + c]
void MatMul(const WeightMatrix& w, const float* x, size_t tokens, float* y);
// out = x / sqrt(mean(x^2) + eps) * scale, in float32 (scale already holds 1 + w for Gemma)
void RMSNorm(const float* x, const float* scale, size_t n, float eps, float* out);
// out[i] = gelu_tanh(gate[i]) * up[i]
void GeluTanhMul(const float* gate, const float* up, size_t n, float* out);
float GeluTanh(float x);
// Rotate-half RoPE on `heads` vectors of head_dim at one position: dimension i rotates with
// i + head_dim/2, angle = position * theta^(-2i/head_dim) computed in float32.
void RoPE(float* x, size_t heads, size_t head_dim, size_t position, float theta);
// In-place softmax over n values (max-subtracted, float32).
void Softmax(float* x, size_t n);
// max(x), its first index, and sum_i exp(x[i] - max) (std::exp in float32, summed in
// double, in order). n >= 1.
struct ExpSum {
  float max;
  size_t argmax;
  double sum;
};
ExpSum MaxAndExpSum(const float* x, size_t n);
// Causal attention for `tokens` queries at positions first_position + t, over a cache
// whose keys/values for kv head g at position p are at k[(g * capacity + p) * head_dim].
// q: [tokens, heads * head_dim]; out: [tokens, heads * head_dim]. Query head j reads kv
// head j / (heads / kv_heads).
void Attention(const float* q, size_t tokens, size_t first_position, const float* k, const float* v,
               size_t capacity, size_t heads, size_t kv_heads, size_t head_dim, float scale,
               float* out);

}  // namespace gemma::ref
