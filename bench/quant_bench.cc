// Quantized products on gemma-2b shapes.
//  - MatVec (decode): 2048 -> 16384 (the ffn gate/up), reported as weight bytes read per
//    second; the limit is memory bandwidth. Ref = the scalar reference kernel, 1 thread;
//    QuantMatVec/1 and /2 = the float32-activation kernels (QuantDot::kFloat32) through
//    MatVec with 1 or 2 threads; QuantMatVecInt8 = the integer kernels (QuantDot::kInt8,
//    activations rounded to int8 once per call, included in the time).
//  - QuantMatVecInt8L2: the integer kernels on 256 x 2048 (0.1-0.6 MiB, in the 1 MiB L2 of
//    a Zen 4/5 core): the kernels' instruction throughput without the memory's limit.
//  - QuantMatVecInt8Dram: the same on 131072 x 2048 (half the embedding), four times the
//    32 MiB L3, so the weights come from DRAM as in a real decode step.
//  - MatMul (prefill): the 16384 x 2048 matrix times 128 tokens, as FLOP/s; float32
//    activations (QuantDot::kFloat32), and MatMulInt8 with QuantDot::kInt8 (the default:
//    int8 activations where there is an integer prefill kernel, Q4_0; float32 elsewhere).
//   build-*/bench/quant_bench --benchmark_repetitions=5 --benchmark_report_aggregates_only
#include <benchmark/benchmark.h>

#include <random>
#include <vector>

#include "kernels/matmul.h"
#include "kernels/quant/quant_matmul.h"
#include "kernels/quant/quant_matmul_reference.h"
#include "kernels/quant/quantize.h"
#include "kernels/thread_pool.h"

namespace gemma {
namespace {

constexpr size_t kRows = 16384, kCols = 2048;
constexpr size_t kDramRows = 131072;
constexpr size_t kL2Rows = 256;

struct Matrix {
  std::vector<std::byte> data;
  WeightMatrix w;
};

const Matrix& Quantized(DType type, size_t rows = kRows) {
  static Matrix cache[3][32];
  Matrix& m = cache[rows == kRows ? 0 : rows == kDramRows ? 1 : 2][static_cast<int>(type) % 32];
  if (!m.data.empty()) return m;
  std::mt19937 rng(1);
  std::normal_distribution<float> normal(0.0f, 0.02f);
  std::vector<float> row(kCols);
  const size_t row_bytes = ByteSize(type, kCols);
  m.data.resize(rows * row_bytes);
  for (size_t r = 0; r < rows; ++r) {
    for (float& v : row) v = normal(rng);
    quant::QuantizeRow(type, row.data(), m.data.data() + r * row_bytes, kCols);
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

void BM_QuantMatVecRef(benchmark::State& state, DType type) {
  const Matrix& m = Quantized(type);
  const std::vector<float> x = Activations(kCols);
  std::vector<float> y(kRows);
  for (auto _ : state) {
    quant::ReferenceMatVecRows(m.w, x.data(), y.data(), 0, kRows);
    benchmark::DoNotOptimize(y.data());
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * m.data.size()));
}

void BM_QuantMatVec(benchmark::State& state, DType type) {
  const Matrix& m = Quantized(type);
  const std::vector<float> x = Activations(kCols);
  std::vector<float> y(kRows);
  ThreadPool pool(static_cast<int>(state.range(0)));
  for (auto _ : state) {
    MatVec(m.w, x.data(), y.data(), pool);
    benchmark::DoNotOptimize(y.data());
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * m.data.size()));
}

void BM_QuantMatVecInt8(benchmark::State& state, DType type, size_t rows) {
  WeightMatrix w = Quantized(type, rows).w;
  w.quant_dot = QuantDot::kInt8;
  const std::vector<float> x = Activations(kCols);
  std::vector<float> y(rows);
  ThreadPool pool(static_cast<int>(state.range(0)));
  for (auto _ : state) {
    MatVec(w, x.data(), y.data(), pool);
    benchmark::DoNotOptimize(y.data());
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * rows * w.row_bytes));
}

void BM_QuantMatMul(benchmark::State& state, DType type, QuantDot dot) {
  const Matrix& m = Quantized(type);
  WeightMatrix w = m.w;
  w.quant_dot = dot;
  const size_t tokens = 128;
  const std::vector<float> x = Activations(tokens * kCols);
  std::vector<float> y(tokens * kRows);
  ThreadPool pool(static_cast<int>(state.range(0)));
  for (auto _ : state) {
    MatMul(w, x.data(), tokens, y.data(), pool);
    benchmark::DoNotOptimize(y.data());
  }
  state.counters["FLOP/s"] =
      benchmark::Counter(static_cast<double>(state.iterations()) * 2.0 * tokens * kRows * kCols,
                         benchmark::Counter::kIsRate);
}

#define QUANT_BENCH(name, type)                                                                 \
  BENCHMARK_CAPTURE(BM_QuantMatVecRef, name, type)->Unit(benchmark::kMillisecond);              \
  BENCHMARK_CAPTURE(BM_QuantMatVec, name, type)->Arg(1)->Arg(2)->Unit(benchmark::kMillisecond); \
  BENCHMARK_CAPTURE(BM_QuantMatVecInt8, name, type, kRows)                                      \
      ->Arg(1)                                                                                  \
      ->Arg(2)                                                                                  \
      ->Unit(benchmark::kMillisecond)                                                           \
      ->UseRealTime();                                                                          \
  BENCHMARK_CAPTURE(BM_QuantMatVecInt8, name##_L2, type, kL2Rows)                               \
      ->Arg(1)                                                                                  \
      ->Unit(benchmark::kMicrosecond)                                                           \
      ->UseRealTime();                                                                          \
  BENCHMARK_CAPTURE(BM_QuantMatVecInt8, name##_Dram, type, kDramRows)                           \
      ->Arg(1)                                                                                  \
      ->Arg(2)                                                                                  \
      ->Unit(benchmark::kMillisecond)                                                           \
      ->UseRealTime();                                                                          \
  BENCHMARK_CAPTURE(BM_QuantMatMul, name, type, QuantDot::kFloat32)                             \
      ->Arg(1)                                                                                  \
      ->Arg(2)                                                                                  \
      ->Unit(benchmark::kMillisecond)                                                           \
      ->UseRealTime();                                                                          \
  BENCHMARK_CAPTURE(BM_QuantMatMul, name##_Int8, type, QuantDot::kInt8)                         \
      ->Arg(1)                                                                                  \
      ->Arg(2)                                                                                  \
      ->Unit(benchmark::kMillisecond)                                                           \
      ->UseRealTime();

QUANT_BENCH(Q8_0, DType::kQ8_0)
QUANT_BENCH(Q4_0, DType::kQ4_0)
QUANT_BENCH(Q4_K, DType::kQ4_K)
QUANT_BENCH(Q6_K, DType::kQ6_K)
QUANT_BENCH(Q5_K, DType::kQ5_K)

}  // namespace
}  // namespace gemma

BENCHMARK_MAIN();
