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
#include <cstring>

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

namespace gemma::x86 {
namespace {

using quant::Int8Activations;

inline uint16_t U16(const uint8_t* p) {
  uint16_t v;
  std::memcpy(&v, p, sizeof(v));
  return v;
}
inline uint32_t U32(const uint8_t* p) {
  uint32_t v;
  std::memcpy(&v, p, sizeof(v));
  return v;
}

inline float HalfToFloat(uint16_t h) { return _cvtsh_ss(h); }

// How far ahead the kernels prefetch: the rows two groups of 4 ahead, at the offset being
// read. Rows are short (1-2 KiB at 2048 columns), too short for the hardware prefetchers to
// ramp up on each; one group ahead left Q4_0 / Q8_0 decode at ~22 GB/s on 2 Zen 5 threads,
// two groups gave 27-29 (quant_bench *_Dram, a busy machine), none at all 10-14.
constexpr size_t kPrefetchRows = 8;

inline float HorizontalSum(__m256 v) {
  __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  s = _mm_add_ss(s, _mm_movehdup_ps(s));
  return _mm_cvtss_f32(s);
}
inline float HorizontalSum(__m512 v) {
  return HorizontalSum(_mm256_add_ps(_mm512_castps512_ps256(v), _mm512_extractf32x8_ps(v, 1)));
}
inline int32_t HorizontalSum(__m256i v) {
  __m128i s = _mm_add_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
  s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0x4e));
  s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0xb1));
  return _mm_cvtsi128_si32(s);
}

inline __m512i Load512(const void* p) { return _mm512_loadu_si512(p); }
inline __m256i Load256(const void* p) {
  return _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p));
}
inline __m128i Load128(const void* p) {
  return _mm_loadu_si128(reinterpret_cast<const __m128i*>(p));
}
inline __m512i Concat(__m256i lo, __m256i hi) {
  return _mm512_inserti64x4(_mm512_castsi256_si512(lo), hi, 1);
}

// The float16 values at offsets o0 and o1 of four rows, as [r0 r1 r2 r3 @o0, r0 r1 r2 r3 @o1].
inline __m256 Halves8(const uint8_t* const* w, size_t o0, size_t o1) {
  const auto four = [&](size_t o) {
    return uint64_t{U16(w[0] + o)} | uint64_t{U16(w[1] + o)} << 16 | uint64_t{U16(w[2] + o)} << 32 |
           uint64_t{U16(w[3] + o)} << 48;
  };
  return _mm256_cvtph_ps(
      _mm_set_epi64x(static_cast<int64_t>(four(o1)), static_cast<int64_t>(four(o0))));
}

// ---------------------------------------------------------------------------------------
// 32-value block types, two blocks (a pair) at a time.
//
// Values(pair) gives the pair's 64 unsigned values in the order of the activations it is
// multiplied with: q (natural order: block b, then b + 1) for Q8_0, q_pairs (b's values 0-15,
// b + 1's 0-15, b's 16-31, b + 1's 16-31) for the nibble types, whose 16 bytes hold values j
// and j + 16. Values1(block) gives one block's 32 values in natural order (an odd last block).
// The block is s * u + c with s the float16 at kScaleAt, and c = kOffset * s, or the float16
// at kMinAt when kHasMin.

// The 32 nibbles of 16 bytes, in natural order: byte j -> values j (low) and j + 16 (high).
inline __m256i Nibbles32(const uint8_t* qs) {
  const __m128i v = Load128(qs);
  const __m128i low4 = _mm_set1_epi8(15);
  return _mm256_inserti128_si256(_mm256_castsi128_si256(_mm_and_si128(v, low4)),
                                 _mm_and_si128(_mm_srli_epi16(v, 4), low4), 1);
}
// Two blocks' nibbles in q_pairs order.
inline __m512i NibblePairs(const uint8_t* qs0, const uint8_t* qs1) {
  const __m256i v = _mm256_inserti128_si256(_mm256_castsi128_si256(Load128(qs0)), Load128(qs1), 1);
  return _mm512_and_si512(Concat(v, _mm256_srli_epi16(v, 4)), _mm512_set1_epi8(15));
}
// The fifth bits of two Q5 blocks (32 bits each: bit j for value j) as a q_pairs-order mask.
inline __mmask64 HighBitPairs(uint32_t h0, uint32_t h1) {
  return (uint64_t{h0 & 0xffff}) | (uint64_t{h1 & 0xffff} << 16) | (uint64_t{h0 >> 16} << 32) |
         (uint64_t{h1 >> 16} << 48);
}

struct BlockQ8_0 {
  static constexpr size_t kBytes = sizeof(quant::BlockQ8_0), kScaleAt = 0, kMinAt = 0;
  static constexpr bool kNatural = true, kHasMin = false;
  static constexpr float kOffset = -128.0f;
  static __m512i Values(const uint8_t* b) {
    return _mm512_xor_si512(Concat(Load256(b + 2), Load256(b + kBytes + 2)),
                            _mm512_set1_epi8(static_cast<char>(0x80)));
  }
  static __m256i Values1(const uint8_t* b) {
    return _mm256_xor_si256(Load256(b + 2), _mm256_set1_epi8(static_cast<char>(0x80)));
  }
};
struct BlockQ4_0 {
  static constexpr size_t kBytes = sizeof(quant::BlockQ4_0), kScaleAt = 0, kMinAt = 0;
  static constexpr bool kNatural = false, kHasMin = false;
  static constexpr float kOffset = -8.0f;
  static __m512i Values(const uint8_t* b) { return NibblePairs(b + 2, b + kBytes + 2); }
  static __m256i Values1(const uint8_t* b) { return Nibbles32(b + 2); }
};
struct BlockQ4_1 {
  static constexpr size_t kBytes = sizeof(quant::BlockQ4_1), kScaleAt = 0, kMinAt = 2;
  static constexpr bool kNatural = false, kHasMin = true;
  static constexpr float kOffset = 0.0f;
  static __m512i Values(const uint8_t* b) { return NibblePairs(b + 4, b + kBytes + 4); }
  static __m256i Values1(const uint8_t* b) { return Nibbles32(b + 4); }
};
struct BlockQ5_0 {
  static constexpr size_t kBytes = sizeof(quant::BlockQ5_0), kScaleAt = 0, kMinAt = 0;
  static constexpr bool kNatural = false, kHasMin = false;
  static constexpr float kOffset = -16.0f;
  static __m512i Values(const uint8_t* b) {
    const __m512i v = NibblePairs(b + 6, b + kBytes + 6);
    return _mm512_or_si512(
        v, _mm512_maskz_set1_epi8(HighBitPairs(U32(b + 2), U32(b + kBytes + 2)), 16));
  }
  static __m256i Values1(const uint8_t* b) {
    return _mm256_or_si256(Nibbles32(b + 6), _mm256_maskz_set1_epi8(U32(b + 2), 16));
  }
};
struct BlockQ5_1 {
  static constexpr size_t kBytes = sizeof(quant::BlockQ5_1), kScaleAt = 0, kMinAt = 2;
  static constexpr bool kNatural = false, kHasMin = true;
  static constexpr float kOffset = 0.0f;
  static __m512i Values(const uint8_t* b) {
    const __m512i v = NibblePairs(b + 8, b + kBytes + 8);
    return _mm512_or_si512(
        v, _mm512_maskz_set1_epi8(HighBitPairs(U32(b + 4), U32(b + kBytes + 4)), 16));
  }
  static __m256i Values1(const uint8_t* b) {
    return _mm256_or_si256(Nibbles32(b + 8), _mm256_maskz_set1_epi8(U32(b + 4), 16));
  }
};

// Rows w[0 .. kRows) into y[0 .. kRows); with kRows == 1, w[] holds the row four times (the
// other lanes are computed and unused), so a row gets the same operations either way.
template <class T, int kRows>
inline void PairGroup(const uint8_t* const w[4], size_t blocks, size_t prefetch_distance,
                      const Int8Activations& a, float* y) {
  const size_t pairs = blocks / 2;
  // Row i's scale in each lane: blocks b, b + 1 are lanes i, i + 4 of the pair's scales.
  __m512i index[kRows];
  for (int i = 0; i < kRows; ++i) {
    index[i] = T::kNatural ? Concat(_mm256_set1_epi32(i), _mm256_set1_epi32(i + 4))
                           : _mm512_setr_epi32(i, i, i, i, i + 4, i + 4, i + 4, i + 4, i, i, i, i,
                                               i + 4, i + 4, i + 4, i + 4);
  }
  __m512 acc[kRows];
  for (int i = 0; i < kRows; ++i) acc[i] = _mm512_setzero_ps();
  __m256 bias = _mm256_setzero_ps();  // the c terms: lanes i and i + 4 are row i's
  for (size_t p = 0; p < pairs; ++p) {
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
      _mm_prefetch(
          reinterpret_cast<const char*>(w[i] + prefetch_distance + off + 2 * T::kBytes - 1),
          _MM_HINT_T0);
      const __m512i prod = _mm512_dpbusd_epi32(_mm512_setzero_si512(), T::Values(w[i] + off), x);
      acc[i] =
          _mm512_fmadd_ps(_mm512_cvtepi32_ps(prod), _mm512_permutexvar_ps(index[i], scale), acc[i]);
    }
  }
  alignas(32) float c_terms[8];
  _mm256_store_ps(c_terms, bias);
  for (int i = 0; i < kRows; ++i) {
    float sum = HorizontalSum(acc[i]) + (c_terms[i] + c_terms[i + 4]);
    if (blocks % 2 != 0) {
      const size_t b = blocks - 1;
      const uint8_t* blk = w[i] + b * T::kBytes;
      const int32_t dot = HorizontalSum(
          _mm256_dpbusd_epi32(_mm256_setzero_si256(), T::Values1(blk), Load256(a.q + 32 * b)));
      const float s = HalfToFloat(U16(blk + T::kScaleAt));
      const float c = T::kHasMin ? HalfToFloat(U16(blk + T::kMinAt)) : T::kOffset * s;
      sum += s * a.d[b] * static_cast<float>(dot) + c * a.dsum[b];
    }
    y[i] = sum;
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
// K types: 256-value super-blocks.

// The activations of one super-block, shared by the rows of a group: Q4_K / Q5_K multiply
// the low nibbles of 32 bytes (sub-block 2j) and the high nibbles (2j + 1) at once, so they
// take sub-blocks [0 | 2], [1 | 3], [4 | 6], [5 | 7] per vector.
struct SuperBlockX {
  __m512i x[4];
  explicit SuperBlockX(const int8_t* q, bool k4_order) {
    const __m512i x0 = Load512(q), x1 = Load512(q + 64), x2 = Load512(q + 128),
                  x3 = Load512(q + 192);
    if (k4_order) {
      x[0] = _mm512_shuffle_i64x2(x0, x1, 0x44);
      x[1] = _mm512_shuffle_i64x2(x0, x1, 0xee);
      x[2] = _mm512_shuffle_i64x2(x2, x3, 0x44);
      x[3] = _mm512_shuffle_i64x2(x2, x3, 0xee);
    } else {
      x[0] = x0, x[1] = x1, x[2] = x2, x[3] = x3;
    }
  }
};

// 64-bit shift counts: `lo` for the first half of a vector, `hi` for the second.
inline __m512i Counts(int lo, int hi) {
  return Concat(_mm256_set1_epi64x(lo), _mm256_set1_epi64x(hi));
}

inline __m256 BytesToFloats(const uint8_t* b8) {
  return _mm256_cvtepi32_ps(
      _mm256_cvtepu8_epi32(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(b8))));
}

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
    const uint8_t* qs = blk + (kFiveBits ? 48 : 16);
    const __m512i low4 = _mm512_set1_epi8(15);
    __m512i u[4];  // sub-blocks [0 | 2], [1 | 3], [4 | 6], [5 | 7]
    for (int h = 0; h < 2; ++h) {
      const __m512i v = Load512(qs + 64 * h);
      u[2 * h] = _mm512_and_si512(v, low4);
      u[2 * h + 1] = _mm512_and_si512(_mm512_srli_epi16(v, 4), low4);
    }
    if (kFiveBits) {
      // Bit j of qh[l] is the fifth bit of value l of sub-block j: moved to bit 4 of each byte
      // by a 64-bit shift per half (bits that cross into the next byte are masked off).
      const __m256i h = Load256(blk + 16);
      const __m512i qh = Concat(h, h);
      const __m512i bit4 = _mm512_set1_epi8(16);
      u[0] = _mm512_or_si512(u[0], _mm512_and_si512(_mm512_sllv_epi64(qh, Counts(4, 2)), bit4));
      u[1] = _mm512_or_si512(u[1], _mm512_and_si512(_mm512_sllv_epi64(qh, Counts(3, 1)), bit4));
      u[2] = _mm512_or_si512(u[2], _mm512_and_si512(_mm512_srlv_epi64(qh, Counts(0, 2)), bit4));
      u[3] = _mm512_or_si512(u[3], _mm512_and_si512(_mm512_srlv_epi64(qh, Counts(1, 3)), bit4));
    }
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
  static float Finish(__m512 acc, __m256 mins) { return HorizontalSum(acc) - HorizontalSum(mins); }
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
    const __m512i low4 = _mm512_set1_epi8(15), bits45 = _mm512_set1_epi8(0x30);
    for (int n = 0; n < 2; ++n) {
      const __m512i ql = Load512(blk + 64 * n);
      const __m256i h = Load256(blk + 128 + 32 * n);
      const __m512i qh = Concat(h, h);
      // Values 0-63 of the half: low nibbles of ql[0..64) with qh bits 0-1 (first 32) and
      // 2-3 (next 32); values 64-127: high nibbles with bits 4-5 and 6-7.
      const __m512i u0 =
          _mm512_or_si512(_mm512_and_si512(ql, low4),
                          _mm512_and_si512(_mm512_sllv_epi64(qh, Counts(4, 2)), bits45));
      const __m512i u1 =
          _mm512_or_si512(_mm512_and_si512(_mm512_srli_epi16(ql, 4), low4),
                          _mm512_and_si512(_mm512_srlv_epi64(qh, Counts(0, 2)), bits45));
      const __m512i u[2] = {u0, u1};
      for (int k = 0; k < 2; ++k) {
        const int chunk = 2 * n + k;  // 64 values: sub-blocks 4 chunk .. + 3, blocks 2 chunk, + 1
        const __m512i prod = _mm512_dpbusd_epi32(_mm512_setzero_si512(), u[k], sx.x[chunk]);
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
  }
  static float Finish(__m512 acc, __m256 offset) {
    return HorizontalSum(acc) - 32.0f * HorizontalSum(offset);
  }
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
      return PairRows<BlockQ8_0>(w, x, y, row_begin, row_end);
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
