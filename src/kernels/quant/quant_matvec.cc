// Decode products with block-quantized weights: y = W x for one token. Decode is bound by
// reading each weight once, so the weights are dequantized in registers, never stored.
// Two arithmetics (QuantDot in kernels/weight_matrix.h, docs/quantization.md):
//
// Float32 activations (QuantMatVecRows, Highway, every target): each block's integers are
// widened to int32 lanes, converted to float and multiplied with x by FMA. A block's scale
// multiplies the block's partial dot product (d * sum q x rather than sum (d q) x: one
// multiply per block instead of per value). Offsets (-8 of Q4_0, -32 of Q6_K) are applied
// to the integers before the conversion, so nothing cancels; Q4_K's minimums use per-32
// sums of x computed once per call.
//
// Int8 activations (QuantMatVecRowsInt8, x86 AVX2/AVX-512 only): integer products with
// vpmaddubsw on x rounded once per call (int8_activations.h); see the comment above the
// Int8 kernels below.
//
// Both process several rows together: independent weight streams for the prefetchers,
// independent accumulator chains for the FMA latency, and the same x in L1 for all of them.
// Every row is computed by the same sequence of operations whether it falls in a group or
// in the tail, so the result of a row does not depend on how rows are split between threads.

#include "kernels/simd_targets.h"
// clang-format off
#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "kernels/quant/quant_matvec.cc"
#include "hwy/foreach_target.h"  // IWYU pragma: keep
// clang-format on
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <type_traits>

#include "base/dtype.h"
#include "hwy/highway.h"
#include "kernels/quant/blocks.h"
#include "kernels/quant/int8_activations.h"
#include "kernels/weight_matrix.h"

#ifndef GEMMA_KERNELS_QUANT_QUANT_MATVEC_ACTIVATIONS_
#define GEMMA_KERNELS_QUANT_QUANT_MATVEC_ACTIVATIONS_
namespace gemma::quant_matvec {
// Every float16 bit pattern as float32 (256 KiB). The integer kernels read one block scale
// per 32 values; a table load costs a fraction of vpinsrw + vcvtph2ps, and only the few
// hundred distinct scales of a matrix are touched, so they stay in L1/L2.
struct HalfTable {
  float values[65536];
  HalfTable() {
    for (uint32_t h = 0; h < 65536; ++h) values[h] = F16ToF32(static_cast<uint16_t>(h));
  }
};
inline const float* HalfToFloatTable() {
  static const HalfTable* table = new HalfTable();  // never freed: used until exit
  return table->values;
}
// The decode kernels split blocks into whole vectors: at most 16 lanes (Q6_K's sub-blocks
// are 16 values). Wider targets use the scalar reference.
constexpr size_t kMaxLanes = 16;

// The activation vector of a decode product, prepared once per call.
struct Activations {
  const float* x = nullptr;     // [cols]
  const float* xsum = nullptr;  // [cols / 32] sums of x per 32 values (Q4_K's minimums)
};
}  // namespace gemma::quant_matvec
#endif

HWY_BEFORE_NAMESPACE();
namespace gemma::HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;
using namespace gemma::quant_matvec;  // NOLINT(build/namespaces)
// Internal linkage: kernels/matmul.cc has helpers of the same names in the same namespace.
namespace {

HWY_INLINE uint16_t LoadU16(const uint8_t* p) {
  uint16_t v;
  std::memcpy(&v, p, sizeof(v));
  return v;
}

// A block scale (float16 bits) as float32: one F16C instruction where available, so the
// conversion costs nothing next to the block's 32 products.
HWY_INLINE float HalfToFloat(uint16_t bits) {
#if HWY_ARCH_X86 && HWY_TARGET <= HWY_AVX2
  return _cvtsh_ss(bits);
#else
  return F16ToF32(bits);
#endif
}

// Kernels for one block of one row: acc += the products of block b with the activations.
// `bias` collects what is subtracted at the end (Q4_K's minimums).

struct KernelQ8_0 {
  using Tag = hn::ScalableTag<float>;
  static constexpr size_t kValues = 32, kBytes = sizeof(quant::BlockQ8_0);
  template <class DF>
  static HWY_INLINE hn::Vec<DF> Dot(DF df, const uint8_t* HWY_RESTRICT blk, const Activations& act,
                                    size_t b, hn::Vec<DF> acc, float&) {
    const float* HWY_RESTRICT x = act.x + b * kValues;
    const hn::RebindToSigned<DF> di;
    const hn::Rebind<int8_t, DF> d8;
    const size_t N = hn::Lanes(df);
    const int8_t* HWY_RESTRICT qs = reinterpret_cast<const int8_t*>(blk + 2);
    auto dot = hn::Zero(df);
    for (size_t k = 0; k < 32; k += N) {
      const auto q = hn::ConvertTo(df, hn::PromoteTo(di, hn::LoadU(d8, qs + k)));
      dot = hn::MulAdd(q, hn::LoadU(df, x + k), dot);
    }
    return hn::MulAdd(hn::Set(df, HalfToFloat(LoadU16(blk))), dot, acc);
  }
};

struct KernelQ4_0 {
  using Tag = hn::ScalableTag<float>;
  static constexpr size_t kValues = 32, kBytes = sizeof(quant::BlockQ4_0);
  template <class DF>
  static HWY_INLINE hn::Vec<DF> Dot(DF df, const uint8_t* HWY_RESTRICT blk, const Activations& act,
                                    size_t b, hn::Vec<DF> acc, float&) {
    const float* HWY_RESTRICT x = act.x + b * kValues;
    const hn::RebindToSigned<DF> di;
    const hn::Rebind<uint8_t, DF> du8;
    const size_t N = hn::Lanes(df);
    const uint8_t* HWY_RESTRICT qs = blk + 2;
    const auto low4 = hn::Set(di, 15);
    const auto eight = hn::Set(di, 8);
    auto dot = hn::Zero(df);
    // Byte j holds value j (low nibble) and value j + 16 (high nibble).
    for (size_t k = 0; k < 16; k += N) {
      const auto v = hn::PromoteTo(di, hn::LoadU(du8, qs + k));
      const auto lo = hn::ConvertTo(df, hn::Sub(hn::And(v, low4), eight));
      const auto hi = hn::ConvertTo(df, hn::Sub(hn::ShiftRight<4>(v), eight));
      dot = hn::MulAdd(lo, hn::LoadU(df, x + k), dot);
      dot = hn::MulAdd(hi, hn::LoadU(df, x + 16 + k), dot);
    }
    return hn::MulAdd(hn::Set(df, HalfToFloat(LoadU16(blk))), dot, acc);
  }
};

struct KernelQ4_K {
  using Tag = hn::ScalableTag<float>;
  static constexpr size_t kValues = 256, kBytes = sizeof(quant::BlockQ4_K);
  template <class DF>
  static HWY_INLINE hn::Vec<DF> Dot(DF df, const uint8_t* HWY_RESTRICT blk, const Activations& act,
                                    size_t b, hn::Vec<DF> acc, float& bias) {
    const float* HWY_RESTRICT x = act.x + b * kValues;
    const float* HWY_RESTRICT xsum = act.xsum + b * (kValues / 32);
    const hn::RebindToSigned<DF> di;
    const hn::Rebind<uint8_t, DF> du8;
    const size_t N = hn::Lanes(df);
    const float d = HalfToFloat(LoadU16(blk));
    const float dmin = HalfToFloat(LoadU16(blk + 2));
    const uint8_t* scales = blk + 4;
    const uint8_t* HWY_RESTRICT qs = blk + 16;
    const auto low4 = hn::Set(di, 15);
    // 64 values per 32 bytes: low nibbles are sub-block 2j, high nibbles sub-block 2j + 1.
    for (int j = 0; j < 4; ++j) {
      uint8_t sc_lo, m_lo, sc_hi, m_hi;
      quant::ScaleMinK4(2 * j, scales, &sc_lo, &m_lo);
      quant::ScaleMinK4(2 * j + 1, scales, &sc_hi, &m_hi);
      const uint8_t* HWY_RESTRICT q = qs + 32 * j;
      const float* HWY_RESTRICT xj = x + 64 * j;
      auto dot_lo = hn::Zero(df), dot_hi = hn::Zero(df);
      for (size_t k = 0; k < 32; k += N) {
        const auto v = hn::PromoteTo(di, hn::LoadU(du8, q + k));
        dot_lo = hn::MulAdd(hn::ConvertTo(df, hn::And(v, low4)), hn::LoadU(df, xj + k), dot_lo);
        dot_hi =
            hn::MulAdd(hn::ConvertTo(df, hn::ShiftRight<4>(v)), hn::LoadU(df, xj + 32 + k), dot_hi);
      }
      acc = hn::MulAdd(hn::Set(df, d * sc_lo), dot_lo, acc);
      acc = hn::MulAdd(hn::Set(df, d * sc_hi), dot_hi, acc);
      // Explicit fma: the same rounding in every inlined copy of this code.
      bias = std::fma(dmin * m_lo, xsum[2 * j], bias);
      bias = std::fma(dmin * m_hi, xsum[2 * j + 1], bias);
    }
    return acc;
  }
};

struct KernelQ6_K {
  using Tag = hn::ScalableTag<float>;
  static constexpr size_t kValues = 256, kBytes = sizeof(quant::BlockQ6_K);
  template <class DF>
  static HWY_INLINE hn::Vec<DF> Dot(DF df, const uint8_t* HWY_RESTRICT blk, const Activations& act,
                                    size_t b, hn::Vec<DF> acc, float&) {
    const float* HWY_RESTRICT x = act.x + b * kValues;
    const hn::RebindToSigned<DF> di;
    const hn::Rebind<uint8_t, DF> du8;
    const size_t N = hn::Lanes(df);
    const uint8_t* HWY_RESTRICT ql = blk;
    const uint8_t* HWY_RESTRICT qh = blk + 128;
    const int8_t* sc = reinterpret_cast<const int8_t*>(blk + 192);
    const float d = HalfToFloat(LoadU16(blk + 208));
    const auto low4 = hn::Set(di, 15);
    const auto bits45 = hn::Set(di, 0x30);
    const auto offset = hn::Set(di, 32);
    // Each half of 128 values: byte l of ql (64 bytes) and qh (32 bytes) gives values l,
    // l + 32, l + 64, l + 96; the scale changes every 16 values of l.
    for (int n = 0; n < 2; ++n) {
      for (int s = 0; s < 2; ++s) {
        auto p1 = hn::Zero(df), p2 = hn::Zero(df), p3 = hn::Zero(df), p4 = hn::Zero(df);
        for (size_t l = 16 * size_t(s); l < 16 * size_t(s) + 16; l += N) {
          const auto a = hn::PromoteTo(di, hn::LoadU(du8, ql + l));
          const auto b = hn::PromoteTo(di, hn::LoadU(du8, ql + 32 + l));
          const auto h = hn::PromoteTo(di, hn::LoadU(du8, qh + l));
          const auto q1 = hn::Or(hn::And(a, low4), hn::And(hn::ShiftLeft<4>(h), bits45));
          const auto q2 = hn::Or(hn::And(b, low4), hn::And(hn::ShiftLeft<2>(h), bits45));
          const auto q3 = hn::Or(hn::ShiftRight<4>(a), hn::And(h, bits45));
          const auto q4 = hn::Or(hn::ShiftRight<4>(b), hn::And(hn::ShiftRight<2>(h), bits45));
          p1 = hn::MulAdd(hn::ConvertTo(df, hn::Sub(q1, offset)), hn::LoadU(df, x + l), p1);
          p2 = hn::MulAdd(hn::ConvertTo(df, hn::Sub(q2, offset)), hn::LoadU(df, x + 32 + l), p2);
          p3 = hn::MulAdd(hn::ConvertTo(df, hn::Sub(q3, offset)), hn::LoadU(df, x + 64 + l), p3);
          p4 = hn::MulAdd(hn::ConvertTo(df, hn::Sub(q4, offset)), hn::LoadU(df, x + 96 + l), p4);
        }
        acc = hn::MulAdd(hn::Set(df, d * static_cast<float>(sc[s + 0])), p1, acc);
        acc = hn::MulAdd(hn::Set(df, d * static_cast<float>(sc[s + 2])), p2, acc);
        acc = hn::MulAdd(hn::Set(df, d * static_cast<float>(sc[s + 4])), p3, acc);
        acc = hn::MulAdd(hn::Set(df, d * static_cast<float>(sc[s + 6])), p4, acc);
      }
      ql += 64;
      qh += 32;
      sc += 8;
      x += 128;
    }
    return acc;
  }
};

using FastKernelQ8_0 = KernelQ8_0;
using FastKernelQ4_0 = KernelQ4_0;
using FastKernelQ4_K = KernelQ4_K;
using FastKernelQ6_K = KernelQ6_K;

#if HWY_ARCH_X86 && HWY_TARGET <= HWY_AVX2
// Integer kernels (QuantDot::kInt8): x was rounded to int8 per 32 values (x ~= dx[b] * q),
// so a block's products are integer: vpmaddubsw multiplies 32 unsigned weight bytes by 32
// signed activation bytes into 16 pair sums, vpmaddwd adds pairs into 8 int32 lanes, and
// one conversion and one FMA per 32 values apply d_w * dx[b]. Weight offsets (-8 of Q4_0,
// -32 of Q6_K) and Q4_K's minimums are not subtracted from the weights (the weights stay
// unsigned for vpmaddubsw); they are applied once per block through the activation sums
// (dsum, sum16) into a separate bias term. Every pair sum fits int16: |w| <= 63 (Q6_K)
// or 15, |q| <= 127, and Q8_0's signed weights go through the sign trick (|w|, q * sign w),
// at most 2 * 128 * 127.
using Tag256 = hn::Full256<float>;

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

struct Int8Q8_0 {
  static constexpr size_t kValues = 32, kBytes = sizeof(quant::BlockQ8_0), kRows = 4;
  struct Acc {
    __m256 sum{};
  };
  static HWY_INLINE void Dot(const uint8_t* HWY_RESTRICT blk, const quant::Int8Activations& a,
                             size_t b, Acc& acc, const float* HWY_RESTRICT half) {
    const __m256i w = Load256(blk + 2);
    const __m256i q = Load256(a.q + 32 * b);
    const __m256i p = DotU8S8(_mm256_sign_epi8(w, w), _mm256_sign_epi8(q, w));
    const float scale = half[LoadU16(blk)] * a.d[b];
    acc.sum = _mm256_fmadd_ps(_mm256_cvtepi32_ps(p), _mm256_set1_ps(scale), acc.sum);
  }
  static HWY_INLINE float Finish(const Acc& acc) { return Sum8(acc.sum); }
};

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

struct Int8Q4_K {
  static constexpr size_t kValues = 256, kBytes = sizeof(quant::BlockQ4_K), kRows = 2;
  struct Acc {
    __m256 sum{};
    __m256 mins{};  // dmin * m_j * dx_j * (sum of q over sub-block j)
  };
  static HWY_INLINE void Dot(const uint8_t* HWY_RESTRICT blk, const quant::Int8Activations& a,
                             size_t sb, Acc& acc, const float* HWY_RESTRICT half) {
    const float d = half[LoadU16(blk)];
    const float dmin = half[LoadU16(blk + 2)];
    uint8_t sc[8], m[8];
    quant::UnpackScalesMinsK4(blk + 4, sc, m);
    const __m256 dx = _mm256_loadu_ps(a.d + 8 * sb);
    const __m256 scale =
        _mm256_mul_ps(_mm256_mul_ps(_mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(
                                        _mm_loadl_epi64(reinterpret_cast<const __m128i*>(sc)))),
                                    _mm256_set1_ps(d)),
                      dx);
    const __m256 mins = _mm256_mul_ps(_mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(
                                          _mm_loadl_epi64(reinterpret_cast<const __m128i*>(m)))),
                                      _mm256_set1_ps(dmin));
    acc.mins = _mm256_fmadd_ps(mins, _mm256_loadu_ps(a.dsum + 8 * sb), acc.mins);
    const uint8_t* HWY_RESTRICT qs = blk + 16;
    const int8_t* HWY_RESTRICT q = a.q + 256 * sb;
    const __m256i low4 = _mm256_set1_epi8(15);
    // 32 bytes give 64 values: low nibbles are sub-block 2j, high nibbles sub-block 2j + 1.
    for (int j = 0; j < 4; ++j) {
      const __m256i v = Load256(qs + 32 * j);
      const __m256i lo = _mm256_and_si256(v, low4);
      const __m256i hi = _mm256_and_si256(_mm256_srli_epi16(v, 4), low4);
      const __m256i p_lo = DotU8S8(lo, Load256(q + 64 * j));
      const __m256i p_hi = DotU8S8(hi, Load256(q + 64 * j + 32));
      acc.sum = _mm256_fmadd_ps(_mm256_cvtepi32_ps(p_lo), BroadcastLane(scale, 2 * j), acc.sum);
      acc.sum = _mm256_fmadd_ps(_mm256_cvtepi32_ps(p_hi), BroadcastLane(scale, 2 * j + 1), acc.sum);
    }
  }
  static HWY_INLINE float Finish(const Acc& acc) { return Sum8(acc.sum) - Sum8(acc.mins); }
};

struct Int8Q6_K {
  static constexpr size_t kValues = 256, kBytes = sizeof(quant::BlockQ6_K), kRows = 2;
  struct Acc {
    __m256 sum{};
    __m256 offset{};  // the -32 of every value, times 32 at the end
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
  static HWY_INLINE void Dot(const uint8_t* HWY_RESTRICT blk, const quant::Int8Activations& a,
                             size_t sb, Acc& acc, const float* HWY_RESTRICT half) {
    const uint8_t* HWY_RESTRICT ql = blk;
    const uint8_t* HWY_RESTRICT qh = blk + 128;
    const __m256i scales16 =
        _mm256_cvtepi8_epi16(_mm_loadu_si128(reinterpret_cast<const __m128i*>(blk + 192)));
    const __m256 ddx =
        _mm256_mul_ps(_mm256_loadu_ps(a.d + 8 * sb), _mm256_set1_ps(half[LoadU16(blk + 208)]));
    // Offset: sum over sub-blocks s of scale_s * (sum of q over s); int32 lane j covers the
    // two sub-blocks of 32-value block j.
    const __m256i sums = _mm256_madd_epi16(scales16, Load256(a.sum16 + 16 * sb));
    acc.offset = _mm256_fmadd_ps(_mm256_cvtepi32_ps(sums), ddx, acc.offset);
    const int8_t* HWY_RESTRICT q = a.q + 256 * sb;
    const __m256i low4 = _mm256_set1_epi8(15);
    const __m256i bits45 = _mm256_set1_epi8(0x30);
    // Byte l of each half's ql (64 bytes) and qh (32 bytes) gives values l, l + 32, l + 64,
    // l + 96 of the half (ggml's dequantize_row_q6_K).
    for (int n = 0; n < 2; ++n) {
      const __m256i lo = Load256(ql + 64 * n), hi = Load256(ql + 64 * n + 32);
      const __m256i h = Load256(qh + 32 * n);
      const __m256i w1 = _mm256_or_si256(_mm256_and_si256(lo, low4),
                                         _mm256_and_si256(_mm256_slli_epi16(h, 4), bits45));
      const __m256i w2 = _mm256_or_si256(_mm256_and_si256(hi, low4),
                                         _mm256_and_si256(_mm256_slli_epi16(h, 2), bits45));
      const __m256i w3 = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(lo, 4), low4),
                                         _mm256_and_si256(h, bits45));
      const __m256i w4 = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(hi, 4), low4),
                                         _mm256_and_si256(_mm256_srli_epi16(h, 2), bits45));
      const int8_t* HWY_RESTRICT qn = q + 128 * n;
      const int b = 4 * n;  // first 32-value block of this half
      acc.sum = _mm256_fmadd_ps(_mm256_cvtepi32_ps(Dot32(w1, qn, scales16, b)),
                                BroadcastLane(ddx, b), acc.sum);
      acc.sum = _mm256_fmadd_ps(_mm256_cvtepi32_ps(Dot32(w2, qn + 32, scales16, b + 1)),
                                BroadcastLane(ddx, b + 1), acc.sum);
      acc.sum = _mm256_fmadd_ps(_mm256_cvtepi32_ps(Dot32(w3, qn + 64, scales16, b + 2)),
                                BroadcastLane(ddx, b + 2), acc.sum);
      acc.sum = _mm256_fmadd_ps(_mm256_cvtepi32_ps(Dot32(w4, qn + 96, scales16, b + 3)),
                                BroadcastLane(ddx, b + 3), acc.sum);
    }
  }
  static HWY_INLINE float Finish(const Acc& acc) {
    return Sum8(acc.sum) - 32.0f * Sum8(acc.offset);
  }
};
#endif  // HWY_ARCH_X86 && HWY_TARGET <= HWY_AVX2

// y[r] for r in [row_begin, row_end).
template <class K>
void MatVecRowsT(const std::byte* data, size_t row_bytes, size_t cols, const Activations& act,
                 float* y, size_t row_begin, size_t row_end) {
  const typename K::Tag df;
  const size_t blocks = cols / K::kValues;
  const auto row_ptr = [&](size_t r) {
    return reinterpret_cast<const uint8_t*>(data + r * row_bytes);
  };
  const auto finish = [&](auto acc, float bias) {
    return hn::GetLane(hn::SumOfLanes(df, acc)) - bias;
  };
  size_t r = row_begin;
  for (; r + 4 <= row_end; r += 4) {
    const uint8_t* HWY_RESTRICT w0 = row_ptr(r);
    const uint8_t* HWY_RESTRICT w1 = row_ptr(r + 1);
    const uint8_t* HWY_RESTRICT w2 = row_ptr(r + 2);
    const uint8_t* HWY_RESTRICT w3 = row_ptr(r + 3);
    auto a0 = hn::Zero(df), a1 = hn::Zero(df), a2 = hn::Zero(df), a3 = hn::Zero(df);
    float b0 = 0.0f, b1 = 0.0f, b2 = 0.0f, b3 = 0.0f;
    for (size_t b = 0; b < blocks; ++b) {
      const size_t off = b * K::kBytes;
      a0 = K::Dot(df, w0 + off, act, b, a0, b0);
      a1 = K::Dot(df, w1 + off, act, b, a1, b1);
      a2 = K::Dot(df, w2 + off, act, b, a2, b2);
      a3 = K::Dot(df, w3 + off, act, b, a3, b3);
    }
    y[r + 0] = finish(a0, b0);
    y[r + 1] = finish(a1, b1);
    y[r + 2] = finish(a2, b2);
    y[r + 3] = finish(a3, b3);
  }
  for (; r < row_end; ++r) {
    const uint8_t* HWY_RESTRICT w0 = row_ptr(r);
    auto a0 = hn::Zero(df);
    float b0 = 0.0f;
    for (size_t b = 0; b < blocks; ++b) a0 = K::Dot(df, w0 + b * K::kBytes, act, b, a0, b0);
    y[r] = finish(a0, b0);
  }
}

// Lanes of this target, so the caller can fall back when a block is not whole vectors.
size_t FloatLanes() { return hn::Lanes(hn::ScalableTag<float>()); }

void MatVecRowsQ8_0(const std::byte* data, size_t row_bytes, size_t cols, const Activations& act,
                    float* y, size_t row_begin, size_t row_end) {
  MatVecRowsT<FastKernelQ8_0>(data, row_bytes, cols, act, y, row_begin, row_end);
}
void MatVecRowsQ4_0(const std::byte* data, size_t row_bytes, size_t cols, const Activations& act,
                    float* y, size_t row_begin, size_t row_end) {
  MatVecRowsT<FastKernelQ4_0>(data, row_bytes, cols, act, y, row_begin, row_end);
}
void MatVecRowsQ4_K(const std::byte* data, size_t row_bytes, size_t cols, const Activations& act,
                    float* y, size_t row_begin, size_t row_end) {
  MatVecRowsT<FastKernelQ4_K>(data, row_bytes, cols, act, y, row_begin, row_end);
}
void MatVecRowsQ6_K(const std::byte* data, size_t row_bytes, size_t cols, const Activations& act,
                    float* y, size_t row_begin, size_t row_end) {
  MatVecRowsT<FastKernelQ6_K>(data, row_bytes, cols, act, y, row_begin, row_end);
}

#if HWY_ARCH_X86 && HWY_TARGET <= HWY_AVX2
// y[r] for r in [row_begin, row_end), K::kRows rows at a time (independent weight streams
// and accumulator chains); a row's result does not depend on its group.
template <class K>
void Int8RowsT(const std::byte* data, size_t row_bytes, size_t cols,
               const quant::Int8Activations& act, float* y, size_t row_begin, size_t row_end) {
  const size_t blocks = cols / K::kValues;
  const float* HWY_RESTRICT half = HalfToFloatTable();
  const auto row_ptr = [&](size_t r) {
    return reinterpret_cast<const uint8_t*>(data + r * row_bytes);
  };
  const size_t prefetch_distance = K::kRows * row_bytes;
  size_t r = row_begin;
  for (; r + K::kRows <= row_end; r += K::kRows) {
    const uint8_t* HWY_RESTRICT w[K::kRows];
    typename K::Acc acc[K::kRows];
    for (size_t i = 0; i < K::kRows; ++i) w[i] = row_ptr(r + i);
    for (size_t b = 0; b < blocks; ++b) {
#pragma GCC unroll 4
      for (size_t i = 0; i < K::kRows; ++i) {
        // The next group's rows at the same offset (see Int8RowsQ4_0).
        for (size_t line = 0; line < K::kBytes; line += 64) {
          _mm_prefetch(
              reinterpret_cast<const char*>(w[i] + prefetch_distance + b * K::kBytes + line),
              _MM_HINT_T0);
        }
        K::Dot(w[i] + b * K::kBytes, act, b, acc[i], half);
      }
    }
    for (size_t i = 0; i < K::kRows; ++i) y[r + i] = K::Finish(acc[i]);
  }
  for (; r < row_end; ++r) {
    const uint8_t* HWY_RESTRICT w0 = row_ptr(r);
    typename K::Acc acc;
    for (size_t b = 0; b < blocks; ++b) K::Dot(w0 + b * K::kBytes, act, b, acc, half);
    y[r] = K::Finish(acc);
  }
}

// Q4_0, four rows and two blocks at a time. Per-block work that does not involve the
// values is done for all eight (row, block) pairs at once: their float16 scales are
// gathered with integer loads into one vector and converted by one vcvtph2ps, multiplied
// by the activation scales (d4), and the offset term is one FMA (dsum4); each row then
// takes its two scales with one vpermps. The two blocks' values share the vector ops:
// low nibbles of both blocks in one register, high nibbles in another (the activations
// are stored in that order, q_pairs), so the products of both blocks need 2 vpmaddubsw,
// 1 vpaddw (pair sums <= 4 * 15 * 127 fit int16), 1 vpmaddwd, 1 conversion and 1 FMA.
HWY_INLINE uint64_t FourHalves(const uint8_t* const* w, size_t offset) {
  return uint64_t{LoadU16(w[0] + offset)} | uint64_t{LoadU16(w[1] + offset)} << 16 |
         uint64_t{LoadU16(w[2] + offset)} << 32 | uint64_t{LoadU16(w[3] + offset)} << 48;
}

// Rows w[0 .. kRows) of a group into y[0 .. kRows): kRows is 4, or 1 for the rows left over,
// with w[] holding that row four times (the lanes of the other three are computed and
// unused), so a row gets the same operations in either case.
template <int kRows>
HWY_INLINE void Int8GroupQ4_0(const uint8_t* const w[4], size_t blocks, size_t prefetch_distance,
                              const quant::Int8Activations& act, const float* HWY_RESTRICT half,
                              float* y) {
  constexpr size_t kBytes = sizeof(quant::BlockQ4_0);
  const size_t pairs = blocks / 2;
  const __m256i low4 = _mm256_set1_epi8(15);
  const __m256i ones = _mm256_set1_epi16(1);
  __m256 acc[kRows] = {};
  __m256 offset = _mm256_setzero_ps();  // lanes i and i + 4: row i
  for (size_t p = 0; p < pairs; ++p) {
    const size_t off = 2 * p * kBytes;
    const __m256 dw =
        _mm256_cvtph_ps(_mm_set_epi64x(static_cast<int64_t>(FourHalves(w, off + kBytes)),
                                       static_cast<int64_t>(FourHalves(w, off))));
    const __m256 scale = _mm256_mul_ps(dw, _mm256_loadu_ps(act.d4 + 8 * p));
    offset = _mm256_fmadd_ps(dw, _mm256_loadu_ps(act.dsum4 + 8 * p), offset);
    const __m256i qa = Load256(act.q_pairs + 64 * p);
    const __m256i qb = Load256(act.q_pairs + 64 * p + 32);
#pragma GCC unroll 4
    for (int i = 0; i < kRows; ++i) {
      // The next group's rows, at the same offset: rows are short (1152 bytes at 2048
      // columns), too short for the hardware prefetchers to ramp up on each of them.
      _mm_prefetch(reinterpret_cast<const char*>(w[i] + prefetch_distance + off), _MM_HINT_T0);
      const __m256i v = _mm256_inserti128_si256(
          _mm256_castsi128_si256(_mm_loadu_si128(reinterpret_cast<const __m128i*>(w[i] + off + 2))),
          _mm_loadu_si128(reinterpret_cast<const __m128i*>(w[i] + off + kBytes + 2)), 1);
      const __m256i lo = _mm256_and_si256(v, low4);
      const __m256i hi = _mm256_and_si256(_mm256_srli_epi16(v, 4), low4);
      const __m256i p16 =
          _mm256_add_epi16(_mm256_maddubs_epi16(lo, qa), _mm256_maddubs_epi16(hi, qb));
      const __m256 s = _mm256_permutevar8x32_ps(
          scale, _mm256_setr_epi32(i, i, i, i, i + 4, i + 4, i + 4, i + 4));
      acc[i] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(_mm256_madd_epi16(p16, ones)), s, acc[i]);
    }
  }
  alignas(32) float offsets[8];
  _mm256_store_ps(offsets, offset);
  for (int i = 0; i < kRows; ++i) {
    Int8Q4_0::Acc tail{acc[i], offsets[i] + offsets[i + 4]};
    for (size_t b = 2 * pairs; b < blocks; ++b) {
      Int8Q4_0::Dot(w[i] + b * kBytes, act, b, tail, half);
    }
    y[i] = Int8Q4_0::Finish(tail);
  }
}

void Int8RowsQ4_0(const std::byte* data, size_t row_bytes, size_t cols,
                  const quant::Int8Activations& act, float* y, size_t row_begin, size_t row_end) {
  const size_t blocks = cols / 32;
  const float* HWY_RESTRICT half = HalfToFloatTable();
  const auto row_ptr = [&](size_t r) {
    return reinterpret_cast<const uint8_t*>(data + r * row_bytes);
  };
  size_t r = row_begin;
  for (; r + 4 <= row_end; r += 4) {
    const uint8_t* w[4] = {row_ptr(r), row_ptr(r + 1), row_ptr(r + 2), row_ptr(r + 3)};
    Int8GroupQ4_0<4>(w, blocks, 4 * row_bytes, act, half, y + r);
  }
  for (; r < row_end; ++r) {
    const uint8_t* w[4] = {row_ptr(r), row_ptr(r), row_ptr(r), row_ptr(r)};
    Int8GroupQ4_0<1>(w, blocks, row_bytes, act, half, y + r);
  }
}

bool HasInt8Kernels() { return true; }
#define GEMMA_INT8_ROWS(name, kernel)                                                        \
  void name(const std::byte* data, size_t row_bytes, size_t cols,                            \
            const quant::Int8Activations& act, float* y, size_t row_begin, size_t row_end) { \
    Int8RowsT<kernel>(data, row_bytes, cols, act, y, row_begin, row_end);                    \
  }
#else
bool HasInt8Kernels() { return false; }
// Never called: HasInt8MatVec is false on this target.
#define GEMMA_INT8_ROWS(name, kernel)                                                        \
  void name(const std::byte*, size_t, size_t, const quant::Int8Activations&, float*, size_t, \
            size_t) {}
GEMMA_INT8_ROWS(Int8RowsQ4_0, Int8Q4_0)
#endif
GEMMA_INT8_ROWS(Int8RowsQ8_0, Int8Q8_0)
GEMMA_INT8_ROWS(Int8RowsQ4_K, Int8Q4_K)
GEMMA_INT8_ROWS(Int8RowsQ6_K, Int8Q6_K)
#undef GEMMA_INT8_ROWS

}  // namespace
}  // namespace gemma::HWY_NAMESPACE
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
#include <vector>

#include "base/error.h"
#include "kernels/cpu_features.h"
#include "kernels/quant/quant_matmul.h"
#include "kernels/quant/quant_matmul_reference.h"
#include "kernels/x86/int8_matvec_avx512.h"

namespace gemma {

HWY_EXPORT(FloatLanes);
HWY_EXPORT(HasInt8Kernels);
HWY_EXPORT(Int8RowsQ8_0);
HWY_EXPORT(Int8RowsQ4_0);
HWY_EXPORT(Int8RowsQ4_K);
HWY_EXPORT(Int8RowsQ6_K);
HWY_EXPORT(MatVecRowsQ8_0);
HWY_EXPORT(MatVecRowsQ4_0);
HWY_EXPORT(MatVecRowsQ4_K);
HWY_EXPORT(MatVecRowsQ6_K);

namespace {

using MatVecFn = void (*)(const std::byte*, size_t, size_t, const quant_matvec::Activations&,
                          float*, size_t, size_t);

// The SIMD decode kernel for `dtype`, or nullptr where only the reference exists.
MatVecFn SimdMatVecFn(DType dtype) {
  if (HWY_DYNAMIC_DISPATCH(FloatLanes)() > quant_matvec::kMaxLanes) return nullptr;
  switch (dtype) {
    case DType::kQ8_0:
      return HWY_DYNAMIC_DISPATCH(MatVecRowsQ8_0);
    case DType::kQ4_0:
      return HWY_DYNAMIC_DISPATCH(MatVecRowsQ4_0);
    case DType::kQ4_K:
      return HWY_DYNAMIC_DISPATCH(MatVecRowsQ4_K);
    case DType::kQ6_K:
      return HWY_DYNAMIC_DISPATCH(MatVecRowsQ6_K);
    default:
      return nullptr;
  }
}

// Sums of x over each 32 values (Q4_K's minimums), in the calling thread's buffer, which
// grows to the widest matrix seen and is then reused (no allocation per call).
void PrepareActivations(const float* x, size_t cols, bool sums, quant_matvec::Activations& act) {
  thread_local std::vector<float> xsum;
  act.x = x;
  if (!sums) return;
  const size_t blocks = cols / 32;
  if (xsum.size() < blocks) xsum.resize(blocks);
  for (size_t b = 0; b < blocks; ++b) {
    float s = 0.0f;
    for (size_t i = 0; i < 32; ++i) s += x[b * 32 + i];
    xsum[b] = s;
  }
  act.xsum = xsum.data();
}

using Int8Fn = void (*)(const std::byte*, size_t, size_t, const quant::Int8Activations&, float*,
                        size_t, size_t);

Int8Fn Int8MatVecFn(DType dtype) {
  if (!HWY_DYNAMIC_DISPATCH(HasInt8Kernels)()) return nullptr;
  switch (dtype) {
    case DType::kQ8_0:
      return HWY_DYNAMIC_DISPATCH(Int8RowsQ8_0);
    case DType::kQ4_0:
      return HWY_DYNAMIC_DISPATCH(Int8RowsQ4_0);
    case DType::kQ4_K:
      return HWY_DYNAMIC_DISPATCH(Int8RowsQ4_K);
    case DType::kQ6_K:
      return HWY_DYNAMIC_DISPATCH(Int8RowsQ6_K);
    default:
      return nullptr;
  }
}

}  // namespace

// Activations stay float32 and weights are dequantized exactly as ggml does (in registers),
// so the products are those of the file's weights (see docs/quantization.md).
void QuantMatVecRows(const WeightMatrix& w, const float* x, float* y, size_t row_begin,
                     size_t row_end) {
  if (row_begin >= row_end) return;
  const MatVecFn fn = SimdMatVecFn(w.dtype);
  if (fn == nullptr) {
    quant::ReferenceMatVecRows(w, x, y, row_begin, row_end);
    return;
  }
  quant_matvec::Activations act;
  PrepareActivations(x, w.cols, w.dtype == DType::kQ4_K, act);
  fn(w.data, w.row_bytes, w.cols, act, y, row_begin, row_end);
}

// The AVX-512 VNNI kernels (kernels/x86/int8_matvec_avx512.h) where the CPU has them and
// the tests have not switched them off.
bool UsesVnni512(DType dtype) {
  return CpuFeatureEnabled(kCpuAvx512Vnni) && x86::HasInt8MatVecAvx512Vnni(dtype);
}

bool HasInt8MatVec(DType dtype) { return UsesVnni512(dtype) || Int8MatVecFn(dtype) != nullptr; }

void QuantMatVecRowsInt8(const WeightMatrix& w, const quant::Int8Activations& x, float* y,
                         size_t row_begin, size_t row_end) {
  if (row_begin >= row_end) return;
  const bool vnni = UsesVnni512(w.dtype);
  const Int8Fn fn = Int8MatVecFn(w.dtype);
  if (!vnni && fn == nullptr) {
    Fail(ErrorCode::kInternal, "QuantMatVecRowsInt8: no integer kernel for ", DTypeName(w.dtype),
         " on this CPU");
  }
  if (x.cols != w.cols) {
    Fail(ErrorCode::kInternal, "QuantMatVecRowsInt8: ", x.cols, " activations for ", w.cols,
         " columns");
  }
  if (vnni) {
    x86::Int8MatVecRowsAvx512Vnni(w, x, y, row_begin, row_end);
  } else {
    fn(w.data, w.row_bytes, w.cols, x, y, row_begin, row_end);
  }
}

}  // namespace gemma
#endif  // HWY_ONCE
