// The machine's limits, measured the way docs/performance.md quotes them: read bandwidth
// (threads summing their share of a 1 GiB array) and the peak rate of each arithmetic
// instruction the kernels use: float32 FMA on 256 and 512 bits, bf16 dot products
// (vdpbf16ps) and int8 dot products (vpmaddubsw + vpaddw, vpdpbusd on 256 and 512 bits).
// Each instruction loop keeps 12 independent accumulators in registers, enough to cover the
// latency of two pipes. An instruction set this CPU lacks is reported as skipped.
//
//   build/bench/machine_bench --benchmark_min_time=1
//
// Rates are "multiply-adds per second x 2" (GFLOP/s or GOP/s), wall-clock over the pool.
#include <benchmark/benchmark.h>

#include <cstdint>
#include <cstring>
#include <memory>
#include <vector>

#include "hwy/aligned_allocator.h"
#include "kernels/cpu_features.h"
#include "kernels/thread_pool.h"

#if defined(__x86_64__)
#include <immintrin.h>
#endif

namespace gemma {
namespace {

ThreadPool& PoolOf(int64_t threads) {
  static std::unique_ptr<ThreadPool> pools[17];
  auto& pool = pools[threads];
  if (!pool) pool = std::make_unique<ThreadPool>(static_cast<int>(threads));
  return *pool;
}

// Sums floats [begin, end) of p (a multiple of 64 values) with 8 independent sums per lane.
float SumPlain(const float* p, size_t begin, size_t end) {
  float s[8] = {};
  for (size_t i = begin; i < end; i += 8) {
    for (int j = 0; j < 8; ++j) s[j] += p[i + j];
  }
  return s[0] + s[1] + s[2] + s[3] + s[4] + s[5] + s[6] + s[7];
}
#if defined(__x86_64__)
__attribute__((target("avx2"))) float SumAvx2(const float* p, size_t begin, size_t end) {
  __m256 s0 = _mm256_setzero_ps(), s1 = s0, s2 = s0, s3 = s0;
  for (size_t i = begin; i < end; i += 32) {
    s0 = _mm256_add_ps(s0, _mm256_load_ps(p + i));
    s1 = _mm256_add_ps(s1, _mm256_load_ps(p + i + 8));
    s2 = _mm256_add_ps(s2, _mm256_load_ps(p + i + 16));
    s3 = _mm256_add_ps(s3, _mm256_load_ps(p + i + 24));
  }
  alignas(32) float lanes[8];
  _mm256_store_ps(lanes, _mm256_add_ps(_mm256_add_ps(s0, s1), _mm256_add_ps(s2, s3)));
  return lanes[0] + lanes[7];
}
#endif

// Args: threads. Each thread sums its half of a 1 GiB float array (four times any L3
// here) with AVX2 loads where the CPU has them: 2 loads per cycle per thread, far more
// than DRAM delivers, so the rate is the memory's.
void BM_ReadBandwidth(benchmark::State& state) {
  constexpr size_t kBytes = size_t{1} << 30;
  constexpr size_t kFloats = kBytes / sizeof(float);
  static hwy::AlignedFreeUniquePtr<float[]> data = [] {
    auto d = hwy::AllocateAligned<float>(kFloats);
    for (size_t i = 0; i < kFloats; ++i) d[i] = static_cast<float>(i & 1023);
    return d;
  }();
  ThreadPool& pool = PoolOf(state.range(0));
  const size_t parts = static_cast<size_t>(pool.size());
  std::vector<float> sums(parts * 16);
  for (auto _ : state) {
    pool.RunRef([&](int worker) {
      const auto [begin, end] = ThreadPool::Chunk(kFloats, 1024, parts, size_t(worker));
#if defined(__x86_64__)
      if (Cpu().avx2_fma) {
        sums[size_t(worker) * 16] = SumAvx2(data.get(), begin, end);
        return;
      }
#endif
      sums[size_t(worker) * 16] = SumPlain(data.get(), begin, end);
    });
    benchmark::DoNotOptimize(sums.data());
  }
  state.counters["GB/s"] =
      benchmark::Counter(double(kBytes) * 1e-9, benchmark::Counter::kIsIterationInvariantRate);
}
BENCHMARK(BM_ReadBandwidth)->Arg(1)->Arg(2)->UseRealTime()->Unit(benchmark::kMillisecond);

constexpr int64_t kIterations = 1 << 22;

// Runs body(iterations) on every thread of the pool and reports `ops_per_iteration` x 2
// operations per iteration as G/s.
template <class Body>
void RunPeak(benchmark::State& state, double multiply_adds_per_iteration, const Body& body) {
  ThreadPool& pool = PoolOf(state.range(0));
  std::vector<float> sink(size_t(pool.size()) * 16);
  for (auto _ : state) {
    pool.RunRef([&](int worker) { sink[size_t(worker) * 16] = body(kIterations); });
    benchmark::DoNotOptimize(sink.data());
  }
  state.counters["G/s"] = benchmark::Counter(
      2.0 * multiply_adds_per_iteration * double(kIterations) * double(pool.size()) * 1e-9,
      benchmark::Counter::kIsIterationInvariantRate);
}

#if defined(__x86_64__)
#define GEMMA_REPEAT12(X) X(0) X(1) X(2) X(3) X(4) X(5) X(6) X(7) X(8) X(9) X(10) X(11)

__attribute__((target("avx2,fma"))) float Fma256(int64_t n) {
  const __m256 a = _mm256_set1_ps(1.0000001f), b = _mm256_set1_ps(0.9999999f);
#define DECL(i) __m256 c##i = _mm256_set1_ps(float(i));
  GEMMA_REPEAT12(DECL)
#undef DECL
  for (int64_t k = 0; k < n; ++k) {
#define STEP(i) c##i = _mm256_fmadd_ps(c##i, a, b);
    GEMMA_REPEAT12(STEP)
#undef STEP
    __asm__ volatile("" ::: "memory");
  }
  __m256 s = _mm256_setzero_ps();
#define SUM(i) s = _mm256_add_ps(s, c##i);
  GEMMA_REPEAT12(SUM)
#undef SUM
  return _mm256_cvtss_f32(s);
}

__attribute__((target("avx512f"))) float Fma512(int64_t n) {
  const __m512 a = _mm512_set1_ps(1.0000001f), b = _mm512_set1_ps(0.9999999f);
#define DECL(i) __m512 c##i = _mm512_set1_ps(float(i));
  GEMMA_REPEAT12(DECL)
#undef DECL
  for (int64_t k = 0; k < n; ++k) {
#define STEP(i) c##i = _mm512_fmadd_ps(c##i, a, b);
    GEMMA_REPEAT12(STEP)
#undef STEP
    __asm__ volatile("" ::: "memory");
  }
  __m512 s = _mm512_setzero_ps();
#define SUM(i) s = _mm512_add_ps(s, c##i);
  GEMMA_REPEAT12(SUM)
#undef SUM
  alignas(64) float lanes[16];
  _mm512_store_ps(lanes, s);
  return lanes[0] + lanes[15];
}

__attribute__((target("avx512f,avx512bf16"))) float Bf16Dot512(int64_t n) {
  const __m512bh a = (__m512bh)_mm512_set1_epi16(0x3f80), b = (__m512bh)_mm512_set1_epi16(0x3f00);
#define DECL(i) __m512 c##i = _mm512_set1_ps(float(i));
  GEMMA_REPEAT12(DECL)
#undef DECL
  for (int64_t k = 0; k < n; ++k) {
#define STEP(i) c##i = _mm512_dpbf16_ps(c##i, a, b);
    GEMMA_REPEAT12(STEP)
#undef STEP
    __asm__ volatile("" ::: "memory");
  }
  __m512 s = _mm512_setzero_ps();
#define SUM(i) s = _mm512_add_ps(s, c##i);
  GEMMA_REPEAT12(SUM)
#undef SUM
  alignas(64) float lanes[16];
  _mm512_store_ps(lanes, s);
  return lanes[0] + lanes[15];
}

// vpmaddubsw + vpaddw: the AVX2 int8 kernels' pair (32 multiply-adds per pair). Assembly:
// with intrinsics the compiler hoists the product of loop-invariant inputs out of the loop.
__attribute__((target("avx2"))) float Maddubs256(int64_t n) {
  __m256i a = _mm256_set1_epi8(3), b = _mm256_set1_epi8(-2);
  __m256i c0 = _mm256_setzero_si256(), c1 = c0, c2 = c0, c3 = c0, c4 = c0, c5 = c0;
  for (int64_t k = 0; k < n; ++k) {
    // 12 products per iteration, as in the other loops: two rounds of six.
    __m256i t0, t1, t2, t3, t4, t5;
    __asm__ volatile(
        "vpmaddubsw %[b], %[a], %[t0]\n\t"
        "vpmaddubsw %[b], %[a], %[t1]\n\t"
        "vpmaddubsw %[b], %[a], %[t2]\n\t"
        "vpmaddubsw %[b], %[a], %[t3]\n\t"
        "vpmaddubsw %[b], %[a], %[t4]\n\t"
        "vpmaddubsw %[b], %[a], %[t5]\n\t"
        "vpaddw %[t0], %[c0], %[c0]\n\t"
        "vpaddw %[t1], %[c1], %[c1]\n\t"
        "vpaddw %[t2], %[c2], %[c2]\n\t"
        "vpaddw %[t3], %[c3], %[c3]\n\t"
        "vpaddw %[t4], %[c4], %[c4]\n\t"
        "vpaddw %[t5], %[c5], %[c5]\n\t"
        "vpmaddubsw %[b], %[a], %[t0]\n\t"
        "vpmaddubsw %[b], %[a], %[t1]\n\t"
        "vpmaddubsw %[b], %[a], %[t2]\n\t"
        "vpmaddubsw %[b], %[a], %[t3]\n\t"
        "vpmaddubsw %[b], %[a], %[t4]\n\t"
        "vpmaddubsw %[b], %[a], %[t5]\n\t"
        "vpaddw %[t0], %[c0], %[c0]\n\t"
        "vpaddw %[t1], %[c1], %[c1]\n\t"
        "vpaddw %[t2], %[c2], %[c2]\n\t"
        "vpaddw %[t3], %[c3], %[c3]\n\t"
        "vpaddw %[t4], %[c4], %[c4]\n\t"
        "vpaddw %[t5], %[c5], %[c5]\n\t"
        : [c0] "+x"(c0), [c1] "+x"(c1), [c2] "+x"(c2), [c3] "+x"(c3), [c4] "+x"(c4), [c5] "+x"(c5),
          [t0] "=&x"(t0), [t1] "=&x"(t1), [t2] "=&x"(t2), [t3] "=&x"(t3), [t4] "=&x"(t4),
          [t5] "=&x"(t5)
        : [a] "x"(a), [b] "x"(b));
  }
  __m256i s = _mm256_add_epi16(_mm256_add_epi16(_mm256_add_epi16(c0, c1), c2),
                               _mm256_add_epi16(_mm256_add_epi16(c3, c4), c5));
  return float(_mm256_extract_epi16(s, 0));
}

__attribute__((target("avx2,avxvnni"))) float AvxVnni256(int64_t n) {
  const __m256i a = _mm256_set1_epi8(3), b = _mm256_set1_epi8(-2);
#define DECL(i) __m256i c##i = _mm256_set1_epi32(i);
  GEMMA_REPEAT12(DECL)
#undef DECL
  for (int64_t k = 0; k < n; ++k) {
#define STEP(i) c##i = _mm256_dpbusd_avx_epi32(c##i, a, b);
    GEMMA_REPEAT12(STEP)
#undef STEP
    __asm__ volatile("" ::: "memory");
  }
  __m256i s = _mm256_setzero_si256();
#define SUM(i) s = _mm256_add_epi32(s, c##i);
  GEMMA_REPEAT12(SUM)
#undef SUM
  return float(_mm256_extract_epi32(s, 0));
}

// The EVEX encoding of the 256-bit vpdpbusd (AVX-512 VL + VNNI).
__attribute__((target("avx512f,avx512bw,avx512vl,avx512vnni"))) float Vnni256Evex(int64_t n) {
  const __m256i a = _mm256_set1_epi8(3), b = _mm256_set1_epi8(-2);
#define DECL(i) __m256i c##i = _mm256_set1_epi32(i);
  GEMMA_REPEAT12(DECL)
#undef DECL
  for (int64_t k = 0; k < n; ++k) {
#define STEP(i) c##i = _mm256_dpbusd_epi32(c##i, a, b);
    GEMMA_REPEAT12(STEP)
#undef STEP
    __asm__ volatile("" ::: "memory");
  }
  __m256i s = _mm256_setzero_si256();
#define SUM(i) s = _mm256_add_epi32(s, c##i);
  GEMMA_REPEAT12(SUM)
#undef SUM
  return float(_mm256_extract_epi32(s, 0));
}

__attribute__((target("avx512f,avx512bw,avx512vnni"))) float Vnni512(int64_t n) {
  const __m512i a = _mm512_set1_epi8(3), b = _mm512_set1_epi8(-2);
#define DECL(i) __m512i c##i = _mm512_set1_epi32(i);
  GEMMA_REPEAT12(DECL)
#undef DECL
  for (int64_t k = 0; k < n; ++k) {
#define STEP(i) c##i = _mm512_dpbusd_epi32(c##i, a, b);
    GEMMA_REPEAT12(STEP)
#undef STEP
    __asm__ volatile("" ::: "memory");
  }
  __m512i s = _mm512_setzero_si512();
#define SUM(i) s = _mm512_add_epi32(s, c##i);
  GEMMA_REPEAT12(SUM)
#undef SUM
  alignas(64) int32_t lanes[16];
  _mm512_store_si512(lanes, s);
  return float(lanes[0] + lanes[15]);
}
#undef GEMMA_REPEAT12

// Args: threads. Multiply-adds per loop iteration: 12 instructions x lanes x products.
void BM_Fma256(benchmark::State& state) {
  if (!Cpu().avx2_fma) return state.SkipWithError("no AVX2 + FMA on this CPU");
  RunPeak(state, 12 * 8, Fma256);
}
void BM_Fma512(benchmark::State& state) {
  if (!Cpu().avx512) return state.SkipWithError("no AVX-512 on this CPU");
  RunPeak(state, 12 * 16, Fma512);
}
void BM_Bf16Dot512(benchmark::State& state) {
  if (!Cpu().avx512_bf16) return state.SkipWithError("no AVX-512 BF16 on this CPU");
  RunPeak(state, 12 * 32, Bf16Dot512);
}
void BM_Int8Maddubs256(benchmark::State& state) {
  if (!Cpu().avx2_fma) return state.SkipWithError("no AVX2 on this CPU");
  RunPeak(state, 12 * 32, Maddubs256);
}
void BM_Int8AvxVnni256(benchmark::State& state) {
  if (!Cpu().avx_vnni) return state.SkipWithError("no AVX-VNNI on this CPU");
  RunPeak(state, 12 * 32, AvxVnni256);
}
void BM_Int8Vnni256Evex(benchmark::State& state) {
  if (!Cpu().avx512_vnni) return state.SkipWithError("no AVX-512 VNNI on this CPU");
  RunPeak(state, 12 * 32, Vnni256Evex);
}
void BM_Int8Vnni512(benchmark::State& state) {
  if (!Cpu().avx512_vnni) return state.SkipWithError("no AVX-512 VNNI on this CPU");
  RunPeak(state, 12 * 64, Vnni512);
}
BENCHMARK(BM_Fma256)->Arg(1)->Arg(2)->UseRealTime();
BENCHMARK(BM_Fma512)->Arg(1)->Arg(2)->UseRealTime();
BENCHMARK(BM_Bf16Dot512)->Arg(1)->Arg(2)->UseRealTime();
BENCHMARK(BM_Int8Maddubs256)->Arg(1)->Arg(2)->UseRealTime();
BENCHMARK(BM_Int8AvxVnni256)->Arg(1)->Arg(2)->UseRealTime();
BENCHMARK(BM_Int8Vnni256Evex)->Arg(1)->Arg(2)->UseRealTime();
BENCHMARK(BM_Int8Vnni512)->Arg(1)->Arg(2)->UseRealTime();
#endif  // __x86_64__

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
