#include "model/model_loader.h"

#include <filesystem>

#include "io/gguf.h"
#include "model/gguf_model.h"

namespace gemma {

bool IsGgufModelPath(const std::string& path) {
  std::error_code error;
  return std::filesystem::is_regular_file(path, error) && LooksLikeGguf(path);
}

ModelWeights LoadModelWeights(const std::string& path, const ModelLoadOptions& options) {
  ModelWeights weights = IsGgufModelPath(path) ? LoadGgufModel(path) : LoadSafetensorsModel(path);
  SetQuantDot(weights, options.quant_dot);
  return weights;
}

}  // namespace gemma
