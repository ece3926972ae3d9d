// Prefill products with int8 activations (int8_matmul.h). The blocking is that of the float32
// product (kernels/matmul_kernel-inl.h: packed weight strips of 16 rows reused by every
// token, packed activation tiles of 6 tokens, a block of y per row block), with integer
// panels and a 6 x 16 vpmaddubsw micro-kernel: kernels/x86/int8_tile_avx2-inl.h (the panel
// layouts, the micro-kernel in inline assembly and its intrinsics twin).

#include "kernels/simd_targets.h"
// clang-format off
#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "kernels/quant/int8_matmul.cc"
#include "hwy/foreach_target.h"  // IWYU pragma: keep
// clang-format on
#include <algorithm>
#include <cstdint>
#include <cstring>

#include "base/dtype.h"
#include "hwy/highway.h"
#include "kernels/matmul_kernel-inl.h"
#include "kernels/quant/blocks.h"
#include "kernels/quant/int8_matmul.h"
#include "kernels/weight_matrix.h"
#include "kernels/x86/int8_tile_avx2-inl.h"

HWY_BEFORE_NAMESPACE();
namespace gemma::HWY_NAMESPACE {
// Internal linkage: other kernel files define per-target helpers of the same names.
namespace {

#if HWY_ARCH_X86 && HWY_TARGET <= HWY_AVX2
using namespace gemma::matmul_blocking;  // NOLINT(build/namespaces)
using matmul_kernel::CopyOut;
using matmul_kernel::PrefetchRows;

using namespace int8_tile_avx2;  // NOLINT(build/namespaces)

// Both panels in the float32 product's packed-weight area of the scratch
// (matmul_blocking::ScratchFloats): the weights in its first half, the activations after.
constexpr size_t kPanelBytes = kKC * kNC * sizeof(float) / 2;
static_assert(kNC / kNR * (kKC / 32) * kStripBlockBytes <= kPanelBytes);
static_assert((kMC / kMR) * (kKC / 32) * kTileBlockBytes <= kPanelBytes);

HWY_INLINE __m256i Load256(const void* p) {
  return _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p));
}

// Transposes 8 rows of 8 int32 (r[i] = row i's 8 groups) and stores group g's 8 rows at
// out + g * kNR: unpack 32- and 64-bit lanes within 128-bit halves, then swap halves.
HWY_INLINE void StoreTransposed8x8(const __m256i* r, int32_t* HWY_RESTRICT out) {
  const __m256i t0 = _mm256_unpacklo_epi32(r[0], r[1]), t1 = _mm256_unpackhi_epi32(r[0], r[1]);
  const __m256i t2 = _mm256_unpacklo_epi32(r[2], r[3]), t3 = _mm256_unpackhi_epi32(r[2], r[3]);
  const __m256i t4 = _mm256_unpacklo_epi32(r[4], r[5]), t5 = _mm256_unpackhi_epi32(r[4], r[5]);
  const __m256i t6 = _mm256_unpacklo_epi32(r[6], r[7]), t7 = _mm256_unpackhi_epi32(r[6], r[7]);
  const __m256i u0 = _mm256_unpacklo_epi64(t0, t2), u1 = _mm256_unpackhi_epi64(t0, t2);
  const __m256i u2 = _mm256_unpacklo_epi64(t1, t3), u3 = _mm256_unpackhi_epi64(t1, t3);
  const __m256i u4 = _mm256_unpacklo_epi64(t4, t6), u5 = _mm256_unpackhi_epi64(t4, t6);
  const __m256i u6 = _mm256_unpacklo_epi64(t5, t7), u7 = _mm256_unpackhi_epi64(t5, t7);
  // u0: groups 0 | 4 of rows 0-3, u4: the same of rows 4-7, and so on.
  const auto store = [&](size_t g, __m256i v) {
    _mm256_store_si256(reinterpret_cast<__m256i*>(out + g * kNR), v);
  };
  store(0, _mm256_permute2x128_si256(u0, u4, 0x20));
  store(4, _mm256_permute2x128_si256(u0, u4, 0x31));
  store(1, _mm256_permute2x128_si256(u1, u5, 0x20));
  store(5, _mm256_permute2x128_si256(u1, u5, 0x31));
  store(2, _mm256_permute2x128_si256(u2, u6, 0x20));
  store(6, _mm256_permute2x128_si256(u2, u6, 0x31));
  store(3, _mm256_permute2x128_si256(u3, u7, 0x20));
  store(7, _mm256_permute2x128_si256(u3, u7, 0x31));
}

// Packs blocks [b0, b0 + nb) of `valid` Q4_0 rows starting at first_row (zeros past them).
void PackStripQ4_0(const WeightMatrix& w, size_t first_row, size_t valid, size_t b0, size_t nb,
                   uint8_t* HWY_RESTRICT out) {
  const __m256i low4 = _mm256_set1_epi8(15);
  const __m256i shifts = _mm256_setr_epi64x(0, 0, 4, 4);
  for (size_t b = 0; b < nb; ++b) {
    uint8_t* HWY_RESTRICT blk_out = out + b * kStripBlockBytes;
    __m256i rows[kNR];
    alignas(16) uint16_t scales[kNR];
    for (size_t i = 0; i < kNR; ++i) {
      if (i >= valid) {
        rows[i] = _mm256_setzero_si256();
        scales[i] = 0;
        continue;
      }
      const uint8_t* blk = reinterpret_cast<const uint8_t*>(w.row(first_row + i)) +
                           (b0 + b) * sizeof(quant::BlockQ4_0);
      // Byte j holds value j (low nibble) and value j + 16 (high nibble): the same 16 bytes
      // in both halves, the upper one shifted by 4, give the 32 values in order.
      const __m256i both =
          _mm256_broadcastsi128_si256(_mm_loadu_si128(reinterpret_cast<const __m128i*>(blk + 2)));
      rows[i] = _mm256_and_si256(_mm256_srlv_epi64(both, shifts), low4);
      std::memcpy(&scales[i], blk, sizeof(uint16_t));
    }
    int32_t* groups = reinterpret_cast<int32_t*>(blk_out);
    StoreTransposed8x8(rows, groups);
    StoreTransposed8x8(rows + 8, groups + 8);
    float* HWY_RESTRICT d = reinterpret_cast<float*>(blk_out + kGroups * kNR * 4);
    const __m128i* s = reinterpret_cast<const __m128i*>(scales);
    _mm256_store_ps(d, _mm256_cvtph_ps(_mm_load_si128(s)));
    _mm256_store_ps(d + 8, _mm256_cvtph_ps(_mm_load_si128(s + 1)));
  }
}

// Packs tokens [t0, t0 + valid) (valid <= kMR; zeros past them), blocks [b0, b0 + nb).
void PackTile(const quant::Int8Rows& x, size_t t0, size_t valid, size_t b0, size_t nb,
              uint8_t* HWY_RESTRICT out) {
  const size_t blocks = x.cols / 32;
  for (size_t b = 0; b < nb; ++b) {
    uint8_t* HWY_RESTRICT blk_out = out + b * kTileBlockBytes;
    uint8_t* HWY_RESTRICT q = blk_out;
    float* HWY_RESTRICT d = reinterpret_cast<float*>(blk_out + kTileScales);
    int32_t* HWY_RESTRICT offset = reinterpret_cast<int32_t*>(blk_out + kTileOffsets);
    for (size_t i = 0; i < kMR; ++i) {
      if (i >= valid) {
        for (size_t g = 0; g < kGroups; ++g) {
          _mm256_store_si256(reinterpret_cast<__m256i*>(q + (g * kMR + i) * 32),
                             _mm256_setzero_si256());
        }
        d[i] = 0.0f;
        offset[i] = 0;
        continue;
      }
      const size_t t = t0 + i;
      const int8_t* src = x.q + t * x.cols + (b0 + b) * 32;
      for (size_t g = 0; g < kGroups; ++g) {
        int32_t four;
        std::memcpy(&four, src + 4 * g, 4);
        _mm256_store_si256(reinterpret_cast<__m256i*>(q + (g * kMR + i) * 32),
                           _mm256_set1_epi32(four));
      }
      d[i] = x.d[t * blocks + b0 + b];
      offset[i] = -8 * x.sum[t * blocks + b0 + b];
    }
  }
}

bool HasKernels() { return true; }

// See Int8MatMulRows. scratch: matmul_blocking::ScratchFloats(x.tokens), 32-byte aligned.
// kAsm: the micro-kernel's inline assembly, or its intrinsics twin. To compare them (the
// measurement behind the assembly, int8_tile_avx2-inl.h), on a quiet machine:
//   quant_bench --benchmark_filter='QuantMatMul/Q4_0_Int8' --benchmark_repetitions=5
//   GEMMA_DISABLE_CPU_FEATURES=avx512_vnni,inline_asm quant_bench ... (the twin), and with
//   GEMMA_DISABLE_CPU_FEATURES=avx512_vnni alone (the assembly; VNNI off so that AVX2 runs).
template <bool kAsm>
void Int8MatMulRowsQ4_0T(const WeightMatrix& w, const quant::Int8Rows& x, float* y,
                         size_t row_begin, size_t row_end, bool add_to_y, float* scratch) {
  const size_t tokens = x.tokens;
  uint8_t* HWY_RESTRICT packed_w = reinterpret_cast<uint8_t*>(scratch);
  uint8_t* HWY_RESTRICT packed_x = packed_w + kPanelBytes;
  float* HWY_RESTRICT c_block = scratch + kKC * kNC + kKC * kMC + kPackSlack;
  for (size_t jc = row_begin; jc < row_end; jc += kNC) {
    const size_t nc = std::min(kNC, row_end - jc);
    for (size_t pc = 0; pc < w.cols; pc += kKC) {
      const size_t nb = std::min(kKC, w.cols - pc) / 32;
      const size_t b0 = pc / 32;
      for (size_t ic = 0; ic < tokens; ic += kMC) {
        const size_t mc = std::min(kMC, tokens - ic);
        for (size_t j = 0; j * kMR < mc; ++j) {
          PackTile(x, ic + j * kMR, std::min(kMR, mc - j * kMR), b0, nb,
                   packed_x + j * nb * kTileBlockBytes);
        }
        // Whole tiles, as in the float32 product: the block of y has room for them.
        for (size_t jr = 0; jr < nc; jr += kNR) {
          const size_t s = jr / kNR;
          if (ic == 0) {
            // Packed as the first token block reaches it (see MatMulBlocked).
            if ((s + 2) * kNR < nc) {
              PrefetchRows(w.row(jc + (s + 2) * kNR) + b0 * sizeof(quant::BlockQ4_0), w.row_bytes,
                           std::min(kNR, nc - (s + 2) * kNR), nb * sizeof(quant::BlockQ4_0));
            }
            PackStripQ4_0(w, jc + s * kNR, std::min(kNR, nc - s * kNR), b0, nb,
                          packed_w + s * nb * kStripBlockBytes);
          }
          const uint8_t* strip = packed_w + s * nb * kStripBlockBytes;
          for (size_t ir = 0; ir < mc; ir += kMR) {
            MicroKernel<kAsm>(packed_x + ir / kMR * nb * kTileBlockBytes, strip, nb,
                              c_block + (ic + ir) * kLdc + jr, kLdc, pc != 0);
          }
        }
      }
    }
    CopyOut(c_block, tokens, nc, y + jc, w.rows, add_to_y);
  }
}
void Int8MatMulRowsQ4_0Asm(const WeightMatrix& w, const quant::Int8Rows& x, float* y,
                           size_t row_begin, size_t row_end, bool add_to_y, float* scratch) {
  Int8MatMulRowsQ4_0T<true>(w, x, y, row_begin, row_end, add_to_y, scratch);
}
void Int8MatMulRowsQ4_0Intrinsics(const WeightMatrix& w, const quant::Int8Rows& x, float* y,
                                  size_t row_begin, size_t row_end, bool add_to_y, float* scratch) {
  Int8MatMulRowsQ4_0T<false>(w, x, y, row_begin, row_end, add_to_y, scratch);
}
#else
bool HasKernels() { return false; }
// Never called: HasInt8MatMul is false on this target.
void Int8MatMulRowsQ4_0Asm(const WeightMatrix&, const quant::Int8Rows&, float*, size_t, size_t,
                           bool, float*) {}
void Int8MatMulRowsQ4_0Intrinsics(const WeightMatrix&, const quant::Int8Rows&, float*, size_t,
                                  size_t, bool, float*) {}
#endif

}  // namespace
}  // namespace gemma::HWY_NAMESPACE
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
#include "base/error.h"
#include "kernels/cpu_features.h"
#include "kernels/quant/int8_activations.h"
#include "kernels/x86/int8_matmul_avx512.h"

namespace gemma {

HWY_EXPORT(HasKernels);
HWY_EXPORT(Int8MatMulRowsQ4_0Asm);
HWY_EXPORT(Int8MatMulRowsQ4_0Intrinsics);

namespace quant {

void PrepareInt8Rows(size_t tokens, size_t cols, Int8Rows& rows) {
  if (cols % kInt8ActivationBlock != 0) {
    Fail(ErrorCode::kInvalidArgument, "PrepareInt8Rows: ", cols, " values is not a multiple of ",
         kInt8ActivationBlock);
  }
  const size_t values = tokens * cols;
  if (values > rows.capacity) {
    const size_t blocks = values / kInt8ActivationBlock;
    rows.q_storage = hwy::AllocateAligned<int8_t>(values);
    rows.d_storage = hwy::AllocateAligned<float>(blocks);
    rows.sum_storage = hwy::AllocateAligned<int32_t>(blocks);
    rows.sum16_storage = hwy::AllocateAligned<int16_t>(2 * blocks);
    if (!rows.q_storage || !rows.d_storage || !rows.sum_storage || !rows.sum16_storage) {
      Fail(ErrorCode::kInternal, "PrepareInt8Rows: cannot allocate ", values, " values");
    }
    rows.capacity = values;
  }
  rows.tokens = tokens;
  rows.cols = cols;
  rows.q = rows.q_storage.get();
  rows.d = rows.d_storage.get();
  rows.sum = rows.sum_storage.get();
  rows.sum16 = rows.sum16_storage.get();
}

bool QuantizeActivationRows(const float* x, size_t t_begin, size_t t_end, Int8Rows& rows) {
  // Decode's own rounding, row by row, so that a row rounds the same in both.
  thread_local Int8Activations row;
  const size_t blocks = rows.cols / kInt8ActivationBlock;
  for (size_t t = t_begin; t < t_end; ++t) {
    if (!QuantizeActivations(x + t * rows.cols, rows.cols, row)) return false;
    std::copy_n(row.q, rows.cols, rows.q + t * rows.cols);
    std::copy_n(row.d, blocks, rows.d + t * blocks);
    for (size_t b = 0; b < blocks; ++b) {
      rows.sum[t * blocks + b] = int32_t{row.sum16[2 * b]} + int32_t{row.sum16[2 * b + 1]};
    }
    std::copy_n(row.sum16, 2 * blocks, rows.sum16 + t * 2 * blocks);
  }
  return true;
}

}  // namespace quant

namespace {
// The AVX-512 VNNI kernel (kernels/x86/int8_matmul_avx512.h), every block-quantized type,
// where the CPU has it and the tests have not switched it off.
bool UsesVnni512(DType dtype) {
  return CpuFeatureEnabled(kCpuAvx512Vnni) && x86::HasInt8MatMulAvx512Vnni(dtype);
}
}  // namespace

bool HasInt8MatMul(DType dtype) {
  return UsesVnni512(dtype) || (dtype == DType::kQ4_0 && HWY_DYNAMIC_DISPATCH(HasKernels)());
}

void Int8MatMulRows(const WeightMatrix& w, const quant::Int8Rows& x, float* y, size_t row_begin,
                    size_t row_end, bool add_to_y) {
  if (!HasInt8MatMul(w.dtype)) {
    Fail(ErrorCode::kInternal, "Int8MatMulRows: no integer prefill kernel for ", DTypeName(w.dtype),
         " on this CPU");
  }
  if (x.cols != w.cols) {
    Fail(ErrorCode::kInternal, "Int8MatMulRows: ", x.cols, " activations for ", w.cols, " columns");
  }
  if (row_begin >= row_end || x.tokens == 0) return;
  if (UsesVnni512(w.dtype)) {
    x86::Int8MatMulRowsAvx512Vnni(w, x, y, row_begin, row_end, add_to_y);
    return;
  }
  float* scratch = matmul_blocking::ThreadScratch(x.tokens);
  if (CpuFeatureEnabled(kCpuInlineAsm)) {
    HWY_DYNAMIC_DISPATCH(Int8MatMulRowsQ4_0Asm)(w, x, y, row_begin, row_end, add_to_y, scratch);
  } else {
    HWY_DYNAMIC_DISPATCH(Int8MatMulRowsQ4_0Intrinsics)
    (w, x, y, row_begin, row_end, add_to_y, scratch);
  }
}

}  // namespace gemma
#endif  // HWY_ONCE
