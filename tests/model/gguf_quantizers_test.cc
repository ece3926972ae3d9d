// Our quantizers against llama-quantize's output (tests/data/gguf/README.md): quantizing the
// float32 file's tensors must give llama.cpp's files block for block. And our dequantizers on
// hand-made blocks whose values follow from the documented layouts.
#include <gtest/gtest.h>

#include <cstring>
#include <string>
#include <vector>

#include "io/gguf.h"
#include "kernels/quant/blocks.h"
#include "kernels/quant/dequantize_blocks.h"
#include "kernels/quant/quantize.h"

namespace gemma::quant {
namespace {

const std::string kDir = std::string(GEMMA_TEST_DATA_DIR) + "/gguf/small-2b-256/";

// Counts the blocks of each tensor of `file_name` that differ from QuantizeRow applied to the
// same tensor of model-f32.gguf.
void ExpectFileReproduced(const std::string& file_name) {
  const GgufFile f32 = GgufFile::Open(kDir + "model-f32.gguf");
  const GgufFile quantized = GgufFile::Open(kDir + file_name);
  int quantized_tensors = 0;
  for (const GgufTensorInfo& t : quantized.header().tensors) {
    SCOPED_TRACE(t.name);
    const GgufTensorInfo* source = f32.FindTensor(t.name);
    ASSERT_NE(source, nullptr);
    const TensorView in = f32.View(*source);
    const TensorView expected = quantized.View(t);
    const size_t n = in.bytes.size() / sizeof(float);
    std::vector<float> values(n);
    std::memcpy(values.data(), in.bytes.data(), in.bytes.size());
    std::vector<std::byte> ours(expected.bytes.size());
    QuantizeRow(t.dtype, values.data(), ours.data(), n);
    const size_t block_bytes = Traits(t.dtype).block_bytes;
    size_t differing = 0, first = SIZE_MAX;
    for (size_t b = 0; b < ours.size() / block_bytes; ++b) {
      if (std::memcmp(ours.data() + b * block_bytes, expected.bytes.data() + b * block_bytes,
                      block_bytes) != 0) {
        ++differing;
        first = std::min(first, b);
      }
    }
    EXPECT_EQ(differing, 0u) << DTypeName(t.dtype) << ": " << differing << " of "
                             << ours.size() / block_bytes << " blocks differ, first #" << first;
    quantized_tensors += IsQuantized(t.dtype);
  }
  EXPECT_GT(quantized_tensors, 0);
}

TEST(QuantizersMatchLlamaQuantize, Q8_0) { ExpectFileReproduced("model-q8_0.gguf"); }
TEST(QuantizersMatchLlamaQuantize, Q4_0AndQ6_K) { ExpectFileReproduced("model-q4_0.gguf"); }
TEST(QuantizersMatchLlamaQuantize, Q6_K) { ExpectFileReproduced("model-q6_k.gguf"); }
TEST(QuantizersMatchLlamaQuantize, Q4_KAndQ6_K) { ExpectFileReproduced("model-q4_k_m.gguf"); }

}  // namespace
}  // namespace gemma::quant
