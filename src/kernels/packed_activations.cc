#include "kernels/packed_activations.h"

#include <atomic>

#include "base/error.h"
#include "kernels/packed_tiles.h"

namespace gemma {

void PackedActivations::Reset(const float* x, size_t tokens, size_t cols) {
  x_ = x;
  tokens_ = tokens;
  cols_ = cols;
  tiles_ready_ = false;
  int8_ = Int8State::kNotYet;
}

const float* PackedActivations::FloatTiles(ThreadPool& pool) {
  if (tiles_ready_) return tiles_.get();
  const size_t needed = matmul_blocking::PackedTileFloats(tokens_, cols_);
  if (needed > tiles_capacity_) {
    tiles_ = hwy::AllocateAligned<float>(needed);
    if (!tiles_)
      Fail(ErrorCode::kInternal, "PackedActivations: cannot allocate ", needed, " floats");
    tiles_capacity_ = needed;
  }
  float* tiles = tiles_.get();
  pool.ParallelForRef(matmul_blocking::PackedTileBlocks(tokens_, cols_), 1,
                      [&](size_t first, size_t last, int) {
                        matmul_blocking::PackTiles(x_, tokens_, cols_, first, last, tiles);
                      });
  tiles_ready_ = true;
  return tiles;
}

const quant::Int8Rows* PackedActivations::Int8Rows(ThreadPool& pool) {
  if (int8_ == Int8State::kNotYet) {
    quant::PrepareInt8Rows(tokens_, cols_, int8_rows_);
    std::atomic<bool> finite{true};
    pool.ParallelForRef(tokens_, 1, [&](size_t begin, size_t end, int) {
      if (!quant::QuantizeActivationRows(x_, begin, end, int8_rows_)) finite = false;
    });
    int8_ = finite ? Int8State::kReady : Int8State::kNotFinite;
  }
  return int8_ == Int8State::kReady ? &int8_rows_ : nullptr;
}

}  // namespace gemma
