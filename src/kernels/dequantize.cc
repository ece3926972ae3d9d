#include <cstring>

#include "base/error.h"
#include "kernels/quant/dequantize_blocks.h"
#include "kernels/weight_matrix.h"

namespace gemma {

void DequantizeRow(const WeightMatrix& w, size_t r, float* out) {
  if (w.cols == 0) return;  // out may be null then, and memcpy(nullptr, ..., 0) is UB
  const std::byte* row = w.row(r);
  switch (w.dtype) {
    case DType::kF32:
      std::memcpy(out, row, w.cols * sizeof(float));
      return;
    case DType::kBF16:
      for (size_t c = 0; c < w.cols; ++c) {
        uint16_t bits;
        std::memcpy(&bits, row + 2 * c, 2);
        out[c] = BF16ToF32(bits);
      }
      return;
    case DType::kF16:
      for (size_t c = 0; c < w.cols; ++c) {
        uint16_t bits;
        std::memcpy(&bits, row + 2 * c, 2);
        out[c] = F16ToF32(bits);
      }
      return;
    case DType::kCount:
      Fail(ErrorCode::kInternal, "DequantizeRow: invalid dtype");
    default:
      // Block types: bit-exact with ggml's dequantizers (kernels/quant/dequantize_blocks.cc).
      quant::DequantizeBlocks(w.dtype, row, out, w.cols);
      return;
  }
}

}  // namespace gemma
