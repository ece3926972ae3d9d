#include "model/tensor_table.h"

#include <algorithm>

namespace gemma {

void ForEachTensor(const ModelConfig& c, const std::function<void(const TensorSpec&)>& visit) {
  const int64_t H = c.hidden_size;
  const int64_t I = c.intermediate_size;
  visit({.role = TensorRole::kEmbedding,
         .hf_name = "model.embed_tokens.weight",
         .gguf_name = "token_embd.weight",
         .shape = {c.vocab_size, H}});
  for (int layer = 0; layer < c.num_hidden_layers; ++layer) {
    const std::string hf = "model.layers." + std::to_string(layer) + ".";
    const std::string gg = "blk." + std::to_string(layer) + ".";
    auto tensor = [&](TensorRole role, const std::string& hf_suffix, const std::string& gg_suffix,
                      Shape shape, bool is_norm = false) {
      visit({.role = role,
             .layer = layer,
             .hf_name = hf + hf_suffix,
             .gguf_name = gg + gg_suffix,
             .shape = std::move(shape),
             .is_norm = is_norm});
    };
    tensor(TensorRole::kAttnNorm, "input_layernorm.weight", "attn_norm.weight", {H}, true);
    tensor(TensorRole::kQ, "self_attn.q_proj.weight", "attn_q.weight", {c.q_dim(), H});
    tensor(TensorRole::kK, "self_attn.k_proj.weight", "attn_k.weight", {c.kv_dim(), H});
    tensor(TensorRole::kV, "self_attn.v_proj.weight", "attn_v.weight", {c.kv_dim(), H});
    tensor(TensorRole::kO, "self_attn.o_proj.weight", "attn_output.weight", {H, c.q_dim()});
    tensor(TensorRole::kFfnNorm, "post_attention_layernorm.weight", "ffn_norm.weight", {H}, true);
    tensor(TensorRole::kGate, "mlp.gate_proj.weight", "ffn_gate.weight", {I, H});
    tensor(TensorRole::kUp, "mlp.up_proj.weight", "ffn_up.weight", {I, H});
    tensor(TensorRole::kDown, "mlp.down_proj.weight", "ffn_down.weight", {H, I});
  }
  visit({.role = TensorRole::kFinalNorm,
         .hf_name = "model.norm.weight",
         .gguf_name = "output_norm.weight",
         .shape = {H},
         .is_norm = true});
}

std::vector<TensorSpec> TensorTable(const ModelConfig& config) {
  std::vector<TensorSpec> table;
  ForEachTensor(config, [&](const TensorSpec& spec) { table.push_back(spec); });
  return table;
}

std::vector<TensorSpec> TensorTableInStateDictOrder(const ModelConfig& config) {
  auto rank = [](const TensorSpec& spec) {
    switch (spec.role) {
      case TensorRole::kEmbedding:
        return 0;
      case TensorRole::kQ:
        return 1;
      case TensorRole::kK:
        return 2;
      case TensorRole::kV:
        return 3;
      case TensorRole::kO:
        return 4;
      case TensorRole::kGate:
        return 5;
      case TensorRole::kUp:
        return 6;
      case TensorRole::kDown:
        return 7;
      case TensorRole::kAttnNorm:
        return 8;
      case TensorRole::kFfnNorm:
        return 9;
      case TensorRole::kFinalNorm:
        return 10;
      case TensorRole::kCount:
        break;
    }
    return 11;
  };
  std::vector<TensorSpec> table = TensorTable(config);
  // The final norm has layer -1 like the embedding but comes after every layer.
  auto group = [&](const TensorSpec& s) {
    return s.role == TensorRole::kFinalNorm ? config.num_hidden_layers : s.layer;
  };
  std::stable_sort(table.begin(), table.end(), [&](const TensorSpec& a, const TensorSpec& b) {
    return group(a) != group(b) ? group(a) < group(b) : rank(a) < rank(b);
  });
  return table;
}

}  // namespace gemma
