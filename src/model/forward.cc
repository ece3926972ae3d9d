#include "model/forward.h"

#include <algorithm>
#include <cmath>

#include "base/error.h"
#include "kernels/attention.h"
#include "kernels/elementwise.h"
#include "kernels/matmul.h"

namespace gemma {

ForwardScratch::ForwardScratch(const ModelConfig& c, size_t max_tokens, size_t ffn_slab)
    : max_tokens(max_tokens),
      ffn_slab(std::min<size_t>(ffn_slab, c.intermediate_size)),
      residual(max_tokens * c.hidden_size),
      normed(max_tokens * c.hidden_size),
      q(max_tokens * c.q_dim()),
      k(max_tokens * c.kv_dim()),
      v(max_tokens * c.kv_dim()),
      attention(max_tokens * c.q_dim()),
      projected(max_tokens * c.hidden_size),
      gate(std::max<size_t>(max_tokens * this->ffn_slab, c.intermediate_size)),
      up(gate.size()) {
  if (max_tokens == 0) Fail(ErrorCode::kInvalidArgument, "ForwardScratch for 0 tokens");
  if (ffn_slab == 0) Fail(ErrorCode::kInvalidArgument, "ForwardScratch: ffn_slab of 0 features");
}

namespace {

// y = W x for every token row: one matrix-vector product when decoding a single token (the
// kernel reads each weight once), a matrix-matrix product for a prefill batch.
void Linear(const WeightMatrix& w, const float* x, size_t tokens, float* y, ThreadPool& pool) {
  if (tokens == 1) {
    MatVec(w, x, y, pool);
  } else {
    MatMul(w, x, tokens, y, pool);
  }
}

// Runs body(t) for every token row t. A prefill splits the rows across the pool: the
// per-token steps between the products (RMSNorm, RoPE, GELU, residual adds) would
// otherwise leave all but one thread idle. One token (decode) runs inline.
template <typename Body>
void ForEachToken(size_t tokens, ThreadPool& pool, const Body& body) {
  if (tokens == 1) {
    body(size_t{0});
    return;
  }
  pool.ParallelForRef(tokens, 1, [&](size_t begin, size_t end, int) {
    for (size_t t = begin; t < end; ++t) body(t);
  });
}

void Observe(const ForwardRequest& request, std::string_view point, size_t tokens,
             const float* rows) {
  if (request.observer != nullptr && *request.observer) {
    (*request.observer)(point, request.first_position, tokens, rows);
  }
}

void CheckRequest(const ModelWeights& weights, const ForwardRequest& request, const KVCache& cache,
                  const ForwardScratch& scratch) {
  const ModelConfig& c = weights.config;
  const size_t tokens = request.tokens.size();
  if (tokens == 0) Fail(ErrorCode::kInvalidArgument, "Forward: no tokens");
  if (tokens > scratch.max_tokens) {
    Fail(ErrorCode::kInvalidArgument, "Forward: ", tokens,
         " tokens in one call, but the scratch holds ", scratch.max_tokens);
  }
  if (!weights.layers.empty()) {
    const DType down = weights.layers[0].down.dtype;
    if (scratch.ffn_slab % Traits(down).block_elements != 0 &&
        scratch.ffn_slab != static_cast<size_t>(c.intermediate_size)) {
      Fail(ErrorCode::kInvalidArgument, "Forward: feed-forward slices of ", scratch.ffn_slab,
           " features would split the ", Traits(down).block_elements, "-value blocks of ",
           DTypeName(down), " down_proj weights");
    }
  }
  if (cache.layers() != static_cast<size_t>(c.num_hidden_layers) ||
      cache.kv_heads() != static_cast<size_t>(c.num_key_value_heads) ||
      cache.head_dim() != static_cast<size_t>(c.head_dim)) {
    Fail(ErrorCode::kInvalidArgument, "Forward: the KV cache was made for another model shape");
  }
  // Checked before anything is written: position >= capacity would write past the cache.
  if (request.first_position + tokens > cache.capacity()) {
    Fail(ErrorCode::kOutOfRange, "sequence too long: positions ", request.first_position, "..",
         request.first_position + tokens - 1, " do not fit the context of ", cache.capacity(),
         " positions (max_position_embeddings ", c.max_position_embeddings, ")");
  }
  for (size_t t = 0; t < tokens; ++t) {
    const int32_t id = request.tokens[t];
    if (id < 0 || id >= c.vocab_size) {
      Fail(ErrorCode::kOutOfRange, "token id ", id, " at position ", request.first_position + t,
           " is outside the vocabulary [0, ", c.vocab_size, ")");
    }
  }
  for (size_t i = 0; i < request.logits_for.size(); ++i) {
    if (request.logits_for[i] >= tokens ||
        (i > 0 && request.logits_for[i] <= request.logits_for[i - 1])) {
      Fail(ErrorCode::kInvalidArgument,
           "Forward: logits_for must be ascending indices below the token count ", tokens);
    }
  }
  if (request.logits.size() != request.logits_for.size() * static_cast<size_t>(c.vocab_size)) {
    Fail(ErrorCode::kInvalidArgument, "Forward: the logits span holds ", request.logits.size(),
         " floats, expected ", request.logits_for.size(), " x vocab ", c.vocab_size);
  }
}

// Gemma multiplies the embedding by sqrt(hidden_size), rounded to the activation dtype
// (the reference builds it as torch.tensor(sqrt(H), dtype=x.dtype)). We compute in float32,
// so the normalizer is (float)sqrt(H). The reference run in bfloat16 rounds it to bf16
// instead (sqrt(3072) = 55.43 becomes 55.5), which moves its logits by ~2e-3 of max|logit|:
// that is a property of bf16 compute, not of the model, and is not reproduced here.
float EmbeddingNormalizer(const ModelConfig& c) {
  return static_cast<float>(std::sqrt(static_cast<double>(c.hidden_size)));
}

// Which rows of the residual stream a layer carries to its output. Every layer but the last
// must carry all of them: the next layer's keys and values depend on every row. The last
// layer's output only feeds the logits, so there it computes its keys and values (the cache
// needs them) for every row, and everything else only for the rows whose logits are wanted:
// a 512-token prompt that wants the last token's logits skips 1/L of the prefill work. With
// an observer, which sees every row, every row is computed.
struct RowsOut {
  bool all = true;
  std::span<const size_t> kept;  // ascending token indices, when !all
};

// One Gemma 1 decoder layer over the rows of the residual stream x ([tokens, H]), following
// the reference's GemmaDecoderLayer. Afterwards x holds rows_out's rows first (all of them,
// or kept[i] at row i).
void DecoderLayer(const ModelWeights& weights, size_t layer, const ForwardRequest& request,
                  RowsOut rows_out, KVCache& cache, ForwardScratch& s, ThreadPool& pool) {
  const ModelConfig& c = weights.config;
  const LayerWeights& w = weights.layers[layer];
  const size_t tokens = request.tokens.size();
  const size_t hidden = c.hidden_size;
  const size_t heads = c.num_attention_heads;
  const size_t kv_heads = c.num_key_value_heads;
  const size_t head_dim = c.head_dim;
  const size_t q_dim = c.q_dim();
  const size_t kv_dim = c.kv_dim();
  const size_t ffn = c.intermediate_size;
  const float eps = static_cast<float>(c.rms_norm_eps);

  // --- Attention block: x = x + o_proj(attention(input_layernorm(x))).
  // RMSNorm multiplies by (1 + w); the weights hold 1 + w already (see weights.h).
  ForEachToken(tokens, pool, [&](size_t t) {
    RMSNorm(&s.residual[t * hidden], w.attn_norm_scale.data(), hidden, eps, &s.normed[t * hidden]);
  });
  s.shared_input.Reset(s.normed.data(), tokens, hidden);
  MatMul(w.k, s.shared_input, s.k.data(), pool);  // [tokens, kv_heads * head_dim]
  MatMul(w.v, s.shared_input, s.v.data(), pool);  // [tokens, kv_heads * head_dim]

  // RoPE with the rotate-half pairing (dimension i turns with i + head_dim/2, not with
  // i + 1); Hugging Face Gemma checkpoints are stored in that order. The cache holds the
  // keys after rotation, so cached keys are never rotated again.
  const float theta = static_cast<float>(c.rope_theta);
  float* layer_keys = cache.keys(layer);
  float* layer_values = cache.values(layer);
  ForEachToken(tokens, pool, [&](size_t t) {
    const size_t position = request.first_position + t;
    RoPE(&s.k[t * kv_dim], kv_heads, head_dim, position, theta);
    for (size_t g = 0; g < kv_heads; ++g) {
      std::copy_n(&s.k[t * kv_dim + g * head_dim], head_dim,
                  layer_keys + cache.Offset(g, position));
      std::copy_n(&s.v[t * kv_dim + g * head_dim], head_dim,
                  layer_values + cache.Offset(g, position));
    }
  });

  // From here on only the rows carried out: kept[i] moves to row i (kept[i] >= i, so in
  // ascending order no row is overwritten before it is moved).
  size_t rows = tokens;
  if (!rows_out.all) {
    rows = rows_out.kept.size();
    for (size_t i = 0; i < rows; ++i) {
      const size_t t = rows_out.kept[i];
      if (t == i) continue;
      std::copy_n(&s.residual[t * hidden], hidden, &s.residual[i * hidden]);
      std::copy_n(&s.normed[t * hidden], hidden, &s.normed[i * hidden]);
    }
    if (rows == 0) return;
  }
  const auto position_of = [&](size_t row) {
    return request.first_position + (rows_out.all ? row : rows_out.kept[row]);
  };
  // The kept rows moved within `normed`: prepare them anew.
  if (!rows_out.all) s.shared_input.Reset(s.normed.data(), rows, hidden);
  MatMul(w.q, s.shared_input, s.q.data(), pool);  // [rows, heads * head_dim]
  ForEachToken(rows, pool,
               [&](size_t r) { RoPE(&s.q[r * q_dim], heads, head_dim, position_of(r), theta); });

  // Query head j reads kv head j / (heads / kv_heads): all heads share one kv head on 2B
  // (multi-query), each has its own on 7B (multi-head). Scores are scaled by head_dim^-0.5,
  // and on 7B head_dim (256) is not hidden_size / heads (192).
  const AttentionShape shape{
      .heads = heads, .kv_heads = kv_heads, .head_dim = head_dim, .capacity = cache.capacity()};
  const float scale = static_cast<float>(1.0 / std::sqrt(static_cast<double>(head_dim)));
  const bool consecutive = position_of(rows - 1) - position_of(0) == rows - 1;
  if (consecutive) {
    CausalAttention(s.q.data(), rows, position_of(0), layer_keys, layer_values, shape, scale,
                    s.attention.data(), pool);
  } else {
    for (size_t r = 0; r < rows; ++r) {
      CausalAttention(&s.q[r * q_dim], 1, position_of(r), layer_keys, layer_values, shape, scale,
                      &s.attention[r * q_dim], pool);
    }
  }
  s.product_input.Reset(s.attention.data(), rows, q_dim);
  MatMul(w.o, s.product_input, s.projected.data(), pool);  // [rows, H]
  ForEachToken(rows, pool, [&](size_t t) {
    AddInPlace(&s.residual[t * hidden], &s.projected[t * hidden], hidden);
  });

  // --- MLP block: x = x + down(gelu_tanh(gate(h)) * up(h)), h = post_attention_layernorm(x).
  // Despite its name, post_attention_layernorm is the norm in front of the MLP.
  ForEachToken(rows, pool, [&](size_t t) {
    RMSNorm(&s.residual[t * hidden], w.ffn_norm_scale.data(), hidden, eps, &s.normed[t * hidden]);
  });
  // GeGLU with the tanh GELU: Gemma 1 configs may say "gelu", the models use the tanh form.
  if (rows == 1) {
    MatVecPair(w.gate, w.up, s.normed.data(), s.gate.data(), s.up.data(), pool);  // [I] each
    GeluTanhMul(s.gate.data(), s.up.data(), ffn, s.gate.data());
    MatVec(w.down, s.gate.data(), s.projected.data(), pool);  // [H]
  } else {
    // In slices of the intermediate features (see ForwardScratch): the slice's gate and up
    // rows, then down's matching columns, summed into `projected`.
    s.shared_input.Reset(s.normed.data(), rows, hidden);
    for (size_t begin = 0; begin < ffn; begin += s.ffn_slab) {
      const size_t width = std::min(s.ffn_slab, ffn - begin);
      MatMul(RowRange(w.gate, begin, width), s.shared_input, s.gate.data(), pool);
      MatMul(RowRange(w.up, begin, width), s.shared_input, s.up.data(), pool);
      ForEachToken(rows, pool, [&](size_t t) {
        GeluTanhMul(&s.gate[t * width], &s.up[t * width], width, &s.gate[t * width]);
      });
      const WeightMatrix down = ColumnRange(w.down, begin, width);
      s.product_input.Reset(s.gate.data(), rows, width);
      if (begin == 0) {
        MatMul(down, s.product_input, s.projected.data(), pool);  // [rows, H]
      } else {
        MatMulAdd(down, s.product_input, s.projected.data(), pool);
      }
    }
  }
  ForEachToken(rows, pool, [&](size_t t) {
    AddInPlace(&s.residual[t * hidden], &s.projected[t * hidden], hidden);
  });
}

}  // namespace

void Forward(const ModelWeights& weights, const ForwardRequest& request, KVCache& cache,
             ForwardScratch& s, ThreadPool& pool) {
  CheckRequest(weights, request, cache, s);
  const ModelConfig& c = weights.config;
  const size_t tokens = request.tokens.size();
  const size_t hidden = c.hidden_size;

  // Embedding lookup (any stored dtype), scaled by the normalizer: x = E[id] * sqrt(H).
  const float normalizer = EmbeddingNormalizer(c);
  for (size_t t = 0; t < tokens; ++t) {
    float* row = &s.residual[t * hidden];
    DequantizeRow(weights.embedding, static_cast<size_t>(request.tokens[t]), row);
    Scale(row, normalizer, hidden);
  }
  Observe(request, "embedding_scaled", tokens, s.residual.data());

  // An observer sees every row of every layer; otherwise the last layer carries only the
  // rows whose logits are wanted (RowsOut), and they come out packed to the front.
  const bool observed = request.observer != nullptr && *request.observer;
  const RowsOut last_layer_rows{.all = observed, .kept = request.logits_for};
  for (size_t layer = 0; layer < weights.layers.size(); ++layer) {
    const bool last = layer + 1 == weights.layers.size();
    DecoderLayer(weights, layer, request, last ? last_layer_rows : RowsOut{}, cache, s, pool);
    if (observed) Observe(request, StrCat("layer_", layer), tokens, s.residual.data());
  }

  // Final RMSNorm, again with (1 + w): every row for an observer, else the packed rows.
  const float eps = static_cast<float>(c.rms_norm_eps);
  const size_t normed_rows = observed ? tokens : request.logits_for.size();
  for (size_t t = 0; t < normed_rows; ++t) {
    RMSNorm(&s.residual[t * hidden], weights.final_norm_scale.data(), hidden, eps,
            &s.normed[t * hidden]);
  }
  if (observed) Observe(request, "final_norm", tokens, s.normed.data());

  // Logits = x E^T with the tied embedding, unscaled, no soft-capping (Gemma 1). The rows
  // that want logits are packed to the front of `normed` so one product serves them all.
  const size_t rows = request.logits_for.size();
  if (rows == 0) return;
  if (observed) {
    for (size_t i = 0; i < rows; ++i) {
      const size_t t = request.logits_for[i];
      if (t != i) std::copy_n(&s.normed[t * hidden], hidden, &s.normed[i * hidden]);
    }
  }
  Linear(weights.embedding, s.normed.data(), rows, request.logits.data(), pool);
}

}  // namespace gemma
