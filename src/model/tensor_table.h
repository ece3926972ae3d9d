// The one list of Gemma's tensors. Loaders (safetensors, GGUF), writers, the quantizer and
// LoRA all walk it, so the set of tensors and their shapes is written down only here.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "base/tensor_view.h"
#include "model/config.h"

namespace gemma {

enum class TensorRole : uint8_t {
  kEmbedding,  // [vocab, H], also the output projection (tied)
  kAttnNorm,   // input_layernorm [H]
  kQ,          // [Q, H]
  kK,          // [K, H]
  kV,          // [K, H]
  kO,          // [H, Q]
  kFfnNorm,    // post_attention_layernorm [H]: despite the name, the norm before the MLP
  kGate,       // [I, H]
  kUp,         // [I, H]
  kDown,       // [H, I]
  kFinalNorm,  // model.norm [H]
  kCount,      // sentinel
};

struct TensorSpec {
  TensorRole role = TensorRole::kCount;
  int layer = -1;         // -1 for the embedding and the final norm
  std::string hf_name;    // "model.layers.3.self_attn.q_proj.weight"
  std::string gguf_name;  // "blk.3.attn_q.weight" (llama.cpp's names)
  Shape shape;            // HF order: [out, in] for a linear layer (y = W x)
  bool is_norm = false;   // RMSNorm scale: the model multiplies by (1 + w)
};

// Calls `visit` for every tensor in model order: embedding, then each layer's tensors
// (norm, q, k, v, o, norm, gate, up, down), then the final norm.
void ForEachTensor(const ModelConfig& config, const std::function<void(const TensorSpec&)>& visit);
std::vector<TensorSpec> TensorTable(const ModelConfig& config);

// The same tensors in PyTorch's state_dict order for GemmaForCausalLM: per layer the
// modules in registration order (q, k, v, o, gate, up, down, input_layernorm,
// post_attention_layernorm). transformers assigns tensors to shards in this order, which is
// why the published gemma-2b has layer 17's down_proj and norms in its second shard.
std::vector<TensorSpec> TensorTableInStateDictOrder(const ModelConfig& config);

}  // namespace gemma
