#include "kernels/elementwise.h"

#include "kernels/ref/reference.h"

namespace gemma {

void RMSNorm(const float* x, const float* scale, size_t n, float eps, float* out) {
  ref::RMSNorm(x, scale, n, eps, out);
}

void GeluTanhMul(const float* gate, const float* up, size_t n, float* out) {
  ref::GeluTanhMul(gate, up, n, out);
}

void RoPE(float* x, size_t heads, size_t head_dim, size_t position, float theta) {
  ref::RoPE(x, heads, head_dim, position, theta);
}

void Softmax(float* x, size_t n) { ref::Softmax(x, n); }

void AddInPlace(float* x, const float* y, size_t n) {
  for (size_t i = 0; i < n; ++i) x[i] += y[i];
}

void Scale(float* x, float s, size_t n) {
  for (size_t i = 0; i < n; ++i) x[i] *= s;
}

}  // namespace gemma
