// AVX-512 VNNI integer decode kernels (int8_matvec_avx512.h). Compiled for AVX-512
// F/BW/DQ/VL + VNNI by the target pragma below whatever the build's -march; only called after
// the CPU check.
//
// Every kernel turns a row's weights into unsigned bytes u (the stored integers, offset where
// they are signed) so that w = s * u + c per block of values, multiplies them with the
// activation bytes by vpdpbusd (exact int32 sums of 4 products per lane), and applies
// s * d_x per block with one conversion and one FMA per 16 lanes. The c terms (Q4_0's -8 d,
// Q8_0's -128 d, Q4_1's m, the K-types' minimums, Q6_K's -32) need only the activations'
// block sums (dsum, sum16), once per block. Four rows go together: independent weight streams
// and accumulator chains, and the activations and scale conversions shared. Every row gets
// the same operations in a group or alone, so a row's result does not depend on how the
// rows are split between threads. Activation layouts: int8_activations.h (q in order, and
// q_pairs, which interleaves two 32-value blocks the way Q4_0's bytes hold them).

#include "kernels/x86/int8_matvec_avx512.h"

#include "base/error.h"

#if defined(__x86_64__)
#include <immintrin.h>

#include <cstdint>

#include "kernels/quant/blocks.h"

#if defined(__clang__)
#pragma clang attribute push(                                                                    \
    __attribute__((target("avx512f,avx512bw,avx512dq,avx512vl,avx512vnni,avx2,fma,f16c,bmi2"))), \
    apply_to = function)
#else
#pragma GCC push_options
#pragma GCC target("avx512f,avx512bw,avx512dq,avx512vl,avx512vnni,avx2,fma,f16c,bmi2")
// GCC 12's AVX-512 intrinsics start from a self-initialized "undefined" vector and warn
// about it wherever they are inlined (GCC bug 105593, fixed in GCC 13).
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif

#include "kernels/x86/int8_blocks_avx512-inl.h"

namespace gemma::x86 {
namespace {

using quant::Int8Activations;
using namespace int8_blocks;  // NOLINT(build/namespaces)

// How far ahead the kernels prefetch: the rows two groups of 4 ahead, at the offset being
// read. Rows are short (1-2 KiB at 2048 columns), too short for the hardware prefetchers to
// ramp up on each; one group ahead left Q4_0 / Q8_0 decode at ~22 GB/s on 2 Zen 5 threads,
// two groups gave 27-29 (quant_bench *_Dram, a busy machine), none at all 10-14.
constexpr size_t kPrefetchRows = 8;

// ---------------------------------------------------------------------------------------
// 32-value block types (decoding in int8_blocks_avx512-inl.h), two blocks at a time.

// Row i's scale in each product lane of a pair whose 8 scales are [rows 0-3 of block b, rows
// 0-3 of b + 1] in lanes first .. first + 7: blocks b, b + 1 are lanes first + i, first + i + 4.
template <class T>
inline __m512i PairScaleIndex(int i, int first) {
  const int b0 = first + i, b1 = first + i + 4;
  return T::kNatural
             ? Concat(_mm256_set1_epi32(b0), _mm256_set1_epi32(b1))
             : _mm512_setr_epi32(b0, b0, b0, b0, b1, b1, b1, b1, b0, b0, b0, b0, b1, b1, b1, b1);
}

// Pair p of rows w[0 .. kRows) into acc[] and bias (lanes i and i + 4 are row i's c terms).
template <class T, int kRows>
inline void PairStep(const uint8_t* const w[4], size_t p, size_t prefetch_distance,
                     const Int8Activations& a, const __m512i* index, __m512* acc, __m256& bias) {
  const size_t off = 2 * p * T::kBytes;
  const __m256 dw = Halves8(w, off + T::kScaleAt, off + T::kBytes + T::kScaleAt);
  const __m512 scale = _mm512_castps256_ps512(_mm256_mul_ps(dw, _mm256_loadu_ps(a.d4 + 8 * p)));
  const __m256 c = T::kHasMin ? Halves8(w, off + T::kMinAt, off + T::kBytes + T::kMinAt)
                              : _mm256_mul_ps(dw, _mm256_set1_ps(T::kOffset));
  bias = _mm256_fmadd_ps(c, _mm256_loadu_ps(a.dsum4 + 8 * p), bias);
  const __m512i x = Load512(T::kNatural ? a.q + 64 * p : a.q_pairs + 64 * p);
#pragma GCC unroll 4
  for (int i = 0; i < kRows; ++i) {
    // Rows kPrefetchRows ahead at the same offset.
    _mm_prefetch(reinterpret_cast<const char*>(w[i] + prefetch_distance + off), _MM_HINT_T0);
    _mm_prefetch(reinterpret_cast<const char*>(w[i] + prefetch_distance + off + 2 * T::kBytes - 1),
                 _MM_HINT_T0);
    const __m512i prod = _mm512_dpbusd_epi32(_mm512_setzero_si512(), T::Values(w[i] + off), x);
    acc[i] =
        _mm512_fmadd_ps(_mm512_cvtepi32_ps(prod), _mm512_permutexvar_ps(index[i], scale), acc[i]);
  }
}

// Rows w[0 .. kRows) into y[0 .. kRows); with kRows == 1, w[] holds the row four times (the
// other lanes are computed and unused), so a row gets the same operations either way.
template <class T, int kRows>
inline void PairGroup(const uint8_t* const w[4], size_t blocks, size_t prefetch_distance,
                      const Int8Activations& a, float* y) {
  __m512i index[kRows];
  for (int i = 0; i < kRows; ++i) index[i] = PairScaleIndex<T>(i, 0);
  __m512 acc[kRows];
  for (int i = 0; i < kRows; ++i) acc[i] = _mm512_setzero_ps();
  __m256 bias = _mm256_setzero_ps();  // the c terms: lanes i and i + 4 are row i's
  for (size_t p = 0; p < blocks / 2; ++p) {
    PairStep<T, kRows>(w, p, prefetch_distance, a, index, acc, bias);
  }
  PairFinish<T>(w, kRows, blocks, a, acc, bias, y);
}

// Q8_0, one row at a time, four blocks (136 bytes: scale, 32 values, scale, ...) per step, the
// same arithmetic as PairGroup<BlockQ8_0> pair by pair (so the batched kernels, which unpack
// pairs, still give each row the same bits). Two changes from PairGroup, both measured with
// quant_bench QuantMatVecInt8/Q8_0_L2 and _Dram (Zen 5, 2 vCPUs, quiet machine):
//  - One row at a time, so each thread reads its rows as one sequential stream, prefetched
//    kQ8PrefetchRows rows ahead. Four rows at a time (four streams 2 KiB apart, prefetched two
//    groups ahead) left the 131072 x 2048 product at 10-12 ms (24-28 GB/s) with every
//    prefetch distance (4-64 rows) and hint tried; one stream: 7.3-8.0 ms (36-39 GB/s).
//    Prefetch distance for one stream: 1 row 10.3-11.7 ms, 2 rows 8.7-9.0, 4 rows 7.3-8.0,
//    8 rows 8.0-9.1.
//  - Fewer instructions per block: PairGroup gathers each pair's float16 scales with scalar
//    loads, shifts and ors, and each block's values with two 32-byte loads and an insert.
//    Here the row's 136 bytes come in as two 64-byte loads and one of 8 bytes, and word
//    permutes (vpermt2w; every field of the blocks starts at an even offset) pick out the
//    values (two permutes) and the four scales (one, converted together). In L2 (256 x 2048)
//    with four rows per group this took 7.5 us against PairGroup's 7.7-8.4; one row at a
//    time costs 9.4-10 us there, still under the time the row takes to arrive from DRAM.
constexpr size_t kQ8PrefetchRows = 4;

// Words of the 64-byte vectors at +0 (a), +64 (b) and +128 (c; its words 0-3 only): vpermt2w
// takes words 0-31 from its first source and 32-63 from its second.
struct Q8Quad {
  // Blocks b, b + 1's values (bytes 2-33, 36-67) from a and b.
  static __m512i ValuesIndex01() {
    alignas(64) int16_t idx[32];
    for (int j = 0; j < 16; ++j) idx[j] = static_cast<int16_t>(1 + j);
    for (int j = 0; j < 16; ++j) idx[16 + j] = static_cast<int16_t>(18 + j);  // 32, 33 = b's 0, 1
    return _mm512_load_si512(idx);
  }
  // Blocks b + 2, b + 3's values (bytes 70-101, 104-135) from b and c.
  static __m512i ValuesIndex23() {
    alignas(64) int16_t idx[32];
    for (int j = 0; j < 16; ++j) idx[j] = static_cast<int16_t>(3 + j);
    for (int j = 0; j < 16; ++j) idx[16 + j] = static_cast<int16_t>(j < 12 ? 20 + j : 32 + j - 12);
    return _mm512_load_si512(idx);
  }
  // The four scales (bytes 0, 34, 68, 102) in words 4k .. 4k + 3 for block b + k: the layout
  // of the activations' d4 (the row's scale in the lanes of all four rows of a group).
  static __m512i ScaleIndex() {
    alignas(64) int16_t idx[32] = {};
    static constexpr int16_t kWord[4] = {0, 17, 32 + 2, 32 + 19};
    for (int k = 0; k < 4; ++k) {
      for (int i = 0; i < 4; ++i) idx[4 * k + i] = kWord[k];
    }
    return _mm512_load_si512(idx);
  }
};

// y[0] for row w[0]; w[] holds the row four times (PairStep and PairFinish read four rows).
inline void Q8Row(const uint8_t* const w[4], size_t blocks, size_t prefetch_distance,
                  const Int8Activations& a, float* y) {
  using T = BlockQ8_0;
  constexpr size_t kQuadBytes = 4 * T::kBytes;
  const __m512i values01 = Q8Quad::ValuesIndex01(), values23 = Q8Quad::ValuesIndex23(),
                scale_words = Q8Quad::ScaleIndex(),
                sign = _mm512_set1_epi8(static_cast<char>(0x80));
  const __m512i index01[1] = {PairScaleIndex<T>(0, 0)}, index23 = PairScaleIndex<T>(0, 8);
  __m512 acc[1] = {_mm512_setzero_ps()};
  __m256 bias = _mm256_setzero_ps();  // the c terms: lanes 0 and 4 are the row's
  const size_t quads = blocks / 4;
  for (size_t q = 0; q < quads; ++q) {
    const uint8_t* p = w[0] + q * kQuadBytes;
    // The (up to) three lines of the quad kQ8PrefetchRows rows ahead.
    _mm_prefetch(reinterpret_cast<const char*>(p + prefetch_distance), _MM_HINT_T0);
    _mm_prefetch(reinterpret_cast<const char*>(p + prefetch_distance + 64), _MM_HINT_T0);
    _mm_prefetch(reinterpret_cast<const char*>(p + prefetch_distance + kQuadBytes - 1),
                 _MM_HINT_T0);
    const __m512i va = Load512(p), vb = Load512(p + 64);
    const __m512i vc =
        _mm512_castsi128_si512(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(p + 128)));
    // Word 4k + i: the scale of block b + k.
    const __m512i halves = _mm512_permutex2var_epi16(va, scale_words, vb);
    const __m512 dw = _mm512_cvtph_ps(_mm512_castsi512_si256(halves));
    const __m512 scale = _mm512_mul_ps(dw, _mm512_loadu_ps(a.d4 + 16 * q));
    const __m512 c = _mm512_mul_ps(dw, _mm512_set1_ps(T::kOffset));
    // Pair by pair, as PairStep adds them.
    bias = _mm256_fmadd_ps(_mm512_castps512_ps256(c), _mm256_loadu_ps(a.dsum4 + 16 * q), bias);
    bias =
        _mm256_fmadd_ps(_mm512_extractf32x8_ps(c, 1), _mm256_loadu_ps(a.dsum4 + 16 * q + 8), bias);
    const __m512i u01 = _mm512_xor_si512(_mm512_permutex2var_epi16(va, values01, vb), sign);
    const __m512i u23 = _mm512_xor_si512(_mm512_permutex2var_epi16(vb, values23, vc), sign);
    const __m512i prod01 = _mm512_dpbusd_epi32(_mm512_setzero_si512(), u01, Load512(a.q + 128 * q));
    acc[0] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(prod01), _mm512_permutexvar_ps(index01[0], scale),
                             acc[0]);
    const __m512i prod23 =
        _mm512_dpbusd_epi32(_mm512_setzero_si512(), u23, Load512(a.q + 128 * q + 64));
    acc[0] =
        _mm512_fmadd_ps(_mm512_cvtepi32_ps(prod23), _mm512_permutexvar_ps(index23, scale), acc[0]);
  }
  if (blocks % 4 >= 2) PairStep<T, 1>(w, 2 * quads, prefetch_distance, a, index01, acc, bias);
  PairFinish<T>(w, 1, blocks, a, acc, bias, y);
}

void Q8Rows(const WeightMatrix& w, const Int8Activations& a, float* y, size_t row_begin,
            size_t row_end) {
  for (size_t r = row_begin; r < row_end; ++r) {
    const uint8_t* row = reinterpret_cast<const uint8_t*>(w.row(r));
    const uint8_t* rows[4] = {row, row, row, row};
    Q8Row(rows, w.cols / 32, kQ8PrefetchRows * w.row_bytes, a, y + r);
  }
}

template <class T>
void PairRows(const WeightMatrix& w, const Int8Activations& a, float* y, size_t row_begin,
              size_t row_end) {
  const size_t blocks = w.cols / 32;
  const auto row = [&](size_t r) { return reinterpret_cast<const uint8_t*>(w.row(r)); };
  size_t r = row_begin;
  for (; r + 4 <= row_end; r += 4) {
    const uint8_t* rows[4] = {row(r), row(r + 1), row(r + 2), row(r + 3)};
    PairGroup<T, 4>(rows, blocks, kPrefetchRows * w.row_bytes, a, y + r);
  }
  for (; r < row_end; ++r) {
    const uint8_t* rows[4] = {row(r), row(r), row(r), row(r)};
    PairGroup<T, 1>(rows, blocks, w.row_bytes, a, y + r);
  }
}

// ---------------------------------------------------------------------------------------
// K types: 256-value super-blocks (decoding in int8_blocks_avx512-inl.h).

// Q4_K and Q5_K: value = d * sc_j * u - dmin * m_j in sub-block j (32 values), u the 4-bit
// nibble plus, for Q5_K, 16 times bit j of the value's qh byte.
template <bool kFiveBits>
struct KernelK4 {
  static constexpr size_t kBytes = kFiveBits ? sizeof(quant::BlockQ5_K) : sizeof(quant::BlockQ4_K);
  static constexpr bool kK4Order = true;
  // acc += the block's scaled products; mins += dmin * m_j * dsum_j.
  static void Dot(const uint8_t* blk, const SuperBlockX& sx, const Int8Activations& a, size_t sb,
                  __m512& acc, __m256& mins) {
    uint8_t sc[8], m[8];
    quant::UnpackScalesMinsK4(blk + 4, sc, m);
    const float d = HalfToFloat(U16(blk)), dmin = HalfToFloat(U16(blk + 2));
    const __m256 scale = _mm256_mul_ps(_mm256_mul_ps(BytesToFloats(sc), _mm256_set1_ps(d)),
                                       _mm256_loadu_ps(a.d + 8 * sb));
    mins = _mm256_fmadd_ps(_mm256_mul_ps(BytesToFloats(m), _mm256_set1_ps(dmin)),
                           _mm256_loadu_ps(a.dsum + 8 * sb), mins);
    __m512i u[4];  // sub-blocks [0 | 2], [1 | 3], [4 | 6], [5 | 7]
    K4Values<kFiveBits>(blk, u);
    // Sub-block scales for each product's lanes: [s0 x8 | s2 x8], [s1 | s3], [s4 | s6], [s5 | s7].
    const __m512 scale512 = _mm512_castps256_ps512(scale);
    static const int kLo[4] = {0, 1, 4, 5}, kHi[4] = {2, 3, 6, 7};
    for (int k = 0; k < 4; ++k) {
      const __m512i prod = _mm512_dpbusd_epi32(_mm512_setzero_si512(), u[k], sx.x[k]);
      const __m512 s = _mm512_permutexvar_ps(
          Concat(_mm256_set1_epi32(kLo[k]), _mm256_set1_epi32(kHi[k])), scale512);
      acc = _mm512_fmadd_ps(_mm512_cvtepi32_ps(prod), s, acc);
    }
  }
  static float Finish(__m512 acc, __m256 mins) { return FinishK4(acc, mins); }
};

// Q6_K: value = d * sc_s * (u - 32) in 16-value sub-block s, u 6-bit (ggml's layout: byte l
// of each half's ql / qh gives values l, l + 32, l + 64, l + 96).
struct KernelQ6_K {
  static constexpr size_t kBytes = sizeof(quant::BlockQ6_K);
  static constexpr bool kK4Order = false;
  static void Dot(const uint8_t* blk, const SuperBlockX& sx, const Int8Activations& a, size_t sb,
                  __m512& acc, __m256& offset) {
    const float d = HalfToFloat(U16(blk + 208));
    const __m128i sc8 = Load128(blk + 192);
    const __m512 sc = _mm512_mul_ps(_mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(sc8)),
                                    _mm512_set1_ps(d));  // 16 sub-block scales
    const __m256 dx = _mm256_loadu_ps(a.d + 8 * sb);
    // The -32 offsets: per 32-value block, sum_s sc_s * (sum of q over s), times d * dx.
    const __m256i sums = _mm256_madd_epi16(_mm256_cvtepi8_epi16(sc8), Load256(a.sum16 + 16 * sb));
    offset =
        _mm256_fmadd_ps(_mm256_cvtepi32_ps(sums), _mm256_mul_ps(dx, _mm256_set1_ps(d)), offset);
    const __m512 dx512 = _mm512_castps256_ps512(dx);
    __m512i u[4];
    Q6Values(blk, u);
    for (int chunk = 0; chunk < 4; ++chunk) {
      // 64 values: sub-blocks 4 chunk .. + 3, blocks 2 chunk, + 1
      const __m512i prod = _mm512_dpbusd_epi32(_mm512_setzero_si512(), u[chunk], sx.x[chunk]);
      const int s0 = 4 * chunk, b0 = 2 * chunk;
      const __m512 s = _mm512_mul_ps(
          _mm512_permutexvar_ps(
              _mm512_setr_epi32(s0, s0, s0, s0, s0 + 1, s0 + 1, s0 + 1, s0 + 1, s0 + 2, s0 + 2,
                                s0 + 2, s0 + 2, s0 + 3, s0 + 3, s0 + 3, s0 + 3),
              sc),
          _mm512_permutexvar_ps(Concat(_mm256_set1_epi32(b0), _mm256_set1_epi32(b0 + 1)), dx512));
      acc = _mm512_fmadd_ps(_mm512_cvtepi32_ps(prod), s, acc);
    }
  }
  static float Finish(__m512 acc, __m256 offset) { return FinishQ6_K(acc, offset); }
};

template <class K>
void SuperBlockRows(const WeightMatrix& w, const Int8Activations& a, float* y, size_t row_begin,
                    size_t row_end) {
  const size_t blocks = w.cols / 256;
  const auto row = [&](size_t r) { return reinterpret_cast<const uint8_t*>(w.row(r)); };
  const auto group = [&](const uint8_t* const* rows, int n, size_t prefetch_distance, float* out) {
    __m512 acc[4];
    __m256 side[4];
    for (int i = 0; i < n; ++i) acc[i] = _mm512_setzero_ps(), side[i] = _mm256_setzero_ps();
    for (size_t sb = 0; sb < blocks; ++sb) {
      const SuperBlockX sx(a.q + 256 * sb, K::kK4Order);
      for (int i = 0; i < n; ++i) {
        const uint8_t* blk = rows[i] + sb * K::kBytes;
        for (size_t line = 0; line < K::kBytes; line += 64) {
          _mm_prefetch(reinterpret_cast<const char*>(blk + prefetch_distance + line), _MM_HINT_T0);
        }
        K::Dot(blk, sx, a, sb, acc[i], side[i]);
      }
    }
    for (int i = 0; i < n; ++i) out[i] = K::Finish(acc[i], side[i]);
  };
  size_t r = row_begin;
  for (; r + 4 <= row_end; r += 4) {
    const uint8_t* rows[4] = {row(r), row(r + 1), row(r + 2), row(r + 3)};
    group(rows, 4, kPrefetchRows * w.row_bytes, y + r);
  }
  for (; r < row_end; ++r) {
    const uint8_t* rows[1] = {row(r)};
    group(rows, 1, w.row_bytes, y + r);
  }
}

}  // namespace

bool HasInt8MatVecAvx512Vnni(DType dtype) {
  switch (dtype) {
    case DType::kQ8_0:
    case DType::kQ4_0:
    case DType::kQ4_1:
    case DType::kQ5_0:
    case DType::kQ5_1:
    case DType::kQ4_K:
    case DType::kQ5_K:
    case DType::kQ6_K:
      return true;
    default:
      return false;
  }
}

void Int8MatVecRowsAvx512Vnni(const WeightMatrix& w, const quant::Int8Activations& x, float* y,
                              size_t row_begin, size_t row_end) {
  if (row_begin >= row_end) return;
  switch (w.dtype) {
    case DType::kQ8_0:
      return Q8Rows(w, x, y, row_begin, row_end);
    case DType::kQ4_0:
      return PairRows<BlockQ4_0>(w, x, y, row_begin, row_end);
    case DType::kQ4_1:
      return PairRows<BlockQ4_1>(w, x, y, row_begin, row_end);
    case DType::kQ5_0:
      return PairRows<BlockQ5_0>(w, x, y, row_begin, row_end);
    case DType::kQ5_1:
      return PairRows<BlockQ5_1>(w, x, y, row_begin, row_end);
    case DType::kQ4_K:
      return SuperBlockRows<KernelK4<false>>(w, x, y, row_begin, row_end);
    case DType::kQ5_K:
      return SuperBlockRows<KernelK4<true>>(w, x, y, row_begin, row_end);
    case DType::kQ6_K:
      return SuperBlockRows<KernelQ6_K>(w, x, y, row_begin, row_end);
    default:
      Fail(ErrorCode::kInternal, "Int8MatVecRowsAvx512Vnni: no kernel for ", DTypeName(w.dtype));
  }
}

}  // namespace gemma::x86

#if defined(__clang__)
#pragma clang attribute pop
#else
#pragma GCC diagnostic pop
#pragma GCC pop_options
#endif

#else  // !__x86_64__

namespace gemma::x86 {
bool HasInt8MatVecAvx512Vnni(DType) { return false; }
void Int8MatVecRowsAvx512Vnni(const WeightMatrix&, const quant::Int8Activations&, float*, size_t,
                              size_t) {
  Fail(ErrorCode::kInternal, "Int8MatVecRowsAvx512Vnni called on a CPU that is not x86-64");
}
}  // namespace gemma::x86

#endif  // __x86_64__
