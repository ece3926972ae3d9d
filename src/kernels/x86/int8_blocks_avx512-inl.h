// Block decoding shared by the AVX-512 VNNI integer decode kernels: the single-row kernels
// (int8_matvec_avx512.cc) and the batched ones (int8_matvec_batch_avx512.cc), which must give
// each row bit for bit the same result, so they unpack weights and finish sums with the same
// code. Include it after the including file's AVX-512 VNNI target pragma: the functions have
// internal linkage, so each file compiles its own copy for its own target.
#pragma once

#include <immintrin.h>

#include <cstddef>
#include <cstdint>
#include <cstring>

#include "kernels/quant/blocks.h"
#include "kernels/quant/int8_activations.h"

namespace gemma::x86 {
namespace {
namespace int8_blocks {

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

// The end of PairGroup for rows w[0 .. rows) of a group: y[i] = the horizontal sum of acc[i],
// plus the c terms of row i (lanes i and i + 4 of bias), plus an odd last block.
template <class T>
inline void PairFinish(const uint8_t* const w[4], int rows, size_t blocks,
                       const quant::Int8Activations& a, const __m512* acc, __m256 bias, float* y) {
  alignas(32) float c_terms[8];
  _mm256_store_ps(c_terms, bias);
  for (int i = 0; i < rows; ++i) {
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

// Q4_K / Q5_K: the super-block's 256 values as unsigned bytes, sub-blocks [0 | 2], [1 | 3],
// [4 | 6], [5 | 7] per vector (SuperBlockX's k4 order): the 4-bit nibble plus, for Q5_K, 16
// times bit j of the value's qh byte in sub-block j.
template <bool kFiveBits>
inline void K4Values(const uint8_t* blk, __m512i u[4]) {
  const uint8_t* qs = blk + (kFiveBits ? 48 : 16);
  const __m512i low4 = _mm512_set1_epi8(15);
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
}
inline float FinishK4(__m512 acc, __m256 mins) { return HorizontalSum(acc) - HorizontalSum(mins); }

// Q6_K: the super-block's 256 values u (6 bits, before the -32) as unsigned bytes, 64 in
// natural order per vector (ggml's layout: byte l of each half's ql / qh gives values l,
// l + 32, l + 64, l + 96).
inline void Q6Values(const uint8_t* blk, __m512i u[4]) {
  const __m512i low4 = _mm512_set1_epi8(15), bits45 = _mm512_set1_epi8(0x30);
  for (int n = 0; n < 2; ++n) {
    const __m512i ql = Load512(blk + 64 * n);
    const __m256i h = Load256(blk + 128 + 32 * n);
    const __m512i qh = Concat(h, h);
    // Values 0-63 of the half: low nibbles of ql[0..64) with qh bits 0-1 (first 32) and
    // 2-3 (next 32); values 64-127: high nibbles with bits 4-5 and 6-7.
    u[2 * n] = _mm512_or_si512(_mm512_and_si512(ql, low4),
                               _mm512_and_si512(_mm512_sllv_epi64(qh, Counts(4, 2)), bits45));
    u[2 * n + 1] = _mm512_or_si512(_mm512_and_si512(_mm512_srli_epi16(ql, 4), low4),
                                   _mm512_and_si512(_mm512_srlv_epi64(qh, Counts(0, 2)), bits45));
  }
}
inline float FinishQ6_K(__m512 acc, __m256 offset) {
  return HorizontalSum(acc) - 32.0f * HorizontalSum(offset);
}

}  // namespace int8_blocks
}  // namespace
}  // namespace gemma::x86
