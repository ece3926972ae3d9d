#include "kernels/bf16_activations.h"

#include <cstring>

#include "base/dtype.h"
#include "base/error.h"

namespace gemma {

bool UsesRoundedBf16(const WeightMatrix& w) {
  return w.dtype == DType::kBF16 && w.quant_dot == QuantDot::kInt8;
}

void PrepareBf16Rows(size_t tokens, size_t cols, Bf16Rows& rows, bool with_values) {
  const size_t values = tokens * cols;
  if (values > rows.capacity) {
    rows.bits_storage = hwy::AllocateAligned<uint16_t>(values);
    if (!rows.bits_storage) {
      Fail(ErrorCode::kInternal, "PrepareBf16Rows: cannot allocate ", values, " values");
    }
    rows.capacity = values;
  }
  if (with_values && values > rows.values_capacity) {
    rows.values_storage = hwy::AllocateAligned<float>(values);
    if (!rows.values_storage) {
      Fail(ErrorCode::kInternal, "PrepareBf16Rows: cannot allocate ", values, " values");
    }
    rows.values_capacity = values;
  }
  rows.tokens = tokens;
  rows.cols = cols;
  rows.bits = rows.bits_storage.get();
  rows.values = with_values ? rows.values_storage.get() : nullptr;
}

void RoundRowsToBf16(const float* x, size_t t_begin, size_t t_end, Bf16Rows& rows) {
  const size_t begin = t_begin * rows.cols, end = t_end * rows.cols;
  uint16_t* bits = rows.bits;
  float* values = rows.values;
  // F32ToBF16 (ties to even, NaN stays NaN: llama.cpp's GGML_FP32_TO_BF16) without a
  // branch, so that the compiler vectorizes the loop.
  for (size_t i = begin; i < end; ++i) {
    uint32_t u;
    std::memcpy(&u, x + i, sizeof(u));
    const uint32_t rounded = (u + 0x7fffu + ((u >> 16) & 1u)) >> 16;
    const uint32_t quiet_nan = (u >> 16) | 0x40u;
    const uint32_t b = (u & 0x7fffffffu) > 0x7f800000u ? quiet_nan : rounded;
    bits[i] = static_cast<uint16_t>(b);
  }
  if (values == nullptr) return;
  for (size_t i = begin; i < end; ++i) {
    const uint32_t widened = static_cast<uint32_t>(bits[i]) << 16;
    std::memcpy(values + i, &widened, sizeof(widened));
  }
}

}  // namespace gemma
