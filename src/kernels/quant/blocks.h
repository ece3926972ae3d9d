// llama.cpp's (ggml's) quantized block layouts, byte for byte as they lie in GGUF files.
// Values come in blocks; each block carries its own scale(s), stored as float16 bits.
//   Q8_0  32 values: x = d * q,                 q int8
//   Q4_0  32 values: x = d * (q - 8),           q 4 bits: value j in the low nibble of
//                                                byte j, value j + 16 in its high nibble
//   Q4_1  32 values: x = d * q + m              (same nibble order)
//   Q5_0  32 values: x = d * (q - 16),          q = nibble | (bit j of qh) << 4
//   Q5_1  32 values: x = d * q + m
//   Q4_K 256 values: 8 sub-blocks of 32, 6-bit scale sc and min m each (packed in 12
//                    bytes): x = d * sc * q - dmin * m
//   Q5_K 256 values: as Q4_K with a fifth bit per value in qh
//   Q6_K 256 values: 16 sub-blocks of 16, int8 scale each: x = d * sc * (q - 32)
#pragma once

#include <cstdint>
#include <cstring>

namespace gemma::quant {

inline constexpr int kQK = 32;    // values per block of the _0/_1 types
inline constexpr int kQKK = 256;  // values per super-block of the K types

struct BlockQ8_0 {
  uint16_t d;
  int8_t qs[kQK];
};
struct BlockQ4_0 {
  uint16_t d;
  uint8_t qs[kQK / 2];
};
struct BlockQ4_1 {
  uint16_t d;
  uint16_t m;
  uint8_t qs[kQK / 2];
};
struct BlockQ5_0 {
  uint16_t d;
  uint8_t qh[4];
  uint8_t qs[kQK / 2];
};
struct BlockQ5_1 {
  uint16_t d;
  uint16_t m;
  uint8_t qh[4];
  uint8_t qs[kQK / 2];
};
struct BlockQ4_K {
  uint16_t d;
  uint16_t dmin;
  uint8_t scales[12];
  uint8_t qs[kQKK / 2];
};
struct BlockQ5_K {
  uint16_t d;
  uint16_t dmin;
  uint8_t scales[12];
  uint8_t qh[kQKK / 8];
  uint8_t qs[kQKK / 2];
};
struct BlockQ6_K {
  uint8_t ql[kQKK / 2];
  uint8_t qh[kQKK / 4];
  int8_t scales[kQKK / 16];
  uint16_t d;
};
// Activations quantized for products with K-type weights (never stored in files).
struct BlockQ8_K {
  float d;
  int8_t qs[kQKK];
  int16_t bsums[kQKK / 16];  // sums of each 16 qs, for the mins of Q4_K / Q5_K
};

static_assert(sizeof(BlockQ8_0) == 34);
static_assert(sizeof(BlockQ4_0) == 18);
static_assert(sizeof(BlockQ4_1) == 20);
static_assert(sizeof(BlockQ5_0) == 22);
static_assert(sizeof(BlockQ5_1) == 24);
static_assert(sizeof(BlockQ4_K) == 144);
static_assert(sizeof(BlockQ5_K) == 176);
static_assert(sizeof(BlockQ6_K) == 210);
static_assert(sizeof(BlockQ8_K) == 292);

// The 6-bit scale and min of sub-block j (0..7) of a Q4_K / Q5_K block: sub-blocks 0-3 keep
// theirs in the low 6 bits of bytes j and j + 4; 4-7 split theirs between the nibbles of
// bytes j + 4 and the top 2 bits of bytes j - 4 (scale) and j (min).
inline void ScaleMinK4(int j, const uint8_t* q, uint8_t* scale, uint8_t* min) {
  if (j < 4) {
    *scale = q[j] & 63;
    *min = q[j + 4] & 63;
  } else {
    *scale = (q[j + 4] & 0xF) | ((q[j - 4] >> 6) << 4);
    *min = (q[j + 4] >> 4) | ((q[j] >> 6) << 4);
  }
}

// All eight scales and mins of a Q4_K / Q5_K block at once (ScaleMinK4 for j = 0..7), with
// four bytes per operation. The 12 bytes are read as little-endian words, as stored.
inline void UnpackScalesMinsK4(const uint8_t* q, uint8_t scales[8], uint8_t mins[8]) {
  uint32_t w[3];
  std::memcpy(w, q, sizeof(w));
  constexpr uint32_t kLow6 = 0x3f3f3f3f, kLow4 = 0x0f0f0f0f, kLow2 = 0x03030303;
  const uint32_t s[2] = {w[0] & kLow6, (w[2] & kLow4) | (((w[0] >> 6) & kLow2) << 4)};
  const uint32_t m[2] = {w[1] & kLow6, ((w[2] >> 4) & kLow4) | (((w[1] >> 6) & kLow2) << 4)};
  std::memcpy(scales, s, sizeof(s));
  std::memcpy(mins, m, sizeof(m));
}

}  // namespace gemma::quant
