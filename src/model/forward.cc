#include "model/forward.h"

#include <algorithm>
#include <cmath>

#include "base/error.h"
#include "kernels/elementwise.h"
#include "kernels/matmul.h"

namespace gemma {

ForwardWorkspace::ForwardWorkspace(const ModelConfig& c, size_t max_rows, size_t ffn_slab)
    : max_rows(max_rows),
      ffn_slab(std::min<size_t>(ffn_slab, c.intermediate_size)),
      residual(max_rows * c.hidden_size),
      normed(max_rows * c.hidden_size),
      q(max_rows * c.q_dim()),
      k(max_rows * c.kv_dim()),
      v(max_rows * c.kv_dim()),
      attention(max_rows * c.q_dim()),
      projected(max_rows * c.hidden_size),
      gate(std::max<size_t>(max_rows * this->ffn_slab, c.intermediate_size)),
      up(gate.size()),
      row_segment(max_rows),
      row_position(max_rows),
      kept_rows(max_rows),
      attention_queries(max_rows) {
  if (max_rows == 0) Fail(ErrorCode::kInvalidArgument, "ForwardWorkspace for 0 rows");
  if (ffn_slab == 0) Fail(ErrorCode::kInvalidArgument, "ForwardWorkspace: ffn_slab of 0 features");
}

void ProductInput::Reset(const float* x, size_t rows, size_t decode_rows, size_t cols) {
  this->rows = rows;
  this->decode_rows = decode_rows;
  this->cols = cols;
  decode.Reset(x, decode_rows, cols);
  blocked.Reset(x + decode_rows * cols, rows - decode_rows, cols);
}

namespace {

// y = W x for the rows of `in` ([rows, w.rows]): the decode rows through MatVecBatch, the
// others through the blocked kernel. Each row's result depends only on its class.
void Project(const WeightMatrix& w, ProductInput& in, float* y, ThreadPool& pool) {
  if (in.decode_rows > 0) MatVecBatch(w, in.decode, y, pool);
  if (in.rows > in.decode_rows) {
    MatMulRowInvariant(w, in.blocked, y + in.decode_rows * w.rows, pool);
  }
}

// y += W x for the blocked rows of `in` only (the column slices of a prefill's down_proj).
void ProjectAddBlocked(const WeightMatrix& w, ProductInput& in, float* y, ThreadPool& pool) {
  if (in.rows > in.decode_rows) MatMulAdd(w, in.blocked, y + in.decode_rows * w.rows, pool);
}

// Runs body(r) for every row r. Many rows are split across the pool: the per-row steps
// between the products (RMSNorm, RoPE, GELU, residual adds) would otherwise leave all but
// one thread idle. One row (decode) runs inline.
template <typename Body>
void ForEachRow(size_t rows, ThreadPool& pool, const Body& body) {
  if (rows == 1) {
    body(size_t{0});
    return;
  }
  pool.ParallelForRef(rows, 1, [&](size_t begin, size_t end, int) {
    for (size_t r = begin; r < end; ++r) body(r);
  });
}

bool Observed(const Batch& batch) { return batch.observer != nullptr && *batch.observer; }

// Shows the observer each segment's rows of `data` ([rows, H], every row of the batch).
void Observe(const Batch& batch, std::string_view point, const float* data, size_t hidden) {
  if (!Observed(batch)) return;
  size_t row = 0;
  for (const Segment& segment : batch.segments) {
    (*batch.observer)(point, segment.first_position, segment.tokens, data + row * hidden);
    row += segment.tokens;
  }
}

void CheckBatch(const ModelWeights& weights, const Batch& batch, const KVPool& kv,
                const ForwardWorkspace& ws) {
  const ModelConfig& c = weights.config;
  size_t rows = 0, wanted = 0;
  for (const Segment& segment : batch.segments) {
    if (segment.tokens == 0) Fail(ErrorCode::kInvalidArgument, "Forward: an empty segment");
    // Checked before anything is written: a position past the blocks would write elsewhere.
    const size_t end = segment.first_position + segment.tokens;
    if (end > segment.blocks.size() * kv.block_size()) {
      Fail(ErrorCode::kOutOfRange, "sequence too long: positions ", segment.first_position, "..",
           end - 1, " do not fit the ", segment.blocks.size() * kv.block_size(),
           " positions of its KV blocks");
    }
    if (end > static_cast<size_t>(c.max_position_embeddings)) {
      Fail(ErrorCode::kOutOfRange, "sequence too long: position ", end - 1,
           " is past max_position_embeddings ", c.max_position_embeddings);
    }
    for (const int32_t block : segment.blocks) {
      if (block < 0 || static_cast<size_t>(block) >= kv.num_blocks()) {
        Fail(ErrorCode::kInvalidArgument, "Forward: KV block ", block, " is not in the pool");
      }
    }
    for (size_t i = 0; i < segment.logits_for.size(); ++i) {
      if (segment.logits_for[i] >= segment.tokens ||
          (i > 0 && segment.logits_for[i] <= segment.logits_for[i - 1])) {
        Fail(ErrorCode::kInvalidArgument,
             "Forward: logits_for must be ascending indices below the segment's ", segment.tokens,
             " tokens");
      }
    }
    rows += segment.tokens;
    wanted += segment.logits_for.size();
  }
  if (rows == 0) Fail(ErrorCode::kInvalidArgument, "Forward: no tokens");
  if (batch.arithmetic == RowArithmetic::kRowInvariant) {
    bool blocked_seen = false;
    for (const Segment& segment : batch.segments) {
      if (!segment.generated() &&
          segment.first_position + segment.tokens > segment.generated_from) {
        Fail(ErrorCode::kInvalidArgument,
             "Forward: a segment spans prompt and generated positions");
      }
      if (segment.generated() && blocked_seen) {
        Fail(ErrorCode::kInvalidArgument,
             "Forward: generated-token segments must come before prompt segments");
      }
      blocked_seen = blocked_seen || !segment.generated();
    }
  }
  if (rows != batch.tokens.size()) {
    Fail(ErrorCode::kInvalidArgument, "Forward: the segments hold ", rows, " tokens, the batch ",
         batch.tokens.size());
  }
  if (rows > ws.max_rows) {
    Fail(ErrorCode::kInvalidArgument, "Forward: ", rows,
         " rows in one call, but the workspace holds ", ws.max_rows);
  }
  for (size_t r = 0; r < rows; ++r) {
    const int32_t id = batch.tokens[r];
    if (id < 0 || id >= c.vocab_size) {
      Fail(ErrorCode::kOutOfRange, "token id ", id, " (row ", r,
           " of the batch) is outside the vocabulary [0, ", c.vocab_size, ")");
    }
  }
  if (batch.logits.size() != wanted * static_cast<size_t>(c.vocab_size)) {
    Fail(ErrorCode::kInvalidArgument, "Forward: the logits span holds ", batch.logits.size(),
         " floats, expected ", wanted, " x vocab ", c.vocab_size);
  }
  if (!weights.layers.empty()) {
    const DType down = weights.layers[0].down.dtype;
    if (ws.ffn_slab % Traits(down).block_elements != 0 &&
        ws.ffn_slab != static_cast<size_t>(c.intermediate_size)) {
      Fail(ErrorCode::kInvalidArgument, "Forward: feed-forward slices of ", ws.ffn_slab,
           " features would split the ", Traits(down).block_elements, "-value blocks of ",
           DTypeName(down), " down_proj weights");
    }
  }
  if (kv.layers() != static_cast<size_t>(c.num_hidden_layers) ||
      kv.kv_heads() != static_cast<size_t>(c.num_key_value_heads) ||
      kv.head_dim() != static_cast<size_t>(c.head_dim)) {
    Fail(ErrorCode::kInvalidArgument, "Forward: the KV pool was made for another model shape");
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

// The rows that leave the last layer. Every layer but the last carries all rows: the next
// layer's keys and values depend on every row. The last layer's output only feeds the
// logits, so there it computes keys and values (the cache needs them) for every row and the
// rest only for the rows whose logits are wanted: a 512-token prompt that wants its last
// token's logits skips 1/L of the prefill work. With an observer, which sees every row,
// every row is computed.
void KeepOnlyWantedRows(const Batch& batch, ForwardWorkspace& ws, size_t hidden, size_t& rows,
                        size_t& decode_rows) {
  size_t kept = 0, first_row = 0;
  for (const Segment& segment : batch.segments) {
    for (const size_t i : segment.logits_for) ws.kept_rows[kept++] = first_row + i;
    first_row += segment.tokens;
  }
  // Decode rows come first and stay first.
  size_t kept_decode = 0;
  while (kept_decode < kept && ws.kept_rows[kept_decode] < decode_rows) ++kept_decode;
  decode_rows = kept_decode;
  // kept_rows[i] >= i and ascending: moving in order never overwrites a row still to move.
  for (size_t i = 0; i < kept; ++i) {
    const size_t r = ws.kept_rows[i];
    if (r == i) continue;
    std::copy_n(&ws.residual[r * hidden], hidden, &ws.residual[i * hidden]);
    std::copy_n(&ws.normed[r * hidden], hidden, &ws.normed[i * hidden]);
    ws.row_segment[i] = ws.row_segment[r];
    ws.row_position[i] = ws.row_position[r];
  }
  rows = kept;
}

// The queries of the rows: one per run of a segment's rows at consecutive positions.
std::span<const AttentionQuery> AttentionQueries(const Batch& batch, const KVPool& kv, size_t layer,
                                                 size_t rows, size_t q_dim, ForwardWorkspace& ws) {
  size_t count = 0;
  for (size_t r = 0; r < rows; ++r) {
    const bool continues = r > 0 && ws.row_segment[r] == ws.row_segment[r - 1] &&
                           ws.row_position[r] == ws.row_position[r - 1] + 1;
    if (continues) {
      ++ws.attention_queries[count - 1].tokens;
      continue;
    }
    const Segment& segment = batch.segments[ws.row_segment[r]];
    ws.attention_queries[count++] = {.q = &ws.q[r * q_dim],
                                     .tokens = 1,
                                     .first_position = ws.row_position[r],
                                     .kv = {.keys = kv.keys(layer),
                                            .values = kv.values(layer),
                                            .blocks = segment.blocks.data(),
                                            .num_blocks = segment.blocks.size(),
                                            .block_size = kv.block_size(),
                                            .dtype = kv.dtype()},
                                     .out = &ws.attention[r * q_dim]};
  }
  return {ws.attention_queries.data(), count};
}

// x = x + o_proj(attention(input_layernorm(x))), following the reference's
// GemmaDecoderLayer. Every row's keys and values go to the cache; with `keep_wanted_only`
// only the wanted rows go on (packed to the front, `rows` updated).
void AttentionBlock(const ModelWeights& weights, size_t layer, const Batch& batch,
                    bool keep_wanted_only, KVPool& kv, ForwardWorkspace& ws, size_t& rows,
                    size_t& decode_rows, ThreadPool& pool) {
  const ModelConfig& c = weights.config;
  const LayerWeights& w = weights.layers[layer];
  const size_t hidden = c.hidden_size;
  const size_t heads = c.num_attention_heads;
  const size_t kv_heads = c.num_key_value_heads;
  const size_t head_dim = c.head_dim;
  const size_t q_dim = c.q_dim();
  const size_t kv_dim = c.kv_dim();
  const float eps = static_cast<float>(c.rms_norm_eps);
  const float theta = static_cast<float>(c.rope_theta);

  // RMSNorm multiplies by (1 + w); the weights hold 1 + w already (see weights.h).
  ForEachRow(rows, pool, [&](size_t r) {
    RMSNorm(&ws.residual[r * hidden], w.attn_norm_scale.data(), hidden, eps,
            &ws.normed[r * hidden]);
  });
  ws.shared_input.Reset(ws.normed.data(), rows, decode_rows, hidden);
  Project(w.k, ws.shared_input, ws.k.data(), pool);  // [rows, K]
  Project(w.v, ws.shared_input, ws.v.data(), pool);  // [rows, K]

  // RoPE with the rotate-half pairing (dimension i turns with i + head_dim/2, not with
  // i + 1); Hugging Face Gemma checkpoints are stored in that order. The cache holds the
  // keys after rotation, so cached keys are never rotated again.
  const size_t block_size = kv.block_size();
  ForEachRow(rows, pool, [&](size_t r) {
    const size_t position = ws.row_position[r];
    const int32_t block = batch.segments[ws.row_segment[r]].blocks[position / block_size];
    RoPE(&ws.k[r * kv_dim], kv_heads, head_dim, position, theta);
    kv.Write(layer, block, position % block_size, &ws.k[r * kv_dim], &ws.v[r * kv_dim]);
  });

  if (keep_wanted_only) {
    KeepOnlyWantedRows(batch, ws, hidden, rows, decode_rows);
    if (rows == 0) return;
    ws.shared_input.Reset(ws.normed.data(), rows, decode_rows, hidden);  // the kept rows moved
  }
  Project(w.q, ws.shared_input, ws.q.data(), pool);  // [rows, Q]
  ForEachRow(rows, pool,
             [&](size_t r) { RoPE(&ws.q[r * q_dim], heads, head_dim, ws.row_position[r], theta); });

  // Query head j reads kv head j / (heads / kv_heads): all heads share one kv head on 2B
  // (multi-query), each has its own on 7B (multi-head). Scores are scaled by head_dim^-0.5,
  // and on 7B head_dim (256) is not hidden_size / heads (192).
  const float scale = static_cast<float>(1.0 / std::sqrt(static_cast<double>(head_dim)));
  CausalAttention(AttentionQueries(batch, kv, layer, rows, q_dim, ws),
                  {.heads = heads, .kv_heads = kv_heads, .head_dim = head_dim}, scale, pool);

  ws.product_input.Reset(ws.attention.data(), rows, decode_rows, q_dim);
  Project(w.o, ws.product_input, ws.projected.data(), pool);  // [rows, H]
  ForEachRow(rows, pool, [&](size_t r) {
    AddInPlace(&ws.residual[r * hidden], &ws.projected[r * hidden], hidden);
  });
}

// x = x + down(gelu_tanh(gate(h)) * up(h)), h = post_attention_layernorm(x). Despite its
// name, post_attention_layernorm is the norm in front of the MLP. GeGLU with the tanh GELU:
// Gemma 1 configs may say "gelu", the models use the tanh form.
void FeedForwardBlock(const ModelWeights& weights, size_t layer, ForwardWorkspace& ws, size_t rows,
                      size_t decode_rows, ThreadPool& pool) {
  const ModelConfig& c = weights.config;
  const LayerWeights& w = weights.layers[layer];
  const size_t hidden = c.hidden_size;
  const size_t ffn = c.intermediate_size;
  const float eps = static_cast<float>(c.rms_norm_eps);
  ForEachRow(rows, pool, [&](size_t r) {
    RMSNorm(&ws.residual[r * hidden], w.ffn_norm_scale.data(), hidden, eps, &ws.normed[r * hidden]);
  });
  // Decode rows take the whole width at once, as many rows as the buffers hold.
  const size_t per_pass = std::max<size_t>(1, ws.gate.size() / ffn);
  for (size_t begin = 0; begin < decode_rows; begin += per_pass) {
    const size_t count = std::min(per_pass, decode_rows - begin);
    ws.product_input.Reset(&ws.normed[begin * hidden], count, count, hidden);
    Project(w.gate, ws.product_input, ws.gate.data(), pool);  // [count, I]
    Project(w.up, ws.product_input, ws.up.data(), pool);      // [count, I]
    GeluTanhMul(ws.gate.data(), ws.up.data(), count * ffn, ws.gate.data());
    ws.product_input.Reset(ws.gate.data(), count, count, ffn);
    Project(w.down, ws.product_input, &ws.projected[begin * hidden], pool);  // [count, H]
  }
  // Blocked rows in slices of the intermediate features (see ForwardWorkspace): the slice's
  // gate and up rows, then down's matching columns, summed into `projected`.
  const size_t blocked = rows - decode_rows;
  if (blocked > 0) {
    const float* normed = &ws.normed[decode_rows * hidden];
    float* projected = &ws.projected[decode_rows * hidden];
    ws.shared_input.Reset(normed, blocked, 0, hidden);
    for (size_t begin = 0; begin < ffn; begin += ws.ffn_slab) {
      const size_t width = std::min(ws.ffn_slab, ffn - begin);
      Project(RowRange(w.gate, begin, width), ws.shared_input, ws.gate.data(), pool);
      Project(RowRange(w.up, begin, width), ws.shared_input, ws.up.data(), pool);
      ForEachRow(blocked, pool, [&](size_t r) {
        GeluTanhMul(&ws.gate[r * width], &ws.up[r * width], width, &ws.gate[r * width]);
      });
      const WeightMatrix down = ColumnRange(w.down, begin, width);
      ws.product_input.Reset(ws.gate.data(), blocked, 0, width);
      if (begin == 0) {
        Project(down, ws.product_input, projected, pool);  // [blocked, H]
      } else {
        ProjectAddBlocked(down, ws.product_input, projected, pool);
      }
    }
  }
  ForEachRow(rows, pool, [&](size_t r) {
    AddInPlace(&ws.residual[r * hidden], &ws.projected[r * hidden], hidden);
  });
}

}  // namespace

void Forward(const ModelWeights& weights, const Batch& batch, KVPool& kv, ForwardWorkspace& ws,
             ThreadPool& pool) {
  CheckBatch(weights, batch, kv, ws);
  const ModelConfig& c = weights.config;
  const size_t hidden = c.hidden_size;
  size_t rows = 0;
  for (size_t s = 0; s < batch.segments.size(); ++s) {
    for (size_t t = 0; t < batch.segments[s].tokens; ++t, ++rows) {
      ws.row_segment[rows] = s;
      ws.row_position[rows] = batch.segments[s].first_position + t;
    }
  }

  // Embedding lookup (any stored dtype), scaled by the normalizer: x = E[id] * sqrt(H).
  const float normalizer = EmbeddingNormalizer(c);
  for (size_t r = 0; r < rows; ++r) {
    float* row = &ws.residual[r * hidden];
    DequantizeRow(weights.embedding, static_cast<size_t>(batch.tokens[r]), row);
    Scale(row, normalizer, hidden);
  }
  Observe(batch, "embedding_scaled", ws.residual.data(), hidden);

  // The rows that use the decode kernels come first (see RowArithmetic).
  size_t decode_rows = 0;
  if (batch.arithmetic == RowArithmetic::kLoneRowDecode) {
    decode_rows = rows == 1 ? 1 : 0;
  } else {
    for (const Segment& segment : batch.segments) {
      if (segment.generated()) decode_rows += segment.tokens;
    }
  }

  const bool observed = Observed(batch);
  for (size_t layer = 0; layer < weights.layers.size(); ++layer) {
    const bool last = layer + 1 == weights.layers.size();
    AttentionBlock(weights, layer, batch, last && !observed, kv, ws, rows, decode_rows, pool);
    if (rows == 0) return;  // no logits wanted: the cache was all this call was for
    FeedForwardBlock(weights, layer, ws, rows, decode_rows, pool);
    if (observed) Observe(batch, StrCat("layer_", layer), ws.residual.data(), hidden);
  }

  // Final RMSNorm, again with (1 + w).
  const float eps = static_cast<float>(c.rms_norm_eps);
  ForEachRow(rows, pool, [&](size_t r) {
    RMSNorm(&ws.residual[r * hidden], weights.final_norm_scale.data(), hidden, eps,
            &ws.normed[r * hidden]);
  });
  if (observed) {
    Observe(batch, "final_norm", ws.normed.data(), hidden);
    // Every row was carried: pack the wanted ones to the front.
    KeepOnlyWantedRows(batch, ws, hidden, rows, decode_rows);
  }
  if (rows == 0) return;
  // Logits = x E^T with the tied embedding, unscaled, no soft-capping (Gemma 1).
  ws.product_input.Reset(ws.normed.data(), rows, decode_rows, hidden);
  Project(weights.embedding, ws.product_input, batch.logits.data(), pool);
}

void Forward(const ModelWeights& weights, const ForwardRequest& request, KVCache& cache,
             ForwardWorkspace& ws, ThreadPool& pool) {
  if (request.first_position + request.tokens.size() > cache.capacity()) {
    Fail(ErrorCode::kOutOfRange, "sequence too long: positions ", request.first_position, "..",
         request.first_position + request.tokens.size() - 1, " do not fit the context of ",
         cache.capacity(), " positions (max_position_embeddings ",
         weights.config.max_position_embeddings, ")");
  }
  const Segment segment{.tokens = request.tokens.size(),
                        .first_position = request.first_position,
                        .blocks = cache.blocks(),
                        .logits_for = request.logits_for};
  Forward(weights,
          {.tokens = request.tokens,
           .segments = {&segment, 1},
           .logits = request.logits,
           .arithmetic = request.arithmetic,
           .observer = request.observer},
          cache.pool(), ws, pool);
}

}  // namespace gemma
