// The hyper-parameters of a Gemma model: a plain struct, one factory per published model,
// and a parser for Hugging Face's config.json.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace gemma {

enum class Activation : uint8_t {
  kGeluTanh,  // every Gemma 1 model, whatever its config.json says (see ParseConfigJson)
  kCount,     // sentinel
};

struct ModelConfig {
  std::string model_type = "gemma";
  int64_t vocab_size = 0;
  int64_t hidden_size = 0;        // H
  int64_t intermediate_size = 0;  // I, the feed-forward width
  int64_t num_hidden_layers = 0;
  int64_t num_attention_heads = 0;
  int64_t num_key_value_heads = 0;
  int64_t head_dim = 0;  // not always hidden_size / heads (gemma-7b: 16 x 256 = 4096 != 3072)
  int64_t max_position_embeddings = 8192;
  double rms_norm_eps = 1e-6;
  double rope_theta = 10000.0;
  int32_t bos_token_id = 2;
  int32_t eos_token_id = 1;
  int32_t pad_token_id = 0;
  Activation activation = Activation::kGeluTanh;
  std::string hidden_act = "gelu_pytorch_tanh";  // as written in config.json, for display
  std::string torch_dtype = "bfloat16";
  bool tie_word_embeddings = true;

  int64_t q_dim() const { return num_attention_heads * head_dim; }   // Q
  int64_t kv_dim() const { return num_key_value_heads * head_dim; }  // K
  int64_t ParameterCount() const;
};

// Published Hugging Face configs of google/gemma-2b and google/gemma-7b.
ModelConfig Gemma2BConfig();
ModelConfig Gemma7BConfig();
// "2b", "gemma-2b", "7b", "gemma-7b"; throws Error(kInvalidArgument) otherwise.
ModelConfig PresetConfig(std::string_view name);

// Parses config.json text; `origin` names the file in errors. Validates the result.
ModelConfig ParseConfigJson(std::string_view json_text, const std::string& origin);
ModelConfig LoadConfigFile(const std::string& path);
std::string ConfigToJson(const ModelConfig& config);  // HF layout, pretty-printed

// Throws Error(kInvalidArgument) naming `origin` and the field for sizes <= 0, heads not
// divisible by kv heads, odd head_dim (RoPE pairs halves), eps/theta <= 0, ids out of range.
void ValidateConfig(const ModelConfig& config, const std::string& origin);

}  // namespace gemma
