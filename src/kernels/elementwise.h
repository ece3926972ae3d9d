// Small vector operations of the transformer block: normalization, activation, RoPE,
// softmax, residual adds.
#pragma once

#include <cstddef>

namespace gemma {

// out = x / sqrt(mean(x^2) + eps) * scale, in float32. `scale` is the final multiplier
// (for Gemma the model passes 1 + w). out may alias x.
void RMSNorm(const float* x, const float* scale, size_t n, float eps, float* out);

// out[i] = gelu_tanh(gate[i]) * up[i] (GeGLU with the tanh approximation). out may alias.
void GeluTanhMul(const float* gate, const float* up, size_t n, float* out);

// Rotate-half RoPE of `heads` vectors of head_dim at `position` (see ref::RoPE). Bit for
// bit the reference's float32 result. head_dim <= kMaxRoPEHeadDim.
void RoPE(float* x, size_t heads, size_t head_dim, size_t position, float theta);
constexpr size_t kMaxRoPEHeadDim = 1024;

// The cos and sin of RoPE's head_dim / 2 angles at `position`, computed exactly as
// ref::RoPE does (angle = float(position) * inv_freq, inv_freq = 1 / theta^(2i/d) in
// float32). cos, sin: [head_dim / 2].
void RoPEAngles(size_t head_dim, size_t position, float theta, float* cos, float* sin);

// In-place numerically stable softmax.
void Softmax(float* x, size_t n);

// The log-softmax normalizer of a row of logits (scoring reads one per scored token, over a
// 256,000-id vocabulary): the largest value, its first index, and sum_i exp(x[i] - max)
// with each exp in float32 (within 1 ulp) and the sum in double. n >= 1.
struct ExpSum {
  float max = 0;
  size_t argmax = 0;
  double sum = 0;
};
ExpSum MaxAndExpSum(const float* x, size_t n);

// x[i] += y[i]
void AddInPlace(float* x, const float* y, size_t n);

// x[i] *= s
void Scale(float* x, float s, size_t n);

}  // namespace gemma
