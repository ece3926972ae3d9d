// The batched decode product (MatVecBatch: every row bit for bit what MatVec gives it alone,
// each weight read once for all rows) against MatVec run once per row. Arguments: rows of
// activations, threads, weight rows: 16384 x 2048 is the gemma-2b feed-forward gate (from
// memory: 67 MB in bf16, 19 MB in Q4_0), 256 x 2048 stays in L2 and shows the arithmetic
// alone. Counter "MAC/s" = rows x weight rows x 2048 multiply-adds per second (CPU time with
// 1 thread, as this machine is shared; with 2 threads read the real time).
//   build/bench/decode_batch_bench --benchmark_filter='Q4_0' --benchmark_repetitions=3
#include <benchmark/benchmark.h>

#include <cstring>
#include <random>
#include <vector>

#include "base/dtype.h"
#include "kernels/decode_activations.h"
#include "kernels/matmul.h"
#include "kernels/quant/quantize.h"
#include "kernels/thread_pool.h"

namespace gemma {
namespace {

constexpr size_t kCols = 2048;

struct Matrix {
  std::vector<std::byte> data;
  WeightMatrix w;
};

const Matrix& Weights(DType type, size_t rows) {
  static Matrix cache[2][32];
  Matrix& m = cache[rows > 256][static_cast<int>(type) % 32];
  if (!m.data.empty()) return m;
  std::mt19937 rng(1);
  std::normal_distribution<float> normal(0.0f, 0.02f);
  std::vector<float> row(kCols);
  const size_t row_bytes = ByteSize(type, kCols);
  m.data.resize(rows * row_bytes);
  for (size_t r = 0; r < rows; ++r) {
    for (float& v : row) v = normal(rng);
    std::byte* out = m.data.data() + r * row_bytes;
    if (IsQuantized(type)) {
      quant::QuantizeRow(type, row.data(), out, kCols);
    } else {
      for (size_t c = 0; c < kCols; ++c) {
        if (type == DType::kF32) {
          std::memcpy(out + 4 * c, &row[c], 4);
        } else {
          const uint16_t bits = type == DType::kBF16 ? F32ToBF16(row[c]) : F32ToF16(row[c]);
          std::memcpy(out + 2 * c, &bits, 2);
        }
      }
    }
  }
  m.w = {.dtype = type, .data = m.data.data(), .rows = rows, .cols = kCols, .row_bytes = row_bytes};
  return m;
}

std::vector<float> Activations(size_t n) {
  std::mt19937 rng(2);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  std::vector<float> x(n);
  for (float& v : x) v = normal(rng);
  return x;
}

void SetCounters(benchmark::State& state, size_t tokens, size_t rows) {
  state.counters["MAC/s"] = benchmark::Counter(
      static_cast<double>(state.iterations()) * static_cast<double>(tokens * rows * kCols),
      benchmark::Counter::kIsRate);
}

// A product of range(0) activation rows with range(2) weight rows on range(1) threads.
struct Product {
  Product(benchmark::State& state, DType type, QuantDot dot)
      : tokens(static_cast<size_t>(state.range(0))),
        rows(static_cast<size_t>(state.range(2))),
        w(Weights(type, rows).w),
        x(Activations(tokens * kCols)),
        y(tokens * rows),
        pool(static_cast<int>(state.range(1))) {
    w.quant_dot = dot;
  }
  size_t tokens, rows;
  WeightMatrix w;
  std::vector<float> x, y;
  ThreadPool pool;
};

void BM_MatVecBatch(benchmark::State& state, DType type, QuantDot dot) {
  Product p(state, type, dot);
  DecodeActivations prepared;
  for (auto _ : state) {
    prepared.Reset(p.x.data(), p.tokens, kCols);  // rounding included, as in a decode step
    MatVecBatch(p.w, prepared, p.y.data(), p.pool);
    benchmark::DoNotOptimize(p.y.data());
  }
  SetCounters(state, p.tokens, p.rows);
}

// MatVec once per row: what the batch saves.
void BM_MatVecEachRow(benchmark::State& state, DType type, QuantDot dot) {
  Product p(state, type, dot);
  for (auto _ : state) {
    for (size_t t = 0; t < p.tokens; ++t) {
      MatVec(p.w, &p.x[t * kCols], &p.y[t * p.rows], p.pool);
    }
    benchmark::DoNotOptimize(p.y.data());
  }
  SetCounters(state, p.tokens, p.rows);
}

void Shapes(benchmark::internal::Benchmark* b) {
  for (int tokens : {1, 2, 4, 8, 16}) b->Args({tokens, 1, 16384});
  for (int tokens : {8, 16}) b->Args({tokens, 2, 16384});
  for (int tokens : {1, 8, 16}) b->Args({tokens, 1, 256});
  b->ArgNames({"rows", "threads", "weight_rows"})->Unit(benchmark::kMillisecond);
}

#define DECODE_BATCH_BENCH(name, type, dot)                          \
  BENCHMARK_CAPTURE(BM_MatVecBatch, name, type, dot)->Apply(Shapes); \
  BENCHMARK_CAPTURE(BM_MatVecEachRow, name, type, dot)               \
      ->Args({8, 1, 16384})                                          \
      ->Unit(benchmark::kMillisecond);

DECODE_BATCH_BENCH(BF16_rounded, DType::kBF16, QuantDot::kInt8)
DECODE_BATCH_BENCH(BF16, DType::kBF16, QuantDot::kFloat32)
DECODE_BATCH_BENCH(F16, DType::kF16, QuantDot::kFloat32)
DECODE_BATCH_BENCH(F32, DType::kF32, QuantDot::kFloat32)
DECODE_BATCH_BENCH(Q8_0, DType::kQ8_0, QuantDot::kInt8)
DECODE_BATCH_BENCH(Q4_0, DType::kQ4_0, QuantDot::kInt8)
DECODE_BATCH_BENCH(Q4_K, DType::kQ4_K, QuantDot::kInt8)
DECODE_BATCH_BENCH(Q6_K, DType::kQ6_K, QuantDot::kInt8)
DECODE_BATCH_BENCH(Q8_0_float, DType::kQ8_0, QuantDot::kFloat32)
DECODE_BATCH_BENCH(Q4_0_float, DType::kQ4_0, QuantDot::kFloat32)

}  // namespace
}  // namespace gemma

BENCHMARK_MAIN();
