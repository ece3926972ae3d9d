// The one entry point for `--model`: a .gguf file (llama.cpp) or a Hugging Face directory
// / .safetensors file. Frontends call this and never look at the path themselves.
#pragma once

#include <string>

#include "model/weights.h"

namespace gemma {

// True when `path` is a GGUF file (by its magic, so the extension does not matter).
bool IsGgufModelPath(const std::string& path);

// LoadGgufModel for GGUF files, LoadSafetensorsModel otherwise.
ModelWeights LoadModelWeights(const std::string& path);

}  // namespace gemma
