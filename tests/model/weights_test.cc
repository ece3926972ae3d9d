// Binding checkpoints to the tensor table: every golden case loads, problems are reported
// by tensor name, and make-random's checkpoints have the layout and statistics promised.
#include "model/weights.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <filesystem>
#include <nlohmann/json.hpp>

#include "base/error.h"
#include "io/safetensors_checkpoint.h"
#include "io/safetensors_test_util.h"
#include "io/safetensors_writer.h"
#include "model/random_weights.h"
#include "model/tensor_table.h"

namespace gemma {
namespace {

using testing::ExpectError;
using testing::ReadFile;
using testing::ScratchDir;
using testing::WriteFile;

const std::string kGolden = std::string(GEMMA_TEST_DATA_DIR) + "/golden/";

float FirstValue(const WeightMatrix& m) {
  std::vector<float> row(m.cols);
  DequantizeRow(m, 0, row.data());
  return row[0];
}

TEST(LoadSafetensorsModel, EveryGoldenCaseBinds) {
  for (const char* name : {"tiny-2b-f32", "tiny-2b-bf16", "tiny-2b-long", "tiny-7b-f32"}) {
    SCOPED_TRACE(name);
    const ModelWeights w = LoadSafetensorsModel(kGolden + name);
    const ModelConfig& c = w.config;
    ASSERT_EQ(w.layers.size(), static_cast<size_t>(c.num_hidden_layers));
    EXPECT_EQ(w.embedding.rows, static_cast<size_t>(c.vocab_size));
    EXPECT_EQ(w.embedding.cols, static_cast<size_t>(c.hidden_size));
    for (const LayerWeights& l : w.layers) {
      EXPECT_EQ(l.q.rows, static_cast<size_t>(c.q_dim()));
      EXPECT_EQ(l.k.rows, static_cast<size_t>(c.kv_dim()));
      EXPECT_EQ(l.o.cols, static_cast<size_t>(c.q_dim()));
      EXPECT_EQ(l.down.cols, static_cast<size_t>(c.intermediate_size));
      EXPECT_EQ(l.attn_norm_scale.size(), static_cast<size_t>(c.hidden_size));
    }
    EXPECT_EQ(w.final_norm_scale.size(), static_cast<size_t>(c.hidden_size));
  }
}

TEST(LoadSafetensorsModel, ValuesAndOnePlusWeightNorms) {
  // Raw values read with Python's struct module from tests/data/golden/tiny-2b-f32:
  // model.embed_tokens.weight[0] = 0x3c4ee0c5, model.norm.weight[0] = 1.0093119144439697.
  const ModelWeights w = LoadSafetensorsModel(kGolden + "tiny-2b-f32");
  EXPECT_EQ(w.embedding.dtype, DType::kF32);
  EXPECT_EQ(FirstValue(w.embedding), 0.01262683141976595f);
  // Gemma's RMSNorm multiplies by (1 + w); the file stores w.
  EXPECT_EQ(w.final_norm_scale[0], 1.0f + 1.0093119144439697f);
  const ModelWeights b = LoadSafetensorsModel(kGolden + "tiny-2b-bf16");
  EXPECT_EQ(b.embedding.dtype, DType::kBF16);
  EXPECT_EQ(FirstValue(b.embedding), -0.2451171875f);     // 0xbe7b
  EXPECT_EQ(b.final_norm_scale[63], 1.0f + 0.83203125f);  // 0x3f55
}

// Copies a golden case into a scratch dir so a test can break one thing.
class BrokenCheckpointTest : public ::testing::Test {
 protected:
  void SetUp() override {
    for (const auto& entry : std::filesystem::directory_iterator(kGolden + "tiny-2b-f32")) {
      std::filesystem::copy(entry.path(), dir_.path() / entry.path().filename());
    }
  }
  std::string Dir() const { return dir_.path().string(); }

  // Rewrites model.safetensors with `edit` applied to its tensor list (values copied).
  void RewriteTensors(const std::function<void(std::vector<TensorToWrite>&)>& edit) {
    const std::string original = ReadFile(dir_.File("model.safetensors"));
    WriteFile(dir_.File("original.safetensors"), original);
    const auto ckpt = SafetensorsCheckpoint::Open(dir_.File("original.safetensors"));
    std::vector<TensorToWrite> tensors;
    for (const LocatedTensor& t : ckpt.tensors()) {
      tensors.push_back({.name = t.name, .dtype = t.view.dtype, .shape = t.view.shape});
    }
    edit(tensors);
    WriteSafetensorsFile(dir_.File("model.safetensors"), tensors,
                         [](const TensorToWrite&, uint64_t, std::span<std::byte> out) {
                           std::memset(out.data(), 0, out.size());
                         });
    std::filesystem::remove(dir_.File("original.safetensors"));
  }
  ScratchDir dir_{"weights"};
};

TEST_F(BrokenCheckpointTest, WrongShapeNamesTheTensor) {
  RewriteTensors([](std::vector<TensorToWrite>& tensors) {
    for (TensorToWrite& t : tensors) {
      if (t.name == "model.layers.1.self_attn.k_proj.weight") t.shape = {32, 64};
    }
  });
  ExpectError([&] { LoadSafetensorsModel(Dir()); },
              {Dir(), "model.layers.1.self_attn.k_proj.weight", "[32, 64]", "[16, 64]"});
}

TEST_F(BrokenCheckpointTest, MissingAndUnexpectedTensorsAreAllListed) {
  RewriteTensors([](std::vector<TensorToWrite>& tensors) {
    std::erase_if(tensors, [](const TensorToWrite& t) {
      return t.name == "model.norm.weight" || t.name == "model.layers.0.mlp.up_proj.weight";
    });
    tensors.push_back({.name = "model.layers.0.self_attn.q_norm.weight", .shape = {16}});
  });
  ExpectError([&] { LoadSafetensorsModel(Dir()); },
              {"3 problem(s)", "missing tensor 'model.norm.weight'",
               "missing tensor 'model.layers.0.mlp.up_proj.weight'",
               "unexpected tensor 'model.layers.0.self_attn.q_norm.weight'"});
}

TEST_F(BrokenCheckpointTest, ConfigThatDisagreesWithTheWeights) {
  nlohmann::json config = nlohmann::json::parse(ReadFile(dir_.File("config.json")));
  config["num_hidden_layers"] = 3;
  config["intermediate_size"] = 128;
  WriteFile(dir_.File("config.json"), config.dump());
  ExpectError([&] { LoadSafetensorsModel(Dir()); },
              {"missing tensor 'model.layers.2.mlp.up_proj.weight'",
               "'model.layers.0.mlp.gate_proj.weight' has shape [256, 64]", "[128, 64]"});
}

TEST_F(BrokenCheckpointTest, MissingConfig) {
  std::filesystem::remove(dir_.File("config.json"));
  ExpectError([&] { LoadSafetensorsModel(Dir()); }, {dir_.File("config.json"), "cannot open"});
}

// ---- the tensor table's state_dict order and make-random ----------------------------------

TEST(TensorTable, StateDictOrderSplitsGemma2bLikeThePublishedCheckpoint) {
  std::vector<TensorToWrite> tensors;
  uint64_t total = 0;
  for (const TensorSpec& spec : TensorTableInStateDictOrder(PresetConfig("2b"))) {
    tensors.push_back({.name = spec.hf_name, .dtype = DType::kBF16, .shape = spec.shape});
    total += ElementCount(spec.shape) * 2;
  }
  EXPECT_EQ(tensors.size(), 2u + 18 * 9);
  EXPECT_EQ(total, 5012344832u);  // the total_size for gemma-2b in bf16
  const std::vector<size_t> shard = AssignShards(tensors, kDefaultMaxShardBytes);
  // google/gemma-2b: the second shard (67.1 MB) holds layer 17's down_proj and both of its
  // norms, and the final norm; everything else is in the first.
  uint64_t second = 0;
  std::vector<std::string> in_second;
  for (size_t i = 0; i < tensors.size(); ++i) {
    EXPECT_LE(shard[i], 1u);
    if (shard[i] == 1) {
      in_second.push_back(tensors[i].name);
      second += ElementCount(tensors[i].shape) * 2;
    }
  }
  EXPECT_EQ(in_second,
            (std::vector<std::string>{
                "model.layers.17.mlp.down_proj.weight", "model.layers.17.input_layernorm.weight",
                "model.layers.17.post_attention_layernorm.weight", "model.norm.weight"}));
  EXPECT_EQ(second, 67121152u);
}

ModelConfig SmallConfig() {
  ModelConfig c = PresetConfig("2b");
  c.vocab_size = 300;
  c.hidden_size = 48;
  c.intermediate_size = 80;
  c.num_hidden_layers = 3;
  c.num_attention_heads = 4;
  c.num_key_value_heads = 2;
  c.head_dim = 10;
  return c;
}

TEST(RandomCheckpoint, LoadsAndIsDeterministic) {
  ScratchDir dir("random");
  const std::string a = dir.File("a"), b = dir.File("b"), c = dir.File("c");
  const WrittenCheckpoint written = WriteRandomCheckpoint(
      {.config = SmallConfig(), .dtype = DType::kBF16, .seed = 5, .out_dir = a, .threads = 2});
  EXPECT_EQ(written.files.back(), dir.File("a/config.json"));
  WriteRandomCheckpoint(
      {.config = SmallConfig(), .dtype = DType::kBF16, .seed = 5, .out_dir = b, .threads = 1});
  WriteRandomCheckpoint(
      {.config = SmallConfig(), .dtype = DType::kBF16, .seed = 6, .out_dir = c, .threads = 1});
  const std::string bytes_a = ReadFile(a + "/model.safetensors");
  // The same seed gives the same bytes whatever the thread count; another seed differs.
  EXPECT_TRUE(bytes_a == ReadFile(b + "/model.safetensors"));
  EXPECT_FALSE(bytes_a == ReadFile(c + "/model.safetensors"));

  const ModelWeights w = LoadSafetensorsModel(a);
  EXPECT_EQ(w.config.num_key_value_heads, 2);
  EXPECT_EQ(w.config.torch_dtype, "bfloat16");
  EXPECT_EQ(w.embedding.dtype, DType::kBF16);
  EXPECT_EQ(w.layers[2].k.rows, 20u);
}

TEST(RandomCheckpoint, ShardedF32) {
  ScratchDir dir("random");
  // 48x80x4 = 15,360-byte MLP matrices; a 40,000-byte cap gives several shards.
  const WrittenCheckpoint written = WriteRandomCheckpoint({.config = SmallConfig(),
                                                           .dtype = DType::kF32,
                                                           .seed = 1,
                                                           .out_dir = dir.path().string(),
                                                           .max_shard_bytes = 40000});
  EXPECT_GT(written.files.size(), 3u);
  const auto ckpt = SafetensorsCheckpoint::Open(dir.path().string());
  EXPECT_EQ(ckpt.index_total_size(), static_cast<uint64_t>(SmallConfig().ParameterCount()) * 4);
  EXPECT_NO_THROW(LoadSafetensorsModel(dir.path().string()));
}

// Mean and standard deviation of a tensor's values against the golden README's recipe.
void ExpectMoments(const TensorView& view, double mean, double stddev) {
  const size_t n = view.bytes.size() / 4;
  double sum = 0, sum_sq = 0;
  for (size_t i = 0; i < n; ++i) {
    float v;
    std::memcpy(&v, view.bytes.data() + 4 * i, 4);
    sum += v;
    sum_sq += static_cast<double>(v) * v;
  }
  const double m = sum / n;
  const double sd = std::sqrt(sum_sq / n - m * m);
  // 5 standard errors: a real bug (wrong scale, wrong fan-in) is far outside.
  EXPECT_NEAR(m, mean, 5 * stddev / std::sqrt(n));
  EXPECT_NEAR(sd, stddev, 5 * stddev / std::sqrt(2.0 * n));
}

TEST(RandomCheckpoint, DistributionsFollowTheGoldenRecipe) {
  ModelConfig c = SmallConfig();
  c.vocab_size = 4000;
  c.hidden_size = 256;
  c.intermediate_size = 1024;
  c.num_hidden_layers = 1;
  ScratchDir dir("random");
  WriteRandomCheckpoint(
      {.config = c, .dtype = DType::kF32, .seed = 3, .out_dir = dir.path().string()});
  const auto ckpt = SafetensorsCheckpoint::Open(dir.path().string());
  auto view = [&](const char* name) { return ckpt.Find(name)->view; };
  ExpectMoments(view("model.embed_tokens.weight"), 0.0, 1.5 / std::sqrt(256.0));
  ExpectMoments(view("model.layers.0.mlp.gate_proj.weight"), 0.0, 2.2 / std::sqrt(256.0));
  ExpectMoments(view("model.layers.0.mlp.down_proj.weight"), 0.0, 2.2 / std::sqrt(1024.0));
  ExpectMoments(view("model.layers.0.self_attn.o_proj.weight"), 0.0, 2.2 / std::sqrt(40.0));
  ExpectMoments(view("model.layers.0.input_layernorm.weight"), 0.0, 0.25);
  ExpectMoments(view("model.norm.weight"), 1.0, 0.25);
}

}  // namespace
}  // namespace gemma
