#include "gemma_rt/logits.h"

#include <cmath>
#include <stdexcept>

#include "kernels/elementwise.h"

namespace gemma_rt {

LogitsNormalizer NormalizeLogits(std::span<const float> row) {
  if (row.empty()) throw std::invalid_argument("log-softmax of an empty logits row");
  const gemma::ExpSum e = gemma::MaxAndExpSum(row.data(), row.size());
  return {.max = e.max, .argmax = static_cast<int32_t>(e.argmax), .log_sum = std::log(e.sum)};
}

}  // namespace gemma_rt
