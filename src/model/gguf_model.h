// Loading a llama.cpp GGUF file as a gemma-rt model: the config from the `gemma.*` keys,
// the weights by llama.cpp's tensor names (zero copy, in the mapping), and the vocabulary
// from the `tokenizer.ggml.*` keys.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "io/gguf.h"
#include "model/config.h"
#include "model/weights.h"

namespace gemma {

// Maps the header's metadata to a ModelConfig. Requires general.architecture = "gemma"
// (Error(kUnsupported) otherwise). Defaults where llama.cpp has them: no
// gemma.rope.freq_base means 10000 (the Gemma converter never writes it), no head_count_kv
// means head_count, no key_length means embedding_length / head_count. vocab_size comes
// from token_embd.weight. Validated with ValidateConfig.
ModelConfig ConfigFromGguf(const GgufHeader& header, const std::string& origin);

// A mapped GGUF model. Norm weights are read as stored (llama.cpp stores 1 + w):
// WeightSource{use_gguf_names = true, norm_storage = kOnePlusWeight}.
ModelWeights LoadGgufModel(const std::string& path);

// The tokenizer as a GGUF file stores it (llama.cpp's "llama" = SentencePiece-style model).
struct GgufVocabulary {
  std::string model;                // tokenizer.ggml.model, e.g. "llama"
  std::vector<std::string> pieces;  // (vocab,) tokenizer.ggml.tokens
  std::vector<float> scores;        // (vocab,) tokenizer.ggml.scores; empty if absent
  std::vector<int32_t> types;       // (vocab,) tokenizer.ggml.token_type; empty if absent
  int32_t bos_id = 2;
  int32_t eos_id = 1;
  int32_t unk_id = 3;
  int32_t pad_id = 0;
  bool add_bos = true;
  bool add_space_prefix = false;
};
// Token types of tokenizer.ggml.token_type (llama.cpp's enum llama_token_type).
enum class GgufTokenType : int32_t {
  kNormal = 1,
  kUnknown = 2,
  kControl = 3,
  kUserDefined = 4,
  kUnused = 5,
  kByte = 6,
};

// nullopt-like: an empty `pieces` when the file carries no tokenizer. Throws Error(kFormat)
// when the arrays disagree in length or an id is out of range.
GgufVocabulary ReadGgufVocabulary(const GgufHeader& header, const std::string& origin);

// The metadata llama.cpp writes for a Gemma model with this config, in its order
// (general.*, gemma.*); the quantizer adds general.file_type and the tokenizer keys.
std::vector<GgufKeyValue> GemmaGgufMetadata(const ModelConfig& config, const std::string& name);
// The tokenizer.ggml.* keys for a vocabulary, in llama.cpp's order.
std::vector<GgufKeyValue> VocabularyGgufMetadata(const GgufVocabulary& vocabulary);

}  // namespace gemma
