// One forward step of the Gemma 1 decoder: token ids at consecutive positions in, the KV
// cache extended, logits out for the positions that ask for them. Prefill passes the whole
// prompt (matrix-matrix products), decode passes one token (matrix-vector products); both
// run the same code, so both compute the same function.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <span>
#include <string_view>
#include <vector>

#include "kernels/packed_activations.h"
#include "kernels/thread_pool.h"
#include "model/config.h"
#include "model/kv_cache.h"
#include "model/weights.h"

namespace gemma {

// Activation buffers for up to `max_tokens` tokens per Forward call, allocated once per
// session so that decoding allocates nothing per token. Longer prompts are split into
// chunks of max_tokens by the caller (the engine's Session does this).
//
// A prefill computes the feed-forward block in slices of `ffn_slab` intermediate features
// (gate and up rows, GELU, then the matching columns of down added into the output), so the
// gate/up buffers hold [max_tokens, ffn_slab] rather than [max_tokens, I]: on gemma-2b
// (I = 16384) a 512-token chunk needs 8 MB for them instead of 64 MB, which is what lets a
// prompt run in 512-token chunks (each chunk converts every weight once) within the memory
// bound of the quantized files. ffn_slab must be a multiple of the down projection's block
// size (256 covers every llama.cpp type); the default is a multiple of 256.
struct ForwardScratch {
  static constexpr size_t kDefaultFfnSlab = 2048;
  ForwardScratch(const ModelConfig& config, size_t max_tokens, size_t ffn_slab = kDefaultFfnSlab);

  size_t max_tokens;
  size_t ffn_slab;               // intermediate features per slice, <= I
  std::vector<float> residual;   // [max_tokens, H]: the residual stream x
  std::vector<float> normed;     // [max_tokens, H]: RMSNorm(x), the input of a block
  std::vector<float> q;          // [max_tokens, Q]: queries, rotated
  std::vector<float> k;          // [max_tokens, K]: new keys, rotated, before the cache
  std::vector<float> v;          // [max_tokens, K]: new values, before the cache
  std::vector<float> attention;  // [max_tokens, Q]: head outputs, head-major
  std::vector<float> projected;  // [max_tokens, H]: o_proj or down_proj output
  // gate_proj, then gelu(gate) * up; and up_proj. [max_tokens, ffn_slab] for a prefill's
  // slices, and at least [I] for decode, which takes the whole width at once.
  std::vector<float> gate;
  std::vector<float> up;
  // A prefill's product inputs prepared once (packed tiles or int8 rows) for the products
  // that share them: `normed` for q, k, v and every gate/up slice; the attention output
  // and each GELU slice for o_proj and down_proj.
  PackedActivations shared_input;
  PackedActivations product_input;
};

// Sees the residual stream at named points: "embedding_scaled", "layer_0" ..
// "layer_{L-1}" (after each decoder layer) and "final_norm". `rows` is [tokens, H] for
// the tokens of this call, the first at `first_position`. For tests and debugging.
using LayerObserver = std::function<void(std::string_view point, size_t first_position,
                                         size_t tokens, const float* rows)>;

struct ForwardRequest {
  std::span<const int32_t> tokens;  // at positions first_position, first_position + 1, ...
  size_t first_position = 0;
  // Indices into `tokens` (ascending) whose logits are wanted; often only the last one.
  std::span<const size_t> logits_for;
  // [logits_for.size(), vocab]: where the logits go.
  std::span<float> logits;
  const LayerObserver* observer = nullptr;  // optional
};

// Runs the decoder over request.tokens, appending their keys and values to `cache` at
// their positions (the cache must hold positions 0..first_position-1 already). Throws
// Error(kOutOfRange) for an id outside the vocabulary or a position past the cache's
// capacity, and Error(kInvalidArgument) for a request that does not fit the scratch or
// the logits span; nothing is written in those cases.
void Forward(const ModelWeights& weights, const ForwardRequest& request, KVCache& cache,
             ForwardScratch& scratch, ThreadPool& pool);

}  // namespace gemma
