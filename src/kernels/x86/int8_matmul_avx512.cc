// AVX-512 VNNI integer prefill (int8_matmul_avx512.h). Compiled for AVX-512 F/BW/DQ/VL +
// VNNI by the target pragma below whatever the build's -march; only called after the CPU
// check.
//
// The blocking of the float32 product (kernels/matmul_kernel-inl.h: row blocks of kNC,
// column blocks of kKC = 8 blocks of 32 values, token blocks of kMC, weight strips packed as
// the first token block reaches them) with integer panels. Every type is unpacked to
// unsigned bytes u and a scale s and offset c per 32 values (per 16 for Q6_K, kSub = 2), so
// that a weight is s * u + c:
//   weight strip, per 32-value block: [8 groups of 4 values][32 rows] bytes (1 KiB), then
//     the rows' s [kSub][32] and c [kSub][32] as float32;
//   activation tile, per block: [8 groups][6 tokens] x 4 int8 (broadcast as 32-bit words),
//     the tokens' d_x [6] and d_x * (sum of q) [kSub][6] (per 16 values for kSub = 2).
// The micro-kernel sums each group's 4 products per lane with vpdpbusd into 12 int32
// accumulators (6 tokens x 2 vectors of 16 rows), then per block (half block for Q6_K):
// y += float(sum) * s * d_x + c * d_x * (sum of q), into 12 float32 accumulators. The
// integer sums are exact (|u| <= 255, |q| <= 127, 4 products per lane per group).

#include "kernels/x86/int8_matmul_avx512.h"

#include "base/error.h"

#if defined(__x86_64__)
#include <immintrin.h>

#include <cstdint>
#include <cstring>

#include "hwy/cache_control.h"
#include "kernels/matmul_blocking.h"
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

#include "kernels/x86/transpose_avx512-inl.h"

namespace gemma::x86 {
namespace {

using matmul_blocking::kKC;
using matmul_blocking::kLdc;
using matmul_blocking::kMC;
using matmul_blocking::kNC;

constexpr size_t kMR = 6;            // tokens per register tile
constexpr size_t kNR = 32;           // weight rows per strip: two vectors of 16 int32 lanes
constexpr size_t kGroups = 8;        // groups of 4 values in a 32-value block
constexpr size_t kUnits = kKC / 32;  // blocks per column block
static_assert(matmul_blocking::kMR == kMR, "the token blocks hold whole tiles");

template <int kSub>
constexpr size_t StripBlockBytes() {
  return kGroups * kNR * 4 + 2 * kSub * kNR * sizeof(float);
}
constexpr size_t kTileScales = kGroups * kMR * 4;                // offset of d_x [kMR]
constexpr size_t kTileSums = kTileScales + kMR * sizeof(float);  // of d_x * sum q [kSub][kMR]
template <int kSub>
constexpr size_t TileBlockBytes() {
  return kTileSums + kSub * kMR * sizeof(float);
}

inline size_t Min(size_t a, size_t b) { return a < b ? a : b; }
inline uint16_t U16(const uint8_t* p) {
  uint16_t v;
  std::memcpy(&v, p, sizeof(v));
  return v;
}
inline float Half(const uint8_t* p) { return _cvtsh_ss(U16(p)); }

// ---------------------------------------------------------------------------------------
// Unpacking one row: 32-value blocks [b0, b0 + nb) to u [nb][32], s and c [nb][kSub].

// 16 bytes of nibbles as 32 values in natural order (byte j: values j and j + 16).
inline void Nibbles(const uint8_t* qs, uint8_t* u) {
  for (int j = 0; j < 16; ++j) {
    u[j] = qs[j] & 15;
    u[j + 16] = qs[j] >> 4;
  }
}
inline void HighBits(uint32_t qh, uint8_t* u) {
  for (int j = 0; j < 32; ++j) u[j] |= ((qh >> j) & 1) << 4;
}
inline uint32_t U32(const uint8_t* p) {
  uint32_t v;
  std::memcpy(&v, p, sizeof(v));
  return v;
}

void UnpackRow(DType dtype, const uint8_t* row, size_t b0, size_t nb, uint8_t (*u)[32],
               float (*s)[2], float (*c)[2]) {
  switch (dtype) {
    case DType::kQ8_0:
      for (size_t j = 0; j < nb; ++j) {
        const uint8_t* blk = row + (b0 + j) * sizeof(quant::BlockQ8_0);
        for (int i = 0; i < 32; ++i) u[j][i] = blk[2 + i] ^ 0x80;
        s[j][0] = Half(blk), c[j][0] = -128.0f * s[j][0];
      }
      return;
    case DType::kQ4_0:
      for (size_t j = 0; j < nb; ++j) {
        const uint8_t* blk = row + (b0 + j) * sizeof(quant::BlockQ4_0);
        Nibbles(blk + 2, u[j]);
        s[j][0] = Half(blk), c[j][0] = -8.0f * s[j][0];
      }
      return;
    case DType::kQ4_1:
      for (size_t j = 0; j < nb; ++j) {
        const uint8_t* blk = row + (b0 + j) * sizeof(quant::BlockQ4_1);
        Nibbles(blk + 4, u[j]);
        s[j][0] = Half(blk), c[j][0] = Half(blk + 2);
      }
      return;
    case DType::kQ5_0:
      for (size_t j = 0; j < nb; ++j) {
        const uint8_t* blk = row + (b0 + j) * sizeof(quant::BlockQ5_0);
        Nibbles(blk + 6, u[j]);
        HighBits(U32(blk + 2), u[j]);
        s[j][0] = Half(blk), c[j][0] = -16.0f * s[j][0];
      }
      return;
    case DType::kQ5_1:
      for (size_t j = 0; j < nb; ++j) {
        const uint8_t* blk = row + (b0 + j) * sizeof(quant::BlockQ5_1);
        Nibbles(blk + 8, u[j]);
        HighBits(U32(blk + 4), u[j]);
        s[j][0] = Half(blk), c[j][0] = Half(blk + 2);
      }
      return;
    case DType::kQ4_K:
    case DType::kQ5_K: {
      // Super-block sb's sub-block k: nibbles of qs[32 (k / 2) ..] (low for even k), plus for
      // Q5_K 16 times bit k of qh[l].
      const bool five = dtype == DType::kQ5_K;
      const size_t bytes = five ? sizeof(quant::BlockQ5_K) : sizeof(quant::BlockQ4_K);
      for (size_t j = 0; j < nb; j += 8) {
        const uint8_t* blk = row + (b0 + j) / 8 * bytes;
        uint8_t sc[8], m[8];
        quant::UnpackScalesMinsK4(blk + 4, sc, m);
        const float d = Half(blk), dmin = Half(blk + 2);
        const uint8_t* qh = blk + 16;
        const uint8_t* qs = blk + (five ? 48 : 16);
        for (int k = 0; k < 8; ++k) {
          uint8_t* out = u[j + k];
          const uint8_t* q = qs + 32 * (k / 2);
          for (int l = 0; l < 32; ++l) {
            out[l] = k % 2 == 0 ? q[l] & 15 : q[l] >> 4;
            if (five) out[l] |= ((qh[l] >> k) & 1) << 4;
          }
          s[j + k][0] = d * sc[k], c[j + k][0] = -dmin * m[k];
        }
      }
      return;
    }
    case DType::kQ6_K:
      // ggml's layout: in each half of 128 values, byte l of ql (64) and qh (32) gives values
      // l, l + 32 (low nibbles, qh bits 0-1 and 2-3) and l + 64, l + 96 (high nibbles, bits
      // 4-5 and 6-7); 16-value sub-block t has the int8 scale sc[t].
      for (size_t j = 0; j < nb; j += 8) {
        const uint8_t* blk = row + (b0 + j) / 8 * sizeof(quant::BlockQ6_K);
        const int8_t* sc = reinterpret_cast<const int8_t*>(blk + 192);
        const float d = Half(blk + 208);
        for (int k = 0; k < 8; ++k) {
          const int half = k / 4, part = k % 4;
          const uint8_t* ql = blk + 64 * half + 32 * (part % 2);
          const uint8_t* qh = blk + 128 + 32 * half;
          uint8_t* out = u[j + k];
          for (int l = 0; l < 32; ++l) {
            const int low = part < 2 ? ql[l] & 15 : ql[l] >> 4;
            out[l] = static_cast<uint8_t>(low | ((qh[l] >> (2 * part)) & 3) << 4);
          }
          for (int h = 0; h < 2; ++h) {
            s[j + k][h] = d * sc[2 * k + h];
            c[j + k][h] = -32.0f * s[j + k][h];
          }
        }
      }
      return;
    default:
      Fail(ErrorCode::kInternal, "Int8MatMulRowsAvx512Vnni: no kernel for ", DTypeName(dtype));
  }
}

// Packs blocks [b0, b0 + nb) of the strip of `valid` rows from first_row (zeros past them).
template <int kSub>
void PackStrip(const WeightMatrix& w, size_t first_row, size_t valid, size_t b0, size_t nb,
               uint8_t* out) {
  alignas(64) uint8_t u[kNR][kUnits][32];
  float s[kNR][kUnits][2], c[kNR][kUnits][2];
  for (size_t i = 0; i < kNR; ++i) {
    if (i < valid) {
      UnpackRow(w.dtype, reinterpret_cast<const uint8_t*>(w.row(first_row + i)), b0, nb, u[i], s[i],
                c[i]);
    } else {
      std::memset(u[i], 0, sizeof(u[i]));
      for (size_t j = 0; j < kUnits; ++j) s[i][j][0] = s[i][j][1] = c[i][j][0] = c[i][j][1] = 0;
    }
  }
  for (size_t j = 0; j < nb; ++j) {
    uint8_t* blk = out + j * StripBlockBytes<kSub>();
    for (size_t r0 = 0; r0 < kNR; r0 += 16) {
      __m512i rows[16];
      for (size_t i = 0; i < 16; ++i) {
        rows[i] = _mm512_zextsi256_si512(
            _mm256_load_si256(reinterpret_cast<const __m256i*>(u[r0 + i][j])));
      }
      StoreTransposed16x16(rows, reinterpret_cast<uint32_t*>(blk) + r0, kNR, 0xffff, kGroups);
    }
    float* scales = reinterpret_cast<float*>(blk + kGroups * kNR * 4);
    float* offsets = scales + kSub * kNR;
    for (int h = 0; h < kSub; ++h) {
      for (size_t i = 0; i < kNR; ++i) {
        scales[h * kNR + i] = s[i][j][h];
        offsets[h * kNR + i] = c[i][j][h];
      }
    }
  }
}

// Packs tokens [t0, t0 + valid) (valid <= kMR; zeros past them), blocks [b0, b0 + nb).
template <int kSub>
void PackTile(const quant::Int8Rows& x, size_t t0, size_t valid, size_t b0, size_t nb,
              uint8_t* out) {
  const size_t blocks = x.cols / 32;
  for (size_t j = 0; j < nb; ++j) {
    uint8_t* blk = out + j * TileBlockBytes<kSub>();
    const size_t b = b0 + j;
    float* dx = reinterpret_cast<float*>(blk + kTileScales);
    float* dsum = reinterpret_cast<float*>(blk + kTileSums);
    for (size_t t = 0; t < kMR; ++t) {
      if (t >= valid) {
        for (size_t g = 0; g < kGroups; ++g) std::memset(blk + (g * kMR + t) * 4, 0, 4);
        dx[t] = 0.0f;
        for (int h = 0; h < kSub; ++h) dsum[h * kMR + t] = 0.0f;
        continue;
      }
      const size_t row = t0 + t;
      const int8_t* q = x.q + row * x.cols + 32 * b;
      for (size_t g = 0; g < kGroups; ++g) std::memcpy(blk + (g * kMR + t) * 4, q + 4 * g, 4);
      const float d = x.d[row * blocks + b];
      dx[t] = d;
      if (kSub == 1) {
        dsum[t] = d * static_cast<float>(x.sum[row * blocks + b]);
      } else {
        for (int h = 0; h < kSub; ++h) {
          dsum[h * kMR + t] = d * static_cast<float>(x.sum16[row * 2 * blocks + 2 * b + h]);
        }
      }
    }
  }
}

// c[i * ldc + j] (+)= the tile's products over nb blocks, i < kMR tokens, j < kNR rows.
template <int kSub>
inline void MicroKernel(const uint8_t* a, const uint8_t* b, size_t nb, float* c, size_t ldc,
                        bool accumulate) {
  if (accumulate) {
    for (size_t i = 0; i < kMR; ++i) {
      hwy::Prefetch(c + i * ldc);
      hwy::Prefetch(c + i * ldc + 16);
    }
  }
  __m512 f0[kMR], f1[kMR];
  for (size_t t = 0; t < kMR; ++t) f0[t] = f1[t] = _mm512_setzero_ps();
  for (size_t blk = 0; blk < nb; ++blk) {
    const uint8_t* wb = b + blk * StripBlockBytes<kSub>();
    const uint8_t* xb = a + blk * TileBlockBytes<kSub>();
    const float* scales = reinterpret_cast<const float*>(wb + kGroups * kNR * 4);
    const float* offsets = scales + kSub * kNR;
    const float* dx = reinterpret_cast<const float*>(xb + kTileScales);
    const float* dsum = reinterpret_cast<const float*>(xb + kTileSums);
    for (int h = 0; h < kSub; ++h) {
      __m512i i0[kMR], i1[kMR];
      for (size_t t = 0; t < kMR; ++t) i0[t] = i1[t] = _mm512_setzero_si512();
      for (size_t g = h * kGroups / kSub; g < (h + 1) * kGroups / kSub; ++g) {
        const __m512i w0 = _mm512_load_si512(wb + g * kNR * 4);
        const __m512i w1 = _mm512_load_si512(wb + g * kNR * 4 + 64);
#pragma GCC unroll 6
        for (size_t t = 0; t < kMR; ++t) {
          int32_t four;
          std::memcpy(&four, xb + (g * kMR + t) * 4, 4);
          const __m512i x = _mm512_set1_epi32(four);
          i0[t] = _mm512_dpbusd_epi32(i0[t], w0, x);
          i1[t] = _mm512_dpbusd_epi32(i1[t], w1, x);
        }
      }
      const __m512 s0 = _mm512_loadu_ps(scales + h * kNR),
                   s1 = _mm512_loadu_ps(scales + h * kNR + 16);
      const __m512 c0 = _mm512_loadu_ps(offsets + h * kNR),
                   c1 = _mm512_loadu_ps(offsets + h * kNR + 16);
#pragma GCC unroll 6
      for (size_t t = 0; t < kMR; ++t) {
        const __m512 d = _mm512_set1_ps(dx[t]), ds = _mm512_set1_ps(dsum[h * kMR + t]);
        f0[t] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(i0[t]), _mm512_mul_ps(s0, d), f0[t]);
        f1[t] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(i1[t]), _mm512_mul_ps(s1, d), f1[t]);
        f0[t] = _mm512_fmadd_ps(c0, ds, f0[t]);
        f1[t] = _mm512_fmadd_ps(c1, ds, f1[t]);
      }
    }
  }
  for (size_t t = 0; t < kMR; ++t) {
    float* row = c + t * ldc;
    if (accumulate) {
      f0[t] = _mm512_add_ps(f0[t], _mm512_loadu_ps(row));
      f1[t] = _mm512_add_ps(f1[t], _mm512_loadu_ps(row + 16));
    }
    _mm512_storeu_ps(row, f0[t]);
    _mm512_storeu_ps(row + 16, f1[t]);
  }
}

void PrefetchStripRows(const WeightMatrix& w, size_t first_row, size_t rows, size_t b0, size_t nb) {
  const DTypeTraits& t = Traits(w.dtype);
  const size_t begin = b0 * 32 / t.block_elements * t.block_bytes;
  const size_t bytes = (nb * 32 + t.block_elements - 1) / t.block_elements * t.block_bytes;
  for (size_t i = 0; i < rows; ++i) {
    const std::byte* p = w.row(first_row + i) + begin;
    for (size_t b = 0; b < bytes; b += 64) hwy::Prefetch(p + b);
  }
}

template <int kSub>
void MatMulRows(const WeightMatrix& w, const quant::Int8Rows& x, float* y, size_t row_begin,
                size_t row_end, bool add_to_y) {
  const size_t tokens = x.tokens;
  float* scratch = matmul_blocking::ThreadScratch(tokens);
  // The float32 product's scratch: its 2 MiB weight area holds the strips, then the tiles.
  uint8_t* packed_w = reinterpret_cast<uint8_t*>(scratch);
  uint8_t* packed_x = packed_w + kKC * kNC * sizeof(float) / 2;
  float* c_block = scratch + kKC * kNC + kKC * kMC + matmul_blocking::kPackSlack;
  static_assert(kNC / kNR * kUnits * StripBlockBytes<2>() <= kKC * kNC * sizeof(float) / 2);
  static_assert(kMC / kMR * kUnits * TileBlockBytes<2>() <= kKC * kNC * sizeof(float) / 2);
  static_assert(StripBlockBytes<1>() % 64 == 0 && StripBlockBytes<2>() % 64 == 0);
  for (size_t jc = row_begin; jc < row_end; jc += kNC) {
    const size_t nc = Min(kNC, row_end - jc);
    for (size_t pc = 0; pc < w.cols; pc += kKC) {
      const size_t nb = Min(kKC, w.cols - pc) / 32, b0 = pc / 32;
      for (size_t ic = 0; ic < tokens; ic += kMC) {
        const size_t mc = Min(kMC, tokens - ic);
        for (size_t j = 0; j * kMR < mc; ++j) {
          PackTile<kSub>(x, ic + j * kMR, Min(kMR, mc - j * kMR), b0, nb,
                         packed_x + j * nb * TileBlockBytes<kSub>());
        }
        for (size_t jr = 0; jr < nc; jr += kNR) {
          const size_t s = jr / kNR;
          uint8_t* strip = packed_w + s * nb * StripBlockBytes<kSub>();
          if (ic == 0) {
            // Packed as the first token block reaches it, the strip after next prefetched.
            if ((s + 2) * kNR < nc) {
              PrefetchStripRows(w, jc + (s + 2) * kNR, Min(kNR, nc - (s + 2) * kNR), b0, nb);
            }
            PackStrip<kSub>(w, jc + jr, Min(kNR, nc - jr), b0, nb, strip);
          }
          for (size_t ir = 0; ir < mc; ir += kMR) {
            MicroKernel<kSub>(packed_x + ir / kMR * nb * TileBlockBytes<kSub>(), strip, nb,
                              c_block + (ic + ir) * kLdc + jr, kLdc, pc != 0);
          }
        }
      }
    }
    for (size_t t = 0; t < tokens; ++t) {
      const float* from = c_block + t * kLdc;
      float* to = y + t * w.rows + jc;
      if (add_to_y) {
        for (size_t j = 0; j < nc; ++j) to[j] += from[j];
      } else {
        std::memcpy(to, from, nc * sizeof(float));
      }
    }
  }
}

}  // namespace

bool HasInt8MatMulAvx512Vnni(DType dtype) {
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

void Int8MatMulRowsAvx512Vnni(const WeightMatrix& w, const quant::Int8Rows& x, float* y,
                              size_t row_begin, size_t row_end, bool add_to_y) {
  if (row_begin >= row_end || x.tokens == 0) return;
  if (!HasInt8MatMulAvx512Vnni(w.dtype)) {
    Fail(ErrorCode::kInternal, "Int8MatMulRowsAvx512Vnni: no kernel for ", DTypeName(w.dtype));
  }
  if (w.dtype == DType::kQ6_K) {
    MatMulRows<2>(w, x, y, row_begin, row_end, add_to_y);
  } else {
    MatMulRows<1>(w, x, y, row_begin, row_end, add_to_y);
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
bool HasInt8MatMulAvx512Vnni(DType) { return false; }
void Int8MatMulRowsAvx512Vnni(const WeightMatrix&, const quant::Int8Rows&, float*, size_t, size_t,
                              bool) {
  Fail(ErrorCode::kInternal, "Int8MatMulRowsAvx512Vnni called on a CPU that is not x86-64");
}
}  // namespace gemma::x86

#endif  // __x86_64__
