#include "kernels/weight_matrix.h"

#include "base/error.h"

namespace gemma {

WeightMatrix RowRange(const WeightMatrix& w, size_t begin, size_t count) {
  if (begin > w.rows || count > w.rows - begin) {
    Fail(ErrorCode::kInvalidArgument, "RowRange: rows [", begin, ", ", begin + count,
         ") are outside the ", w.rows, "-row matrix");
  }
  WeightMatrix view = w;
  view.data = count == 0 ? w.data : w.row(begin);
  view.rows = count;
  return view;
}

WeightMatrix ColumnRange(const WeightMatrix& w, size_t begin, size_t count) {
  if (begin > w.cols || count > w.cols - begin) {
    Fail(ErrorCode::kInvalidArgument, "ColumnRange: columns [", begin, ", ", begin + count,
         ") are outside the ", w.cols, "-column matrix");
  }
  const size_t block = Traits(w.dtype).block_elements;
  if (begin % block != 0 || count % block != 0) {
    Fail(ErrorCode::kInvalidArgument, "ColumnRange: columns [", begin, ", ", begin + count,
         ") split ", block, "-value ", DTypeName(w.dtype), " blocks");
  }
  WeightMatrix view = w;
  view.data = w.data + ByteSize(w.dtype, begin);
  view.cols = count;
  return view;
}

}  // namespace gemma
