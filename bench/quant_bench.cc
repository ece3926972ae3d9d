// Quantized matrix-vector products on gemma-2b shapes (2048 -> 16384, the ffn gate/up), one
// thread, reported as weight bytes read per second (the decode limit is memory bandwidth).
//   build-*/bench/quant_bench --benchmark_repetitions=5 --benchmark_report_aggregates_only
#include <benchmark/benchmark.h>

#include <random>
#include <vector>

#include "kernels/quant/quant_matmul.h"
#include "kernels/quant/quantize.h"

namespace gemma {
namespace {

void BM_QuantMatVec(benchmark::State& state, DType type) {
  const size_t rows = 16384, cols = 2048;
  std::mt19937 rng(1);
  std::normal_distribution<float> normal(0.0f, 0.02f);
  std::vector<float> row(cols), x(cols), y(rows);
  for (float& v : x) v = normal(rng);
  const size_t row_bytes = ByteSize(type, cols);
  std::vector<std::byte> data(rows * row_bytes);
  for (size_t r = 0; r < rows; ++r) {
    for (float& v : row) v = normal(rng);
    quant::QuantizeRow(type, row.data(), data.data() + r * row_bytes, cols);
  }
  const WeightMatrix w{
      .dtype = type, .data = data.data(), .rows = rows, .cols = cols, .row_bytes = row_bytes};
  for (auto _ : state) {
    QuantMatVecRows(w, x.data(), y.data(), 0, rows);
    benchmark::DoNotOptimize(y.data());
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * data.size()));
}

BENCHMARK_CAPTURE(BM_QuantMatVec, Q8_0, DType::kQ8_0)->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_QuantMatVec, Q4_0, DType::kQ4_0)->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_QuantMatVec, Q4_K, DType::kQ4_K)->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_QuantMatVec, Q6_K, DType::kQ6_K)->Unit(benchmark::kMillisecond);

}  // namespace
}  // namespace gemma

BENCHMARK_MAIN();
