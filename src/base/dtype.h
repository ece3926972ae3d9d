// Element types of weights and activations. A tensor's dtype is a property of the tensor,
// handled by the kernels' dispatch, so the forward pass is written once for every format.
// Block-quantized types (llama.cpp's layouts) store `BlockElements` values in `BlockBytes`.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <optional>
#include <string_view>

namespace gemma {

enum class DType : uint8_t {
  kF32,
  kF16,
  kBF16,
  kQ8_0,
  kQ4_0,
  kQ4_1,
  kQ5_0,
  kQ5_1,
  kQ4_K,
  kQ5_K,
  kQ6_K,
  kCount,  // sentinel: not a type
};

struct DTypeTraits {
  std::string_view name;  // "F32", "BF16", "Q4_K", ... (safetensors / llama.cpp spelling)
  size_t block_elements;  // values per block (1 for plain types)
  size_t block_bytes;     // bytes per block
};

const DTypeTraits& Traits(DType type);
inline std::string_view DTypeName(DType type) { return Traits(type).name; }
inline bool IsQuantized(DType type) { return Traits(type).block_elements > 1; }
// Parses "F32", "bf16", "q4_k" ... (case-insensitive); nullopt for unknown names.
std::optional<DType> ParseDType(std::string_view name);

// Bytes of `elements` values; elements must be a multiple of the block size.
inline size_t ByteSize(DType type, size_t elements) {
  const DTypeTraits& t = Traits(type);
  return elements / t.block_elements * t.block_bytes;
}

// bfloat16 is the top half of a float32.
inline float BF16ToF32(uint16_t bits) {
  const uint32_t u = static_cast<uint32_t>(bits) << 16;
  float f;
  std::memcpy(&f, &u, sizeof(f));
  return f;
}

// Round to nearest even, as PyTorch does; NaN stays NaN.
inline uint16_t F32ToBF16(float f) {
  uint32_t u;
  std::memcpy(&u, &f, sizeof(u));
  if ((u & 0x7fffffffu) > 0x7f800000u) return static_cast<uint16_t>((u >> 16) | 0x40);
  const uint32_t rounding = 0x7fffu + ((u >> 16) & 1u);
  return static_cast<uint16_t>((u + rounding) >> 16);
}

float F16ToF32(uint16_t bits);
uint16_t F32ToF16(float f);  // round to nearest even, overflow to inf

}  // namespace gemma
