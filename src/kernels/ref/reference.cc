#include "kernels/ref/reference.h"

#include <algorithm>
#include <cmath>
#include <vector>

namespace gemma::ref {

void MatVec(const WeightMatrix& w, const float* x, float* y) {
  std::vector<float> row(w.cols);
  for (size_t r = 0; r < w.rows; ++r) {
    DequantizeRow(w, r, row.data());
    double sum = 0.0;
    for (size_t c = 0; c < w.cols; ++c) sum += static_cast<double>(row[c]) * x[c];
    y[r] = static_cast<float>(sum);
  }
}

void MatMul(const WeightMatrix& w, const float* x, size_t tokens, float* y) {
  std::vector<float> row(w.cols);
  for (size_t r = 0; r < w.rows; ++r) {
    DequantizeRow(w, r, row.data());
    for (size_t t = 0; t < tokens; ++t) {
      double sum = 0.0;
      for (size_t c = 0; c < w.cols; ++c) sum += static_cast<double>(row[c]) * x[t * w.cols + c];
      y[t * w.rows + r] = static_cast<float>(sum);
    }
  }
}

void RMSNorm(const float* x, const float* scale, size_t n, float eps, float* out) {
  double sum_sq = 0.0;
  for (size_t i = 0; i < n; ++i) sum_sq += static_cast<double>(x[i]) * x[i];
  const float inv_rms = 1.0f / std::sqrt(static_cast<float>(sum_sq / static_cast<double>(n)) + eps);
  for (size_t i = 0; i < n; ++i) out[i] = x[i] * inv_rms * scale[i];
}

float GeluTanh(float x) {
  constexpr float kSqrt2OverPi = 0.7978845608028654f;
  return 0.5f * x * (1.0f + std::tanh(kSqrt2OverPi * (x + 0.044715f * x * x * x)));
}

void GeluTanhMul(const float* gate, const float* up, size_t n, float* out) {
  for (size_t i = 0; i < n; ++i) out[i] = GeluTanh(gate[i]) * up[i];
}

void RoPE(float* x, size_t heads, size_t head_dim, size_t position, float theta) {
  const size_t half = head_dim / 2;
  for (size_t i = 0; i < half; ++i) {
    const float inv_freq =
        1.0f / std::pow(theta, static_cast<float>(2 * i) / static_cast<float>(head_dim));
    const float angle = static_cast<float>(position) * inv_freq;
    const float c = std::cos(angle);
    const float s = std::sin(angle);
    for (size_t h = 0; h < heads; ++h) {
      float* v = x + h * head_dim;
      const float a = v[i];
      const float b = v[i + half];
      v[i] = a * c - b * s;
      v[i + half] = a * s + b * c;
    }
  }
}

void Softmax(float* x, size_t n) {
  if (n == 0) return;
  const float max = *std::max_element(x, x + n);
  float sum = 0.0f;
  for (size_t i = 0; i < n; ++i) {
    x[i] = std::exp(x[i] - max);
    sum += x[i];
  }
  for (size_t i = 0; i < n; ++i) x[i] /= sum;
}

ExpSum MaxAndExpSum(const float* x, size_t n) {
  const size_t argmax = static_cast<size_t>(std::max_element(x, x + n) - x);
  double sum = 0.0;
  for (size_t i = 0; i < n; ++i) sum += std::exp(x[i] - x[argmax]);
  return {x[argmax], argmax, sum};
}

void Attention(const float* q, size_t tokens, size_t first_position, const float* k, const float* v,
               size_t capacity, size_t heads, size_t kv_heads, size_t head_dim, float scale,
               float* out) {
  const size_t group = heads / kv_heads;
  std::vector<float> scores;
  for (size_t t = 0; t < tokens; ++t) {
    const size_t pos = first_position + t;
    for (size_t h = 0; h < heads; ++h) {
      const size_t g = h / group;
      const float* qh = q + (t * heads + h) * head_dim;
      scores.assign(pos + 1, 0.0f);
      for (size_t p = 0; p <= pos; ++p) {
        const float* kp = k + (g * capacity + p) * head_dim;
        float dot = 0.0f;
        for (size_t d = 0; d < head_dim; ++d) dot += qh[d] * kp[d];
        scores[p] = dot * scale;
      }
      Softmax(scores.data(), scores.size());
      float* oh = out + (t * heads + h) * head_dim;
      std::fill(oh, oh + head_dim, 0.0f);
      for (size_t p = 0; p <= pos; ++p) {
        const float* vp = v + (g * capacity + p) * head_dim;
        for (size_t d = 0; d < head_dim; ++d) oh[d] += scores[p] * vp[d];
      }
    }
  }
}

}  // namespace gemma::ref
