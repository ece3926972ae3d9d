// Batched integer decode on AVX-512 VNNI (int8_matvec_batch_avx512.h). Compiled for AVX-512
// F/BW/DQ/VL + VNNI by the target pragma below whatever the build's -march; only called after
// the CPU check.
//
// The single-row kernels (int8_matvec_avx512.cc) compute, per block of each row, unsigned
// weight bytes u, vpdpbusd(0, u, x), its conversion to float, a scale vector (weight scales
// times activation scales) and one FMA into the row's accumulator, plus the offset or
// minimum terms from the activations' block sums. Here the weight side of that work (u, and
// the weight scales already permuted into each product's lanes) is done once per block and
// kept in a panel of a few KiB; each activation row then replays the products from the
// panel. The scale of a product lane is (weight scale) * (activation scale) of the same
// block in both: the single-row kernel multiplies before permuting, this one permutes both
// factors and then multiplies, the same two numbers in every lane. Accumulators wait in a
// small buffer between column chunks (a store and a reload change no bits).

#include "kernels/x86/int8_matvec_batch_avx512.h"

#include "base/error.h"

#if defined(__x86_64__)
#include <immintrin.h>

#include <algorithm>
#include <cstdint>
#include <cstring>

#include "kernels/quant/blocks.h"
#include "kernels/scratch_buffer.h"

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

// As in the single-row kernels: rows this far ahead are prefetched at the offset being read.
constexpr size_t kPrefetchRows = 8;
constexpr size_t kChunkPairs = 16;       // pairs of 32-value blocks per panel: 1024 columns
constexpr size_t kChunkSuperBlocks = 4;  // super-blocks per panel: 1024 columns
constexpr int kTileTokens = 4;
constexpr int kSuperRows = 4;  // weight rows per group of the super-block kernels

// ---------------------------------------------------------------------------------------
// 32-value block types (int8_blocks::BlockQ8_0 ...), a group of 4 rows and two blocks (a
// pair) at a time, as PairGroup.

// One pair of blocks of the group's four rows, unpacked.
struct alignas(64) PairPanel {
  __m512i v[4];  // row i's 64 values, in the order of the activations they multiply
  __m512 s[4];   // row i's two block scales in each product lane (PairGroup's index[i])
  __m256 c;      // the offset or minimum terms: lanes i and i + 4 are row i's two blocks
};
// One activation row's accumulators for the group.
struct alignas(64) PairState {
  __m512 acc[4];
  __m256 bias;
};

// One super-block of one row, unpacked.
struct alignas(64) SuperPanel {
  __m512i u[4];  // the 256 values, in the order of SuperBlockX's vectors
  __m512 s[4];   // the weight side of each product's scales, in its lanes
  __m256 side;   // Q4_K / Q5_K: dmin * m_j per sub-block j
  __m256i sc16;  // Q6_K: the 16 sub-block scales as int16
  float d;       // Q6_K: the super-block scale
};
// One (activation row, weight row) pair's accumulators.
struct alignas(64) SuperState {
  __m512 acc;
  __m256 side;  // minimums (Q4_K / Q5_K) or offsets (Q6_K), as the single-row kernels'
};

// PairGroup's index[i]: the lanes of the pair's 8 scales [rows 0-3 of block b, rows 0-3 of
// b + 1] that multiply row i's products.
template <class T>
inline __m512i PairScaleIndex(int i) {
  return T::kNatural ? Concat(_mm256_set1_epi32(i), _mm256_set1_epi32(i + 4))
                     : _mm512_setr_epi32(i, i, i, i, i + 4, i + 4, i + 4, i + 4, i, i, i, i, i + 4,
                                         i + 4, i + 4, i + 4);
}

template <class T>
void UnpackPairs(const uint8_t* const w[4], size_t p0, size_t p1, size_t prefetch_distance,
                 PairPanel* panel) {
  __m512i index[4];
  for (int i = 0; i < 4; ++i) index[i] = PairScaleIndex<T>(i);
  for (size_t p = p0; p < p1; ++p) {
    const size_t off = 2 * p * T::kBytes;
    PairPanel& out = panel[p - p0];
    const __m256 dw = Halves8(w, off + T::kScaleAt, off + T::kBytes + T::kScaleAt);
    out.c = T::kHasMin ? Halves8(w, off + T::kMinAt, off + T::kBytes + T::kMinAt)
                       : _mm256_mul_ps(dw, _mm256_set1_ps(T::kOffset));
    const __m512 dw512 = _mm512_castps256_ps512(dw);
    for (int i = 0; i < 4; ++i) {
      _mm_prefetch(reinterpret_cast<const char*>(w[i] + prefetch_distance + off), _MM_HINT_T0);
      _mm_prefetch(
          reinterpret_cast<const char*>(w[i] + prefetch_distance + off + 2 * T::kBytes - 1),
          _MM_HINT_T0);
      out.v[i] = T::Values(w[i] + off);
      out.s[i] = _mm512_permutexvar_ps(index[i], dw512);
    }
  }
}

// Pairs [p0, p1) of the panel times activation rows a[0 .. kTokens), into their states.
template <class T, int kTokens>
void PairTile(const PairPanel* panel, size_t p0, size_t p1, const Int8Activations* const* a,
              PairState* state) {
  __m512 acc[kTokens][4];
  __m256 bias[kTokens];
  for (int t = 0; t < kTokens; ++t) {
    for (int i = 0; i < 4; ++i) acc[t][i] = state[t].acc[i];
    bias[t] = state[t].bias;
  }
  // The activation scales d4 (each d[b] four times) in the lanes of every row's index.
  const __m512i index = PairScaleIndex<T>(0);
  for (size_t p = p0; p < p1; ++p) {
    const PairPanel& pp = panel[p - p0];
    for (int t = 0; t < kTokens; ++t) {
      const Int8Activations& at = *a[t];
      const __m512i x = Load512(T::kNatural ? at.q + 64 * p : at.q_pairs + 64 * p);
      const __m512 dx =
          _mm512_permutexvar_ps(index, _mm512_castps256_ps512(_mm256_loadu_ps(at.d4 + 8 * p)));
      bias[t] = _mm256_fmadd_ps(pp.c, _mm256_loadu_ps(at.dsum4 + 8 * p), bias[t]);
      for (int i = 0; i < 4; ++i) {
        const __m512i prod = _mm512_dpbusd_epi32(_mm512_setzero_si512(), pp.v[i], x);
        acc[t][i] =
            _mm512_fmadd_ps(_mm512_cvtepi32_ps(prod), _mm512_mul_ps(pp.s[i], dx), acc[t][i]);
      }
    }
  }
  for (int t = 0; t < kTokens; ++t) {
    for (int i = 0; i < 4; ++i) state[t].acc[i] = acc[t][i];
    state[t].bias = bias[t];
  }
}

template <class T>
using PairTileFn = void (*)(const PairPanel*, size_t, size_t, const Int8Activations* const*,
                            PairState*);
template <class T>
constexpr PairTileFn<T> kPairTiles[kTileTokens + 1] = {nullptr, &PairTile<T, 1>, &PairTile<T, 2>,
                                                       &PairTile<T, 3>, &PairTile<T, 4>};
static_assert(kTileTokens == 4, "kPairTiles lists one tile per token count");

struct Scratch {
  ScratchBuffer<PairPanel> pair_panels;
  ScratchBuffer<PairState> pair_states;
  ScratchBuffer<SuperPanel> super_panels;
  ScratchBuffer<SuperState> super_states;
};
Scratch& ThreadScratch() {
  thread_local Scratch scratch;
  return scratch;
}

template <class T>
void PairRows(const WeightMatrix& w, const Int8Activations* const* a, size_t tokens,
              float* const* y, size_t row_begin, size_t row_end) {
  const size_t blocks = w.cols / 32, pairs = blocks / 2;
  Scratch& scratch = ThreadScratch();
  PairPanel* panel = scratch.pair_panels.Reserve(kChunkPairs);
  PairState* state = scratch.pair_states.Reserve(tokens);
  const auto row = [&](size_t r) { return reinterpret_cast<const uint8_t*>(w.row(r)); };
  for (size_t r = row_begin; r < row_end; r += 4) {
    // A group of fewer than 4 rows repeats its last row (PairGroup<T, 1> does the same).
    const size_t n = std::min<size_t>(4, row_end - r);
    const uint8_t* rows[4];
    for (size_t i = 0; i < 4; ++i) rows[i] = row(r + std::min(i, n - 1));
    for (size_t t = 0; t < tokens; ++t) state[t] = PairState{};
    for (size_t p0 = 0; p0 < pairs; p0 += kChunkPairs) {
      const size_t p1 = std::min(p0 + kChunkPairs, pairs);
      UnpackPairs<T>(rows, p0, p1, kPrefetchRows * w.row_bytes, panel);
      for (size_t t0 = 0; t0 < tokens; t0 += kTileTokens) {
        const size_t count = std::min<size_t>(kTileTokens, tokens - t0);
        kPairTiles<T>[count](panel, p0, p1, a + t0, state + t0);
      }
    }
    for (size_t t = 0; t < tokens; ++t)
      PairFinish<T>(rows, n, blocks, *a[t], state[t].acc, state[t].bias, y[t] + r);
  }
}

// ---------------------------------------------------------------------------------------
// K types, one 256-value super-block at a time (SuperBlockRows); rows are independent.

// Q4_K / Q5_K as KernelK4: product k's scale is lanes kLo[k] (low 8) and kHi[k] (high 8) of
// (sc_j * d) * dx_j.
template <bool kFiveBits>
struct BatchK4 {
  static constexpr size_t kBytes = kFiveBits ? sizeof(quant::BlockQ5_K) : sizeof(quant::BlockQ4_K);
  static constexpr bool kK4Order = true;
  static __m512i Index(int k) {
    static const int kLo[4] = {0, 1, 4, 5}, kHi[4] = {2, 3, 6, 7};
    return Concat(_mm256_set1_epi32(kLo[k]), _mm256_set1_epi32(kHi[k]));
  }
  static void Unpack(const uint8_t* blk, SuperPanel& p) {
    uint8_t sc[8], m[8];
    quant::UnpackScalesMinsK4(blk + 4, sc, m);
    const float d = HalfToFloat(U16(blk)), dmin = HalfToFloat(U16(blk + 2));
    const __m512 scale =
        _mm512_castps256_ps512(_mm256_mul_ps(BytesToFloats(sc), _mm256_set1_ps(d)));
    p.side = _mm256_mul_ps(BytesToFloats(m), _mm256_set1_ps(dmin));
    K4Values<kFiveBits>(blk, p.u);
    for (int k = 0; k < 4; ++k) p.s[k] = _mm512_permutexvar_ps(Index(k), scale);
  }
  // The activation scales of super-block sb in each product's lanes.
  struct ActivationScales {
    __m512 s[4];
    ActivationScales(const Int8Activations& a, size_t sb) {
      const __m512 dx = _mm512_castps256_ps512(_mm256_loadu_ps(a.d + 8 * sb));
      for (int k = 0; k < 4; ++k) s[k] = _mm512_permutexvar_ps(Index(k), dx);
    }
  };
  static void Multiply(const SuperPanel& p, const SuperBlockX& sx, const ActivationScales& dx,
                       const Int8Activations& a, size_t sb, __m512& acc, __m256& mins) {
    mins = _mm256_fmadd_ps(p.side, _mm256_loadu_ps(a.dsum + 8 * sb), mins);
    for (int k = 0; k < 4; ++k) {
      const __m512i prod = _mm512_dpbusd_epi32(_mm512_setzero_si512(), p.u[k], sx.x[k]);
      acc = _mm512_fmadd_ps(_mm512_cvtepi32_ps(prod), _mm512_mul_ps(p.s[k], dx.s[k]), acc);
    }
  }
  static float Finish(__m512 acc, __m256 mins) { return FinishK4(acc, mins); }
};

// Q6_K as KernelQ6_K: product `chunk` (64 values) has sub-block scales 4 chunk .. + 3 (16
// lanes each 4) times the activation scales of blocks 2 chunk, + 1 (8 lanes each).
struct BatchQ6_K {
  static constexpr size_t kBytes = sizeof(quant::BlockQ6_K);
  static constexpr bool kK4Order = false;
  static void Unpack(const uint8_t* blk, SuperPanel& p) {
    p.d = HalfToFloat(U16(blk + 208));
    const __m128i sc8 = Load128(blk + 192);
    const __m512 sc = _mm512_mul_ps(_mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(sc8)),
                                    _mm512_set1_ps(p.d));  // 16 sub-block scales
    p.sc16 = _mm256_cvtepi8_epi16(sc8);
    Q6Values(blk, p.u);
    for (int chunk = 0; chunk < 4; ++chunk) {
      const int s0 = 4 * chunk;
      p.s[chunk] = _mm512_permutexvar_ps(
          _mm512_setr_epi32(s0, s0, s0, s0, s0 + 1, s0 + 1, s0 + 1, s0 + 1, s0 + 2, s0 + 2, s0 + 2,
                            s0 + 2, s0 + 3, s0 + 3, s0 + 3, s0 + 3),
          sc);
    }
  }
  struct ActivationScales {
    __m256 dx;
    __m512 s[4];
    ActivationScales(const Int8Activations& a, size_t sb) : dx(_mm256_loadu_ps(a.d + 8 * sb)) {
      const __m512 dx512 = _mm512_castps256_ps512(dx);
      for (int chunk = 0; chunk < 4; ++chunk) {
        const int b0 = 2 * chunk;
        s[chunk] =
            _mm512_permutexvar_ps(Concat(_mm256_set1_epi32(b0), _mm256_set1_epi32(b0 + 1)), dx512);
      }
    }
  };
  static void Multiply(const SuperPanel& p, const SuperBlockX& sx, const ActivationScales& dx,
                       const Int8Activations& a, size_t sb, __m512& acc, __m256& offset) {
    const __m256i sums = _mm256_madd_epi16(p.sc16, Load256(a.sum16 + 16 * sb));
    offset = _mm256_fmadd_ps(_mm256_cvtepi32_ps(sums), _mm256_mul_ps(dx.dx, _mm256_set1_ps(p.d)),
                             offset);
    for (int chunk = 0; chunk < 4; ++chunk) {
      const __m512i prod = _mm512_dpbusd_epi32(_mm512_setzero_si512(), p.u[chunk], sx.x[chunk]);
      acc = _mm512_fmadd_ps(_mm512_cvtepi32_ps(prod), _mm512_mul_ps(p.s[chunk], dx.s[chunk]), acc);
    }
  }
  static float Finish(__m512 acc, __m256 offset) { return FinishQ6_K(acc, offset); }
};

// Super-blocks [sb0, sb1) of rows[0 .. kRows) (panel[(sb - sb0) * kRows + i]) times
// activation row a, into its states state[0 .. kRows).
template <class K, int kRows>
void SuperTile(const SuperPanel* panel, size_t sb0, size_t sb1, const Int8Activations& a,
               SuperState* state) {
  __m512 acc[kRows];
  __m256 side[kRows];
  for (int i = 0; i < kRows; ++i) acc[i] = state[i].acc, side[i] = state[i].side;
  for (size_t sb = sb0; sb < sb1; ++sb) {
    const SuperBlockX sx(a.q + 256 * sb, K::kK4Order);
    const typename K::ActivationScales dx(a, sb);
    for (int i = 0; i < kRows; ++i) {
      K::Multiply(panel[(sb - sb0) * kRows + i], sx, dx, a, sb, acc[i], side[i]);
    }
  }
  for (int i = 0; i < kRows; ++i) state[i].acc = acc[i], state[i].side = side[i];
}

template <class K, int kRows>
void SuperGroup(const uint8_t* const* rows, size_t blocks, size_t prefetch_distance,
                const Int8Activations* const* a, size_t tokens, float* const* y, size_t r0,
                Scratch& scratch) {
  SuperPanel* panel = scratch.super_panels.data();
  SuperState* state = scratch.super_states.data();
  for (size_t s = 0; s < tokens * kRows; ++s) state[s] = SuperState{};
  for (size_t sb0 = 0; sb0 < blocks; sb0 += kChunkSuperBlocks) {
    const size_t sb1 = std::min(sb0 + kChunkSuperBlocks, blocks);
    for (size_t sb = sb0; sb < sb1; ++sb) {
      for (int i = 0; i < kRows; ++i) {
        const uint8_t* blk = rows[i] + sb * K::kBytes;
        for (size_t line = 0; line < K::kBytes; line += 64) {
          _mm_prefetch(reinterpret_cast<const char*>(blk + prefetch_distance + line), _MM_HINT_T0);
        }
        K::Unpack(blk, panel[(sb - sb0) * kRows + i]);
      }
    }
    for (size_t t = 0; t < tokens; ++t) {
      SuperTile<K, kRows>(panel, sb0, sb1, *a[t], state + t * kRows);
    }
  }
  for (size_t t = 0; t < tokens; ++t) {
    for (int i = 0; i < kRows; ++i) {
      const SuperState& s = state[t * kRows + i];
      y[t][r0 + i] = K::Finish(s.acc, s.side);
    }
  }
}

template <class K>
void SuperRows(const WeightMatrix& w, const Int8Activations* const* a, size_t tokens,
               float* const* y, size_t row_begin, size_t row_end) {
  const size_t blocks = w.cols / 256;
  Scratch& scratch = ThreadScratch();
  scratch.super_panels.Reserve(kChunkSuperBlocks * kSuperRows);
  scratch.super_states.Reserve(tokens * kSuperRows);
  const auto row = [&](size_t r) { return reinterpret_cast<const uint8_t*>(w.row(r)); };
  const size_t prefetch_distance = kPrefetchRows * w.row_bytes;
  size_t r = row_begin;
  for (; r + kSuperRows <= row_end; r += kSuperRows) {
    const uint8_t* rows[kSuperRows] = {row(r), row(r + 1), row(r + 2), row(r + 3)};
    SuperGroup<K, kSuperRows>(rows, blocks, prefetch_distance, a, tokens, y, r, scratch);
  }
  for (; r < row_end; ++r) {
    const uint8_t* rows[1] = {row(r)};
    SuperGroup<K, 1>(rows, blocks, prefetch_distance, a, tokens, y, r, scratch);
  }
  static_assert(kSuperRows == 4, "groups of 4 rows, then single rows");
}

}  // namespace

void Int8MatVecBatchRowsAvx512Vnni(const WeightMatrix& w, const quant::Int8Activations* const* x,
                                   size_t tokens, float* const* y, size_t row_begin,
                                   size_t row_end) {
  if (row_begin >= row_end || tokens == 0) return;
  switch (w.dtype) {
    case DType::kQ8_0:
      return PairRows<BlockQ8_0>(w, x, tokens, y, row_begin, row_end);
    case DType::kQ4_0:
      return PairRows<BlockQ4_0>(w, x, tokens, y, row_begin, row_end);
    case DType::kQ4_1:
      return PairRows<BlockQ4_1>(w, x, tokens, y, row_begin, row_end);
    case DType::kQ5_0:
      return PairRows<BlockQ5_0>(w, x, tokens, y, row_begin, row_end);
    case DType::kQ5_1:
      return PairRows<BlockQ5_1>(w, x, tokens, y, row_begin, row_end);
    case DType::kQ4_K:
      return SuperRows<BatchK4<false>>(w, x, tokens, y, row_begin, row_end);
    case DType::kQ5_K:
      return SuperRows<BatchK4<true>>(w, x, tokens, y, row_begin, row_end);
    case DType::kQ6_K:
      return SuperRows<BatchQ6_K>(w, x, tokens, y, row_begin, row_end);
    default:
      Fail(ErrorCode::kInternal, "Int8MatVecBatchRowsAvx512Vnni: no kernel for ",
           DTypeName(w.dtype));
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
void Int8MatVecBatchRowsAvx512Vnni(const WeightMatrix&, const quant::Int8Activations* const*,
                                   size_t, float* const*, size_t, size_t) {
  Fail(ErrorCode::kInternal, "Int8MatVecBatchRowsAvx512Vnni called on a CPU that is not x86-64");
}
}  // namespace gemma::x86

#endif  // __x86_64__
