#include "kernels/bf16_activations.h"

#include "base/dtype.h"
#include "base/error.h"

namespace gemma {

bool UsesRoundedBf16(const WeightMatrix& w) {
  return w.dtype == DType::kBF16 && w.quant_dot == QuantDot::kInt8;
}

void PrepareBf16Rows(size_t tokens, size_t cols, Bf16Rows& rows) {
  const size_t values = tokens * cols;
  if (values > rows.capacity) {
    rows.bits_storage = hwy::AllocateAligned<uint16_t>(values);
    rows.values_storage = hwy::AllocateAligned<float>(values);
    if (!rows.bits_storage || !rows.values_storage) {
      Fail(ErrorCode::kInternal, "PrepareBf16Rows: cannot allocate ", values, " values");
    }
    rows.capacity = values;
  }
  rows.tokens = tokens;
  rows.cols = cols;
  rows.bits = rows.bits_storage.get();
  rows.values = rows.values_storage.get();
}

void RoundRowsToBf16(const float* x, size_t t_begin, size_t t_end, Bf16Rows& rows) {
  const size_t begin = t_begin * rows.cols, end = t_end * rows.cols;
  uint16_t* bits = rows.bits;
  float* values = rows.values;
  // F32ToBF16: ties to even, NaN stays NaN (llama.cpp's GGML_FP32_TO_BF16). The compiler
  // vectorizes this loop; it costs a fraction of the product it feeds.
  for (size_t i = begin; i < end; ++i) {
    bits[i] = F32ToBF16(x[i]);
    values[i] = BF16ToF32(bits[i]);
  }
}

}  // namespace gemma
