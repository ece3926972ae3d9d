// The AVX2 integer decode arithmetic (QuantDot::kInt8) of one block, shared by the single-row
// kernels (quant_matvec.cc) and the batched ones (quant_matvec_batch.cc), which must give each
// row bit for bit the same result. Each kernel is split into Unpack (the weight side: bytes
// to unsigned values, scales; once per block) and Multiply (the products with one row of
// activations, into its accumulators); Dot is the two in a row, as a lone row does it.
//
// x was rounded to int8 per 32 values (x ~= dx[b] * q), so a block's products are integer:
// vpmaddubsw multiplies 32 unsigned weight bytes by 32 signed activation bytes into 16 pair
// sums, vpmaddwd adds pairs into 8 int32 lanes, and one conversion and one FMA per 32 values
// apply d_w * dx[b]. Weight offsets (-8 of Q4_0, -16 of Q5_0, -32 of Q6_K) and minimums
// (Q4_1, Q5_1, Q4_K, Q5_K) are not subtracted from the weights (the weights stay unsigned for
// vpmaddubsw); they are applied once per block through the activation sums (dsum, sum16) into
// a separate bias term. Every pair sum fits int16: |w| <= 63 (Q6_K), 31 (Q5) or 15, |q| <= 127,
// and Q8_0's signed weights go through the sign trick (|w|, q * sign w), at most 2 * 128 * 127.
//
// Include after hwy/highway.h in a file compiled per target (Highway's "-inl.h" pattern);
// the kernels exist on the x86 targets with AVX2 (HWY_TARGET <= HWY_AVX2) only.
#if defined(GEMMA_KERNELS_QUANT_INT8_AVX2_INL_H_) == defined(HWY_TARGET_TOGGLE)
#ifdef GEMMA_KERNELS_QUANT_INT8_AVX2_INL_H_
#undef GEMMA_KERNELS_QUANT_INT8_AVX2_INL_H_
#else
#define GEMMA_KERNELS_QUANT_INT8_AVX2_INL_H_
#endif

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>

#include "hwy/highway.h"
#include "kernels/quant/blocks.h"
#include "kernels/quant/int8_activations.h"

HWY_BEFORE_NAMESPACE();
namespace gemma::HWY_NAMESPACE {
// A namespace of their own: the including files have helpers with some of these names.
namespace int8_avx2 {
#if HWY_ARCH_X86 && HWY_TARGET <= HWY_AVX2
namespace hn = hwy::HWY_NAMESPACE;
using Tag256 = hn::Full256<float>;

HWY_INLINE uint16_t LoadU16(const uint8_t* p) {
  uint16_t v;
  std::memcpy(&v, p, sizeof(v));
  return v;
}
HWY_INLINE __m256i Load256(const void* p) {
  return _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p));
}
HWY_INLINE float Sum8(__m256 v) {
  return hn::GetLane(hn::SumOfLanes(Tag256(), hn::Vec<Tag256>{v}));
}
// sum u[i] * s[i] over 32 byte pairs, in 8 int32 lanes (4 consecutive pairs of values each).
HWY_INLINE __m256i DotU8S8(__m256i u, __m256i s) {
  return _mm256_madd_epi16(_mm256_maddubs_epi16(u, s), _mm256_set1_epi16(1));
}
// Lane `i` of v in every lane.
HWY_INLINE __m256 BroadcastLane(__m256 v, int i) {
  return _mm256_permutevar8x32_ps(v, _mm256_set1_epi32(i));
}
HWY_INLINE __m256 BytesToFloats(const uint8_t* b8) {
  return _mm256_cvtepi32_ps(
      _mm256_cvtepu8_epi32(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(b8))));
}

struct Int8Q8_0 {
  static constexpr size_t kValues = 32, kBytes = sizeof(quant::BlockQ8_0), kRows = 4;
  struct Acc {
    __m256 sum{};
  };
  struct Block {
    __m256i w, abs_w;
    float dw;
  };
  static HWY_INLINE void Unpack(const uint8_t* HWY_RESTRICT blk, const float* HWY_RESTRICT half,
                                Block& u) {
    u.w = Load256(blk + 2);
    u.abs_w = _mm256_sign_epi8(u.w, u.w);
    u.dw = half[LoadU16(blk)];
  }
  static HWY_INLINE void Multiply(const Block& u, const quant::Int8Activations& a, size_t b,
                                  Acc& acc) {
    const __m256i q = Load256(a.q + 32 * b);
    const __m256i p = DotU8S8(u.abs_w, _mm256_sign_epi8(q, u.w));
    const float scale = u.dw * a.d[b];
    acc.sum = _mm256_fmadd_ps(_mm256_cvtepi32_ps(p), _mm256_set1_ps(scale), acc.sum);
  }
  static HWY_INLINE void Dot(const uint8_t* HWY_RESTRICT blk, const quant::Int8Activations& a,
                             size_t b, Acc& acc, const float* HWY_RESTRICT half) {
    Block u;
    Unpack(blk, half, u);
    Multiply(u, a, b, acc);
  }
  static HWY_INLINE float Finish(const Acc& acc) { return Sum8(acc.sum); }
};

// One Q4_0 block (the pair kernel below takes two at a time; this one takes an odd last one).
struct Int8Q4_0 {
  static constexpr size_t kValues = 32, kBytes = sizeof(quant::BlockQ4_0), kRows = 4;
  struct Acc {
    __m256 sum{};
    float offset = 0.0f;  // sum over blocks of d_w * dx * (sum of q): times 8 at the end
  };
  static HWY_INLINE void Dot(const uint8_t* HWY_RESTRICT blk, const quant::Int8Activations& a,
                             size_t b, Acc& acc, const float* HWY_RESTRICT half) {
    // Byte j holds value j (low nibble) and value j + 16 (high nibble): the same 16 bytes in
    // both halves, the upper half shifted by 4, gives the 32 values in order.
    const __m256i both =
        _mm256_broadcastsi128_si256(_mm_loadu_si128(reinterpret_cast<const __m128i*>(blk + 2)));
    const __m256i w = _mm256_and_si256(_mm256_srlv_epi64(both, _mm256_setr_epi64x(0, 0, 4, 4)),
                                       _mm256_set1_epi8(15));
    const __m256i p = DotU8S8(w, Load256(a.q + 32 * b));
    const float dw = half[LoadU16(blk)];
    acc.sum = _mm256_fmadd_ps(_mm256_cvtepi32_ps(p), _mm256_set1_ps(dw * a.d[b]), acc.sum);
    acc.offset = std::fma(dw, a.dsum[b], acc.offset);
  }
  static HWY_INLINE float Finish(const Acc& acc) { return Sum8(acc.sum) - 8.0f * acc.offset; }
};

// The fifth bits of a Q5 block (bit j of the 32-bit word: value j) as 16 or 0 per byte:
// byte i takes qh's byte i / 8 (vpshufb), ORs in every bit but i % 8, and compares with 0xff.
HWY_INLINE __m256i FifthBits32(const uint8_t* qh) {
  uint32_t bits;
  std::memcpy(&bits, qh, sizeof(bits));
  const __m256i bytes =
      _mm256_shuffle_epi8(_mm256_set1_epi32(static_cast<int>(bits)),
                          _mm256_setr_epi64x(0x0000000000000000, 0x0101010101010101,
                                             0x0202020202020202, 0x0303030303030303));
  const __m256i set = _mm256_cmpeq_epi8(
      _mm256_or_si256(bytes, _mm256_set1_epi64x(0x7fbfdfeff7fbfdfe)), _mm256_set1_epi8(-1));
  return _mm256_and_si256(set, _mm256_set1_epi8(16));
}

// Q4_1, Q5_0 and Q5_1 (32-value blocks w = d * u + c, u unsigned: the 4 bits, or 5 with the
// fifth from qh): the products d * dx * sum u q, and c * dx * (sum of q) = c * dsum[b]
// through one scalar FMA per block into `bias` (c = m, the block's float16 minimum, or
// -16 d for Q5_0).
template <size_t kBlockBytes, size_t kQsAt, bool kFifthBit, bool kHasMin>
struct Int8Q32 {
  static constexpr size_t kValues = 32, kBytes = kBlockBytes, kRows = 4;
  struct Acc {
    __m256 sum{};
    float bias = 0.0f;
  };
  struct Block {
    __m256i u;    // the 32 values, unsigned, in order
    float dw, c;  // scale and offset
  };
  static HWY_INLINE void Unpack(const uint8_t* HWY_RESTRICT blk, const float* HWY_RESTRICT half,
                                Block& b) {
    // Byte j holds value j (low nibble) and value j + 16 (high nibble), as in Int8Q4_0.
    const __m256i both =
        _mm256_broadcastsi128_si256(_mm_loadu_si128(reinterpret_cast<const __m128i*>(blk + kQsAt)));
    b.u = _mm256_and_si256(_mm256_srlv_epi64(both, _mm256_setr_epi64x(0, 0, 4, 4)),
                           _mm256_set1_epi8(15));
    if constexpr (kFifthBit) b.u = _mm256_or_si256(b.u, FifthBits32(blk + kQsAt - 4));
    b.dw = half[LoadU16(blk)];
    b.c = kHasMin ? half[LoadU16(blk + 2)] : -16.0f * b.dw;
  }
  static HWY_INLINE void Multiply(const Block& u, const quant::Int8Activations& a, size_t b,
                                  Acc& acc) {
    const __m256i p = DotU8S8(u.u, Load256(a.q + 32 * b));
    acc.sum = _mm256_fmadd_ps(_mm256_cvtepi32_ps(p), _mm256_set1_ps(u.dw * a.d[b]), acc.sum);
    acc.bias = std::fma(u.c, a.dsum[b], acc.bias);
  }
  static HWY_INLINE void Dot(const uint8_t* HWY_RESTRICT blk, const quant::Int8Activations& a,
                             size_t b, Acc& acc, const float* HWY_RESTRICT half) {
    Block u;
    Unpack(blk, half, u);
    Multiply(u, a, b, acc);
  }
  static HWY_INLINE float Finish(const Acc& acc) { return Sum8(acc.sum) + acc.bias; }
};
using Int8Q4_1 = Int8Q32<sizeof(quant::BlockQ4_1), 4, false, true>;
using Int8Q5_0 = Int8Q32<sizeof(quant::BlockQ5_0), 6, true, false>;
using Int8Q5_1 = Int8Q32<sizeof(quant::BlockQ5_1), 8, true, true>;

// Q4_K and Q5_K (kFiveBits: a fifth bit per value from qh, bit 2j of byte l for value l of
// sub-block 2j, bit 2j + 1 for sub-block 2j + 1, ggml's dequantize_row_q5_K).
template <bool kFiveBits>
struct Int8K4 {
  static constexpr size_t kValues = 256, kRows = 2;
  static constexpr size_t kBytes = kFiveBits ? sizeof(quant::BlockQ5_K) : sizeof(quant::BlockQ4_K);
  struct Acc {
    __m256 sum{};
    __m256 mins{};  // dmin * m_j * dx_j * (sum of q over sub-block j)
  };
  struct Block {
    __m256 scales;  // d * sc_j
    __m256 mins;    // dmin * m_j
    __m256i lo[4];  // sub-blocks 2j
    __m256i hi[4];  // sub-blocks 2j + 1
  };
  static HWY_INLINE void Unpack(const uint8_t* HWY_RESTRICT blk, const float* HWY_RESTRICT half,
                                Block& u) {
    const float d = half[LoadU16(blk)];
    const float dmin = half[LoadU16(blk + 2)];
    uint8_t sc[8], m[8];
    quant::UnpackScalesMinsK4(blk + 4, sc, m);
    u.scales = _mm256_mul_ps(BytesToFloats(sc), _mm256_set1_ps(d));
    u.mins = _mm256_mul_ps(BytesToFloats(m), _mm256_set1_ps(dmin));
    const uint8_t* HWY_RESTRICT qs = blk + (kFiveBits ? 48 : 16);
    const __m256i low4 = _mm256_set1_epi8(15);
    __m256i h = kFiveBits ? Load256(blk + 16) : _mm256_setzero_si256();
    const __m256i bit4 = _mm256_set1_epi8(16);
    // 32 bytes give 64 values: low nibbles are sub-block 2j, high nibbles sub-block 2j + 1.
    for (int j = 0; j < 4; ++j) {
      const __m256i v = Load256(qs + 32 * j);
      u.lo[j] = _mm256_and_si256(v, low4);
      u.hi[j] = _mm256_and_si256(_mm256_srli_epi16(v, 4), low4);
      if constexpr (kFiveBits) {
        // Bits 2j and 2j + 1 of each qh byte moved to bit 4 (h is shifted by 2 per j).
        u.lo[j] = _mm256_or_si256(u.lo[j], _mm256_and_si256(_mm256_slli_epi16(h, 4), bit4));
        u.hi[j] = _mm256_or_si256(u.hi[j], _mm256_and_si256(_mm256_slli_epi16(h, 3), bit4));
        h = _mm256_srli_epi16(h, 2);
      }
    }
  }
  static HWY_INLINE void Multiply(const Block& u, const quant::Int8Activations& a, size_t sb,
                                  Acc& acc) {
    const __m256 scale = _mm256_mul_ps(u.scales, _mm256_loadu_ps(a.d + 8 * sb));
    acc.mins = _mm256_fmadd_ps(u.mins, _mm256_loadu_ps(a.dsum + 8 * sb), acc.mins);
    const int8_t* HWY_RESTRICT q = a.q + 256 * sb;
    for (int j = 0; j < 4; ++j) {
      const __m256i p_lo = DotU8S8(u.lo[j], Load256(q + 64 * j));
      const __m256i p_hi = DotU8S8(u.hi[j], Load256(q + 64 * j + 32));
      acc.sum = _mm256_fmadd_ps(_mm256_cvtepi32_ps(p_lo), BroadcastLane(scale, 2 * j), acc.sum);
      acc.sum = _mm256_fmadd_ps(_mm256_cvtepi32_ps(p_hi), BroadcastLane(scale, 2 * j + 1), acc.sum);
    }
  }
  static HWY_INLINE void Dot(const uint8_t* HWY_RESTRICT blk, const quant::Int8Activations& a,
                             size_t sb, Acc& acc, const float* HWY_RESTRICT half) {
    Block u;
    Unpack(blk, half, u);
    Multiply(u, a, sb, acc);
  }
  static HWY_INLINE float Finish(const Acc& acc) { return Sum8(acc.sum) - Sum8(acc.mins); }
};
using Int8Q4_K = Int8K4<false>;
using Int8Q5_K = Int8K4<true>;

struct Int8Q6_K {
  static constexpr size_t kValues = 256, kBytes = sizeof(quant::BlockQ6_K), kRows = 2;
  struct Acc {
    __m256 sum{};
    __m256 offset{};  // the -32 of every value, times 32 at the end
  };
  struct Block {
    __m256i scales16;  // the 16 sub-block scales as int16
    float d;
    __m256i w[8];  // 32-value block b's unsigned 6-bit values
  };
  // 32 unsigned 6-bit values (two 16-value sub-blocks, scales pair p of the block) times q.
  static HWY_INLINE __m256i Dot32(__m256i w, const int8_t* HWY_RESTRICT q, __m256i scales16,
                                  int pair) {
    // [scale 2p x 8 | scale 2p + 1 x 8] as int16: the pair is 32-bit word p of scales16.
    const __m256i pair_word = _mm256_permutevar8x32_epi32(scales16, _mm256_set1_epi32(pair));
    const __m256i spread = _mm256_shuffle_epi8(
        pair_word, _mm256_setr_epi8(0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 2, 3, 2, 3, 2,
                                    3, 2, 3, 2, 3, 2, 3, 2, 3, 2, 3));
    return _mm256_madd_epi16(_mm256_maddubs_epi16(w, Load256(q)), spread);
  }
  static HWY_INLINE void Unpack(const uint8_t* HWY_RESTRICT blk, const float* HWY_RESTRICT half,
                                Block& u) {
    const uint8_t* HWY_RESTRICT ql = blk;
    const uint8_t* HWY_RESTRICT qh = blk + 128;
    u.scales16 = _mm256_cvtepi8_epi16(_mm_loadu_si128(reinterpret_cast<const __m128i*>(blk + 192)));
    u.d = half[LoadU16(blk + 208)];
    const __m256i low4 = _mm256_set1_epi8(15);
    const __m256i bits45 = _mm256_set1_epi8(0x30);
    // Byte l of each half's ql (64 bytes) and qh (32 bytes) gives values l, l + 32, l + 64,
    // l + 96 of the half (ggml's dequantize_row_q6_K).
    for (int n = 0; n < 2; ++n) {
      const __m256i lo = Load256(ql + 64 * n), hi = Load256(ql + 64 * n + 32);
      const __m256i h = Load256(qh + 32 * n);
      u.w[4 * n] = _mm256_or_si256(_mm256_and_si256(lo, low4),
                                   _mm256_and_si256(_mm256_slli_epi16(h, 4), bits45));
      u.w[4 * n + 1] = _mm256_or_si256(_mm256_and_si256(hi, low4),
                                       _mm256_and_si256(_mm256_slli_epi16(h, 2), bits45));
      u.w[4 * n + 2] = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(lo, 4), low4),
                                       _mm256_and_si256(h, bits45));
      u.w[4 * n + 3] = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(hi, 4), low4),
                                       _mm256_and_si256(_mm256_srli_epi16(h, 2), bits45));
    }
  }
  static HWY_INLINE void Multiply(const Block& u, const quant::Int8Activations& a, size_t sb,
                                  Acc& acc) {
    const __m256 ddx = _mm256_mul_ps(_mm256_loadu_ps(a.d + 8 * sb), _mm256_set1_ps(u.d));
    // Offset: sum over sub-blocks s of scale_s * (sum of q over s); int32 lane j covers the
    // two sub-blocks of 32-value block j.
    const __m256i sums = _mm256_madd_epi16(u.scales16, Load256(a.sum16 + 16 * sb));
    acc.offset = _mm256_fmadd_ps(_mm256_cvtepi32_ps(sums), ddx, acc.offset);
    const int8_t* HWY_RESTRICT q = a.q + 256 * sb;
    for (int b = 0; b < 8; ++b) {
      acc.sum = _mm256_fmadd_ps(_mm256_cvtepi32_ps(Dot32(u.w[b], q + 32 * b, u.scales16, b)),
                                BroadcastLane(ddx, b), acc.sum);
    }
  }
  static HWY_INLINE void Dot(const uint8_t* HWY_RESTRICT blk, const quant::Int8Activations& a,
                             size_t sb, Acc& acc, const float* HWY_RESTRICT half) {
    Block u;
    Unpack(blk, half, u);
    Multiply(u, a, sb, acc);
  }
  static HWY_INLINE float Finish(const Acc& acc) {
    return Sum8(acc.sum) - 32.0f * Sum8(acc.offset);
  }
};

// Q4_0, four rows and two blocks at a time (the kernel's notes are at Int8RowsQ4_0 in
// quant_matvec.cc). The eight (row, block) scales go in one vector: lanes i and i + 4 are
// row i's two blocks.
HWY_INLINE uint64_t FourHalves(const uint8_t* const* w, size_t offset) {
  return uint64_t{LoadU16(w[0] + offset)} | uint64_t{LoadU16(w[1] + offset)} << 16 |
         uint64_t{LoadU16(w[2] + offset)} << 32 | uint64_t{LoadU16(w[3] + offset)} << 48;
}
struct Q4_0Pair {
  __m256 dw;      // the float16 scales of blocks b, b + 1 of the four rows
  __m256i lo[4];  // row i's low nibbles: values 0-15 of b, then of b + 1
  __m256i hi[4];  // its high nibbles: values 16-31 of b, then of b + 1
};
// The pair at byte offset `off` of rows w[0 .. 4) (the values of rows [0, kRows) only).
template <int kRows>
HWY_INLINE void UnpackQ4_0Pair(const uint8_t* const w[4], size_t off, Q4_0Pair& u) {
  constexpr size_t kBytes = sizeof(quant::BlockQ4_0);
  u.dw = _mm256_cvtph_ps(_mm_set_epi64x(static_cast<int64_t>(FourHalves(w, off + kBytes)),
                                        static_cast<int64_t>(FourHalves(w, off))));
  const __m256i low4 = _mm256_set1_epi8(15);
  for (int i = 0; i < kRows; ++i) {
    const __m256i v = _mm256_inserti128_si256(
        _mm256_castsi128_si256(_mm_loadu_si128(reinterpret_cast<const __m128i*>(w[i] + off + 2))),
        _mm_loadu_si128(reinterpret_cast<const __m128i*>(w[i] + off + kBytes + 2)), 1);
    u.lo[i] = _mm256_and_si256(v, low4);
    u.hi[i] = _mm256_and_si256(_mm256_srli_epi16(v, 4), low4);
  }
}
// Pair p times the activations (q_pairs, d4, dsum4) into acc[0 .. kRows) and offset (lanes i
// and i + 4: row i).
template <int kRows>
HWY_INLINE void MultiplyQ4_0Pair(const Q4_0Pair& u, const quant::Int8Activations& act, size_t p,
                                 __m256* acc, __m256& offset) {
  const __m256i ones = _mm256_set1_epi16(1);
  const __m256 scale = _mm256_mul_ps(u.dw, _mm256_loadu_ps(act.d4 + 8 * p));
  offset = _mm256_fmadd_ps(u.dw, _mm256_loadu_ps(act.dsum4 + 8 * p), offset);
  const __m256i qa = Load256(act.q_pairs + 64 * p);
  const __m256i qb = Load256(act.q_pairs + 64 * p + 32);
  for (int i = 0; i < kRows; ++i) {
    const __m256i p16 =
        _mm256_add_epi16(_mm256_maddubs_epi16(u.lo[i], qa), _mm256_maddubs_epi16(u.hi[i], qb));
    const __m256 s =
        _mm256_permutevar8x32_ps(scale, _mm256_setr_epi32(i, i, i, i, i + 4, i + 4, i + 4, i + 4));
    acc[i] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(_mm256_madd_epi16(p16, ones)), s, acc[i]);
  }
}
// y[i] for rows w[0 .. rows): their sums, offsets and an odd last block.
HWY_INLINE void FinishQ4_0Rows(const uint8_t* const w[4], int rows, size_t blocks,
                               const quant::Int8Activations& act, const float* HWY_RESTRICT half,
                               const __m256* acc, __m256 offset, float* y) {
  constexpr size_t kBytes = sizeof(quant::BlockQ4_0);
  alignas(32) float offsets[8];
  _mm256_store_ps(offsets, offset);
  for (int i = 0; i < rows; ++i) {
    Int8Q4_0::Acc tail{acc[i], offsets[i] + offsets[i + 4]};
    for (size_t b = blocks / 2 * 2; b < blocks; ++b) {
      Int8Q4_0::Dot(w[i] + b * kBytes, act, b, tail, half);
    }
    y[i] = Int8Q4_0::Finish(tail);
  }
}

#endif  // HWY_ARCH_X86 && HWY_TARGET <= HWY_AVX2
}  // namespace int8_avx2
}  // namespace gemma::HWY_NAMESPACE
HWY_AFTER_NAMESPACE();

#endif  // GEMMA_KERNELS_QUANT_INT8_AVX2_INL_H_
