// The one entry point for `--model`: a .gguf file (llama.cpp) or a Hugging Face directory
// / .safetensors file. Frontends call this and never look at the path themselves.
#pragma once

#include <string>

#include "model/weights.h"

namespace gemma {

// True when `path` is a GGUF file (by its magic, so the extension does not matter).
bool IsGgufModelPath(const std::string& path);

struct ModelLoadOptions {
  // Decode arithmetic for block-quantized weights (GGUF Q8_0, Q4_0, Q4_K, Q6_K, ...):
  // integer products by default, like llama.cpp; kFloat32 for products of the file's exact
  // weights with float32 activations (docs/quantization.md compares the two).
  QuantDot quant_dot = QuantDot::kInt8;
};

// LoadGgufModel for GGUF files, LoadSafetensorsModel otherwise.
ModelWeights LoadModelWeights(const std::string& path, const ModelLoadOptions& options = {});

}  // namespace gemma
