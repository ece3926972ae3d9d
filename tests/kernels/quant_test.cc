// Block formats and kernels on data built by hand or at random (awkward sizes): values of
// hand-made blocks follow from the layouts in tests/data/gguf/README.md (written out again
// here, independently of the code), quantize -> dequantize stays within each type's step,
// and the quantized products match a double-precision reference. The sharp checks against
// llama.cpp's files are in tests/model/gguf_quantizers_test.cc and gguf_logits_test.cc.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <random>
#include <vector>

#include "kernels/quant/blocks.h"
#include "kernels/quant/dequantize_blocks.h"
#include "kernels/quant/quant_matmul.h"
#include "kernels/quant/quantize.h"
#include "kernels/weight_matrix.h"

namespace gemma::quant {
namespace {

TEST(QuantBlocks, Q4_0NibbleOrderLowHalfThenHighHalf) {
  BlockQ4_0 b{};
  b.d = F32ToF16(0.5f);
  for (int j = 0; j < 16; ++j) b.qs[j] = static_cast<uint8_t>((j & 0xF) | ((15 - j) << 4));
  float y[32];
  DequantizeBlocks(DType::kQ4_0, &b, y, 32);
  for (int j = 0; j < 16; ++j) {
    EXPECT_EQ(y[j], 0.5f * (j - 8)) << j;            // value j: low nibble of byte j
    EXPECT_EQ(y[j + 16], 0.5f * (15 - j - 8)) << j;  // value j + 16: its high nibble
  }
}

TEST(QuantBlocks, Q4_1ScaleTimesNibblePlusMin) {
  // ggml: value j = d * q_j + m, q_j the low nibble of byte j (j < 16) or the high nibble
  // of byte j - 16.
  BlockQ4_1 b{};
  b.d = F32ToF16(0.5f);
  b.m = F32ToF16(-3.0f);
  for (int j = 0; j < 16; ++j) b.qs[j] = static_cast<uint8_t>(j | ((15 - j) << 4));
  float y[32];
  DequantizeBlocks(DType::kQ4_1, &b, y, 32);
  EXPECT_EQ(y[0], -3.0f);      // 0.5 * 0 - 3
  EXPECT_EQ(y[9], 1.5f);       // 0.5 * 9 - 3
  EXPECT_EQ(y[15], 4.5f);      // 0.5 * 15 - 3
  EXPECT_EQ(y[16], 4.5f);      // high nibble of byte 0: 15
  EXPECT_EQ(y[16 + 6], 1.5f);  // high nibble of byte 6: 9
  EXPECT_EQ(y[31], -3.0f);     // high nibble of byte 15: 0
}

TEST(QuantBlocks, Q5_0AndQ5_1FifthBitFromQh) {
  BlockQ5_1 b{};
  b.d = F32ToF16(2.0f);
  b.m = F32ToF16(-1.0f);
  const uint32_t qh = 0x80000001u;  // bit 0 -> value 0, bit 31 -> value 31
  std::memcpy(b.qh, &qh, 4);
  for (int j = 0; j < 16; ++j) b.qs[j] = 0x33;
  float y[32];
  DequantizeBlocks(DType::kQ5_1, &b, y, 32);
  EXPECT_EQ(y[0], 2.0f * (3 + 16) - 1.0f);
  EXPECT_EQ(y[1], 2.0f * 3 - 1.0f);
  EXPECT_EQ(y[31], 2.0f * (3 + 16) - 1.0f);
  BlockQ5_0 c{};
  c.d = F32ToF16(1.0f);
  std::memcpy(c.qh, &qh, 4);
  DequantizeBlocks(DType::kQ5_0, &c, y, 32);
  EXPECT_EQ(y[0], 16.0f - 16.0f);
  EXPECT_EQ(y[5], -16.0f);
  EXPECT_EQ(y[31], 0.0f);
}

TEST(QuantBlocks, Q4_KScalesAndMinsOfAllEightSubBlocks) {
  BlockQ4_K b{};
  b.d = F32ToF16(1.0f);
  b.dmin = F32ToF16(0.5f);
  // Sub-block j gets scale 10 + j + 40 * (j >= 4) and min j + 1 + 20 * (j >= 4), packed as
  // llama.cpp packs them: 0-3 in the low 6 bits of bytes j and j + 4; 4-7 in the nibbles of
  // byte j + 4 with their top 2 bits in bytes j - 4 (scale) and j (min).
  int scale[8], min[8];
  for (int j = 0; j < 8; ++j) {
    scale[j] = 10 + j + (j >= 4 ? 40 : 0);
    min[j] = j + 1 + (j >= 4 ? 20 : 0);
  }
  for (int j = 0; j < 4; ++j) {
    b.scales[j] = static_cast<uint8_t>(scale[j] | ((scale[j + 4] >> 4) << 6));
    b.scales[j + 4] = static_cast<uint8_t>(min[j] | ((min[j + 4] >> 4) << 6));
    b.scales[j + 8] = static_cast<uint8_t>((scale[j + 4] & 0xF) | ((min[j + 4] & 0xF) << 4));
  }
  for (int i = 0; i < 128; ++i) b.qs[i] = 0x52;  // low nibble 2, high nibble 5
  float y[256];
  DequantizeBlocks(DType::kQ4_K, &b, y, 256);
  for (int j = 0; j < 8; ++j) {
    // Sub-blocks 2k and 2k + 1 share bytes 32k..32k+31: low nibbles, then high nibbles.
    const int q = j % 2 == 0 ? 2 : 5;
    EXPECT_EQ(y[32 * j + 7], 1.0f * scale[j] * q - 0.5f * min[j]) << "sub-block " << j;
  }
}

TEST(QuantBlocks, Q5_KScalesMinsAndTheFifthBitOfEachSubBlock) {
  // ggml's dequantize_row_q5_K: sub-blocks 2k and 2k + 1 (32 values each) read bytes
  // 32k..32k+31 of qs (low nibbles, then high nibbles); value l of sub-block 2k gets 16 more
  // when bit 2k of qh[l] is set, of sub-block 2k + 1 when bit 2k + 1 is. Scales and mins are
  // packed as in Q4_K.
  BlockQ5_K b{};
  b.d = F32ToF16(0.25f);
  b.dmin = F32ToF16(2.0f);
  const int scale[8] = {1, 2, 3, 63, 17, 33, 48, 5};
  const int min[8] = {0, 7, 63, 1, 40, 9, 16, 31};
  for (int j = 0; j < 4; ++j) {
    b.scales[j] = static_cast<uint8_t>(scale[j] | ((scale[j + 4] >> 4) << 6));
    b.scales[j + 4] = static_cast<uint8_t>(min[j] | ((min[j + 4] >> 4) << 6));
    b.scales[j + 8] = static_cast<uint8_t>((scale[j + 4] & 0xF) | ((min[j + 4] & 0xF) << 4));
  }
  for (int i = 0; i < 128; ++i) b.qs[i] = 0x93;  // low nibble 3, high nibble 9
  // Even l: the fifth bit for sub-blocks 0, 2, 4, 6; odd l: for 1, 3, 5, 7.
  for (int l = 0; l < 32; ++l) b.qh[l] = l % 2 == 0 ? 0x55 : 0xAA;
  float y[256];
  DequantizeBlocks(DType::kQ5_K, &b, y, 256);
  // Worked out by hand for sub-block 3 (scale 63, min 1; high nibbles, q = 9):
  EXPECT_EQ(y[96 + 4], 0.25f * 63 * 9 - 2.0f * 1);         // qh[4] = 0x55: bit 3 clear
  EXPECT_EQ(y[96 + 5], 0.25f * 63 * (9 + 16) - 2.0f * 1);  // qh[5] = 0xAA: bit 3 set
  for (int j = 0; j < 8; ++j) {
    const int q = j % 2 == 0 ? 3 : 9;
    for (int l : {6, 7}) {
      const int fifth = (j % 2) == (l % 2) ? 16 : 0;
      EXPECT_EQ(y[32 * j + l], 0.25f * scale[j] * (q + fifth) - 2.0f * min[j])
          << "sub-block " << j << " value " << l;
    }
  }
}

TEST(QuantBlocks, Q6_KOneScalePerSixteenValues) {
  BlockQ6_K b{};
  b.d = F32ToF16(0.25f);
  for (int s = 0; s < 16; ++s) b.scales[s] = static_cast<int8_t>(s - 8);
  // Every 6-bit value = 33 (low 4 bits 1, high 2 bits 2): q - 32 = 1.
  for (int i = 0; i < 128; ++i) b.ql[i] = 0x11;
  for (int i = 0; i < 64; ++i) b.qh[i] = 0xAA;
  float y[256];
  DequantizeBlocks(DType::kQ6_K, &b, y, 256);
  for (int i = 0; i < 256; ++i) EXPECT_EQ(y[i], 0.25f * (i / 16 - 8)) << i;
}

TEST(QuantBlocks, NearestIntRoundsHalfToEven) {
  EXPECT_EQ(NearestInt(0.5f), 0);
  EXPECT_EQ(NearestInt(1.5f), 2);
  EXPECT_EQ(NearestInt(-2.5f), -2);
  EXPECT_EQ(NearestInt(-2.6f), -3);
}

std::vector<float> RandomValues(size_t n, uint32_t seed, float scale = 1.0f) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> normal(0.0f, scale);
  std::vector<float> v(n);
  for (float& x : v) x = normal(rng);
  return v;
}

// Each type's worst error relative to the block's largest magnitude (its step size).
struct Bound {
  DType type;
  double max_rel_error;
};

TEST(QuantRoundTrip, EveryTypeWithinItsStep) {
  const Bound bounds[] = {{DType::kQ8_0, 1.0 / 127}, {DType::kQ4_0, 1.0 / 8 + 1e-3},
                          {DType::kQ4_1, 1.0 / 15},  {DType::kQ5_0, 1.0 / 16 + 1e-3},
                          {DType::kQ5_1, 1.0 / 31},  {DType::kQ4_K, 0.25},
                          {DType::kQ5_K, 0.12},      {DType::kQ6_K, 0.06}};
  for (const Bound& b : bounds) {
    SCOPED_TRACE(DTypeName(b.type));
    const size_t block = Traits(b.type).block_elements;
    for (size_t blocks : {1u, 3u, 7u}) {
      const size_t n = blocks * block;
      std::vector<float> x = RandomValues(n, static_cast<uint32_t>(n));
      x[1] = 0.0f;
      std::vector<std::byte> q(ByteSize(b.type, n));
      QuantizeRow(b.type, x.data(), q.data(), n);
      std::vector<float> y(n);
      DequantizeBlocks(b.type, q.data(), y.data(), n);
      for (size_t blk = 0; blk < blocks; ++blk) {
        double amax = 0, err = 0;
        for (size_t i = blk * block; i < (blk + 1) * block; ++i) {
          amax = std::max(amax, std::fabs(static_cast<double>(x[i])));
          err = std::max(err, std::fabs(static_cast<double>(x[i]) - y[i]));
        }
        EXPECT_LE(err, b.max_rel_error * amax) << "block " << blk;
      }
    }
    // All-zero input stays zero (no division by a zero scale).
    std::vector<float> zeros(block, 0.0f), out(block, 1.0f);
    std::vector<std::byte> q(ByteSize(b.type, block));
    QuantizeRow(b.type, zeros.data(), q.data(), block);
    DequantizeBlocks(b.type, q.data(), out.data(), block);
    for (float v : out) EXPECT_EQ(v, 0.0f);
  }
}

TEST(QuantActivations, Q8_0AndQ8_KFollowLlamaCppsFormulas) {
  const std::vector<float> x = RandomValues(512, 7);
  BlockQ8_K k[2];
  QuantizeRowQ8_K(x.data(), k, 512);
  for (int b = 0; b < 2; ++b) {
    float max = 0, amax = 0;
    for (int i = 0; i < 256; ++i) {
      if (std::fabs(x[256 * b + i]) > amax) {
        amax = std::fabs(x[256 * b + i]);
        max = x[256 * b + i];
      }
    }
    const float iscale = -127.f / max;
    EXPECT_EQ(k[b].d, 1 / iscale);
    for (int i = 0; i < 256; ++i) {
      EXPECT_EQ(k[b].qs[i], std::min(127.f, std::nearbyint(iscale * x[256 * b + i])));
    }
    for (int g = 0; g < 16; ++g) {
      int sum = 0;
      for (int i = 0; i < 16; ++i) sum += k[b].qs[16 * g + i];
      EXPECT_EQ(k[b].bsums[g], sum);
    }
  }
}

// QuantMatVecRows / QuantMatMulRows against a double-precision product of the dequantized
// rows, for every type, on row counts and row ranges that do not divide evenly.
TEST(QuantMatmul, MatchesDoubleReferenceOnAwkwardSizes) {
  for (DType type : {DType::kQ8_0, DType::kQ4_0, DType::kQ4_1, DType::kQ5_0, DType::kQ5_1,
                     DType::kQ4_K, DType::kQ5_K, DType::kQ6_K}) {
    SCOPED_TRACE(DTypeName(type));
    const size_t cols = 3 * Traits(type).block_elements;
    const size_t rows = 13, tokens = 3;
    const std::vector<float> w = RandomValues(rows * cols, 11, 0.1f);
    std::vector<std::byte> q(ByteSize(type, rows * cols));
    QuantizeRow(type, w.data(), q.data(), rows * cols);
    const WeightMatrix m{.dtype = type,
                         .data = q.data(),
                         .rows = rows,
                         .cols = cols,
                         .row_bytes = ByteSize(type, cols)};
    const std::vector<float> x = RandomValues(tokens * cols, 12);
    std::vector<float> y(tokens * rows, -1.0f), yv(rows, -1.0f);
    QuantMatMulRows(m, x.data(), tokens, y.data(), 2, 11);
    QuantMatVecRows(m, x.data(), yv.data(), 0, rows);
    std::vector<float> row(cols);
    for (size_t r = 0; r < rows; ++r) {
      DequantizeRow(m, r, row.data());
      for (size_t t = 0; t < tokens; ++t) {
        double ref = 0, abs = 0;
        for (size_t c = 0; c < cols; ++c) {
          ref += static_cast<double>(row[c]) * x[t * cols + c];
          abs += std::fabs(static_cast<double>(row[c]) * x[t * cols + c]);
        }
        if (r >= 2 && r < 11) {
          EXPECT_NEAR(y[t * rows + r], ref, 1e-5 * abs + 1e-6) << "row " << r << " token " << t;
        } else {
          EXPECT_EQ(y[t * rows + r], -1.0f) << "row " << r << " outside the range was written";
        }
        if (t == 0) {
          EXPECT_NEAR(yv[r], ref, 1e-5 * abs + 1e-6) << "matvec row " << r;
        }
      }
    }
  }
}

}  // namespace
}  // namespace gemma::quant
