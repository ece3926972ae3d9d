// The quantizer against llama-quantize (tests/data/gguf/README.md): from the Hugging Face
// checkpoint, every tensor's type, order and bytes equal llama.cpp's files; from llama.cpp's
// own model-f32.gguf, the whole file is byte-identical (metadata included).
#include <gtest/gtest.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>

#include "base/error.h"
#include "io/gguf.h"
#include "model/gguf_model_quantize.h"
#include "model/model_loader.h"

namespace gemma {
namespace {

const std::string kDir = std::string(GEMMA_TEST_DATA_DIR) + "/gguf/small-2b-256/";

std::string ReadAll(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

class QuantizeLikeLlamaCpp : public ::testing::TestWithParam<const char*> {};

TEST_P(QuantizeLikeLlamaCpp, FromHuggingFaceTensorsAreByteIdentical) {
  const std::string type = GetParam();
  const std::string out = ::testing::TempDir() + "/hf-" + type + ".gguf";
  size_t progress_calls = 0;
  const QuantizeSummary summary = QuantizeModelToGguf({.input = kDir + "hf",
                                                       .output = out,
                                                       .type = type,
                                                       .threads = 2,
                                                       .progress = [&](const QuantizeProgress& p) {
                                                         ++progress_calls;
                                                         EXPECT_EQ(p.total, 20u);
                                                       }});
  EXPECT_EQ(summary.tensors, 20u);
  EXPECT_EQ(progress_calls, 20u);
  const GgufFile ours = GgufFile::Open(out);
  const GgufFile theirs = GgufFile::Open(kDir + "model-" + type + ".gguf");
  ASSERT_EQ(ours.header().tensors.size(), theirs.header().tensors.size());
  for (size_t i = 0; i < ours.header().tensors.size(); ++i) {
    const GgufTensorInfo& a = ours.header().tensors[i];
    const GgufTensorInfo& b = theirs.header().tensors[i];
    SCOPED_TRACE(b.name);
    EXPECT_EQ(a.name, b.name);
    EXPECT_EQ(a.dtype, b.dtype);
    EXPECT_EQ(a.ne, b.ne);
    EXPECT_EQ(a.offset, b.offset);
    const TensorView va = ours.View(a), vb = theirs.View(b);
    ASSERT_EQ(va.bytes.size(), vb.bytes.size());
    EXPECT_EQ(std::memcmp(va.bytes.data(), vb.bytes.data(), va.bytes.size()), 0);
  }
  EXPECT_EQ(ours.header().Find("general.file_type")->ToUint64("t"),
            theirs.header().Find("general.file_type")->ToUint64("t"));
  EXPECT_EQ(ours.header().Find("gemma.attention.head_count_kv")->ToUint64("t"), 1u);
  // What we wrote loads back as a model.
  EXPECT_NO_THROW(LoadModelWeights(out));
  std::filesystem::remove(out);
}

TEST_P(QuantizeLikeLlamaCpp, FromLlamaCppF32FileTheWholeFileIsByteIdentical) {
  const std::string type = GetParam();
  const std::string out = ::testing::TempDir() + "/f32-" + type + ".gguf";
  QuantizeModelToGguf({.input = kDir + "model-f32.gguf", .output = out, .type = type});
  EXPECT_TRUE(ReadAll(out) == ReadAll(kDir + "model-" + type + ".gguf"));
  std::filesystem::remove(out);
}

INSTANTIATE_TEST_SUITE_P(Files, QuantizeLikeLlamaCpp,
                         ::testing::Values("q8_0", "q4_0", "q4_k_m", "q6_k"));

TEST(QuantizeTypes, Q4KMMixFollowsUseMoreBits) {
  const GgufFileType q4km = ParseGgufFileType("Q4_K_M");
  ModelConfig c = Gemma2BConfig();  // 18 layers: more bits in 0, 1 (< 18/8), 4, 7, 10, 13, 16 ((i -
                                    // 2) % 3 == 2), 15, 16, 17 (>= 7*18/8)
  std::vector<int> v_q6k;
  ForEachTensor(c, [&](const TensorSpec& s) {
    const DType t = LlamaQuantizeTensorType(q4km, s, c.num_hidden_layers);
    if (s.role == TensorRole::kV && t == DType::kQ6_K) v_q6k.push_back(s.layer);
    if (s.role == TensorRole::kEmbedding) {
      EXPECT_EQ(t, DType::kQ6_K);
    }
    if (s.is_norm) {
      EXPECT_EQ(t, DType::kF32);
    }
    if (s.role == TensorRole::kQ) {
      EXPECT_EQ(t, DType::kQ4_K);
    }
  });
  EXPECT_EQ(v_q6k, (std::vector<int>{0, 1, 4, 7, 10, 13, 15, 16, 17}));
  EXPECT_THROW(ParseGgufFileType("q3_k"), Error);
}

}  // namespace
}  // namespace gemma
