// The safetensors reader on the golden checkpoints (names, shapes, dtypes, values read
// independently with Python) and on every kind of bad file the issue lists.
#include "io/safetensors.h"

#include <gtest/gtest.h>

#include <cstring>
#include <filesystem>

#include "base/error.h"
#include "io/safetensors_checkpoint.h"
#include "io/safetensors_test_util.h"

namespace gemma {
namespace {

using testing::ExpectError;
using testing::RawSafetensors;
using testing::Safetensors;
using testing::ScratchDir;
using testing::WriteFile;

const std::string kGolden = std::string(GEMMA_TEST_DATA_DIR) + "/golden/";

// Element `index` of a tensor as float, read with memcpy (no alignment assumption).
float ValueAt(const TensorView& view, size_t index) {
  if (view.dtype == DType::kF32) {
    float f;
    std::memcpy(&f, view.bytes.data() + 4 * index, 4);
    return f;
  }
  uint16_t bits;
  std::memcpy(&bits, view.bytes.data() + 2 * index, 2);
  return view.dtype == DType::kBF16 ? BF16ToF32(bits) : F16ToF32(bits);
}

const TensorView& ViewOf(const SafetensorsCheckpoint& ckpt, const std::string& name) {
  const LocatedTensor* t = ckpt.Find(name);
  if (t == nullptr) throw std::runtime_error("missing " + name);
  return t->view;
}

// Every tensor name of a Gemma checkpoint with `layers` layers.
std::vector<std::string> GemmaNames(int layers) {
  std::vector<std::string> names = {"model.embed_tokens.weight", "model.norm.weight"};
  for (int i = 0; i < layers; ++i) {
    for (const char* suffix : {"input_layernorm", "post_attention_layernorm", "self_attn.q_proj",
                               "self_attn.k_proj", "self_attn.v_proj", "self_attn.o_proj",
                               "mlp.gate_proj", "mlp.up_proj", "mlp.down_proj"}) {
      names.push_back("model.layers." + std::to_string(i) + "." + suffix + ".weight");
    }
  }
  std::sort(names.begin(), names.end());
  return names;
}

std::vector<std::string> NamesOf(const SafetensorsCheckpoint& ckpt) {
  std::vector<std::string> names;
  for (const LocatedTensor& t : ckpt.tensors()) names.push_back(t.name);
  return names;
}

// ---- golden checkpoints -------------------------------------------------------------------
// Expected values were read independently with Python's struct module from the files in
// tests/data/golden (e.g. struct.unpack('<f', ...) at data_start + data_offsets[0] + 4*i);
// the hex is the raw bit pattern, so the comparison is exact.

TEST(SafetensorsGolden, Tiny2bF32SingleFile) {
  const auto ckpt = SafetensorsCheckpoint::Open(kGolden + "tiny-2b-f32");
  EXPECT_EQ(NamesOf(ckpt), GemmaNames(2));
  EXPECT_EQ(ckpt.shard_paths().size(), 1u);
  EXPECT_EQ(ckpt.index_total_size(), 0u);
  for (const LocatedTensor& t : ckpt.tensors()) {
    EXPECT_EQ(t.view.dtype, DType::kF32) << t.name;
    EXPECT_EQ(t.file, "model.safetensors");
  }
  const TensorView& embed = ViewOf(ckpt, "model.embed_tokens.weight");
  EXPECT_EQ(embed.shape, (Shape{512, 64}));
  EXPECT_EQ(embed.bytes.size(), 512u * 64 * 4);
  EXPECT_EQ(ValueAt(embed, 0), 0.01262683141976595f);             // 0x3c4ee0c5
  EXPECT_EQ(ValueAt(embed, 512 * 64 - 1), 0.07239309698343277f);  // 0x3d9442d5
  const TensorView& k = ViewOf(ckpt, "model.layers.1.self_attn.k_proj.weight");
  EXPECT_EQ(k.shape, (Shape{16, 64}));             // one kv head of 16
  EXPECT_EQ(ValueAt(k, 5), 0.10502981394529343f);  // 0x3dd719df
  EXPECT_EQ(ViewOf(ckpt, "model.layers.0.self_attn.q_proj.weight").shape, (Shape{64, 64}));
  EXPECT_EQ(ViewOf(ckpt, "model.layers.0.mlp.down_proj.weight").shape, (Shape{64, 256}));
  EXPECT_EQ(ViewOf(ckpt, "model.layers.0.mlp.gate_proj.weight").shape, (Shape{256, 64}));
  EXPECT_EQ(ViewOf(ckpt, "model.norm.weight").shape, (Shape{64}));
}

TEST(SafetensorsGolden, Tiny2bBf16SingleFile) {
  const auto ckpt = SafetensorsCheckpoint::Open(kGolden + "tiny-2b-bf16");
  EXPECT_EQ(NamesOf(ckpt), GemmaNames(2));
  for (const LocatedTensor& t : ckpt.tensors()) EXPECT_EQ(t.view.dtype, DType::kBF16) << t.name;
  const TensorView& embed = ViewOf(ckpt, "model.embed_tokens.weight");
  EXPECT_EQ(embed.shape, (Shape{512, 64}));
  EXPECT_EQ(embed.bytes.size(), 512u * 64 * 2);
  EXPECT_EQ(ValueAt(embed, 0), -0.2451171875f);                            // 0xbe7b
  EXPECT_EQ(ValueAt(ViewOf(ckpt, "model.norm.weight"), 63), 0.83203125f);  // 0x3f55
  EXPECT_EQ(ValueAt(ViewOf(ckpt, "model.layers.0.mlp.up_proj.weight"), 1000),
            0.13671875f);  // 0x3e0c
}

TEST(SafetensorsGolden, Tiny2bLongSingleFile) {
  const auto ckpt = SafetensorsCheckpoint::Open(kGolden + "tiny-2b-long/model.safetensors");
  EXPECT_EQ(NamesOf(ckpt), GemmaNames(2));
  EXPECT_EQ(ValueAt(ViewOf(ckpt, "model.embed_tokens.weight"), 0),
            -0.025496648624539375f);                                               // 0xbcd0de59
  EXPECT_EQ(ValueAt(ViewOf(ckpt, "model.norm.weight"), 63), 1.1058695316314697f);  // 0x3f8d8d22
}

TEST(SafetensorsGolden, Tiny7bF32Sharded) {
  const auto ckpt = SafetensorsCheckpoint::Open(kGolden + "tiny-7b-f32");
  EXPECT_EQ(NamesOf(ckpt), GemmaNames(3));
  EXPECT_EQ(ckpt.shard_paths().size(), 2u);
  EXPECT_EQ(ckpt.index_total_size(), 2116224u);
  uint64_t total = 0;
  for (const LocatedTensor& t : ckpt.tensors()) total += t.view.bytes.size();
  EXPECT_EQ(total, ckpt.index_total_size());

  // The transformers split: layer 1's attention in shard 1, its MLP and norms in shard 2.
  const std::string shard1 = "model-00001-of-00002.safetensors";
  const std::string shard2 = "model-00002-of-00002.safetensors";
  EXPECT_EQ(ckpt.Find("model.layers.1.self_attn.o_proj.weight")->file, shard1);
  EXPECT_EQ(ckpt.Find("model.layers.1.input_layernorm.weight")->file, shard2);
  EXPECT_EQ(ckpt.Find("model.layers.1.mlp.gate_proj.weight")->file, shard2);

  // heads * head_dim = 128 is not hidden_size = 96.
  const TensorView& q = ViewOf(ckpt, "model.layers.1.self_attn.q_proj.weight");
  EXPECT_EQ(q.shape, (Shape{128, 96}));
  EXPECT_EQ(ViewOf(ckpt, "model.layers.1.self_attn.o_proj.weight").shape, (Shape{96, 128}));
  EXPECT_EQ(ViewOf(ckpt, "model.layers.2.self_attn.k_proj.weight").shape, (Shape{128, 96}));
  EXPECT_EQ(ValueAt(q, 0), -0.10599363595247269f);  // 0xbdd91331
  EXPECT_EQ(ValueAt(ViewOf(ckpt, "model.layers.1.mlp.gate_proj.weight"), 0),
            -0.3299689292907715f);                                                 // 0xbea8f1b0
  EXPECT_EQ(ValueAt(ViewOf(ckpt, "model.norm.weight"), 95), 1.2734607458114624f);  // 0x3fa300c3
}

TEST(SafetensorsGolden, HeadersFollowHuggingFaceRules) {
  for (const char* file : {"tiny-2b-f32/model.safetensors", "tiny-2b-bf16/model.safetensors",
                           "tiny-7b-f32/model-00002-of-00002.safetensors"}) {
    const SafetensorsFile st = SafetensorsFile::Open(kGolden + file);
    EXPECT_EQ(st.header().data_start % 8, 0u) << file;
    EXPECT_EQ(st.header().metadata.at("format"), "pt") << file;
    // Data lies in name order, back to back from offset 0.
    uint64_t offset = 0;
    for (size_t i = 0; i < st.header().tensors.size(); ++i) {
      const SafetensorsEntry& e = st.header().tensors[i];
      EXPECT_EQ(e.begin, offset) << file << " " << e.name;
      if (i > 0) {
        EXPECT_LT(st.header().tensors[i - 1].name, e.name);
      }
      offset = e.end;
    }
    EXPECT_EQ(st.header().data_start + offset, st.mapping().size()) << file;
  }
}

TEST(SafetensorsGolden, ViewsAreZeroCopyIntoTheMapping) {
  const SafetensorsFile st = SafetensorsFile::Open(kGolden + "tiny-2b-f32/model.safetensors");
  const SafetensorsEntry* e = st.Find("model.norm.weight");
  ASSERT_NE(e, nullptr);
  const TensorView view = st.View(*e);
  EXPECT_EQ(view.bytes.data(), st.mapping().bytes().data() + st.header().data_start + e->begin);
  EXPECT_EQ(st.Find("no.such.tensor"), nullptr);
}

TEST(SafetensorsAlignment, UnpaddedHeaderStillGivesAlignedViews) {
  // Old writers did not pad the header: the data then starts at an odd address. The reader
  // copies such a file's data to aligned memory rather than hand kernels a misaligned float*.
  ScratchDir dir("st");
  const std::string path = dir.File("odd.safetensors");
  const std::string header = R"({"w":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}})";
  ASSERT_NE(header.size() % 4, 0u);
  std::string data(8, '\0');
  const float values[2] = {1.5f, -2.25f};
  std::memcpy(data.data(), values, 8);
  WriteFile(path, RawSafetensors(header.size(), header, data));
  const SafetensorsFile st = SafetensorsFile::Open(path);
  const TensorView view = st.View(*st.Find("w"));
  EXPECT_EQ(reinterpret_cast<uintptr_t>(view.bytes.data()) % alignof(float), 0u);
  EXPECT_EQ(ValueAt(view, 0), 1.5f);
  EXPECT_EQ(ValueAt(view, 1), -2.25f);
}

TEST(SafetensorsAlignment, MisalignedTensorInsideTheDataIsRefused) {
  ScratchDir dir("st");
  const std::string path = dir.File("misaligned.safetensors");
  WriteFile(path, Safetensors(R"({"a":{"dtype":"BF16","shape":[1],"data_offsets":[0,2]},)"
                              R"("b":{"dtype":"F32","shape":[1],"data_offsets":[2,6]}})",
                              6));
  ExpectError([&] { SafetensorsFile::Open(path); }, {path, "'b'", "aligned"});
}

// ---- bad files: one clear error naming the file and the problem ---------------------------

TEST(SafetensorsBadInput, TruncatedBeforeHeaderLength) {
  ScratchDir dir("st");
  const std::string path = dir.File("short.safetensors");
  WriteFile(path, "abc");
  ExpectError([&] { SafetensorsFile::Open(path); }, {path, "truncated"});
}

TEST(SafetensorsBadInput, EmptyFile) {
  ScratchDir dir("st");
  const std::string path = dir.File("empty.safetensors");
  WriteFile(path, "");
  ExpectError([&] { SafetensorsFile::Open(path); }, {path, "truncated"});
}

TEST(SafetensorsBadInput, TruncatedData) {
  ScratchDir dir("st");
  const std::string path = dir.File("cut.safetensors");
  std::string bytes = Safetensors(R"({"a":{"dtype":"F32","shape":[4],"data_offsets":[0,16]}})", 16);
  bytes.resize(bytes.size() - 5);  // lose the end of the data
  WriteFile(path, bytes);
  ExpectError([&] { SafetensorsFile::Open(path); }, {path, "truncated", "'a'"});
}

TEST(SafetensorsBadInput, HeaderLengthLargerThanFile) {
  ScratchDir dir("st");
  const std::string path = dir.File("long.safetensors");
  WriteFile(path, RawSafetensors(1000, "{}"));
  ExpectError([&] { SafetensorsFile::Open(path); }, {path, "truncated", "header length 1000"});
}

TEST(SafetensorsBadInput, AbsurdHeaderLengthIsNotAllocated) {
  ScratchDir dir("st");
  const std::string path = dir.File("huge.safetensors");
  // 2^63: allocating it would abort; the cap is checked before anything else.
  WriteFile(path, RawSafetensors(uint64_t{1} << 63, "{}"));
  ExpectError([&] { SafetensorsFile::Open(path); }, {path, "exceeds"});
  WriteFile(path, RawSafetensors(~uint64_t{0}, "{}"));
  ExpectError([&] { SafetensorsFile::Open(path); }, {path, "exceeds"});
}

TEST(SafetensorsBadInput, MalformedJson) {
  ScratchDir dir("st");
  const std::string path = dir.File("bad.safetensors");
  WriteFile(path, Safetensors(R"({"a": {"dtype": "F32", )", 0));
  ExpectError([&] { SafetensorsFile::Open(path); }, {path, "not valid JSON"});
}

TEST(SafetensorsBadInput, NonObjectJson) {
  ScratchDir dir("st");
  const std::string path = dir.File("array.safetensors");
  WriteFile(path, Safetensors("[1, 2, 3]", 0));
  ExpectError([&] { SafetensorsFile::Open(path); }, {path, "not a JSON object"});
  WriteFile(path, Safetensors(R"({"a": 5})", 0));
  ExpectError([&] { SafetensorsFile::Open(path); }, {path, "'a'", "not a JSON object"});
  WriteFile(path, Safetensors(R"({"__metadata__": [1]})", 0));
  ExpectError([&] { SafetensorsFile::Open(path); }, {path, "__metadata__"});
}

TEST(SafetensorsBadInput, OffsetsOutOfRange) {
  ScratchDir dir("st");
  const std::string path = dir.File("range.safetensors");
  WriteFile(path, Safetensors(R"({"w":{"dtype":"F32","shape":[2,2],"data_offsets":[16,32]}})", 16));
  ExpectError([&] { SafetensorsFile::Open(path); }, {path, "'w'", "data section has 16 bytes"});
  // Offsets near 2^64 must not wrap around in the checks.
  WriteFile(
      path,
      Safetensors(
          R"({"w":{"dtype":"F32","shape":[1],"data_offsets":[18446744073709551612,18446744073709551615]}})",
          16));
  ExpectError([&] { SafetensorsFile::Open(path); }, {path, "'w'"});
}

TEST(SafetensorsBadInput, OffsetsOverlap) {
  ScratchDir dir("st");
  const std::string path = dir.File("overlap.safetensors");
  WriteFile(path, Safetensors(R"({"a":{"dtype":"F32","shape":[4],"data_offsets":[0,16]},)"
                              R"("b":{"dtype":"F32","shape":[4],"data_offsets":[8,24]}})",
                              24));
  ExpectError([&] { SafetensorsFile::Open(path); }, {path, "'a'", "'b'", "overlap"});
}

TEST(SafetensorsBadInput, OffsetsDoNotMatchDtypeTimesShape) {
  ScratchDir dir("st");
  const std::string path = dir.File("size.safetensors");
  WriteFile(path, Safetensors(R"({"w":{"dtype":"BF16","shape":[3,4],"data_offsets":[0,48]}})", 48));
  ExpectError([&] { SafetensorsFile::Open(path); }, {path, "'w'", "48 bytes", "needs 24"});
  WriteFile(path, Safetensors(R"({"w":{"dtype":"F32","shape":[4],"data_offsets":[16,0]}})", 16));
  ExpectError([&] { SafetensorsFile::Open(path); }, {path, "'w'", "end before begin"});
  WriteFile(path, Safetensors(R"({"w":{"dtype":"F32","shape":[4],"data_offsets":[-4,12]}})", 16));
  ExpectError([&] { SafetensorsFile::Open(path); }, {path, "'w'", "non-negative"});
  WriteFile(path, Safetensors(R"({"w":{"dtype":"F32","shape":[4],"data_offsets":[0]}})", 16));
  ExpectError([&] { SafetensorsFile::Open(path); }, {path, "'w'", "data_offsets"});
}

TEST(SafetensorsBadInput, AbsurdShapeDoesNotOverflow) {
  ScratchDir dir("st");
  const std::string path = dir.File("shape.safetensors");
  // 2^32 * 2^32 * 4 bytes would wrap to 0 in 64-bit arithmetic and "match" offsets [0, 0].
  WriteFile(
      path,
      Safetensors(R"({"w":{"dtype":"F32","shape":[4294967296,4294967296],"data_offsets":[0,0]}})",
                  0));
  ExpectError([&] { SafetensorsFile::Open(path); }, {path, "'w'", "absurdly large"});
  WriteFile(path, Safetensors(R"({"w":{"dtype":"F32","shape":[-1],"data_offsets":[0,0]}})", 0));
  ExpectError([&] { SafetensorsFile::Open(path); }, {path, "'w'", "non-negative"});
}

TEST(SafetensorsBadInput, UnsupportedDtype) {
  ScratchDir dir("st");
  const std::string path = dir.File("i64.safetensors");
  WriteFile(path, Safetensors(R"({"ids":{"dtype":"I64","shape":[2],"data_offsets":[0,16]}})", 16));
  try {
    SafetensorsFile::Open(path);
    ADD_FAILURE() << "no error";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kUnsupported);
    EXPECT_NE(std::string(e.what()).find(path), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("\"I64\""), std::string::npos) << e.what();
  }
}

TEST(SafetensorsBadInput, NotARegularFile) {
  ScratchDir dir("st");
  ExpectError([&] { SafetensorsFile::Open(dir.path().string()); }, {dir.path().string()});
  ExpectError([&] { SafetensorsFile::Open(dir.File("absent.safetensors")); },
              {dir.File("absent.safetensors"), "cannot open"});
}

// ---- sharded checkpoints: the index and its shards ----------------------------------------

class ShardedCheckpointTest : public ::testing::Test {
 protected:
  // Two shards of one F32 tensor each, and an index naming both.
  void WriteGoodCheckpoint() {
    WriteFile(dir_.File("model-00001-of-00002.safetensors"),
              Safetensors(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}})", 8));
    WriteFile(dir_.File("model-00002-of-00002.safetensors"),
              Safetensors(R"({"b":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}})", 8));
    WriteIndex(
        R"({"metadata":{"total_size":16},"weight_map":{)"
        R"("a":"model-00001-of-00002.safetensors","b":"model-00002-of-00002.safetensors"}})");
  }
  void WriteIndex(const std::string& text) {
    WriteFile(dir_.File("model.safetensors.index.json"), text);
  }
  std::string Dir() const { return dir_.path().string(); }
  ScratchDir dir_{"shards"};
};

TEST_F(ShardedCheckpointTest, GoodCheckpointOpens) {
  WriteGoodCheckpoint();
  const auto ckpt = SafetensorsCheckpoint::Open(Dir());
  EXPECT_EQ(ckpt.tensors().size(), 2u);
  EXPECT_EQ(ckpt.index_total_size(), 16u);
  EXPECT_EQ(ckpt.Find("b")->file, "model-00002-of-00002.safetensors");
}

TEST_F(ShardedCheckpointTest, MissingShard) {
  WriteGoodCheckpoint();
  std::filesystem::remove(dir_.File("model-00002-of-00002.safetensors"));
  ExpectError([&] { SafetensorsCheckpoint::Open(Dir()); },
              {dir_.File("model-00002-of-00002.safetensors"), "missing"});
}

TEST_F(ShardedCheckpointTest, IndexEntryPointsToMissingFile) {
  WriteGoodCheckpoint();
  WriteIndex(
      R"({"weight_map":{"a":"model-00001-of-00002.safetensors","b":"nowhere.safetensors"}})");
  ExpectError([&] { SafetensorsCheckpoint::Open(Dir()); }, {"nowhere.safetensors", "missing"});
}

TEST_F(ShardedCheckpointTest, IndexPlacesTensorInWrongShard) {
  WriteGoodCheckpoint();
  WriteIndex(R"({"weight_map":{"a":"model-00002-of-00002.safetensors",)"
             R"("b":"model-00002-of-00002.safetensors"}})");
  ExpectError([&] { SafetensorsCheckpoint::Open(Dir()); },
              {"model-00002-of-00002.safetensors", "'a'", "not there"});
}

TEST_F(ShardedCheckpointTest, IndexEscapingTheDirectory) {
  WriteGoodCheckpoint();
  WriteIndex(R"({"weight_map":{"a":"../../etc/passwd"}})");
  ExpectError([&] { SafetensorsCheckpoint::Open(Dir()); },
              {"model.safetensors.index.json", "'a'", "not a file in the model directory"});
}

TEST_F(ShardedCheckpointTest, MalformedIndex) {
  WriteGoodCheckpoint();
  WriteIndex("{\"weight_map\": ");
  ExpectError([&] { SafetensorsCheckpoint::Open(Dir()); },
              {"model.safetensors.index.json", "not a JSON object"});
  WriteIndex(R"({"metadata":{}})");
  ExpectError([&] { SafetensorsCheckpoint::Open(Dir()); },
              {"model.safetensors.index.json", "weight_map"});
  WriteIndex(R"({"weight_map":{"a":7}})");
  ExpectError([&] { SafetensorsCheckpoint::Open(Dir()); },
              {"model.safetensors.index.json", "'a'", "not a file name"});
}

TEST_F(ShardedCheckpointTest, NoCheckpointInDirectory) {
  ExpectError([&] { SafetensorsCheckpoint::Open(Dir()); }, {Dir(), "model.safetensors"});
  ExpectError([&] { SafetensorsCheckpoint::Open(Dir() + "/absent"); },
              {Dir() + "/absent", "no such"});
}

}  // namespace
}  // namespace gemma
