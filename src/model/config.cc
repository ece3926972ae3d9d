#include "model/config.h"

#include <limits>
#include <nlohmann/json.hpp>

#include "base/error.h"
#include "base/printable.h"
#include "io/input_file.h"

namespace gemma {
namespace {

using Json = nlohmann::json;

// Integers are range-checked here, before any conversion: a float like 1e300 or an
// unsigned 2^64-1 must give an error, not undefined behaviour in a cast.
int64_t IntValue(const Json& value, const char* key, int64_t min, int64_t max,
                 const std::string& origin) {
  if (!value.is_number_integer()) {
    Fail(ErrorCode::kInvalidArgument, origin, ": field \"", key, "\" must be an integer, got ",
         value.dump());
  }
  const bool too_big = value.is_number_unsigned()
                           ? value.get<uint64_t>() > static_cast<uint64_t>(max)
                           : value.get<int64_t>() > max;
  if (too_big || (!value.is_number_unsigned() && value.get<int64_t>() < min)) {
    Fail(ErrorCode::kInvalidArgument, origin, ": field \"", key,
         "\" is out of range: ", value.dump());
  }
  return value.get<int64_t>();
}

constexpr int64_t kInt64Min = std::numeric_limits<int64_t>::min();
constexpr int64_t kInt64Max = std::numeric_limits<int64_t>::max();

int64_t RequiredInt(const Json& json, const char* key, const std::string& origin) {
  const auto it = json.find(key);
  if (it == json.end()) Fail(ErrorCode::kInvalidArgument, origin, ": missing field \"", key, "\"");
  return IntValue(*it, key, kInt64Min, kInt64Max, origin);
}

int64_t OptionalInt(const Json& json, const char* key, int64_t fallback, int64_t min, int64_t max,
                    const std::string& origin) {
  const auto it = json.find(key);
  if (it == json.end() || it->is_null()) return fallback;
  return IntValue(*it, key, min, max, origin);
}

double OptionalDouble(const Json& json, const char* key, double fallback,
                      const std::string& origin) {
  const auto it = json.find(key);
  if (it == json.end() || it->is_null()) return fallback;
  if (!it->is_number()) {
    Fail(ErrorCode::kInvalidArgument, origin, ": field \"", key, "\" must be a number, got ",
         it->dump());
  }
  return it->get<double>();
}

std::string OptionalString(const Json& json, const char* key, const std::string& fallback) {
  const auto it = json.find(key);
  return (it != json.end() && it->is_string()) ? it->get<std::string>() : fallback;
}

}  // namespace

int64_t ModelConfig::ParameterCount() const {
  const int64_t H = hidden_size;
  const int64_t per_layer = q_dim() * H + 2 * kv_dim() * H + H * q_dim()  // attention
                            + 3 * intermediate_size * H                   // gate, up, down
                            + 2 * H;                                      // two norms
  return vocab_size * H + num_hidden_layers * per_layer + H;  // + final norm; output is tied
}

ModelConfig Gemma2BConfig() {
  ModelConfig c;
  c.vocab_size = 256000;
  c.hidden_size = 2048;
  c.intermediate_size = 16384;
  c.num_hidden_layers = 18;
  c.num_attention_heads = 8;
  c.num_key_value_heads = 1;  // multi-query attention
  c.head_dim = 256;
  c.hidden_act = "gelu";
  return c;
}

ModelConfig Gemma7BConfig() {
  ModelConfig c;
  c.vocab_size = 256000;
  c.hidden_size = 3072;
  c.intermediate_size = 24576;
  c.num_hidden_layers = 28;
  c.num_attention_heads = 16;
  c.num_key_value_heads = 16;  // multi-head attention
  c.head_dim = 256;
  c.hidden_act = "gelu";
  return c;
}

ModelConfig PresetConfig(std::string_view name) {
  if (name == "2b" || name == "gemma-2b") return Gemma2BConfig();
  if (name == "7b" || name == "gemma-7b") return Gemma7BConfig();
  Fail(ErrorCode::kInvalidArgument, "unknown model preset '", name,
       "' (known: 2b, gemma-2b, 7b, gemma-7b)");
}

void ValidateConfig(const ModelConfig& c, const std::string& origin) {
  auto positive = [&](int64_t value, const char* field) {
    if (value <= 0) {
      Fail(ErrorCode::kInvalidArgument, origin, ": \"", field, "\" must be positive, got ", value);
    }
  };
  positive(c.vocab_size, "vocab_size");
  positive(c.hidden_size, "hidden_size");
  positive(c.intermediate_size, "intermediate_size");
  positive(c.num_hidden_layers, "num_hidden_layers");
  positive(c.num_attention_heads, "num_attention_heads");
  positive(c.num_key_value_heads, "num_key_value_heads");
  positive(c.head_dim, "head_dim");
  positive(c.max_position_embeddings, "max_position_embeddings");
  // Bounds that keep every size product far from int64 overflow; no Gemma is near them.
  constexpr int64_t kMaxDim = int64_t{1} << 24;
  if (c.vocab_size > kMaxDim || c.hidden_size > kMaxDim || c.intermediate_size > kMaxDim ||
      c.num_hidden_layers > 4096 || c.num_attention_heads > 4096 || c.head_dim > 65536 ||
      c.max_position_embeddings > (int64_t{1} << 22)) {
    Fail(ErrorCode::kInvalidArgument, origin, ": sizes are implausibly large");
  }
  if (c.num_attention_heads % c.num_key_value_heads != 0) {
    Fail(ErrorCode::kInvalidArgument, origin, ": num_attention_heads (", c.num_attention_heads,
         ") is not divisible by num_key_value_heads (", c.num_key_value_heads, ")");
  }
  if (c.head_dim % 2 != 0) {
    Fail(ErrorCode::kInvalidArgument, origin, ": head_dim (", c.head_dim,
         ") must be even: RoPE rotates its two halves together");
  }
  if (!(c.rms_norm_eps > 0.0)) {
    Fail(ErrorCode::kInvalidArgument, origin, ": rms_norm_eps must be positive");
  }
  if (!(c.rope_theta > 0.0)) {
    Fail(ErrorCode::kInvalidArgument, origin, ": rope_theta must be positive");
  }
  for (const auto& [id, name] :
       {std::pair{c.bos_token_id, "bos_token_id"}, std::pair{c.eos_token_id, "eos_token_id"},
        std::pair{c.pad_token_id, "pad_token_id"}}) {
    if (id < 0 || id >= c.vocab_size) {
      Fail(ErrorCode::kInvalidArgument, origin, ": ", name, " ", id, " is outside the vocabulary");
    }
  }
}

ModelConfig ParseConfigJson(std::string_view json_text, const std::string& origin) {
  const Json json = Json::parse(json_text.begin(), json_text.end(), nullptr, false);
  if (json.is_discarded()) Fail(ErrorCode::kInvalidArgument, origin, ": not valid JSON");
  if (!json.is_object()) Fail(ErrorCode::kInvalidArgument, origin, ": not a JSON object");

  ModelConfig c;
  c.model_type = OptionalString(json, "model_type", "gemma");
  if (c.model_type != "gemma") {
    Fail(ErrorCode::kUnsupported, origin, ": model_type \"", PrintableName(c.model_type),
         "\" is not supported (gemma-rt runs Gemma 1: model_type \"gemma\")");
  }
  c.vocab_size = RequiredInt(json, "vocab_size", origin);
  c.hidden_size = RequiredInt(json, "hidden_size", origin);
  c.intermediate_size = RequiredInt(json, "intermediate_size", origin);
  c.num_hidden_layers = RequiredInt(json, "num_hidden_layers", origin);
  c.num_attention_heads = RequiredInt(json, "num_attention_heads", origin);
  c.num_key_value_heads = json.contains("num_key_value_heads")
                              ? RequiredInt(json, "num_key_value_heads", origin)
                              : c.num_attention_heads;
  // Without head_dim, HF derives it as hidden_size / heads (only when both are positive
  // here: validation reports the bad size itself, and INT64_MIN / -1 would overflow).
  c.head_dim = json.contains("head_dim") ? RequiredInt(json, "head_dim", origin)
               : (c.num_attention_heads > 0 && c.hidden_size > 0)
                   ? c.hidden_size / c.num_attention_heads
                   : 0;
  c.max_position_embeddings =
      OptionalInt(json, "max_position_embeddings", 8192, kInt64Min, kInt64Max, origin);
  c.rms_norm_eps = OptionalDouble(json, "rms_norm_eps", 1e-6, origin);
  c.rope_theta = OptionalDouble(json, "rope_theta", 10000.0, origin);
  constexpr int64_t kI32Min = std::numeric_limits<int32_t>::min();
  constexpr int64_t kI32Max = std::numeric_limits<int32_t>::max();
  c.bos_token_id =
      static_cast<int32_t>(OptionalInt(json, "bos_token_id", 2, kI32Min, kI32Max, origin));
  c.eos_token_id =
      static_cast<int32_t>(OptionalInt(json, "eos_token_id", 1, kI32Min, kI32Max, origin));
  c.pad_token_id =
      static_cast<int32_t>(OptionalInt(json, "pad_token_id", 0, kI32Min, kI32Max, origin));
  c.torch_dtype = OptionalString(json, "torch_dtype", "bfloat16");
  c.hidden_act =
      OptionalString(json, "hidden_activation", OptionalString(json, "hidden_act", "gelu"));
  // Gemma 1 quirk: the published configs say "hidden_act": "gelu", but the models were
  // trained with the tanh approximation (gelu_pytorch_tanh), and the exact erf GELU moves
  // the logits by ~5e-4 of their range. We always use tanh and only accept the GELU names.
  if (c.hidden_act != "gelu" && c.hidden_act != "gelu_pytorch_tanh" && c.hidden_act != "gelu_new" &&
      c.hidden_act != "gelu_fast") {
    Fail(ErrorCode::kUnsupported, origin, ": activation \"", PrintableName(c.hidden_act),
         "\" is not a GELU; Gemma 1 uses GELU (tanh approximation)");
  }
  c.activation = Activation::kGeluTanh;
  if (const auto it = json.find("tie_word_embeddings"); it != json.end() && it->is_boolean()) {
    c.tie_word_embeddings = it->get<bool>();
  }
  if (!c.tie_word_embeddings) {
    Fail(ErrorCode::kUnsupported, origin,
         ": tie_word_embeddings false is not Gemma 1 (its output matrix is the embedding)");
  }
  ValidateConfig(c, origin);
  return c;
}

ModelConfig LoadConfigFile(const std::string& path) {
  return ParseConfigJson(
      ReadInputFile(path, {.what = "config.json", .max_bytes = kMaxMetadataFileBytes}), path);
}

std::string ConfigToJson(const ModelConfig& c) {
  Json json = {
      {"architectures", {"GemmaForCausalLM"}},
      {"attention_bias", false},
      {"attention_dropout", 0.0},
      {"bos_token_id", c.bos_token_id},
      {"eos_token_id", c.eos_token_id},
      {"head_dim", c.head_dim},
      {"hidden_act", c.hidden_act},
      {"hidden_activation", "gelu_pytorch_tanh"},
      {"hidden_size", c.hidden_size},
      {"initializer_range", 0.02},
      {"intermediate_size", c.intermediate_size},
      {"max_position_embeddings", c.max_position_embeddings},
      {"model_type", "gemma"},
      {"num_attention_heads", c.num_attention_heads},
      {"num_hidden_layers", c.num_hidden_layers},
      {"num_key_value_heads", c.num_key_value_heads},
      {"pad_token_id", c.pad_token_id},
      {"rms_norm_eps", c.rms_norm_eps},
      {"rope_scaling", nullptr},
      {"rope_theta", c.rope_theta},
      {"tie_word_embeddings", true},
      {"torch_dtype", c.torch_dtype},
      {"use_cache", true},
      {"vocab_size", c.vocab_size},
  };
  return json.dump(2) + "\n";
}

}  // namespace gemma
