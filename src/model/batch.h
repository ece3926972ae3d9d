// A forward pass's input: rows of tokens from one or many sequences. Each sequence's rows are
// a segment at consecutive positions with its own KV blocks; a decode step is a one-row
// segment, a prefill chunk a longer one, and both mix freely in one batch. The products run
// once over all rows (each weight read once for the batch); attention runs per segment over
// its own cache.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <limits>
#include <span>
#include <string_view>

namespace gemma {

struct Segment {
  size_t tokens = 0;          // rows of this segment, consecutive in Batch::tokens
  size_t first_position = 0;  // position of its first token in its sequence
  // The sequence's KV block table (KVPool block ids), covering every position up to
  // first_position + tokens - 1; positions before first_position hold the cached prefix.
  std::span<const int32_t> blocks;
  // Indices into this segment's tokens (ascending) whose logits are wanted.
  std::span<const size_t> logits_for;
  // With RowArithmetic::kRowInvariant: positions from here on hold generated tokens, whose
  // rows use the decode kernels (as one decode step computes a token), the others the
  // blocked kernel. A segment lies wholly on one side, and generated-token segments come
  // first in the batch.
  size_t generated_from = std::numeric_limits<size_t>::max();

  bool generated() const { return first_position >= generated_from; }
};

// Which rows use the decode kernels (matrix-vector products; each row computed alone, each
// weight read once for all such rows: MatVecBatch) and which the blocked prefill kernel.
enum class RowArithmetic {
  // A lone row (a decode step) uses the decode kernels, more rows the blocked kernel: the
  // fastest for one sequence (Session), but a row's numbers then depend on how many rows
  // share the call.
  kLoneRowDecode,
  // By position (Segment::generated_from): generated tokens' rows use the decode kernels,
  // prompt rows the blocked kernel, whatever else is in the batch. Both kernels give a row
  // the same result alone or among others, so a sequence gets the same numbers alone or in
  // any batch (the engine).
  kRowInvariant,
};

// Sees the residual stream at named points: "embedding_scaled", "layer_0" ..
// "layer_{L-1}" (after each decoder layer) and "final_norm", once per segment: `rows` is
// [tokens, H] for that segment's tokens, the first at `first_position`. For tests.
using LayerObserver = std::function<void(std::string_view point, size_t first_position,
                                         size_t tokens, const float* rows)>;

struct Batch {
  std::span<const int32_t> tokens;  // every segment's tokens, segment after segment
  std::span<const Segment> segments;
  // [wanted rows, vocab]: the logits of every segment's logits_for rows, in segment order.
  std::span<float> logits;
  RowArithmetic arithmetic = RowArithmetic::kLoneRowDecode;
  const LayerObserver* observer = nullptr;  // optional
};

}  // namespace gemma
