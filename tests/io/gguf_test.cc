// The GGUF reader and writer against llama.cpp's own files (tests/data/gguf, see its README),
// and against hand-made malformed files, which must give a clear Error, never a crash.
#include <gtest/gtest.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <vector>

#include "base/error.h"
#include "io/gguf.h"
#include "io/gguf_writer.h"
#include "io/safetensors.h"

namespace gemma {
namespace {

const std::string kDir = std::string(GEMMA_TEST_DATA_DIR) + "/gguf/small-2b-256/";
const char* kFiles[] = {"model-f32.gguf", "model-q8_0.gguf", "model-q4_0.gguf", "model-q4_k_m.gguf",
                        "model-q6_k.gguf"};

std::vector<std::byte> ReadAll(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::vector<char> chars((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  std::vector<std::byte> bytes(chars.size());
  std::memcpy(bytes.data(), chars.data(), chars.size());
  return bytes;
}

std::string TempPath(const std::string& name) {
  return (std::filesystem::temp_directory_path() /
          (name + "-" + std::to_string(::getpid()) + ".gguf"))
      .string();
}

TEST(GgufReader, F32FileMetadataAsTheReadmeLists) {
  const GgufFile file = GgufFile::Open(kDir + "model-f32.gguf");
  const GgufHeader& h = file.header();
  EXPECT_EQ(h.version, 3u);
  EXPECT_EQ(h.alignment, 32u);
  EXPECT_EQ(h.Find("general.architecture")->ToString("a"), "gemma");
  EXPECT_EQ(h.Find("general.name")->ToString("a"), "small-2b-256");
  EXPECT_EQ(h.Find("general.size_label")->ToString("a"), "2.2M");
  EXPECT_EQ(h.Find("gemma.context_length")->type(), GgufType::kUint32);
  EXPECT_EQ(h.Find("gemma.context_length")->ToUint64("a"), 8192u);
  EXPECT_EQ(h.Find("gemma.embedding_length")->ToUint64("a"), 256u);
  EXPECT_EQ(h.Find("gemma.block_count")->ToUint64("a"), 2u);
  EXPECT_EQ(h.Find("gemma.feed_forward_length")->ToUint64("a"), 1024u);
  EXPECT_EQ(h.Find("gemma.attention.head_count")->ToUint64("a"), 2u);
  EXPECT_EQ(h.Find("gemma.attention.head_count_kv")->ToUint64("a"), 1u);
  EXPECT_EQ(h.Find("gemma.attention.layer_norm_rms_epsilon")->type(), GgufType::kFloat32);
  EXPECT_FLOAT_EQ(h.Find("gemma.attention.layer_norm_rms_epsilon")->ToDouble("a"), 1e-6f);
  EXPECT_EQ(h.Find("gemma.attention.key_length")->ToUint64("a"), 128u);
  EXPECT_EQ(h.Find("gemma.attention.value_length")->ToUint64("a"), 128u);
  EXPECT_EQ(h.Find("general.file_type")->ToUint64("a"), 0u);
  EXPECT_EQ(h.Find("tokenizer.ggml.model")->ToString("a"), "llama");
  EXPECT_EQ(h.Find("tokenizer.ggml.pre")->ToString("a"), "default");
  const std::vector<std::string>& tokens = h.Find("tokenizer.ggml.tokens")->ToStrings("a");
  ASSERT_EQ(tokens.size(), 1024u);
  EXPECT_EQ(tokens[0], "<pad>");
  EXPECT_EQ(tokens[2], "<bos>");
  EXPECT_EQ(tokens[108], "<0x00>");
  const std::vector<double> scores = h.Find("tokenizer.ggml.scores")->ToDoubles("a");
  ASSERT_EQ(scores.size(), 1024u);
  EXPECT_EQ(scores[364], 0.0);
  EXPECT_EQ(scores[365], -1.0);
  const std::vector<int64_t> types = h.Find("tokenizer.ggml.token_type")->ToInt64s("a");
  ASSERT_EQ(types.size(), 1024u);
  EXPECT_EQ(types[0], 3);
  EXPECT_EQ(types[3], 2);
  EXPECT_EQ(types[4], 4);
  EXPECT_EQ(types[108], 6);
  EXPECT_EQ(types[364], 1);
  EXPECT_EQ(h.Find("tokenizer.ggml.bos_token_id")->ToUint64("a"), 2u);
  EXPECT_EQ(h.Find("tokenizer.ggml.eos_token_id")->ToUint64("a"), 1u);
  EXPECT_EQ(h.Find("tokenizer.ggml.unknown_token_id")->ToUint64("a"), 3u);
  EXPECT_EQ(h.Find("tokenizer.ggml.padding_token_id")->ToUint64("a"), 0u);
  EXPECT_TRUE(h.Find("tokenizer.ggml.add_bos_token")->ToBool("a"));
  EXPECT_FALSE(h.Find("tokenizer.ggml.add_eos_token")->ToBool("a"));
  EXPECT_EQ(h.Find("tokenizer.ggml.eot_token_id")->ToUint64("a"), 107u);
  EXPECT_FALSE(h.Find("tokenizer.ggml.add_space_prefix")->ToBool("a"));
  EXPECT_EQ(h.Find("general.quantization_version")->ToUint64("a"), 2u);
  EXPECT_EQ(h.Find("gemma.rope.freq_base"), nullptr);
  EXPECT_EQ(h.metadata.front().key, "general.architecture");
  EXPECT_EQ(h.metadata.back().key, "general.quantization_version");
  // A wrong-kind conversion names the key.
  try {
    h.Find("general.name")->ToUint64("general.name");
    FAIL() << "expected an Error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("general.name"), std::string::npos);
  }
}

TEST(GgufReader, TensorTypesOfEveryFileMatchLlamaCpp) {
  std::ifstream in(kDir + "llamacpp_logits.json");
  const nlohmann::json json = nlohmann::json::parse(in);
  for (const char* name : kFiles) {
    SCOPED_TRACE(name);
    const GgufFile file = GgufFile::Open(kDir + name);
    const nlohmann::json& types = json["files"][name]["tensor_types"];
    ASSERT_EQ(file.header().tensors.size(), types.size());
    for (const auto& [tensor, type] : types.items()) {
      const GgufTensorInfo* t = file.FindTensor(tensor);
      ASSERT_NE(t, nullptr) << tensor;
      EXPECT_EQ(DTypeName(t->dtype), type.get<std::string>()) << tensor;
    }
    const GgufTensorInfo* embd = file.FindTensor("token_embd.weight");
    EXPECT_EQ(embd->ne, (std::vector<uint64_t>{256, 1024}));
    EXPECT_EQ(file.View(*embd).shape, (Shape{1024, 256}));
    EXPECT_EQ(file.FindTensor("blk.0.ffn_down.weight")->HfShape(), (Shape{256, 1024}));
  }
}

TEST(GgufReader, F32TensorsAreTheCheckpointsWithNormsAsOnePlusW) {
  const GgufFile gguf = GgufFile::Open(kDir + "model-f32.gguf");
  const SafetensorsFile hf = SafetensorsFile::Open(kDir + "hf/model.safetensors");
  const std::pair<const char*, const char*> pairs[] = {
      {"model.embed_tokens.weight", "token_embd.weight"},
      {"model.layers.1.self_attn.k_proj.weight", "blk.1.attn_k.weight"},
      {"model.layers.0.mlp.down_proj.weight", "blk.0.ffn_down.weight"},
      {"model.norm.weight", "output_norm.weight"},
      {"model.layers.0.input_layernorm.weight", "blk.0.attn_norm.weight"}};
  for (const auto& [hf_name, gguf_name] : pairs) {
    SCOPED_TRACE(gguf_name);
    const TensorView a = hf.View(*hf.Find(hf_name));
    const TensorView b = gguf.View(*gguf.FindTensor(gguf_name));
    ASSERT_EQ(a.shape, b.shape);
    ASSERT_EQ(a.bytes.size(), b.bytes.size());
    const bool is_norm = std::string(gguf_name).find("norm") != std::string::npos;
    for (size_t i = 0; i < a.bytes.size() / 4; ++i) {
      float x, y;
      std::memcpy(&x, a.bytes.data() + 4 * i, 4);
      std::memcpy(&y, b.bytes.data() + 4 * i, 4);
      ASSERT_EQ(is_norm ? x + 1.0f : x, y) << "element " << i;
    }
  }
}

// Copying every key and tensor through the writer reproduces llama.cpp's files byte for byte.
TEST(GgufWriter, RoundTripIsByteIdentical) {
  for (const char* name : kFiles) {
    SCOPED_TRACE(name);
    const GgufFile in = GgufFile::Open(kDir + name);
    std::vector<GgufTensorDecl> decls;
    for (const GgufTensorInfo& t : in.header().tensors) {
      decls.push_back({.name = t.name, .dtype = t.dtype, .shape = t.HfShape()});
    }
    const std::string out_path = TempPath("roundtrip");
    {
      GgufWriter writer(out_path, in.header().metadata, decls);
      for (const GgufTensorInfo& t : in.header().tensors) {
        writer.WriteTensor(t.name, in.View(t).bytes);
      }
      writer.Finish();
    }
    EXPECT_TRUE(ReadAll(kDir + name) == ReadAll(out_path));
    std::filesystem::remove(out_path);
  }
}

TEST(GgufWriter, MisuseIsAnError) {
  const std::string path = TempPath("misuse");
  const std::vector<GgufKeyValue> meta = {{"general.architecture", GgufValue::String("gemma")}};
  EXPECT_THROW(GgufWriter(path, meta, {{.name = "a", .dtype = DType::kQ4_0, .shape = {2, 48}}}),
               Error);
  {
    GgufWriter writer(path, meta,
                      {{.name = "a", .dtype = DType::kF32, .shape = {2, 3}},
                       {.name = "b", .dtype = DType::kQ8_0, .shape = {32}}});
    const std::vector<std::byte> a(24), b(34);
    EXPECT_THROW(writer.WriteTensor("b", b), Error);  // out of order
    EXPECT_THROW(writer.WriteTensor("a", b), Error);  // wrong size
    writer.WriteTensor("a", a);
    EXPECT_THROW(writer.Finish(), Error);  // "b" missing
  }
  EXPECT_FALSE(std::filesystem::exists(path));  // nothing under the final name
  EXPECT_FALSE(std::filesystem::exists(path + ".tmp"));
}

TEST(GgufWriter, EveryValueTypeRoundTrips) {
  const std::string path = TempPath("values");
  const float floats[] = {1.5f, -2.0f};
  const int32_t ints[] = {-7, 9};
  std::vector<GgufKeyValue> meta = {
      {"u32", GgufValue::Uint32(7)},
      {"i32", GgufValue::Int32(-5)},
      {"u64", GgufValue::Uint64(1ull << 40)},
      {"f32", GgufValue::Float32(0.25f)},
      {"bool", GgufValue::Bool(true)},
      {"str", GgufValue::String("héllo")},
      {"strs", GgufValue::StringArray({"a", "", "ccc"})},
      {"f32s", GgufValue::Float32Array(floats)},
      {"i32s", GgufValue::Int32Array(ints)},
      {"u8", GgufValue::FromBytes(GgufType::kUint8, GgufType::kUint8, 0, {200})},
      {"i8", GgufValue::FromBytes(GgufType::kInt8, GgufType::kUint8, 0, {0xff})},
      {"u16", GgufValue::FromBytes(GgufType::kUint16, GgufType::kUint8, 0, {1, 1})},
      {"i16", GgufValue::FromBytes(GgufType::kInt16, GgufType::kUint8, 0, {0xfe, 0xff})},
      {"i64", GgufValue::FromBytes(GgufType::kInt64, GgufType::kUint8, 0,
                                   {0xfd, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff})},
      {"f64", GgufValue::FromBytes(GgufType::kFloat64, GgufType::kUint8, 0,
                                   {0, 0, 0, 0, 0, 0, 0xf8, 0x3f})},  // 1.5
      {"bools", GgufValue::FromBytes(GgufType::kArray, GgufType::kBool, 3, {1, 0, 1})},
  };
  {
    GgufWriter writer(path, meta, {});
    writer.Finish();
  }
  const GgufFile file = GgufFile::Open(path);
  const GgufHeader& h = file.header();
  ASSERT_EQ(h.metadata.size(), meta.size());
  EXPECT_EQ(h.Find("u32")->ToUint64("u32"), 7u);
  EXPECT_EQ(h.Find("i32")->ToInt64("i32"), -5);
  EXPECT_EQ(h.Find("u64")->ToUint64("u64"), 1ull << 40);
  EXPECT_EQ(h.Find("f32")->ToDouble("f32"), 0.25);
  EXPECT_TRUE(h.Find("bool")->ToBool("bool"));
  EXPECT_EQ(h.Find("str")->ToString("str"), "héllo");
  EXPECT_EQ(h.Find("strs")->ToStrings("strs"), (std::vector<std::string>{"a", "", "ccc"}));
  EXPECT_EQ(h.Find("f32s")->ToDoubles("f32s"), (std::vector<double>{1.5, -2.0}));
  EXPECT_EQ(h.Find("i32s")->ToInt64s("i32s"), (std::vector<int64_t>{-7, 9}));
  EXPECT_EQ(h.Find("u8")->ToUint64("u8"), 200u);
  EXPECT_EQ(h.Find("i8")->ToInt64("i8"), -1);
  EXPECT_EQ(h.Find("u16")->ToUint64("u16"), 257u);
  EXPECT_EQ(h.Find("i16")->ToInt64("i16"), -2);
  EXPECT_EQ(h.Find("i64")->ToInt64("i64"), -3);
  EXPECT_THROW(h.Find("i64")->ToUint64("i64"), Error);
  EXPECT_EQ(h.Find("f64")->ToDouble("f64"), 1.5);
  EXPECT_EQ(h.Find("bools")->ToInt64s("bools"), (std::vector<int64_t>{1, 0, 1}));
  std::filesystem::remove(path);
}

// --- Malformed files ------------------------------------------------------------------

// A minimal valid file image built by hand, so each test can break one field.
struct Image {
  std::vector<uint8_t> bytes;
  void U32(uint32_t v) { Append(&v, 4); }
  void U64(uint64_t v) { Append(&v, 8); }
  void Str(std::string_view s) {
    U64(s.size());
    Append(s.data(), s.size());
  }
  void Append(const void* p, size_t n) {
    const auto* b = static_cast<const uint8_t*>(p);
    bytes.insert(bytes.end(), b, b + n);
  }
  void Pad() {
    while (bytes.size() % 32) bytes.push_back(0);
  }
};

struct Fields {
  uint32_t version = 3;
  uint64_t tensor_count = 1;
  uint64_t kv_count = 1;
  uint64_t string_length = 5;  // of the value "gemma"
  uint32_t value_type = 8;
  uint32_t dims = 2;
  uint64_t ne0 = 32;
  uint32_t ggml_type = 8;  // Q8_0
  uint64_t offset = 0;
  uint64_t data_bytes = 68;  // two Q8_0 rows of 32
};

std::vector<std::byte> Build(const Fields& f) {
  Image im;
  im.U32(kGgufMagic);
  im.U32(f.version);
  im.U64(f.tensor_count);
  im.U64(f.kv_count);
  im.Str("general.architecture");
  im.U32(f.value_type);
  im.U64(f.string_length);
  im.Append("gemma", 5);
  im.Str("w");
  im.U32(f.dims);
  im.U64(f.ne0);
  if (f.dims >= 2) im.U64(2);
  im.U32(f.ggml_type);
  im.U64(f.offset);
  im.Pad();
  for (uint64_t i = 0; i < f.data_bytes; ++i) im.bytes.push_back(static_cast<uint8_t>(i));
  std::vector<std::byte> out(im.bytes.size());
  std::memcpy(out.data(), im.bytes.data(), out.size());
  return out;
}

void ExpectError(const std::vector<std::byte>& image, ErrorCode code, std::string_view words) {
  try {
    ParseGgufHeader(image, "bad.gguf");
    FAIL() << "expected an Error mentioning '" << words << "'";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), code) << e.what();
    EXPECT_NE(std::string(e.what()).find("bad.gguf"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find(words), std::string::npos) << e.what();
  }
}

// general.alignment 2 is a legal power of two, but it can place a tensor at an address that
// is not 4-byte aligned: gemma-rt uses tensors in place, so it refuses such a file.
TEST(GgufMalformed, TensorDataMustBeFourByteAligned) {
  Image im;
  im.U32(kGgufMagic);
  im.U32(3);
  im.U64(1);  // tensors
  im.U64(2);  // keys
  im.Str("general.architecture");
  im.U32(8);  // string
  im.U64(5);
  im.Append("gemma", 5);
  im.Str("general.alignment");
  im.U32(4);  // uint32
  im.U32(2);
  im.Str("w");
  im.U32(2);
  im.U64(32);
  im.U64(2);
  im.U32(8);  // Q8_0
  const size_t offset_at = im.bytes.size();
  im.U64(0);
  const size_t data_start = (im.bytes.size() + 1) / 2 * 2;
  // An offset (a multiple of the alignment, 2) that leaves the tensor 2 bytes off a multiple of 4.
  const uint64_t offset = data_start % 4 == 0 ? 2 : 0;
  std::memcpy(&im.bytes[offset_at], &offset, sizeof(offset));
  while (im.bytes.size() < data_start + offset + 68) im.bytes.push_back(0);
  std::vector<std::byte> image(im.bytes.size());
  std::memcpy(image.data(), im.bytes.data(), image.size());
  ExpectError(image, ErrorCode::kFormat, "4-byte aligned");
}

TEST(GgufMalformed, HandMadeBaselineIsValid) {
  const GgufHeader h = ParseGgufHeader(Build({}), "good.gguf");
  ASSERT_EQ(h.tensors.size(), 1u);
  EXPECT_EQ(h.tensors[0].bytes, 68u);
  EXPECT_EQ(h.tensors[0].HfShape(), (Shape{2, 32}));
}

TEST(GgufMalformed, EveryTruncationIsAClearError) {
  const std::vector<std::byte> full = Build({});
  for (size_t n = 0; n < full.size(); ++n) {
    std::vector<std::byte> cut(full.begin(), full.begin() + n);
    EXPECT_THROW(ParseGgufHeader(cut, "bad.gguf"), Error) << "cut at " << n;
  }
}

TEST(GgufMalformed, FieldsOutOfRange) {
  ExpectError(Build({.version = 1}), ErrorCode::kUnsupported, "version 1");
  ExpectError(Build({.version = 0x03000000}), ErrorCode::kFormat, "unknown GGUF version");
  ExpectError(Build({.tensor_count = 1ull << 60}), ErrorCode::kFormat, "tensor count");
  ExpectError(Build({.kv_count = ~0ull}), ErrorCode::kFormat, "metadata count");
  ExpectError(Build({.string_length = 1ull << 62}), ErrorCode::kFormat, "truncated");
  ExpectError(Build({.value_type = 99}), ErrorCode::kFormat, "unknown value type");
  ExpectError(Build({.dims = 7}), ErrorCode::kFormat, "dimensions");
  ExpectError(Build({.ne0 = 0}), ErrorCode::kFormat, "dimension 0");
  ExpectError(Build({.ne0 = 1ull << 62}), ErrorCode::kFormat, "overflows");
  ExpectError(Build({.ne0 = 48}), ErrorCode::kFormat, "blocks");
  ExpectError(Build({.ggml_type = 10}), ErrorCode::kUnsupported, "ggml type 10");
  ExpectError(Build({.offset = 3}), ErrorCode::kFormat, "alignment");
  ExpectError(Build({.offset = 1ull << 40}), ErrorCode::kFormat, "truncated");
  ExpectError(Build({.offset = ~0ull - 31}), ErrorCode::kFormat, "truncated");
  ExpectError(Build({.data_bytes = 67}), ErrorCode::kFormat, "truncated");
  std::vector<std::byte> bad_magic = Build({});
  bad_magic[0] = std::byte{'X'};
  ExpectError(bad_magic, ErrorCode::kFormat, "not a GGUF file");
}

TEST(GgufMalformed, HugeArrayCountIsRefusedBeforeAllocating) {
  Image im;
  im.U32(kGgufMagic);
  im.U32(3);
  im.U64(0);
  im.U64(1);
  im.Str("tokenizer.ggml.tokens");
  im.U32(9);  // array
  im.U32(8);  // of strings
  im.U64(1ull << 61);
  std::vector<std::byte> image(im.bytes.size());
  std::memcpy(image.data(), im.bytes.data(), image.size());
  ExpectError(image, ErrorCode::kFormat, "strings");
  ASSERT_GE(im.bytes.size(), 12u);
  // Drop the element type and count (erase, not resize: g++ 12 -O1 warns on resize here).
  im.bytes.erase(im.bytes.end() - 12, im.bytes.end());
  im.U32(6);  // of f32
  im.U64(1ull << 62);
  image.resize(im.bytes.size());
  std::memcpy(image.data(), im.bytes.data(), image.size());
  ExpectError(image, ErrorCode::kFormat, "elements");
}

TEST(GgufMalformed, MissingFileIsAnIoError) {
  try {
    GgufFile::Open(kDir + "does-not-exist.gguf");
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kIo);
  }
}

}  // namespace
}  // namespace gemma
