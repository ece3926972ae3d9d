// A read-only view of a tensor's bytes where they lie (usually inside a mapped file).
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "base/dtype.h"

namespace gemma {

using Shape = std::vector<int64_t>;

std::string ShapeToString(const Shape& shape);  // "[2048, 256000]"
int64_t ElementCount(const Shape& shape);       // 1 for a scalar

struct TensorView {
  DType dtype = DType::kF32;
  Shape shape;  // row-major, outermost first (HF / PyTorch order)
  std::span<const std::byte> bytes;
};

}  // namespace gemma
