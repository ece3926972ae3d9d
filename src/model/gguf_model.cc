#include "model/gguf_model.h"

#include <memory>

#include "base/error.h"
#include "base/printable.h"

namespace gemma {
namespace {

int64_t RequiredInt(const GgufHeader& h, const std::string& key, const std::string& origin) {
  const GgufValue* v = h.Find(key);
  if (v == nullptr) Fail(ErrorCode::kFormat, origin, ": GGUF key '", key, "' is missing");
  return v->ToInt64(key);
}

int64_t OptionalInt(const GgufHeader& h, const std::string& key, int64_t fallback) {
  const GgufValue* v = h.Find(key);
  return v != nullptr ? v->ToInt64(key) : fallback;
}

ModelConfig ReadConfig(const GgufHeader& h, const std::string& origin) {
  const GgufValue* arch = h.Find("general.architecture");
  if (arch == nullptr) {
    Fail(ErrorCode::kFormat, origin, ": GGUF key 'general.architecture' is missing");
  }
  const std::string& architecture = arch->ToString("general.architecture");
  if (architecture != "gemma") {
    Fail(ErrorCode::kUnsupported, origin, ": architecture '", PrintableName(architecture),
         "' is not supported (gemma-rt runs Gemma 1: 'gemma')");
  }
  ModelConfig c;
  c.model_type = "gemma";
  c.hidden_size = RequiredInt(h, "gemma.embedding_length", origin);
  c.intermediate_size = RequiredInt(h, "gemma.feed_forward_length", origin);
  c.num_hidden_layers = RequiredInt(h, "gemma.block_count", origin);
  c.num_attention_heads = RequiredInt(h, "gemma.attention.head_count", origin);
  c.num_key_value_heads = OptionalInt(h, "gemma.attention.head_count_kv", c.num_attention_heads);
  c.head_dim = OptionalInt(h, "gemma.attention.key_length",
                           c.num_attention_heads > 0 ? c.hidden_size / c.num_attention_heads : 0);
  const int64_t value_length = OptionalInt(h, "gemma.attention.value_length", c.head_dim);
  if (value_length != c.head_dim) {
    Fail(ErrorCode::kUnsupported, origin, ": value_length ", value_length,
         " differs from key_length ", c.head_dim);
  }
  c.max_position_embeddings = OptionalInt(h, "gemma.context_length", 8192);
  if (const GgufValue* eps = h.Find("gemma.attention.layer_norm_rms_epsilon")) {
    c.rms_norm_eps = eps->ToDouble("gemma.attention.layer_norm_rms_epsilon");
  }
  // llama.cpp's default when the key is absent, as it is in every converted Gemma file.
  c.rope_theta = 10000.0;
  if (const GgufValue* theta = h.Find("gemma.rope.freq_base")) {
    c.rope_theta = theta->ToDouble("gemma.rope.freq_base");
  }
  const GgufTensorInfo* embedding = h.FindTensor("token_embd.weight");
  if (embedding == nullptr || embedding->ne.size() != 2) {
    Fail(ErrorCode::kFormat, origin, ": tensor 'token_embd.weight' is missing or not 2-D");
  }
  c.vocab_size = static_cast<int64_t>(embedding->ne[1]);
  c.bos_token_id = static_cast<int32_t>(OptionalInt(h, "tokenizer.ggml.bos_token_id", 2));
  c.eos_token_id = static_cast<int32_t>(OptionalInt(h, "tokenizer.ggml.eos_token_id", 1));
  c.pad_token_id = static_cast<int32_t>(OptionalInt(h, "tokenizer.ggml.padding_token_id", 0));
  c.tie_word_embeddings = true;
  c.torch_dtype = "float32";
  ValidateConfig(c, origin);
  return c;
}

GgufVocabulary ReadVocabulary(const GgufHeader& h, const std::string& origin);

}  // namespace

// A metadata value's conversion does not know the file; NamingFile puts it in front.
ModelConfig ConfigFromGguf(const GgufHeader& h, const std::string& origin) {
  return NamingFile(origin, [&] { return ReadConfig(h, origin); });
}

GgufVocabulary ReadGgufVocabulary(const GgufHeader& h, const std::string& origin) {
  return NamingFile(origin, [&] { return ReadVocabulary(h, origin); });
}

ModelWeights LoadGgufModel(const std::string& path) {
  auto file = std::make_shared<GgufFile>(GgufFile::Open(path));
  const ModelConfig config = ConfigFromGguf(file->header(), path);
  WeightSource source;
  source.origin = path;
  source.use_gguf_names = true;
  // llama.cpp's converter stores Gemma's norms as (float)(w + 1): read them as they are.
  source.norm_storage = NormStorage::kOnePlusWeight;
  source.find = [f = file.get()](const std::string& name) -> std::optional<TensorView> {
    const GgufTensorInfo* t = f->FindTensor(name);
    if (t == nullptr) return std::nullopt;
    return f->View(*t);
  };
  for (const GgufTensorInfo& t : file->header().tensors) source.all_names.push_back(t.name);
  source.storage = file;
  return BindWeights(config, source);
}

namespace {

GgufVocabulary ReadVocabulary(const GgufHeader& h, const std::string& origin) {
  GgufVocabulary v;
  const GgufValue* tokens = h.Find("tokenizer.ggml.tokens");
  if (tokens == nullptr) return v;
  v.pieces = tokens->ToStrings("tokenizer.ggml.tokens");
  const auto n = static_cast<int64_t>(v.pieces.size());
  if (const GgufValue* model = h.Find("tokenizer.ggml.model")) {
    v.model = model->ToString("tokenizer.ggml.model");
  }
  if (const GgufValue* scores = h.Find("tokenizer.ggml.scores")) {
    for (double s : scores->ToDoubles("tokenizer.ggml.scores")) {
      v.scores.push_back(static_cast<float>(s));
    }
    if (static_cast<int64_t>(v.scores.size()) != n) {
      Fail(ErrorCode::kFormat, origin, ": tokenizer.ggml.scores has ", v.scores.size(),
           " entries for ", n, " tokens");
    }
  }
  if (const GgufValue* types = h.Find("tokenizer.ggml.token_type")) {
    for (int64_t t : types->ToInt64s("tokenizer.ggml.token_type")) {
      v.types.push_back(static_cast<int32_t>(t));
    }
    if (static_cast<int64_t>(v.types.size()) != n) {
      Fail(ErrorCode::kFormat, origin, ": tokenizer.ggml.token_type has ", v.types.size(),
           " entries for ", n, " tokens");
    }
  }
  auto id = [&](const char* key, int32_t fallback) {
    const int64_t value = OptionalInt(h, key, fallback);
    if (value < 0 || value >= n) {
      Fail(ErrorCode::kFormat, origin, ": ", key, " = ", value, " is outside the ", n,
           "-token vocabulary");
    }
    return static_cast<int32_t>(value);
  };
  v.bos_id = id("tokenizer.ggml.bos_token_id", 2);
  v.eos_id = id("tokenizer.ggml.eos_token_id", 1);
  v.unk_id = id("tokenizer.ggml.unknown_token_id", 3);
  v.pad_id = id("tokenizer.ggml.padding_token_id", 0);
  if (const GgufValue* b = h.Find("tokenizer.ggml.add_bos_token")) {
    v.add_bos = b->ToBool("tokenizer.ggml.add_bos_token");
  }
  if (const GgufValue* b = h.Find("tokenizer.ggml.add_space_prefix")) {
    v.add_space_prefix = b->ToBool("tokenizer.ggml.add_space_prefix");
  }
  return v;
}

}  // namespace

std::vector<GgufKeyValue> GemmaGgufMetadata(const ModelConfig& c, const std::string& name) {
  auto u32 = [](int64_t v) { return GgufValue::Uint32(static_cast<uint32_t>(v)); };
  return {
      {"general.architecture", GgufValue::String("gemma")},
      {"general.type", GgufValue::String("model")},
      {"general.name", GgufValue::String(name)},
      {"gemma.context_length", u32(c.max_position_embeddings)},
      {"gemma.embedding_length", u32(c.hidden_size)},
      {"gemma.block_count", u32(c.num_hidden_layers)},
      {"gemma.feed_forward_length", u32(c.intermediate_size)},
      {"gemma.attention.head_count", u32(c.num_attention_heads)},
      {"gemma.attention.head_count_kv", u32(c.num_key_value_heads)},
      {"gemma.attention.layer_norm_rms_epsilon",
       GgufValue::Float32(static_cast<float>(c.rms_norm_eps))},
      {"gemma.attention.key_length", u32(c.head_dim)},
      {"gemma.attention.value_length", u32(c.head_dim)},
  };
}

std::vector<GgufKeyValue> VocabularyGgufMetadata(const GgufVocabulary& v) {
  std::vector<GgufKeyValue> kv = {
      {"tokenizer.ggml.model", GgufValue::String(v.model.empty() ? "llama" : v.model)},
      {"tokenizer.ggml.pre", GgufValue::String("default")},
      {"tokenizer.ggml.tokens", GgufValue::StringArray(v.pieces)},
  };
  if (!v.scores.empty()) kv.push_back({"tokenizer.ggml.scores", GgufValue::Float32Array(v.scores)});
  if (!v.types.empty()) {
    kv.push_back({"tokenizer.ggml.token_type", GgufValue::Int32Array(v.types)});
  }
  kv.push_back({"tokenizer.ggml.bos_token_id", GgufValue::Uint32(v.bos_id)});
  kv.push_back({"tokenizer.ggml.eos_token_id", GgufValue::Uint32(v.eos_id)});
  kv.push_back({"tokenizer.ggml.unknown_token_id", GgufValue::Uint32(v.unk_id)});
  kv.push_back({"tokenizer.ggml.padding_token_id", GgufValue::Uint32(v.pad_id)});
  kv.push_back({"tokenizer.ggml.add_bos_token", GgufValue::Bool(v.add_bos)});
  kv.push_back({"tokenizer.ggml.add_eos_token", GgufValue::Bool(false)});
  kv.push_back({"tokenizer.ggml.add_space_prefix", GgufValue::Bool(v.add_space_prefix)});
  return kv;
}

}  // namespace gemma
