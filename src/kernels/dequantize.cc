#include <cstring>

#include "base/error.h"
#include "kernels/weight_matrix.h"

namespace gemma {

// Plain types here; block-quantized types are added with the GGUF block formats.
void DequantizeRow(const WeightMatrix& w, size_t r, float* out) {
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
    default:
      Fail(ErrorCode::kUnsupported, "DequantizeRow: dtype ", DTypeName(w.dtype),
           " not implemented yet");
  }
}

}  // namespace gemma
