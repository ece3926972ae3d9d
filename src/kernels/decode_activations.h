// Activation rows prepared for the decode kernels (MatVecBatch, kernels/matmul.h): each row
// rounded to int8 (quantized weights) or to bf16 (bf16 weights) exactly as MatVec rounds a
// lone row, once, the first time a product needs it, and then shared by the products that
// read the same rows (a layer's k, v and q; gate and up). The decode twin of
// PackedActivations; its storage grows to the largest batch seen and is reused.
#pragma once

#include <cstddef>
#include <vector>

#include "kernels/bf16_activations.h"
#include "kernels/quant/int8_activations.h"

namespace gemma {

class DecodeActivations {
 public:
  // Starts on new rows x [tokens, cols] (kept by pointer; must not change while used).
  void Reset(const float* x, size_t tokens, size_t cols);

  const float* x() const { return x_; }
  size_t tokens() const { return tokens_; }
  size_t cols() const { return cols_; }

  // Row t rounded to int8 per 32 values; null for a row with a NaN or an infinity (the
  // float kernels then propagate it). cols must be a multiple of 32.
  const quant::Int8Activations* Int8Row(size_t t);
  // Every row rounded to bf16.
  const Bf16Rows& Bf16();

 private:
  const float* x_ = nullptr;
  size_t tokens_ = 0;
  size_t cols_ = 0;
  bool int8_ready_ = false;
  bool bf16_ready_ = false;
  std::vector<quant::Int8Activations> int8_;
  std::vector<bool> int8_finite_;
  Bf16Rows bf16_;
};

}  // namespace gemma
