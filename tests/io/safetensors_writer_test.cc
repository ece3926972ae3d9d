// The safetensors writer: byte-identical to the Hugging Face files in tests/data/golden,
// and a round trip of random tensors of every dtype, single file and sharded.
#include "io/safetensors_writer.h"

#include <gtest/gtest.h>

#include <cstring>
#include <random>

#include "base/error.h"
#include "io/safetensors_checkpoint.h"
#include "io/safetensors_test_util.h"

namespace gemma {
namespace {

using testing::ExpectError;
using testing::ReadFile;
using testing::ScratchDir;

const std::string kGolden = std::string(GEMMA_TEST_DATA_DIR) + "/golden/";

// A source that copies the bytes of tensors from an open checkpoint.
TensorBytesSource CopyFrom(const SafetensorsCheckpoint& ckpt) {
  return [&ckpt](const TensorToWrite& t, uint64_t offset, std::span<std::byte> out) {
    const LocatedTensor* located = ckpt.Find(t.name);
    ASSERT_NE(located, nullptr) << t.name;
    ASSERT_LE(offset + out.size(), located->view.bytes.size());
    std::memcpy(out.data(), located->view.bytes.data() + offset, out.size());
  };
}

std::vector<TensorToWrite> TensorsOf(const SafetensorsCheckpoint& ckpt) {
  std::vector<TensorToWrite> tensors;
  for (const LocatedTensor& t : ckpt.tensors()) {
    tensors.push_back({.name = t.name, .dtype = t.view.dtype, .shape = t.view.shape});
  }
  return tensors;
}

TEST(SafetensorsWriter, RewritesGoldenSingleFilesByteForByte) {
  for (const char* name : {"tiny-2b-f32", "tiny-2b-bf16"}) {
    const std::string original = kGolden + name + "/model.safetensors";
    const auto ckpt = SafetensorsCheckpoint::Open(original);
    ScratchDir dir("writer");
    // Small chunks exercise the streaming path: tensors are written in many pieces.
    WriteSafetensorsFile(dir.File("model.safetensors"), TensorsOf(ckpt), CopyFrom(ckpt),
                         {.chunk_bytes = 1000});
    EXPECT_TRUE(ReadFile(dir.File("model.safetensors")) == ReadFile(original)) << name;
  }
}

TEST(SafetensorsWriter, RewritesGoldenShardedCheckpointByteForByte) {
  const std::string golden = kGolden + "tiny-7b-f32/";
  const auto ckpt = SafetensorsCheckpoint::Open(golden);
  // PyTorch's state_dict order for GemmaForCausalLM, written out here independently of
  // the model layer's tensor table: modules in registration order within each layer.
  std::vector<std::string> order = {"model.embed_tokens.weight"};
  for (int layer = 0; layer < 3; ++layer) {
    for (const char* suffix : {"self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj",
                               "self_attn.o_proj", "mlp.gate_proj", "mlp.up_proj", "mlp.down_proj",
                               "input_layernorm", "post_attention_layernorm"}) {
      order.push_back("model.layers." + std::to_string(layer) + "." + suffix + ".weight");
    }
  }
  order.push_back("model.norm.weight");
  std::vector<TensorToWrite> tensors;
  for (const std::string& name : order) {
    const LocatedTensor* t = ckpt.Find(name);
    ASSERT_NE(t, nullptr) << name;
    tensors.push_back({.name = name, .dtype = t->view.dtype, .shape = t->view.shape});
  }
  ScratchDir dir("writer");
  // Shard 1 of the golden case holds 1,032,960 data bytes; the next tensor (layer 1's
  // gate_proj, 147,456 bytes) would tip it over any cap below 1,180,416.
  const WrittenCheckpoint written = WriteSafetensorsCheckpoint(
      tensors, CopyFrom(ckpt), {.dir = dir.path().string(), .max_shard_bytes = 1'100'000});
  EXPECT_EQ(written.total_size, 2116224u);
  ASSERT_EQ(written.files.size(), 3u);
  for (const char* file : {"model-00001-of-00002.safetensors", "model-00002-of-00002.safetensors",
                           "model.safetensors.index.json"}) {
    EXPECT_TRUE(ReadFile(dir.File(file)) == ReadFile(golden + file)) << file;
  }
}

// Random tensors of every dtype and awkward sizes, in a deliberately unsorted order.
std::vector<TensorToWrite> MixedTensors() {
  return {{.name = "z.bf16", .dtype = DType::kBF16, .shape = {3, 7}},
          {.name = "a.f32", .dtype = DType::kF32, .shape = {5, 1, 3}},
          {.name = "m.f16", .dtype = DType::kF16, .shape = {11}},
          {.name = "b.scalar", .dtype = DType::kF32, .shape = {}},
          {.name = "c.empty", .dtype = DType::kBF16, .shape = {0, 4}},
          {.name = "y.big", .dtype = DType::kF32, .shape = {100, 33}}};
}

// Deterministic bytes per tensor, remembered so the test can compare what comes back.
struct RandomBytes {
  std::map<std::string, std::vector<std::byte>> data;
  explicit RandomBytes(const std::vector<TensorToWrite>& tensors) {
    std::mt19937 rng(7);
    for (const TensorToWrite& t : tensors) {
      std::vector<std::byte>& bytes = data[t.name];
      bytes.resize(ElementCount(t.shape) * Traits(t.dtype).block_bytes);
      for (std::byte& b : bytes) b = static_cast<std::byte>(rng() & 0xff);
    }
  }
  TensorBytesSource Source() const {
    return [this](const TensorToWrite& t, uint64_t offset, std::span<std::byte> out) {
      std::memcpy(out.data(), data.at(t.name).data() + offset, out.size());
    };
  }
  void ExpectEqual(const SafetensorsCheckpoint& ckpt,
                   const std::vector<TensorToWrite>& tensors) const {
    ASSERT_EQ(ckpt.tensors().size(), tensors.size());
    for (const TensorToWrite& t : tensors) {
      const LocatedTensor* got = ckpt.Find(t.name);
      ASSERT_NE(got, nullptr) << t.name;
      EXPECT_EQ(got->view.dtype, t.dtype) << t.name;
      EXPECT_EQ(got->view.shape, t.shape) << t.name;
      const std::vector<std::byte>& want = data.at(t.name);
      ASSERT_EQ(got->view.bytes.size(), want.size()) << t.name;
      EXPECT_TRUE(std::equal(want.begin(), want.end(), got->view.bytes.begin())) << t.name;
    }
  }
};

TEST(SafetensorsWriter, RoundTripSingleFile) {
  const std::vector<TensorToWrite> tensors = MixedTensors();
  const RandomBytes bytes(tensors);
  ScratchDir dir("writer");
  const WrittenCheckpoint written = WriteSafetensorsCheckpoint(
      tensors, bytes.Source(), {.dir = dir.path().string(), .file = {.chunk_bytes = 64}});
  ASSERT_EQ(written.files.size(), 1u);
  EXPECT_EQ(written.files[0], dir.File("model.safetensors"));
  const auto ckpt = SafetensorsCheckpoint::Open(dir.path().string());
  bytes.ExpectEqual(ckpt, tensors);

  // Larger elements first (F32 before BF16/F16), then by name; data back to back; 8-aligned.
  const SafetensorsFile st = SafetensorsFile::Open(dir.File("model.safetensors"));
  EXPECT_EQ(st.header().data_start % 8, 0u);
  std::vector<std::string> data_order;
  for (const SafetensorsEntry& e : st.header().tensors) data_order.push_back(e.name);
  EXPECT_EQ(data_order,
            (std::vector<std::string>{"a.f32", "b.scalar", "y.big", "c.empty", "m.f16", "z.bf16"}));
}

TEST(SafetensorsWriter, RoundTripSharded) {
  const std::vector<TensorToWrite> tensors = MixedTensors();
  const RandomBytes bytes(tensors);
  ScratchDir dir("writer");
  // 64-byte cap: z (42 B) | a (60 B) | m (22 B) + b (4 B) + c (0 B) | y (13,200 B, alone).
  const WrittenCheckpoint written = WriteSafetensorsCheckpoint(
      tensors, bytes.Source(), {.dir = dir.path().string(), .max_shard_bytes = 64});
  ASSERT_EQ(written.files.size(), 5u);
  EXPECT_EQ(written.weight_map.at("z.bf16"), "model-00001-of-00004.safetensors");
  EXPECT_EQ(written.weight_map.at("a.f32"), "model-00002-of-00004.safetensors");
  EXPECT_EQ(written.weight_map.at("m.f16"), "model-00003-of-00004.safetensors");
  EXPECT_EQ(written.weight_map.at("c.empty"), "model-00003-of-00004.safetensors");
  EXPECT_EQ(written.weight_map.at("y.big"), "model-00004-of-00004.safetensors");
  const auto ckpt = SafetensorsCheckpoint::Open(dir.path().string());
  EXPECT_EQ(ckpt.index_total_size(), 42u + 60 + 22 + 4 + 0 + 13200);
  EXPECT_EQ(ckpt.index_total_size(), written.total_size);
  bytes.ExpectEqual(ckpt, tensors);
}

TEST(SafetensorsWriter, RefusesWhatItCannotWrite) {
  ScratchDir dir("writer");
  const auto none = [](const TensorToWrite&, uint64_t, std::span<std::byte>) {};
  ExpectError(
      [&] {
        WriteSafetensorsFile(dir.File("q.safetensors"),
                             {{.name = "q", .dtype = DType::kQ4_0, .shape = {32}}}, none);
      },
      {dir.File("q.safetensors"), "'q'", "Q4_0"});
  ExpectError(
      [&] {
        WriteSafetensorsFile(dir.File("d.safetensors"),
                             {{.name = "x", .dtype = DType::kF32, .shape = {1}},
                              {.name = "x", .dtype = DType::kF32, .shape = {2}}},
                             none);
      },
      {dir.File("d.safetensors"), "'x'", "twice"});
  const std::string unwritable = dir.File("no/such/dir/model.safetensors");
  ExpectError(
      [&] {
        WriteSafetensorsFile(unwritable, {{.name = "x", .dtype = DType::kF32, .shape = {1}}}, none);
      },
      {unwritable, "cannot create"});
}

}  // namespace
}  // namespace gemma
