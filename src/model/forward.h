// One forward step of the Gemma 1 decoder over a batch of rows from one or many sequences
// (model/batch.h): each row's keys and values go to its sequence's KV blocks, logits come
// out for the rows that ask for them. Prefill chunks and decode steps run the same code.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

#include "kernels/attention.h"
#include "kernels/decode_activations.h"
#include "kernels/packed_activations.h"
#include "kernels/thread_pool.h"
#include "model/batch.h"
#include "model/config.h"
#include "model/kv_cache.h"
#include "model/kv_pool.h"
#include "model/weights.h"

namespace gemma {

// A product input split by row class (RowArithmetic): the first `decode_rows` rows prepared
// for the decode kernels, the others for the blocked kernel, each once for all the products
// that read the same rows.
struct ProductInput {
  DecodeActivations decode;
  PackedActivations blocked;
  size_t rows = 0;
  size_t decode_rows = 0;
  size_t cols = 0;

  void Reset(const float* x, size_t rows, size_t decode_rows, size_t cols);
};

// Everything a forward pass writes besides the KV cache, for up to `max_rows` rows per call,
// allocated once so that a step allocates nothing. Longer inputs are split by the caller.
//
// A prefill computes the feed-forward block in slices of `ffn_slab` intermediate features
// (gate and up rows, GELU, then the matching columns of down added into the output), so the
// gate/up buffers hold [max_rows, ffn_slab] rather than [max_rows, I]: on gemma-2b
// (I = 16384) 512 rows need 8 MB for them instead of 64 MB, which is what lets a prompt
// run in 512-token chunks (each chunk converts every weight once) within the memory bound
// of the quantized files. ffn_slab must be a multiple of the down projection's block size
// (256 covers every llama.cpp type); the default is a multiple of 256.
struct ForwardWorkspace {
  static constexpr size_t kDefaultFfnSlab = 2048;
  ForwardWorkspace(const ModelConfig& config, size_t max_rows, size_t ffn_slab = kDefaultFfnSlab);

  size_t max_rows;
  size_t ffn_slab;               // intermediate features per slice, <= I
  std::vector<float> residual;   // [max_rows, H]: the residual stream x
  std::vector<float> normed;     // [max_rows, H]: RMSNorm(x), the input of a block
  std::vector<float> q;          // [max_rows, Q]: queries, rotated
  std::vector<float> k;          // [max_rows, K]: new keys, rotated, before the cache
  std::vector<float> v;          // [max_rows, K]: new values, before the cache
  std::vector<float> attention;  // [max_rows, Q]: head outputs, head-major
  std::vector<float> projected;  // [max_rows, H]: o_proj or down_proj output
  // gate_proj, then gelu(gate) * up; and up_proj. [max_rows, ffn_slab] for the slices of
  // the blocked rows, and at least [I] for decode rows, which take the whole width (as many
  // at a time as fit).
  std::vector<float> gate;
  std::vector<float> up;
  // Product inputs prepared once for the products that share them: `normed` for q, k, v and
  // every gate/up slice; the attention output and each GELU slice for o_proj and down_proj.
  ProductInput shared_input;
  ProductInput product_input;
  // Per row: its segment and position; the rows the last layer keeps; attention queries.
  std::vector<size_t> row_segment;                // [max_rows]
  std::vector<size_t> row_position;               // [max_rows]
  std::vector<size_t> kept_rows;                  // [max_rows]
  std::vector<AttentionQuery> attention_queries;  // [max_rows]
};

// Runs the decoder over batch.tokens, writing each row's keys and values into its
// segment's blocks of `kv`. Throws Error(kOutOfRange) for an id outside the vocabulary or a
// position past a segment's blocks, and Error(kInvalidArgument) for a batch that does not fit
// the workspace or the logits span; nothing is written in those cases.
void Forward(const ModelWeights& weights, const Batch& batch, KVPool& kv, ForwardWorkspace& ws,
             ThreadPool& pool);

// One sequence, the form Session and the model tests use: tokens at consecutive positions
// from first_position, the cache holding positions 0..first_position-1 already.
struct ForwardRequest {
  std::span<const int32_t> tokens;
  size_t first_position = 0;
  // Indices into `tokens` (ascending) whose logits are wanted; often only the last one.
  std::span<const size_t> logits_for;
  // [logits_for.size(), vocab]: where the logits go.
  std::span<float> logits;
  const LayerObserver* observer = nullptr;  // optional
  RowArithmetic arithmetic = RowArithmetic::kLoneRowDecode;
};
void Forward(const ModelWeights& weights, const ForwardRequest& request, KVCache& cache,
             ForwardWorkspace& ws, ThreadPool& pool);

}  // namespace gemma
