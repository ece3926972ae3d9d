// A model's weights bound to the tensor table: matrices are views into the mapped files
// (no copy, any dtype); only the small norm vectors are converted to float32 scales.
#pragma once

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "base/tensor_view.h"
#include "io/safetensors_checkpoint.h"
#include "kernels/weight_matrix.h"
#include "model/config.h"
#include "model/tensor_table.h"

namespace gemma {

struct LayerWeights {
  std::vector<float> attn_norm_scale;  // [H], holds 1 + w
  WeightMatrix q;                      // [Q, H]
  WeightMatrix k;                      // [K, H]
  WeightMatrix v;                      // [K, H]
  WeightMatrix o;                      // [H, Q]
  std::vector<float> ffn_norm_scale;   // [H], holds 1 + w
  WeightMatrix gate;                   // [I, H]
  WeightMatrix up;                     // [I, H]
  WeightMatrix down;                   // [H, I]
};

struct ModelWeights {
  ModelConfig config;
  WeightMatrix embedding;  // [vocab, H]; also the output projection (tied)
  std::vector<LayerWeights> layers;
  std::vector<float> final_norm_scale;  // [H], holds 1 + w
  std::shared_ptr<const void> storage;  // keeps the mapped files alive
  std::string origin;                   // path, for messages

  uint64_t WeightBytes() const;  // bytes of every matrix and norm as stored
};

// Chooses the decode arithmetic of every block-quantized matrix (QuantDot in
// kernels/weight_matrix.h); float matrices are unaffected.
void SetQuantDot(ModelWeights& weights, QuantDot dot);

// How a file stores RMSNorm weights. Gemma's RMSNorm multiplies by (1 + w): Hugging Face
// checkpoints store w, llama.cpp's GGUF converter stores (float)(w + 1). This is the one
// place where the difference is handled; every scale in ModelWeights holds 1 + w.
enum class NormStorage : uint8_t { kWeight, kOnePlusWeight };

struct WeightSource {
  std::string origin;  // path, for messages
  NormStorage norm_storage = NormStorage::kWeight;
  bool use_gguf_names = false;  // look tensors up by TensorSpec::gguf_name
  // Tensor shapes as stored: HF [out, in]. (A GGUF reader reverses ggml's ne order.)
  std::function<std::optional<TensorView>(const std::string& name)> find;
  std::vector<std::string> all_names;  // to report unexpected tensors
  std::shared_ptr<const void> storage;
};

// Binds every tensor of the table. Throws Error naming each missing or unexpected tensor
// and each shape mismatch (all of them, not just the first).
ModelWeights BindWeights(const ModelConfig& config, const WeightSource& source);

// A Hugging Face directory (config.json + safetensors) or a single .safetensors file
// next to a config.json.
ModelWeights LoadSafetensorsModel(const std::string& path);

// The same for a checkpoint that is already open (e.g. by a tool that also lists it).
ModelWeights BindSafetensorsCheckpoint(std::shared_ptr<const SafetensorsCheckpoint> checkpoint,
                                       const ModelConfig& config, const std::string& origin);

// config.json next to `path` (a model directory or a .safetensors file in one).
std::string ConfigPathFor(const std::string& path);

}  // namespace gemma
