// Quantizing a model to a GGUF file the way llama-quantize does (no importance matrix):
// the same per-tensor types for each file type (including the q4_k_m mix), the same
// quantizers (bit-exact), llama.cpp's names and metadata, norms stored as 1 + w in float32.
// Streams tensor by tensor: peak memory is one quantized tensor plus a row per thread.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "base/dtype.h"
#include "io/gguf.h"
#include "model/tensor_table.h"

namespace gemma {

// llama.cpp's file types (enum llama_ftype; its number goes to general.file_type).
struct GgufFileType {
  std::string_view name;  // "q4_k_m"
  uint32_t llama_ftype;   // 15
  DType base;             // the type of most matrices
};
// "q8_0", "q4_0", "q4_1", "q5_0", "q5_1", "q4_k_s", "q4_k_m", "q5_k_s", "q5_k_m", "q6_k",
// "f16", "bf16", "f32" (case-insensitive). Throws Error(kInvalidArgument) listing them.
GgufFileType ParseGgufFileType(std::string_view name);

// The type llama-quantize gives one tensor: norms stay F32; with tied embeddings
// token_embd is the output tensor (Q6_K unless the file type is Q8_0 or unquantized);
// q4_k_m / q5_k_m give attn_v and ffn_down Q6_K in the layers where use_more_bits holds;
// q4_k_s gives Q5_K to attn_v of layers < 4 and ffn_down of layers < n/8; K types fall back
// to Q5_0 / Q5_1 / Q8_0 when a row is not whole 256-value blocks.
DType LlamaQuantizeTensorType(const GgufFileType& file_type, const TensorSpec& spec,
                              int64_t layers);

struct QuantizeProgress {
  size_t done = 0;  // tensors written, including this one
  size_t total = 0;
  std::string_view tensor;
  DType dtype = DType::kF32;
};

struct QuantizeOptions {
  std::string input;   // .gguf file or Hugging Face directory / .safetensors file
  std::string output;  // .gguf file
  std::string type;    // see ParseGgufFileType
  // tokenizer.ggml.* keys for an input that is not a GGUF (a GGUF's own keys are copied).
  std::vector<GgufKeyValue> tokenizer_metadata;
  std::string model_name;  // general.name for a non-GGUF input (default: the input's name)
  int threads = 0;         // 0: all hardware threads
  std::function<void(const QuantizeProgress&)> progress;
};

struct QuantizeSummary {
  size_t tensors = 0;
  uint64_t input_weight_bytes = 0;
  uint64_t output_file_bytes = 0;
};

QuantizeSummary QuantizeModelToGguf(const QuantizeOptions& options);

}  // namespace gemma
