#include "kernels/packed_activations.h"

#include <atomic>

#include "base/error.h"
#include "kernels/packed_tiles.h"
#include "kernels/x86/bf16_avx512.h"

namespace gemma {

void PackedActivations::Reset(const float* x, size_t tokens, size_t cols) {
  x_ = x;
  tokens_ = tokens;
  cols_ = cols;
  tiles_of_ = Tiles::kNone;
  int8_ = Int8State::kNotYet;
  bf16_ = Bf16State::kNotYet;
  bf16_pairs_ready_ = false;
}

const float* PackedActivations::FloatTiles(ThreadPool& pool) {
  return PackTilesOf(x_, Tiles::kOfX, pool);
}

const float* PackedActivations::RoundedBf16Tiles(ThreadPool& pool) {
  return PackTilesOf(RoundedBf16(pool).values, Tiles::kOfRoundedBf16, pool);
}

const float* PackedActivations::PackTilesOf(const float* source, Tiles what, ThreadPool& pool) {
  if (tiles_of_ == what) return tiles_.get();
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
                        matmul_blocking::PackTiles(source, tokens_, cols_, first, last, tiles);
                      });
  tiles_of_ = what;
  return tiles;
}

const Bf16Rows& PackedActivations::RoundedBf16(ThreadPool& pool, bool with_values) {
  const bool ready =
      bf16_ == Bf16State::kBitsAndValues || (bf16_ == Bf16State::kBits && !with_values);
  if (!ready) {
    PrepareBf16Rows(tokens_, cols_, bf16_rows_, with_values);
    pool.ParallelForRef(tokens_, 1, [&](size_t begin, size_t end, int) {
      RoundRowsToBf16(x_, begin, end, bf16_rows_);
    });
    bf16_ = with_values ? Bf16State::kBitsAndValues : Bf16State::kBits;
  }
  return bf16_rows_;
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

const uint32_t* PackedActivations::Bf16PairTiles(ThreadPool& pool) {
  if (bf16_pairs_ready_) return bf16_pairs_.get();
  const Bf16Rows& rows = RoundedBf16(pool, /*with_values=*/false);
  const size_t needed = x86::Bf16TileWords(tokens_, cols_);
  if (needed > bf16_pairs_capacity_) {
    bf16_pairs_ = hwy::AllocateAligned<uint32_t>(needed);
    if (!bf16_pairs_)
      Fail(ErrorCode::kInternal, "PackedActivations: cannot allocate ", needed, " words");
    bf16_pairs_capacity_ = needed;
  }
  uint32_t* tiles = bf16_pairs_.get();
  pool.ParallelForRef(x86::Bf16TileUnits(tokens_, cols_), 1, [&](size_t first, size_t last, int) {
    x86::PackBf16Tiles(rows, first, last, tiles);
  });
  bf16_pairs_ready_ = true;
  return tiles;
}

}  // namespace gemma
