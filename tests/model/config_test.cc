// ModelConfig: presets equal the published Hugging Face configs, config.json parsing of the
// golden cases, and every kind of bad config the issue lists.
#include "model/config.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "base/error.h"
#include "io/safetensors_test_util.h"

namespace gemma {
namespace {

using testing::ExpectError;
using testing::ScratchDir;
using testing::WriteFile;

const std::string kGolden = std::string(GEMMA_TEST_DATA_DIR) + "/golden/";

// The values of google/gemma-2b and google/gemma-7b config.json on Hugging Face.
TEST(ConfigPresets, Gemma2bMatchesPublishedConfig) {
  const ModelConfig c = PresetConfig("2b");
  EXPECT_EQ(c.vocab_size, 256000);
  EXPECT_EQ(c.hidden_size, 2048);
  EXPECT_EQ(c.intermediate_size, 16384);
  EXPECT_EQ(c.num_hidden_layers, 18);
  EXPECT_EQ(c.num_attention_heads, 8);
  EXPECT_EQ(c.num_key_value_heads, 1);
  EXPECT_EQ(c.head_dim, 256);
  EXPECT_EQ(c.max_position_embeddings, 8192);
  EXPECT_EQ(c.rms_norm_eps, 1e-6);
  EXPECT_EQ(c.rope_theta, 10000.0);
  EXPECT_EQ(c.bos_token_id, 2);
  EXPECT_EQ(c.eos_token_id, 1);
  EXPECT_EQ(c.pad_token_id, 0);
  EXPECT_EQ(c.activation, Activation::kGeluTanh);
  // Hugging Face lists gemma-2b as 2.51B parameters (the output matrix is the embedding).
  EXPECT_EQ(c.ParameterCount(), 2506172416);
  EXPECT_EQ(PresetConfig("gemma-2b").hidden_size, 2048);
}

TEST(ConfigPresets, Gemma7bMatchesPublishedConfig) {
  const ModelConfig c = PresetConfig("7b");
  EXPECT_EQ(c.vocab_size, 256000);
  EXPECT_EQ(c.hidden_size, 3072);
  EXPECT_EQ(c.intermediate_size, 24576);
  EXPECT_EQ(c.num_hidden_layers, 28);
  EXPECT_EQ(c.num_attention_heads, 16);
  EXPECT_EQ(c.num_key_value_heads, 16);
  EXPECT_EQ(c.head_dim, 256);
  EXPECT_EQ(c.q_dim(), 4096);                 // not hidden_size
  EXPECT_EQ(c.ParameterCount(), 8537680896);  // "8.54B params"
  EXPECT_EQ(PresetConfig("gemma-7b").num_hidden_layers, 28);
}

TEST(ConfigPresets, UnknownPresetNamesItself) {
  ExpectError([] { PresetConfig("13b"); }, {"'13b'", "2b"});
}

TEST(ConfigJson, GoldenConfigsParse) {
  const ModelConfig two_b = LoadConfigFile(kGolden + "tiny-2b-f32/config.json");
  EXPECT_EQ(two_b.vocab_size, 512);
  EXPECT_EQ(two_b.hidden_size, 64);
  EXPECT_EQ(two_b.intermediate_size, 256);
  EXPECT_EQ(two_b.num_hidden_layers, 2);
  EXPECT_EQ(two_b.num_attention_heads, 4);
  EXPECT_EQ(two_b.num_key_value_heads, 1);
  EXPECT_EQ(two_b.head_dim, 16);
  EXPECT_EQ(two_b.torch_dtype, "float32");
  EXPECT_EQ(two_b.hidden_act, "gelu_pytorch_tanh");
  const ModelConfig seven_b = LoadConfigFile(kGolden + "tiny-7b-f32/config.json");
  EXPECT_EQ(seven_b.hidden_size, 96);
  EXPECT_EQ(seven_b.head_dim, 32);
  EXPECT_EQ(seven_b.q_dim(), 128);
  EXPECT_EQ(LoadConfigFile(kGolden + "tiny-2b-bf16/config.json").torch_dtype, "bfloat16");
}

TEST(ConfigJson, ConfigToJsonRoundTrips) {
  for (const ModelConfig& c : {PresetConfig("2b"), PresetConfig("7b")}) {
    const ModelConfig back = ParseConfigJson(ConfigToJson(c), "round trip");
    EXPECT_EQ(back.vocab_size, c.vocab_size);
    EXPECT_EQ(back.hidden_size, c.hidden_size);
    EXPECT_EQ(back.intermediate_size, c.intermediate_size);
    EXPECT_EQ(back.num_hidden_layers, c.num_hidden_layers);
    EXPECT_EQ(back.num_attention_heads, c.num_attention_heads);
    EXPECT_EQ(back.num_key_value_heads, c.num_key_value_heads);
    EXPECT_EQ(back.head_dim, c.head_dim);
    EXPECT_EQ(back.rms_norm_eps, c.rms_norm_eps);
    EXPECT_EQ(back.rope_theta, c.rope_theta);
  }
}

TEST(ConfigJson, PublishedGeluNameStillMeansTanh) {
  // Gemma 1's published configs say "gelu" (erf), but the models use the tanh form.
  nlohmann::json j = nlohmann::json::parse(ConfigToJson(PresetConfig("2b")));
  j.erase("hidden_activation");
  j["hidden_act"] = "gelu";
  EXPECT_EQ(ParseConfigJson(j.dump(), "gelu").activation, Activation::kGeluTanh);
  j["hidden_act"] = "silu";
  ExpectError([&] { ParseConfigJson(j.dump(), "cfg.json"); }, {"cfg.json", "silu"});
}

TEST(ConfigJson, HeadDimDefaultsToHiddenOverHeads) {
  nlohmann::json j = nlohmann::json::parse(ConfigToJson(PresetConfig("2b")));
  j.erase("head_dim");
  EXPECT_EQ(ParseConfigJson(j.dump(), "x").head_dim, 256);
}

// ---- bad configs: one clear error naming the file and the field ---------------------------

class BadConfigTest : public ::testing::Test {
 protected:
  // The golden tiny-2b config with one change applied.
  void ExpectBad(const std::function<void(nlohmann::json&)>& change,
                 std::initializer_list<std::string> parts) {
    nlohmann::json j =
        nlohmann::json::parse(testing::ReadFile(kGolden + "tiny-2b-f32/config.json"));
    change(j);
    const std::string path = dir_.File("config.json");
    WriteFile(path, j.dump(2));
    ExpectError([&] { LoadConfigFile(path); }, parts);
    // The path is in every message.
    ExpectError([&] { LoadConfigFile(path); }, {path});
  }
  ScratchDir dir_{"config"};
};

TEST_F(BadConfigTest, MissingFields) {
  for (const char* field : {"vocab_size", "hidden_size", "intermediate_size", "num_hidden_layers",
                            "num_attention_heads"}) {
    ExpectBad([&](nlohmann::json& j) { j.erase(field); }, {"missing field", field});
  }
}

TEST_F(BadConfigTest, ZeroAndNegativeSizes) {
  for (const char* field :
       {"vocab_size", "hidden_size", "intermediate_size", "num_hidden_layers",
        "num_attention_heads", "num_key_value_heads", "head_dim", "max_position_embeddings"}) {
    ExpectBad([&](nlohmann::json& j) { j[field] = 0; }, {field, "must be positive"});
    ExpectBad([&](nlohmann::json& j) { j[field] = -4; }, {field, "must be positive"});
  }
}

TEST_F(BadConfigTest, HeadsNotDivisibleByKvHeads) {
  ExpectBad([](nlohmann::json& j) { j["num_key_value_heads"] = 3; },
            {"num_attention_heads (4)", "num_key_value_heads (3)", "divisible"});
}

TEST_F(BadConfigTest, WrongTypesAndRanges) {
  ExpectBad([](nlohmann::json& j) { j["hidden_size"] = "64"; }, {"hidden_size", "integer"});
  ExpectBad([](nlohmann::json& j) { j["hidden_size"] = 64.5; }, {"hidden_size", "integer"});
  ExpectBad([](nlohmann::json& j) { j["vocab_size"] = 18446744073709551615ull; },
            {"vocab_size", "out of range"});
  ExpectBad([](nlohmann::json& j) { j["bos_token_id"] = 1e300; }, {"bos_token_id"});
  ExpectBad([](nlohmann::json& j) { j["eos_token_id"] = 4294967296ll; },
            {"eos_token_id", "out of range"});
  ExpectBad([](nlohmann::json& j) { j["pad_token_id"] = 512; },
            {"pad_token_id", "outside the vocabulary"});
  ExpectBad([](nlohmann::json& j) { j["rms_norm_eps"] = "small"; }, {"rms_norm_eps", "number"});
  ExpectBad([](nlohmann::json& j) { j["rms_norm_eps"] = 0; }, {"rms_norm_eps", "positive"});
  ExpectBad([](nlohmann::json& j) { j["rope_theta"] = -1; }, {"rope_theta", "positive"});
  ExpectBad([](nlohmann::json& j) { j["head_dim"] = 15; }, {"head_dim", "even"});
  ExpectBad([](nlohmann::json& j) { j["hidden_size"] = int64_t{1} << 40; }, {"implausibly"});
}

TEST_F(BadConfigTest, NotGemmaOne) {
  ExpectBad([](nlohmann::json& j) { j["model_type"] = "llama"; }, {"model_type", "llama"});
  ExpectBad([](nlohmann::json& j) { j["tie_word_embeddings"] = false; }, {"tie_word_embeddings"});
}

TEST_F(BadConfigTest, NotJsonOrNotAnObject) {
  const std::string path = dir_.File("config.json");
  WriteFile(path, "{\"vocab_size\": ");
  ExpectError([&] { LoadConfigFile(path); }, {path, "not valid JSON"});
  WriteFile(path, "[256000]");
  ExpectError([&] { LoadConfigFile(path); }, {path, "not a JSON object"});
  ExpectError([&] { LoadConfigFile(dir_.File("absent.json")); },
              {dir_.File("absent.json"), "cannot open"});
}

TEST(ConfigValidate, ExtremeValuesDoNotOverflow) {
  // INT64_MIN / -1 used to be reachable through the head_dim default.
  const std::string text =
      R"({"vocab_size":1,"hidden_size":-9223372036854775808,"intermediate_size":1,)"
      R"("num_hidden_layers":1,"num_attention_heads":-1})";
  ExpectError([&] { ParseConfigJson(text, "cfg"); }, {"cfg", "hidden_size"});
}

}  // namespace
}  // namespace gemma
