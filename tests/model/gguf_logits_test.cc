// gemma-rt on llama.cpp's GGUF files (tests/data/gguf/README.md, "Tolerances"):
//  1. model-f32.gguf against the checkpoint's golden.json: rel <= kGoldenLogitsTolerance,
//     greedy ids equal;
//  2. every file against reference_logits.json (exact float64 on the file's dequantized
//     weights): rel <= kExactTolerance and the argmax equal at every position;
//  3. every file against llama.cpp's own logits: within the README's bounds, and no further
//     from the exact logits than 1.5x llama.cpp's own distance.
// rel(a, b) = max|a - b| / max|b| over the whole 16 x vocab matrix.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <fstream>
#include <nlohmann/json.hpp>
#include <span>
#include <string>
#include <vector>

#include "base/error.h"
#include "io/gguf.h"
#include "io/gguf_writer.h"
#include "kernels/quant/int8_matmul.h"
#include "kernels/quant/quant_matmul.h"
#include "kernels/thread_pool.h"
#include "model/forward.h"
#include "model/gguf_model.h"
#include "model/golden_support.h"
#include "model/kv_cache.h"
#include "model/model_loader.h"

namespace gemma {
namespace {

const std::string kDir = std::string(GEMMA_TEST_DATA_DIR) + "/gguf/small-2b-256/";
const char* kFiles[] = {"model-f32.gguf", "model-q8_0.gguf", "model-q4_0.gguf", "model-q4_k_m.gguf",
                        "model-q6_k.gguf"};

using Matrix = std::vector<std::vector<float>>;  // [positions][vocab]

nlohmann::json LoadJson(const std::string& path) {
  std::ifstream in(path);
  return nlohmann::json::parse(in);
}

// Numbers are stored as the shortest decimal of a float32: parse as double, round to float.
Matrix ToMatrix(const nlohmann::json& rows) {
  Matrix m;
  for (const auto& row : rows) {
    std::vector<float> r;
    for (const auto& v : row) r.push_back(static_cast<float>(v.get<double>()));
    m.push_back(std::move(r));
  }
  return m;
}

// Float32 activations against the float64 logits of the file's own weights: measured at most
// 3.3e-6 (model-f32.gguf prefill; decode 6.8e-7 to 2.3e-6 by type); about 4x that.
constexpr double kExactTolerance = 1.4e-5;

double Rel(const Matrix& a, const Matrix& b) {
  double diff = 0, scale = 0;
  for (size_t t = 0; t < b.size(); ++t) {
    for (size_t i = 0; i < b[t].size(); ++i) {
      diff = std::max(diff, std::fabs(static_cast<double>(a[t][i]) - b[t][i]));
      scale = std::max(scale, std::fabs(static_cast<double>(b[t][i])));
    }
  }
  return diff / scale;
}

int ArgMax(const std::vector<float>& row) {
  return static_cast<int>(std::max_element(row.begin(), row.end()) - row.begin());
}

int AgreeingArgmax(const Matrix& a, const Matrix& b) {
  int agree = 0;
  for (size_t t = 0; t < b.size(); ++t) agree += ArgMax(a[t]) == ArgMax(b[t]);
  return agree;
}

std::vector<int32_t> PromptIds() {
  return LoadJson(kDir + "reference_logits.json")["prompt_ids"].get<std::vector<int32_t>>();
}

// All positions in one Forward call (prefill), or one token per call (decode). A prefill
// computes the feed-forward block in slices of ffn_slab intermediate features.
Matrix RunModel(const ModelWeights& weights, const std::vector<int32_t>& ids, bool one_by_one,
                size_t ffn_slab = ForwardWorkspace::kDefaultFfnSlab) {
  ThreadPool pool(2);
  const size_t vocab = static_cast<size_t>(weights.config.vocab_size);
  KVCache cache(weights.config, ids.size());
  ForwardWorkspace scratch(weights.config, ids.size(), ffn_slab);
  Matrix out;
  if (!one_by_one) {
    std::vector<size_t> positions(ids.size());
    for (size_t i = 0; i < ids.size(); ++i) positions[i] = i;
    std::vector<float> logits(ids.size() * vocab);
    Forward(weights,
            {.tokens = ids, .first_position = 0, .logits_for = positions, .logits = logits}, cache,
            scratch, pool);
    for (size_t t = 0; t < ids.size(); ++t) {
      out.emplace_back(logits.begin() + t * vocab, logits.begin() + (t + 1) * vocab);
    }
    return out;
  }
  const size_t only[] = {0};
  std::vector<float> logits(vocab);
  for (size_t p = 0; p < ids.size(); ++p) {
    Forward(weights,
            {.tokens = std::span(ids).subspan(p, 1),
             .first_position = p,
             .logits_for = only,
             .logits = logits},
            cache, scratch, pool);
    out.push_back(logits);
  }
  return out;
}

TEST(GgufModel, ConfigFromLlamaCppMetadata) {
  const GgufFile file = GgufFile::Open(kDir + "model-q4_k_m.gguf");
  const ModelConfig c = ConfigFromGguf(file.header(), file.path());
  EXPECT_EQ(c.vocab_size, 1024);
  EXPECT_EQ(c.hidden_size, 256);
  EXPECT_EQ(c.intermediate_size, 1024);
  EXPECT_EQ(c.num_hidden_layers, 2);
  EXPECT_EQ(c.num_attention_heads, 2);
  EXPECT_EQ(c.num_key_value_heads, 1);
  EXPECT_EQ(c.head_dim, 128);
  EXPECT_EQ(c.max_position_embeddings, 8192);
  EXPECT_FLOAT_EQ(static_cast<float>(c.rms_norm_eps), 1e-6f);
  EXPECT_EQ(c.rope_theta, 10000.0);  // no gemma.rope.freq_base in the file
  EXPECT_EQ(c.bos_token_id, 2);
  EXPECT_EQ(c.eos_token_id, 1);

  const GgufVocabulary v = ReadGgufVocabulary(file.header(), file.path());
  ASSERT_EQ(v.pieces.size(), 1024u);
  EXPECT_EQ(v.model, "llama");
  EXPECT_EQ(v.pieces[107], "<end_of_turn>");
  EXPECT_EQ(v.scores[366], -2.0f);
  EXPECT_EQ(v.types[200], static_cast<int32_t>(GgufTokenType::kByte));
  EXPECT_EQ(v.unk_id, 3);
  EXPECT_TRUE(v.add_bos);
}

TEST(GgufModel, LoadModelWeightsDispatchesOnContent) {
  EXPECT_TRUE(IsGgufModelPath(kDir + "model-q8_0.gguf"));
  EXPECT_FALSE(IsGgufModelPath(kDir + "hf"));
  const ModelWeights gguf = LoadModelWeights(kDir + "model-q8_0.gguf");
  EXPECT_EQ(gguf.embedding.dtype, DType::kQ8_0);
  EXPECT_EQ(gguf.layers[1].down.rows, 256u);
  EXPECT_EQ(gguf.layers[1].down.cols, 1024u);
  const ModelWeights hf = LoadModelWeights(kDir + "hf");
  EXPECT_EQ(hf.embedding.dtype, DType::kF32);
  // The one place the stored 1 + w is handled: both loaders end with the same scales.
  const ModelWeights f32 = LoadModelWeights(kDir + "model-f32.gguf");
  EXPECT_EQ(f32.final_norm_scale, hf.final_norm_scale);
  EXPECT_EQ(f32.layers[0].attn_norm_scale, hf.layers[0].attn_norm_scale);
  EXPECT_EQ(f32.layers[1].ffn_norm_scale, hf.layers[1].ffn_norm_scale);
}

TEST(GgufModel, WrongArchitectureOrMissingTensorIsAClearError) {
  const GgufFile in = GgufFile::Open(kDir + "model-q4_0.gguf");
  const std::string path = ::testing::TempDir() + "/llama-arch.gguf";
  std::vector<GgufKeyValue> meta = in.header().metadata;
  meta[0].value = GgufValue::String("llama");
  std::vector<GgufTensorDecl> decls;
  for (const GgufTensorInfo& t : in.header().tensors) {
    if (t.name == "blk.1.ffn_up.weight") continue;
    decls.push_back({.name = t.name, .dtype = t.dtype, .shape = t.HfShape()});
  }
  auto write = [&](const std::vector<GgufKeyValue>& metadata) {
    GgufWriter writer(path, metadata, decls);
    for (const GgufTensorDecl& d : decls)
      writer.WriteTensor(d.name, in.View(*in.FindTensor(d.name)).bytes);
    writer.Finish();
  };
  write(meta);
  try {
    LoadModelWeights(path);
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kUnsupported) << e.what();
    EXPECT_NE(std::string(e.what()).find("'llama'"), std::string::npos) << e.what();
  }
  write(in.header().metadata);
  try {
    LoadModelWeights(path);
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kShape) << e.what();
    EXPECT_NE(std::string(e.what()).find("blk.1.ffn_up.weight"), std::string::npos) << e.what();
  }
  std::remove(path.c_str());
}

TEST(GgufLogits, F32FileMatchesTheCheckpointsGoldenLogits) {
  const nlohmann::json golden = LoadJson(kDir + "hf/golden.json");
  const ModelWeights weights = LoadModelWeights(kDir + "model-f32.gguf");
  const std::vector<int32_t> ids = golden["prompt_ids"].get<std::vector<int32_t>>();
  const Matrix expected = ToMatrix(golden["logits"]);
  const Matrix ours = RunModel(weights, ids, /*one_by_one=*/false);
  EXPECT_LE(Rel(ours, expected), testing::kGoldenLogitsTolerance);
  EXPECT_EQ(AgreeingArgmax(ours, expected), 16);

  // Greedy continuation, token by token with the cache.
  const std::vector<int32_t> greedy = golden["greedy_ids"].get<std::vector<int32_t>>();
  ThreadPool pool(2);
  KVCache cache(weights.config, ids.size() + greedy.size());
  ForwardWorkspace scratch(weights.config, ids.size());
  std::vector<float> logits(1024);
  const size_t last[] = {ids.size() - 1};
  Forward(weights, {.tokens = ids, .first_position = 0, .logits_for = last, .logits = logits},
          cache, scratch, pool);
  std::vector<int32_t> generated;
  const size_t only[] = {0};
  for (size_t k = 0; k < greedy.size(); ++k) {
    generated.push_back(ArgMax(logits));
    if (k + 1 == greedy.size()) break;
    Forward(weights,
            {.tokens = std::span(&generated.back(), 1),
             .first_position = ids.size() + k,
             .logits_for = only,
             .logits = logits},
            cache, scratch, pool);
  }
  EXPECT_EQ(generated, greedy);
}

struct LogitsCase {
  const char* file;
  QuantDot dot;
};

// Feed-forward slices must not split the down projection's quantization blocks (256
// values in a K-quant file): a clear error before anything is computed, not wrong logits.
TEST(GgufLogits, FeedForwardSlicesThatSplitBlocksAreRefused) {
  const ModelWeights weights = LoadModelWeights(kDir + "model-q4_k_m.gguf");
  ASSERT_EQ(Traits(weights.layers[0].down.dtype).block_elements, 256u);
  ThreadPool pool(1);
  KVCache cache(weights.config, 4);
  ForwardWorkspace scratch(weights.config, 4, /*ffn_slab=*/128);
  const std::vector<int32_t> ids = {2, 10, 11};
  try {
    Forward(weights, {.tokens = ids, .first_position = 0}, cache, scratch, pool);
    FAIL() << "128-feature slices of Q4_K blocks accepted";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kInvalidArgument);
    EXPECT_NE(std::string(e.what()).find("blocks"), std::string::npos) << e.what();
  }
}

class GgufLogitsPerFile : public ::testing::TestWithParam<LogitsCase> {};

// Float32 activations (QuantDot::kFloat32): within kExactTolerance of the exact logits of the
// file's weights, prefill and decode. Integer products (QuantDot::kInt8, the default for users):
// decode of every type with an integer kernel, and prefill of the types with an integer
// prefill kernel (Q4_0), round activations to int8 like llama.cpp and must be no further
// from the exact logits than 1.5x llama.cpp's own distance; the other prefills stay float32
// and exact.
TEST_P(GgufLogitsPerFile, MatchExactAndLlamaCppLogits) {
  const std::string name = GetParam().file;
  const QuantDot dot = GetParam().dot;
  static const nlohmann::json reference = LoadJson(kDir + "reference_logits.json");
  static const nlohmann::json llamacpp = LoadJson(kDir + "llamacpp_logits.json");
  const Matrix exact = ToMatrix(reference["files"][name]["logits"]);
  const Matrix theirs = ToMatrix(llamacpp["files"][name]["logits"]);
  const ModelWeights weights = LoadModelWeights(kDir + name, {.quant_dot = dot});
  const std::vector<int32_t> ids = PromptIds();
  const DType dtype = weights.layers[0].q.dtype;
  const bool int8_decode = dot == QuantDot::kInt8 && HasInt8MatVec(dtype);
  const bool int8_prefill = dot == QuantDot::kInt8 && HasInt8MatMul(dtype);

  // The file's intermediate size is 1024: 256-feature slices make four down_proj column
  // slices, whole blocks of every type.
  struct Mode {
    const char* name;
    bool one_by_one;
    size_t ffn_slab;
  };
  for (const Mode mode : {Mode{"prefill", false, ForwardWorkspace::kDefaultFfnSlab},
                          Mode{"prefill in feed-forward slices of 256", false, 256},
                          Mode{"decode", true, ForwardWorkspace::kDefaultFfnSlab}}) {
    SCOPED_TRACE(mode.name);
    const bool one_by_one = mode.one_by_one;
    const Matrix ours = RunModel(weights, ids, one_by_one, mode.ffn_slab);
    const double vs_exact = Rel(ours, exact);
    const double vs_llamacpp = Rel(ours, theirs);
    const double llamacpp_vs_exact = Rel(theirs, exact);
    std::printf(
        "%-18s %-5s %s: rel vs exact %.3g (top-1 %d/16), vs llama.cpp %.3g (top-1 %d/16); "
        "llama.cpp vs exact %.3g (top-1 %d/16)\n",
        name.c_str(), dot == QuantDot::kInt8 ? "int8" : "f32", mode.name, vs_exact,
        AgreeingArgmax(ours, exact), vs_llamacpp, AgreeingArgmax(ours, theirs), llamacpp_vs_exact,
        AgreeingArgmax(theirs, exact));
    EXPECT_LE(vs_exact, 1.5 * llamacpp_vs_exact);
    if (one_by_one ? int8_decode : int8_prefill) {
      // Rounding x to int8 moves the logits by about as much as llama.cpp's arithmetic
      // does; the argmax may then flip where the top two are close, as it does for llama.cpp.
      EXPECT_GE(AgreeingArgmax(ours, exact), AgreeingArgmax(theirs, exact) - 1);
    } else {
      EXPECT_LE(vs_exact, kExactTolerance);
      EXPECT_EQ(AgreeingArgmax(ours, exact), 16);
    }
    if (name == "model-f32.gguf") {
      EXPECT_LE(vs_llamacpp, 2e-3);
      EXPECT_EQ(AgreeingArgmax(ours, theirs), 16);
    } else {
      EXPECT_LE(vs_llamacpp, 0.2);
    }
  }
}

std::vector<LogitsCase> AllCases() {
  std::vector<LogitsCase> cases;
  for (const char* file : kFiles) {
    for (QuantDot dot : {QuantDot::kFloat32, QuantDot::kInt8}) cases.push_back({file, dot});
  }
  return cases;
}

INSTANTIATE_TEST_SUITE_P(AllFiles, GgufLogitsPerFile, ::testing::ValuesIn(AllCases()),
                         [](const auto& info) {
                           std::string n = info.param.file;
                           for (char& c : n)
                             c = std::isalnum(static_cast<unsigned char>(c)) ? c : '_';
                           return n + (info.param.dot == QuantDot::kInt8 ? "_int8" : "_f32");
                         });

}  // namespace
}  // namespace gemma
