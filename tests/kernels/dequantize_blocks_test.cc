// The SIMD dequantization (quant::DequantizeBlocksSimd, what the prefill product packs its
// weights with) against the scalar reference quant::DequantizeBlocks, bit for bit, for every
// block type and every instruction set compiled in: on blocks of random bytes (every
// nibble, high bit and 6-bit scale pattern occurs) with random finite float16 scales, and on
// blocks that QuantizeRow produced from real-valued rows.
#include <gtest/gtest.h>

#include <cstdint>
#include <cstring>
#include <random>
#include <vector>

#include "kernel_test_util.h"
#include "kernels/quant/dequantize_blocks.h"
#include "kernels/quant/quantize.h"

namespace gemma::test {
namespace {

constexpr DType kTypes[] = {DType::kQ8_0, DType::kQ4_0, DType::kQ4_1, DType::kQ5_0,
                            DType::kQ5_1, DType::kQ4_K, DType::kQ5_K, DType::kQ6_K};

// Byte offsets of the float16 fields of one block: the scale d and, for the types with one,
// the min m / dmin. Random bytes there could be inf or NaN, which no file holds.
std::vector<size_t> HalfFields(DType dtype) {
  switch (dtype) {
    case DType::kQ8_0:
    case DType::kQ4_0:
    case DType::kQ5_0:
      return {0};
    case DType::kQ4_1:
    case DType::kQ5_1:
    case DType::kQ4_K:
    case DType::kQ5_K:
      return {0, 2};
    case DType::kQ6_K:
      return {208};
    default:
      return {};
  }
}

// `blocks` blocks of random bytes whose float16 fields hold random finite values of any
// sign and magnitude (subnormals included), starting `misalign` bytes into the buffer.
std::vector<uint8_t> RandomBlocks(DType dtype, size_t blocks, size_t misalign, std::mt19937& rng) {
  const size_t block_bytes = Traits(dtype).block_bytes;
  std::vector<uint8_t> bytes(misalign + blocks * block_bytes);
  std::uniform_int_distribution<int> byte(0, 255);
  for (uint8_t& b : bytes) b = static_cast<uint8_t>(byte(rng));
  std::uniform_int_distribution<uint32_t> half(0, 0xFFFF);
  for (size_t i = 0; i < blocks; ++i) {
    for (size_t offset : HalfFields(dtype)) {
      uint16_t bits;
      do {
        bits = static_cast<uint16_t>(half(rng));
      } while ((bits & 0x7C00) == 0x7C00);  // exponent all ones: inf or NaN
      std::memcpy(&bytes[misalign + i * block_bytes + offset], &bits, sizeof(bits));
    }
  }
  return bytes;
}

void ExpectBitExact(DType dtype, const void* blocks, size_t n) {
  // One extra value past the end on each side catches writes outside [0, n).
  std::vector<float> simd(n + 2, -7.0f), scalar(n + 2, -7.0f);
  quant::DequantizeBlocksSimd(dtype, blocks, simd.data() + 1, n);
  quant::DequantizeBlocks(dtype, blocks, scalar.data() + 1, n);
  EXPECT_EQ(simd.front(), -7.0f);
  EXPECT_EQ(simd.back(), -7.0f);
  for (size_t i = 0; i < n; ++i) {
    uint32_t a, b;
    std::memcpy(&a, &simd[i + 1], 4);
    std::memcpy(&b, &scalar[i + 1], 4);
    if (a != b) {
      ADD_FAILURE() << DTypeName(dtype) << " value " << i << " of " << n << ": SIMD " << simd[i + 1]
                    << " (0x" << std::hex << a << "), scalar " << scalar[i + 1] << " (0x" << b
                    << ")" << std::dec;
      return;  // one message per call is enough
    }
  }
}

class DequantizeBlocksTest : public PerTarget {};
HWY_TARGET_INSTANTIATE_TEST_SUITE_P(DequantizeBlocksTest);

TEST_P(DequantizeBlocksTest, SimdMatchesScalarOnRandomBlocks) {
  std::mt19937 rng(71);
  for (DType dtype : kTypes) {
    const size_t block = Traits(dtype).block_elements;
    for (size_t blocks : {0, 1, 2, 3, 8, 9, 33}) {
      // Blocks are 2-byte aligned wherever they come from: every block size is even and the
      // GGUF reader refuses tensor data that is not 4-byte aligned in the file. (Odd
      // addresses would make the typed block access undefined behaviour.)
      for (size_t misalign : {0, 2, 6}) {
        SCOPED_TRACE(::testing::Message()
                     << DTypeName(dtype) << " blocks " << blocks << " misalign " << misalign);
        const std::vector<uint8_t> bytes = RandomBlocks(dtype, blocks, misalign, rng);
        ExpectBitExact(dtype, bytes.data() + misalign, blocks * block);
      }
    }
  }
}

TEST_P(DequantizeBlocksTest, SimdMatchesScalarOnQuantizedRows) {
  std::mt19937 rng(72);
  for (DType dtype : kTypes) {
    SCOPED_TRACE(DTypeName(dtype));
    const size_t cols = 4 * Traits(dtype).block_elements;
    for (float scale : {1e-3f, 0.5f, 40.0f}) {
      const std::vector<float> values = RandomFloats(cols, rng, -scale, scale);
      std::vector<std::byte> row(ByteSize(dtype, cols));
      quant::QuantizeRow(dtype, values.data(), row.data(), cols);
      ExpectBitExact(dtype, row.data(), cols);
    }
  }
}

}  // namespace
}  // namespace gemma::test
