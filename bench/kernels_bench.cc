// Kernel microbenchmarks on gemma-2b shapes. Each reports GB/s (bytes the kernel must
// read) or GFLOP/s next to the machine's limit, so the numbers say how far from the
// bound a kernel is. Wall-clock time (UseRealTime) because the work runs on a pool.
//
//   build-*/bench/kernels_bench --benchmark_filter=MatVec --benchmark_repetitions=5
//
// The thread count is the last argument of every benchmark.
#include <benchmark/benchmark.h>

#include <cstddef>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <memory>
#include <vector>

#include "base/dtype.h"
#include "kernels/attention.h"
#include "kernels/cpu_features.h"
#include "kernels/elementwise.h"
#include "kernels/matmul.h"
#include "kernels/thread_pool.h"

namespace gemma {
namespace {

// One pool per thread count, created once: thread start-up is not what we measure.
ThreadPool& PoolOf(int64_t threads) {
  static std::unique_ptr<ThreadPool> pools[17];
  auto& pool = pools[threads];
  if (!pool) pool = std::make_unique<ThreadPool>(static_cast<int>(threads));
  return *pool;
}

// Deterministic values in [-1, 1) without the cost of a real RNG on a gigabyte.
std::vector<float> Values(size_t n, uint32_t seed) {
  std::vector<float> v(n);
  uint32_t s = seed * 2654435761u + 1;
  for (float& f : v) {
    s = s * 1664525u + 1013904223u;
    f = static_cast<float>(s >> 8) * (2.0f / 16777216.0f) - 1.0f;
  }
  return v;
}

struct BenchWeights {
  std::vector<std::byte> bytes;
  WeightMatrix matrix;
};

BenchWeights MakeWeights(DType dtype, size_t rows, size_t cols, QuantDot dot = QuantDot::kFloat32) {
  BenchWeights w;
  const size_t row_bytes = ByteSize(dtype, cols);
  w.bytes.resize(rows * row_bytes);
  uint32_t s = 12345;
  for (size_t i = 0; i < rows * cols; ++i) {
    s = s * 1664525u + 1013904223u;
    const float f = static_cast<float>(s >> 8) * (2.0f / 16777216.0f) - 1.0f;
    if (dtype == DType::kF32) {
      std::memcpy(w.bytes.data() + 4 * i, &f, 4);
    } else {
      const uint16_t bits = dtype == DType::kBF16 ? F32ToBF16(f) : F32ToF16(f);
      std::memcpy(w.bytes.data() + 2 * i, &bits, 2);
    }
  }
  w.matrix = {.dtype = dtype,
              .data = w.bytes.data(),
              .rows = rows,
              .cols = cols,
              .row_bytes = row_bytes,
              .quant_dot = dot};
  return w;
}

// Args: rows, cols, threads. Bytes read per call: the weights (x and y are noise). kDot
// kInt8 on bf16 weights: activations rounded to bf16 (vdpbf16ps where the CPU has it).
// The machine's limits: bench/machine_bench.cc.
template <DType kType, QuantDot kDot = QuantDot::kFloat32>
void BM_MatVec(benchmark::State& state) {
  const size_t rows = size_t(state.range(0)), cols = size_t(state.range(1));
  const BenchWeights w = MakeWeights(kType, rows, cols, kDot);
  const std::vector<float> x = Values(cols, 1);
  std::vector<float> y(rows);
  ThreadPool& pool = PoolOf(state.range(2));
  for (auto _ : state) {
    MatVec(w.matrix, x.data(), y.data(), pool);
    benchmark::DoNotOptimize(y.data());
    benchmark::ClobberMemory();
  }
  state.counters["GB/s"] = benchmark::Counter(double(w.bytes.size()) * 1e-9,
                                              benchmark::Counter::kIsIterationInvariantRate);
}

// Args: rows, cols, tokens, threads.
template <DType kType, QuantDot kDot = QuantDot::kFloat32>
void BM_MatMul(benchmark::State& state) {
  const size_t rows = size_t(state.range(0)), cols = size_t(state.range(1));
  const size_t tokens = size_t(state.range(2));
  const BenchWeights w = MakeWeights(kType, rows, cols, kDot);
  const std::vector<float> x = Values(tokens * cols, 2);
  std::vector<float> y(tokens * rows);
  ThreadPool& pool = PoolOf(state.range(3));
  for (auto _ : state) {
    MatMul(w.matrix, x.data(), tokens, y.data(), pool);
    benchmark::DoNotOptimize(y.data());
    benchmark::ClobberMemory();
  }
  state.counters["GFLOP/s"] = benchmark::Counter(2.0 * double(rows * cols * tokens) * 1e-9,
                                                 benchmark::Counter::kIsIterationInvariantRate);
}

// gemma-2b: d_model 2048, 8 heads x 256 (q), 1 kv head (k, v: 256 rows), ffn 16384,
// vocabulary 256000 (the logits product).
void MatVecShapes(benchmark::internal::Benchmark* b) {
  for (int64_t threads : {1, 2}) {
    b->Args({2048, 2048, threads});
    b->Args({256, 2048, threads});
    b->Args({16384, 2048, threads});
    b->Args({2048, 16384, threads});
  }
  b->Args({256000, 2048, 2});
  b->UseRealTime()->Unit(benchmark::kMicrosecond);
}

void MatMulShapes(benchmark::internal::Benchmark* b) {
  for (int64_t threads : {1, 2}) {
    b->Args({2048, 2048, 512, threads});
    b->Args({256, 2048, 512, threads});
    b->Args({16384, 2048, 512, threads});
    b->Args({2048, 16384, 512, threads});
  }
  b->Args({16384, 2048, 64, 2});
  b->UseRealTime()->Unit(benchmark::kMillisecond);
}

BENCHMARK(BM_MatVec<DType::kBF16>)->Apply(MatVecShapes);
BENCHMARK(BM_MatVec<DType::kBF16, QuantDot::kInt8>)->Apply(MatVecShapes);
BENCHMARK(BM_MatVec<DType::kF16>)->Apply(MatVecShapes);
BENCHMARK(BM_MatVec<DType::kF32>)->Apply([](benchmark::internal::Benchmark* b) {
  for (int64_t threads : {1, 2}) {
    b->Args({2048, 2048, threads});
    b->Args({16384, 2048, threads});
  }
  b->UseRealTime()->Unit(benchmark::kMicrosecond);
});
BENCHMARK(BM_MatMul<DType::kBF16>)->Apply(MatMulShapes);
BENCHMARK(BM_MatMul<DType::kBF16, QuantDot::kInt8>)->Apply(MatMulShapes);
BENCHMARK(BM_MatMul<DType::kF16>)
    ->Args({16384, 2048, 512, 2})
    ->UseRealTime()
    ->Unit(benchmark::kMillisecond);
BENCHMARK(BM_MatMul<DType::kF32>)
    ->Args({16384, 2048, 512, 2})
    ->UseRealTime()
    ->Unit(benchmark::kMillisecond);

// gemma-2b attention: 8 query heads on 1 kv head of 256. Args: context, tokens, threads.
// Decode (tokens = 1) reports GB/s of the K and V it must read; prefill (tokens =
// context) reports GFLOP/s of the causal q.k and p.v products.
void BM_Attention(benchmark::State& state) {
  const size_t context = size_t(state.range(0)), tokens = size_t(state.range(1));
  const AttentionShape shape{.heads = 8, .kv_heads = 1, .head_dim = 256};
  const size_t row = shape.heads * shape.head_dim;
  const std::vector<float> q = Values(tokens * row, 3);
  const std::vector<float> k = Values((context + 15) / 16 * 16 * shape.head_dim, 4);
  const std::vector<float> v = Values(k.size(), 5);
  std::vector<float> out(tokens * row);
  ThreadPool& pool = PoolOf(state.range(2));
  const size_t first = context - tokens;
  // The cache in blocks of 16 positions, laid out in order (one kv head).
  constexpr size_t kBlock = 16;
  std::vector<int32_t> blocks((context + kBlock - 1) / kBlock);
  for (size_t b = 0; b < blocks.size(); ++b) blocks[b] = static_cast<int32_t>(b);
  const AttentionQuery query{.q = q.data(),
                             .tokens = tokens,
                             .first_position = first,
                             .kv = {.keys = reinterpret_cast<const std::byte*>(k.data()),
                                    .values = reinterpret_cast<const std::byte*>(v.data()),
                                    .blocks = blocks.data(),
                                    .num_blocks = blocks.size(),
                                    .block_size = kBlock},
                             .out = out.data()};
  for (auto _ : state) {
    CausalAttention({&query, 1}, shape, 0.0625f, pool);
    benchmark::DoNotOptimize(out.data());
    benchmark::ClobberMemory();
  }
  if (tokens == 1) {
    state.counters["GB/s"] = benchmark::Counter(2.0 * double(k.size() * sizeof(float)) * 1e-9,
                                                benchmark::Counter::kIsIterationInvariantRate);
  } else {
    // Each of tokens queries at position p does 2 * (p + 1) * head_dim * heads FMAs.
    double fmas = 0;
    for (size_t t = 0; t < tokens; ++t) fmas += 2.0 * double(first + t + 1) * double(row);
    state.counters["GFLOP/s"] =
        benchmark::Counter(2.0 * fmas * 1e-9, benchmark::Counter::kIsIterationInvariantRate);
  }
}
BENCHMARK(BM_Attention)
    ->ArgsProduct({{128, 1024, 4000}, {1}, {1, 2}})
    ->Args({128, 128, 2})
    ->Args({512, 512, 2})
    ->UseRealTime()
    ->Unit(benchmark::kMicrosecond);

// Args: n. Bytes: x and scale read, out written.
void BM_RMSNorm(benchmark::State& state) {
  const size_t n = size_t(state.range(0));
  const std::vector<float> x = Values(n, 6), scale = Values(n, 7);
  std::vector<float> out(n);
  for (auto _ : state) {
    RMSNorm(x.data(), scale.data(), n, 1e-6f, out.data());
    benchmark::DoNotOptimize(out.data());
  }
  state.counters["GB/s"] = benchmark::Counter(3.0 * double(n * sizeof(float)) * 1e-9,
                                              benchmark::Counter::kIsIterationInvariantRate);
}
BENCHMARK(BM_RMSNorm)->Arg(2048)->Arg(3072);

// gemma-2b q (8 heads) at one position; the angles are part of the cost.
void BM_RoPE(benchmark::State& state) {
  const size_t heads = size_t(state.range(0));
  std::vector<float> x = Values(heads * 256, 8);
  size_t position = 0;
  for (auto _ : state) {
    RoPE(x.data(), heads, 256, position++ % 4096, 10000.0f);
    benchmark::DoNotOptimize(x.data());
  }
  state.counters["GB/s"] = benchmark::Counter(2.0 * double(x.size() * sizeof(float)) * 1e-9,
                                              benchmark::Counter::kIsIterationInvariantRate);
}
BENCHMARK(BM_RoPE)->Arg(1)->Arg(8);

void BM_GeluTanhMul(benchmark::State& state) {
  const size_t n = size_t(state.range(0));
  const std::vector<float> gate = Values(n, 9), up = Values(n, 10);
  std::vector<float> out(n);
  for (auto _ : state) {
    GeluTanhMul(gate.data(), up.data(), n, out.data());
    benchmark::DoNotOptimize(out.data());
  }
  state.counters["GB/s"] = benchmark::Counter(3.0 * double(n * sizeof(float)) * 1e-9,
                                              benchmark::Counter::kIsIterationInvariantRate);
}
BENCHMARK(BM_GeluTanhMul)->Arg(16384);

// The cost of one pool hand-off (decode makes ~150 per token).
void BM_PoolRun(benchmark::State& state) {
  ThreadPool& pool = PoolOf(state.range(0));
  for (auto _ : state) pool.RunRef([](int worker) { benchmark::DoNotOptimize(worker); });
}
BENCHMARK(BM_PoolRun)->Arg(1)->Arg(2)->UseRealTime();

}  // namespace
}  // namespace gemma

int main(int argc, char** argv) {
  benchmark::Initialize(&argc, argv);
  benchmark::AddCustomContext("cpu_model", gemma::Cpu().model);
  benchmark::AddCustomContext("kernel_isa", gemma::KernelIsaSummary());
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
