// Argument checks shared by the matrix kernels (internal to src/kernels).
#pragma once

#include "kernels/weight_matrix.h"

namespace gemma {

// Fails with kInvalidArgument, naming `op`, if w cannot be read as described: unknown
// dtype, null data, cols not a whole number of blocks, or rows shorter than their values.
void CheckWeightMatrix(const WeightMatrix& w, const char* op);

}  // namespace gemma
