#include "model/random_model.h"

#include <algorithm>
#include <map>
#include <memory>
#include <vector>

#include "base/error.h"
#include "base/threads.h"
#include "kernels/quant/quantize.h"
#include "model/random_weights.h"

namespace gemma {
namespace {

struct OwnedTensor {
  DType dtype;
  Shape shape;
  std::vector<std::byte> bytes;
};

// Fills rows [row_begin, row_end) of a tensor: float32 random values, then the row is
// converted (or quantized) to the target dtype.
void FillRows(const TensorSpec& spec, uint64_t seed, uint64_t stream, OwnedTensor& tensor,
              size_t row_begin, size_t row_end) {
  const size_t cols = static_cast<size_t>(spec.shape.back());
  const size_t row_bytes = ByteSize(tensor.dtype, cols);
  std::vector<float> row(cols);
  for (size_t r = row_begin; r < row_end; ++r) {
    RandomNormalValues(seed, stream, static_cast<uint64_t>(r) * cols, InitDistribution(spec), row);
    quant::QuantizeRow(tensor.dtype, row.data(), tensor.bytes.data() + r * row_bytes, cols);
  }
}

}  // namespace

ModelWeights MakeRandomModel(const RandomModelOptions& options) {
  ValidateConfig(options.config, "random model config");
  auto tensors = std::make_shared<std::map<std::string, OwnedTensor>>();
  const int threads = ResolveThreadCount(options.threads, "random model threads");
  uint64_t stream = 0;
  ForEachTensor(options.config, [&](const TensorSpec& spec) {
    ++stream;
    // Norm vectors stay float32: they are tiny and every loader converts them anyway.
    const DType dtype = spec.is_norm ? DType::kF32 : options.dtype;
    const size_t cols = static_cast<size_t>(spec.shape.back());
    if (cols % Traits(dtype).block_elements != 0) {
      Fail(ErrorCode::kInvalidArgument, "random model: tensor ", spec.hf_name, " rows of ", cols,
           " values do not fill whole ", DTypeName(dtype), " blocks");
    }
    const size_t rows = spec.shape.size() == 2 ? static_cast<size_t>(spec.shape[0]) : 1;
    OwnedTensor& tensor = (*tensors)[spec.hf_name];
    tensor.dtype = dtype;
    tensor.shape = spec.shape;
    tensor.bytes.resize(rows * ByteSize(dtype, cols));
    RunOnThreads(threads, [&](int t) {
      FillRows(spec, options.seed, stream, tensor, rows * t / threads, rows * (t + 1) / threads);
    });
  });

  WeightSource source;
  source.origin = StrCat("random ", DTypeName(options.dtype), " model (seed ", options.seed, ")");
  source.norm_storage = NormStorage::kWeight;
  source.find = [tensors](const std::string& name) -> std::optional<TensorView> {
    const auto it = tensors->find(name);
    if (it == tensors->end()) return std::nullopt;
    return TensorView{.dtype = it->second.dtype,
                      .shape = it->second.shape,
                      .bytes = {it->second.bytes.data(), it->second.bytes.size()}};
  };
  for (const auto& [name, tensor] : *tensors) source.all_names.push_back(name);
  source.storage = tensors;
  return BindWeights(options.config, source);
}

}  // namespace gemma
