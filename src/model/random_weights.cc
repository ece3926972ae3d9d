#include "model/random_weights.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <map>

#include "base/error.h"
#include "base/threads.h"

namespace gemma {
namespace {

uint64_t SplitMix64(uint64_t x) {
  x += 0x9e3779b97f4a7c15ull;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
  return x ^ (x >> 31);
}

// FNV-1a: a stable per-tensor stream id from its name.
uint64_t NameHash(const std::string& name) {
  uint64_t h = 0xcbf29ce484222325ull;
  for (unsigned char c : name) h = (h ^ c) * 0x100000001b3ull;
  return h;
}

// Converts float32 values to `dtype` bytes.
void Encode(std::span<const float> values, DType dtype, std::byte* out) {
  switch (dtype) {
    case DType::kF32:
      std::memcpy(out, values.data(), values.size() * sizeof(float));
      return;
    case DType::kBF16:
      for (size_t i = 0; i < values.size(); ++i) {
        const uint16_t bits = F32ToBF16(values[i]);
        std::memcpy(out + 2 * i, &bits, 2);
      }
      return;
    case DType::kF16:
      for (size_t i = 0; i < values.size(); ++i) {
        const uint16_t bits = F32ToF16(values[i]);
        std::memcpy(out + 2 * i, &bits, 2);
      }
      return;
    default:
      Fail(ErrorCode::kUnsupported, "random checkpoints are F32, F16 or BF16, not ",
           DTypeName(dtype));
  }
}

}  // namespace

Distribution InitDistribution(const TensorSpec& spec) {
  switch (spec.role) {
    case TensorRole::kEmbedding:
      return {.mean = 0.0f, .stddev = 1.5f / std::sqrt(static_cast<float>(spec.shape[1]))};
    case TensorRole::kAttnNorm:
    case TensorRole::kFfnNorm:
      return {.mean = 0.0f, .stddev = 0.25f};
    case TensorRole::kFinalNorm:
      return {.mean = 1.0f, .stddev = 0.25f};
    default:  // a linear layer [out, in]: fan_in is the row length
      return {.mean = 0.0f, .stddev = 2.2f / std::sqrt(static_cast<float>(spec.shape[1]))};
  }
}

void RandomNormalValues(uint64_t seed, uint64_t stream, uint64_t first, Distribution dist,
                        std::span<float> out) {
  // Sum of four U{0..65535}: mean 4 * 32767.5, variance 4 * (65536^2 - 1) / 12.
  constexpr float kMean = 4 * 32767.5f;
  const float inv_sigma = static_cast<float>(1.0 / std::sqrt(4.0 * (65536.0 * 65536.0 - 1) / 12));
  const uint64_t key = SplitMix64(seed ^ SplitMix64(stream));
  for (size_t i = 0; i < out.size(); ++i) {
    const uint64_t bits = SplitMix64(key + (first + i) * 0x9e3779b97f4a7c15ull);
    const uint32_t sum = static_cast<uint32_t>(bits & 0xffff) + ((bits >> 16) & 0xffff) +
                         ((bits >> 32) & 0xffff) + (bits >> 48);
    out[i] = dist.mean + dist.stddev * ((static_cast<float>(sum) - kMean) * inv_sigma);
  }
}

WrittenCheckpoint WriteRandomCheckpoint(const RandomCheckpointOptions& options) {
  ValidateConfig(options.config, "make-random config");
  if (options.dtype != DType::kF32 && options.dtype != DType::kBF16 &&
      options.dtype != DType::kF16) {
    Fail(ErrorCode::kInvalidArgument, "make-random: dtype ", DTypeName(options.dtype),
         " is not F32, F16 or BF16");
  }
  ModelConfig config = options.config;
  config.torch_dtype = options.dtype == DType::kF32   ? "float32"
                       : options.dtype == DType::kF16 ? "float16"
                                                      : "bfloat16";

  std::vector<TensorToWrite> tensors;
  std::map<std::string, Distribution> distributions;
  for (const TensorSpec& spec : TensorTableInStateDictOrder(config)) {
    tensors.push_back({.name = spec.hf_name, .dtype = options.dtype, .shape = spec.shape});
    distributions[spec.hf_name] = InitDistribution(spec);
  }

  const int threads = ResolveThreadCount(options.threads, "--threads");
  const size_t element_bytes = Traits(options.dtype).block_bytes;
  std::vector<float> values;
  // Values are generated in float32, split across threads, then encoded in place.
  auto source = [&](const TensorToWrite& t, uint64_t byte_offset, std::span<std::byte> out) {
    const size_t count = out.size() / element_bytes;
    const uint64_t first = byte_offset / element_bytes;
    values.resize(count);
    const Distribution dist = distributions.at(t.name);
    const uint64_t stream = NameHash(t.name);
    auto work = [&](size_t begin, size_t end) {
      RandomNormalValues(options.seed, stream, first + begin, dist,
                         std::span<float>(values.data() + begin, end - begin));
      Encode(std::span<const float>(values.data() + begin, end - begin), options.dtype,
             out.data() + begin * element_bytes);
    };
    const size_t per_thread = (count + threads - 1) / threads;
    if (threads == 1 || count < (size_t{1} << 16)) {
      work(0, count);
      return;
    }
    RunOnThreads(threads, [&](int i) {
      const size_t begin = std::min(count, i * per_thread);
      const size_t end = std::min(count, begin + per_thread);
      if (begin < end) work(begin, end);
    });
  };

  // config.json is published with the shards: a checkpoint's files change together.
  CheckpointWriteOptions write;
  write.dir = options.out_dir;
  write.max_shard_bytes = options.max_shard_bytes;
  write.extra_files["config.json"] = ConfigToJson(config);
  return WriteSafetensorsCheckpoint(tensors, source, write);
}

}  // namespace gemma
