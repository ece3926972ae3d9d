// The AVX2 micro-kernel of the Q4_0 integer prefill (kernels/quant/int8_matmul.cc) and its
// panel layouts, in two variants that the tests compare bit for bit
// (tests/kernels/int8_matmul_test.cc): the integer loop in inline assembly (MicroKernel<true>,
// the default) and the same instructions written with intrinsics (MicroKernel<false>, chosen
// with the kCpuInlineAsm feature switched off: GEMMA_DISABLE_CPU_FEATURES=inline_asm).
//
// Why assembly: the tile needs 12 int16 accumulators + 2 weight vectors + 1 product = 15 of the
// 16 ymm registers, with the activations read as vpmaddubsw's memory operand. GCC 12 does not
// find that allocation for the intrinsics. Measured on the compiled code (GCC 12.2 -O3, AVX2
// target, objdump of Int8MatMulRowsQ4_0T<true/false> in int8_matmul.cc.o, the block loop from
// its first to its last vpmaddubsw: 8 groups, 96 vpmaddubsw): the assembly is 219 instructions
// with no stack access; the twin 198 instructions of which 85 are ymm stores and reloads of
// spilled accumulators on the stack. When the assembly was written the intrinsics version ran
// 2x slower (perf annotate of quant_bench's Q4_0_Int8 prefill); the A/B command to repeat that
// on a quiet machine is at Int8MatMulRowsQ4_0T (int8_matmul.cc).
//
// Panels (per 32-value block):
//   weight strip: [8 groups of 4 values][16 rows] bytes (512 B), the 16 rows' d_w (64 B). Q4_0's
//     nibbles are stored as unsigned bytes 0..15; the -8 offset is applied per block through
//     the activations' sums.
//   activation tile: [8 groups][6 tokens] x 4 int8 repeated 8 times (32 B: the vector
//     vpmaddubsw takes, read as its memory operand), the 6 tokens' d_x (24 B) and -8 * (sum of
//     q) (24 B), padded to whole vectors.
//
// Include after hwy/highway.h in a file compiled per target (Highway's "-inl.h" pattern); the
// kernel exists on the x86 targets with AVX2 (HWY_TARGET <= HWY_AVX2) only.
#if defined(GEMMA_KERNELS_X86_INT8_TILE_AVX2_INL_H_) == defined(HWY_TARGET_TOGGLE)
#ifdef GEMMA_KERNELS_X86_INT8_TILE_AVX2_INL_H_
#undef GEMMA_KERNELS_X86_INT8_TILE_AVX2_INL_H_
#else
#define GEMMA_KERNELS_X86_INT8_TILE_AVX2_INL_H_
#endif

#include <cstddef>
#include <cstdint>

#include "hwy/highway.h"
#include "kernels/matmul_blocking.h"

HWY_BEFORE_NAMESPACE();
namespace gemma::HWY_NAMESPACE {
namespace int8_tile_avx2 {
#if HWY_ARCH_X86 && HWY_TARGET <= HWY_AVX2
using matmul_blocking::kMR;

constexpr size_t kNR = 16;     // weight rows per strip (two vectors of 8 int32 lanes)
constexpr size_t kGroups = 8;  // groups of 4 values in a 32-value block
constexpr size_t kStripBlockBytes = kGroups * kNR * 4 + kNR * sizeof(float);
constexpr size_t kTileScales = kGroups * kMR * 32;                  // offset of the d_x
constexpr size_t kTileOffsets = kTileScales + kMR * sizeof(float);  // of -8 * sum q
constexpr size_t kTileBlockBytes = (kTileOffsets + kMR * sizeof(int32_t) + 31) / 32 * 32;
static_assert(kStripBlockBytes % 32 == 0 && kTileBlockBytes % 32 == 0);

// The 12 int16 accumulators of one block: token i's rows 0-7 and 8-15.
struct Sums {
  __m256i s00, s01, s10, s11, s20, s21, s30, s31, s40, s41, s50, s51;
};

// One group (4 values) of the block: w = strip + g * kNR * 4, x = tile + g * kMR * 32.
HWY_INLINE void GroupAsm(const uint8_t* w, const uint8_t* x, Sums& s) {
  __m256i w0, w1, t;
  asm("vmovdqu (%[w]), %[w0]\n\t"
      "vmovdqu 32(%[w]), %[w1]\n\t"
      "vpmaddubsw 0(%[x]), %[w0], %[t]\n\t"
      "vpaddw %[t], %[s00], %[s00]\n\t"
      "vpmaddubsw 0(%[x]), %[w1], %[t]\n\t"
      "vpaddw %[t], %[s01], %[s01]\n\t"
      "vpmaddubsw 32(%[x]), %[w0], %[t]\n\t"
      "vpaddw %[t], %[s10], %[s10]\n\t"
      "vpmaddubsw 32(%[x]), %[w1], %[t]\n\t"
      "vpaddw %[t], %[s11], %[s11]\n\t"
      "vpmaddubsw 64(%[x]), %[w0], %[t]\n\t"
      "vpaddw %[t], %[s20], %[s20]\n\t"
      "vpmaddubsw 64(%[x]), %[w1], %[t]\n\t"
      "vpaddw %[t], %[s21], %[s21]\n\t"
      "vpmaddubsw 96(%[x]), %[w0], %[t]\n\t"
      "vpaddw %[t], %[s30], %[s30]\n\t"
      "vpmaddubsw 96(%[x]), %[w1], %[t]\n\t"
      "vpaddw %[t], %[s31], %[s31]\n\t"
      "vpmaddubsw 128(%[x]), %[w0], %[t]\n\t"
      "vpaddw %[t], %[s40], %[s40]\n\t"
      "vpmaddubsw 128(%[x]), %[w1], %[t]\n\t"
      "vpaddw %[t], %[s41], %[s41]\n\t"
      "vpmaddubsw 160(%[x]), %[w0], %[t]\n\t"
      "vpaddw %[t], %[s50], %[s50]\n\t"
      "vpmaddubsw 160(%[x]), %[w1], %[t]\n\t"
      "vpaddw %[t], %[s51], %[s51]\n\t"
      : [s00] "+x"(s.s00), [s01] "+x"(s.s01), [s10] "+x"(s.s10), [s11] "+x"(s.s11),
        [s20] "+x"(s.s20), [s21] "+x"(s.s21), [s30] "+x"(s.s30), [s31] "+x"(s.s31),
        [s40] "+x"(s.s40), [s41] "+x"(s.s41), [s50] "+x"(s.s50), [s51] "+x"(s.s51), [w0] "=&x"(w0),
        [w1] "=&x"(w1), [t] "=&x"(t)
      : [w] "r"(w), [x] "r"(x)
      : "memory");
}

// The same instructions with intrinsics (the twin the tests compare GroupAsm with).
HWY_INLINE void GroupIntrinsics(const uint8_t* w, const uint8_t* x, Sums& s) {
  const auto load = [](const uint8_t* p) {
    return _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p));
  };
  const __m256i w0 = load(w), w1 = load(w + 32);
  const auto madd = [&](__m256i acc, __m256i wv, size_t at) {
    return _mm256_add_epi16(acc, _mm256_maddubs_epi16(wv, load(x + at)));
  };
  s.s00 = madd(s.s00, w0, 0), s.s01 = madd(s.s01, w1, 0);
  s.s10 = madd(s.s10, w0, 32), s.s11 = madd(s.s11, w1, 32);
  s.s20 = madd(s.s20, w0, 64), s.s21 = madd(s.s21, w1, 64);
  s.s30 = madd(s.s30, w0, 96), s.s31 = madd(s.s31, w1, 96);
  s.s40 = madd(s.s40, w0, 128), s.s41 = madd(s.s41, w1, 128);
  s.s50 = madd(s.s50, w0, 160), s.s51 = madd(s.s51, w1, 160);
}

// c[i * ldc + j] (+)= the tile's products over nb blocks, i < kMR tokens, j < kNR rows.
//
// The tile is 6 tokens x 16 rows in 12 int16 accumulators for one block: per group, two
// weight vectors (8 rows x 4 values each) and each token's 4 values repeated across a vector
// feed vpmaddubsw (unsigned weights x signed activations, pairs summed into int16). The int16
// sums cannot overflow: |pair| <= 2 * 15 * 127 = 3810, and 8 groups add up to 30480. At the
// end of the block, vpmaddwd by ones sums the pairs into int32, the offset is added, and one
// conversion and one FMA apply d_w * d_x to float32 accumulators.
template <bool kAsm>
HWY_INLINE void MicroKernel(const uint8_t* HWY_RESTRICT a, const uint8_t* HWY_RESTRICT b, size_t nb,
                            float* HWY_RESTRICT c, size_t ldc, bool accumulate) {
  if (accumulate) {
    for (size_t i = 0; i < kMR; ++i) hwy::Prefetch(c + i * ldc);
  }
  // The float32 sums live in memory (L1): the registers are full during the integer loop.
  alignas(32) float sums[kMR][kNR] = {};
  const __m256i ones = _mm256_set1_epi16(1);
  for (size_t blk = 0; blk < nb; ++blk, a += kTileBlockBytes, b += kStripBlockBytes) {
    const __m256i zero = _mm256_setzero_si256();
    Sums s{zero, zero, zero, zero, zero, zero, zero, zero, zero, zero, zero, zero};
    for (size_t g = 0; g < kGroups; ++g) {
      if constexpr (kAsm) {
        GroupAsm(b + g * kNR * 4, a + g * kMR * 32, s);
      } else {
        GroupIntrinsics(b + g * kNR * 4, a + g * kMR * 32, s);
      }
    }
    const float* HWY_RESTRICT dx = reinterpret_cast<const float*>(a + kTileScales);
    const int32_t* HWY_RESTRICT offset = reinterpret_cast<const int32_t*>(a + kTileOffsets);
    const float* HWY_RESTRICT dw = reinterpret_cast<const float*>(b + kGroups * kNR * 4);
    const __m256 dw0 = _mm256_load_ps(dw), dw1 = _mm256_load_ps(dw + 8);
    const auto finish = [&](size_t i, __m256i lo, __m256i hi) {
      const __m256 d = _mm256_set1_ps(dx[i]);
      const __m256i o = _mm256_set1_epi32(offset[i]);
      const __m256 ilo = _mm256_cvtepi32_ps(_mm256_add_epi32(_mm256_madd_epi16(lo, ones), o));
      const __m256 ihi = _mm256_cvtepi32_ps(_mm256_add_epi32(_mm256_madd_epi16(hi, ones), o));
      _mm256_store_ps(sums[i],
                      _mm256_fmadd_ps(ilo, _mm256_mul_ps(dw0, d), _mm256_load_ps(sums[i])));
      _mm256_store_ps(sums[i] + 8,
                      _mm256_fmadd_ps(ihi, _mm256_mul_ps(dw1, d), _mm256_load_ps(sums[i] + 8)));
    };
    finish(0, s.s00, s.s01);
    finish(1, s.s10, s.s11);
    finish(2, s.s20, s.s21);
    finish(3, s.s30, s.s31);
    finish(4, s.s40, s.s41);
    finish(5, s.s50, s.s51);
  }
  for (size_t i = 0; i < kMR; ++i) {
    __m256 lo = _mm256_load_ps(sums[i]), hi = _mm256_load_ps(sums[i] + 8);
    if (accumulate) {
      lo = _mm256_add_ps(lo, _mm256_loadu_ps(c + i * ldc));
      hi = _mm256_add_ps(hi, _mm256_loadu_ps(c + i * ldc + 8));
    }
    _mm256_storeu_ps(c + i * ldc, lo);
    _mm256_storeu_ps(c + i * ldc + 8, hi);
  }
}

#endif  // HWY_ARCH_X86 && HWY_TARGET <= HWY_AVX2
}  // namespace int8_tile_avx2
}  // namespace gemma::HWY_NAMESPACE
HWY_AFTER_NAMESPACE();

#endif  // GEMMA_KERNELS_X86_INT8_TILE_AVX2_INL_H_
