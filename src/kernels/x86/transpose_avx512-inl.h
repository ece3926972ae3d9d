// A 16 x 16 transpose of 32-bit lanes in AVX-512 registers, shared by the per-ISA packers
// (bf16 pairs, int8 groups of 4). Include it after the including file's AVX-512 target
// pragma: the functions have internal linkage, so each file compiles its own copy for its
// own target.
#pragma once

#include <immintrin.h>

#include <cstddef>
#include <cstdint>

namespace gemma::x86 {
namespace {

// Transposes 16 rows of 16 uint32 (r[i] = lanes k0 .. k0 + 15 of row i) and stores lane j's
// 16 rows at out + j * stride for j < outputs, the lanes of `mask` only: 32- and 64-bit
// unpacks within 128-bit lanes, then two rounds of 128-bit lane shuffles.
inline void StoreTransposed16x16(const __m512i* r, uint32_t* out, size_t stride,
                                 __mmask16 mask = 0xffff, int outputs = 16) {
  __m512i t[16], u[16];
  for (int i = 0; i < 16; i += 2) {
    t[i] = _mm512_unpacklo_epi32(r[i], r[i + 1]);
    t[i + 1] = _mm512_unpackhi_epi32(r[i], r[i + 1]);
  }
  // u[4g + c] holds, in 128-bit lane L, rows 4g .. 4g + 3 of column 4L + c.
  for (int g = 0; g < 4; ++g) {
    u[4 * g + 0] = _mm512_unpacklo_epi64(t[4 * g + 0], t[4 * g + 2]);
    u[4 * g + 1] = _mm512_unpackhi_epi64(t[4 * g + 0], t[4 * g + 2]);
    u[4 * g + 2] = _mm512_unpacklo_epi64(t[4 * g + 1], t[4 * g + 3]);
    u[4 * g + 3] = _mm512_unpackhi_epi64(t[4 * g + 1], t[4 * g + 3]);
  }
  for (int c = 0; c < 4; ++c) {
    const __m512i v = _mm512_shuffle_i32x4(u[c], u[4 + c], 0x88);  // lanes 0, 2
    const __m512i w = _mm512_shuffle_i32x4(u[c], u[4 + c], 0xdd);  // lanes 1, 3
    const __m512i v2 = _mm512_shuffle_i32x4(u[8 + c], u[12 + c], 0x88);
    const __m512i w2 = _mm512_shuffle_i32x4(u[8 + c], u[12 + c], 0xdd);
    const __m512i columns[4] = {
        _mm512_shuffle_i32x4(v, v2, 0x88), _mm512_shuffle_i32x4(w, w2, 0x88),
        _mm512_shuffle_i32x4(v, v2, 0xdd), _mm512_shuffle_i32x4(w, w2, 0xdd)};
    for (int q = 0; q < 4; ++q) {
      const int j = 4 * q + c;  // column 4L + c with L = q
      if (j < outputs) _mm512_mask_storeu_epi32(out + size_t(j) * stride, mask, columns[q]);
    }
  }
}

}  // namespace
}  // namespace gemma::x86
