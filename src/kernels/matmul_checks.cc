#include "kernels/matmul_checks.h"

#include "base/error.h"

namespace gemma {

void CheckWeightMatrix(const WeightMatrix& w, const char* op) {
  if (w.dtype >= DType::kCount) {
    Fail(ErrorCode::kInvalidArgument, op, ": weight dtype ", static_cast<int>(w.dtype),
         " is not a dtype");
  }
  if (w.rows == 0 || w.cols == 0) return;
  if (w.data == nullptr) {
    Fail(ErrorCode::kInvalidArgument, op, ": weight matrix ", w.rows, "x", w.cols, " has no data");
  }
  const size_t block = Traits(w.dtype).block_elements;
  if (w.cols % block != 0) {
    Fail(ErrorCode::kInvalidArgument, op, ": ", w.cols, " columns of ", DTypeName(w.dtype),
         " are not a whole number of ", block, "-value blocks");
  }
  if (w.row_bytes < ByteSize(w.dtype, w.cols)) {
    Fail(ErrorCode::kInvalidArgument, op, ": row_bytes ", w.row_bytes, " < ",
         ByteSize(w.dtype, w.cols), " bytes needed for ", w.cols, " ", DTypeName(w.dtype),
         " values");
  }
}

}  // namespace gemma
