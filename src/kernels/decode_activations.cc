#include "kernels/decode_activations.h"

namespace gemma {

void DecodeActivations::Reset(const float* x, size_t tokens, size_t cols) {
  x_ = x;
  tokens_ = tokens;
  cols_ = cols;
  int8_ready_ = false;
  bf16_ready_ = false;
}

const quant::Int8Activations* DecodeActivations::Int8Row(size_t t) {
  if (!int8_ready_) {
    if (int8_.size() < tokens_) int8_.resize(tokens_);
    int8_finite_.assign(tokens_, false);
    for (size_t r = 0; r < tokens_; ++r) {
      int8_finite_[r] = quant::QuantizeActivations(x_ + r * cols_, cols_, int8_[r]);
    }
    int8_ready_ = true;
  }
  return int8_finite_[t] ? &int8_[t] : nullptr;
}

const Bf16Rows& DecodeActivations::Bf16() {
  if (!bf16_ready_) {
    PrepareBf16Rows(tokens_, cols_, bf16_);
    RoundRowsToBf16(x_, 0, tokens_, bf16_);
    bf16_ready_ = true;
  }
  return bf16_;
}

}  // namespace gemma
