// Rounding activations to int8 blocks (int8_activations.h). The SIMD and scalar versions
// do the same float operations in the same order (one max, one division, one multiply per
// value, round to nearest even), so they agree bit for bit.

#include "kernels/simd_targets.h"
// clang-format off
#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "kernels/quant/int8_activations.cc"
#include "hwy/foreach_target.h"  // IWYU pragma: keep
// clang-format on
#include <algorithm>
#include <cmath>
#include <cstdint>

#include "hwy/highway.h"
#include "kernels/quant/int8_activations.h"

#ifndef GEMMA_KERNELS_QUANT_INT8_ACTIVATIONS_ONCE_
#define GEMMA_KERNELS_QUANT_INT8_ACTIVATIONS_ONCE_
namespace gemma::quant::int8_detail {
// Below this block maximum, 127 / max overflows float32 (or nearly): such a block is
// rounded to all zeros with d = 0, an error of less than 1e-30 per value.
constexpr float kTinyMax = 1e-30f;
}  // namespace gemma::quant::int8_detail
#endif

HWY_BEFORE_NAMESPACE();
namespace gemma::quant::HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;
namespace {

// Lanes of this target: blocks are split into whole vectors of at most 16 values.
size_t Lanes() { return hn::Lanes(hn::ScalableTag<float>()); }

bool QuantizeBlocks(const float* HWY_RESTRICT x, size_t cols, int8_t* HWY_RESTRICT q,
                    int8_t* HWY_RESTRICT q_pairs, float* HWY_RESTRICT d, float* HWY_RESTRICT dsum,
                    int16_t* HWY_RESTRICT sum16) {
  const hn::ScalableTag<float> df;
  const hn::RebindToSigned<decltype(df)> di;
  const hn::Rebind<int8_t, decltype(df)> d8;
  const size_t N = hn::Lanes(df);
  const size_t paired = cols / 64 * 2;  // blocks that belong to a pair
  for (size_t b = 0; b < cols / 32; ++b) {
    const float* HWY_RESTRICT xb = x + 32 * b;
    // x * 0 is NaN exactly for NaN and infinite x (Max alone may drop a NaN lane).
    auto vmax = hn::Zero(df), nonfinite = hn::Zero(df);
    for (size_t i = 0; i < 32; i += N) {
      const auto v = hn::LoadU(df, xb + i);
      vmax = hn::Max(vmax, hn::Abs(v));
      nonfinite = hn::MulAdd(v, hn::Zero(df), nonfinite);
    }
    if (std::isnan(hn::GetLane(hn::SumOfLanes(df, nonfinite)))) return false;
    const float amax = hn::GetLane(hn::MaxOfLanes(df, vmax));
    const bool tiny = amax < int8_detail::kTinyMax;
    const float inv = tiny ? 0.0f : 127.0f / amax;
    const auto vinv = hn::Set(df, inv);
    int32_t total = 0;
    for (size_t h = 0; h < 32; h += 16) {
      auto sum = hn::Zero(di);
      int8_t* HWY_RESTRICT pair_half = q_pairs + 64 * (b / 2) + 2 * h + 16 * (b % 2);
      for (size_t i = h; i < h + 16; i += N) {
        const auto qi = hn::NearestInt(hn::Mul(hn::LoadU(df, xb + i), vinv));
        const auto q8 = hn::DemoteTo(d8, qi);
        hn::StoreU(q8, d8, q + 32 * b + i);
        if (b < paired) hn::StoreU(q8, d8, pair_half + (i - h));
        sum = hn::Add(sum, qi);
      }
      const int32_t s = hn::GetLane(hn::SumOfLanes(di, sum));
      sum16[2 * b + h / 16] = static_cast<int16_t>(s);
      total += s;
    }
    d[b] = tiny ? 0.0f : amax / 127.0f;
    dsum[b] = d[b] * static_cast<float>(total);
  }
  return true;
}

}  // namespace
}  // namespace gemma::quant::HWY_NAMESPACE
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
#include "base/error.h"

namespace gemma::quant {

HWY_EXPORT(Lanes);
HWY_EXPORT(QuantizeBlocks);

namespace {

struct Buffers {
  int8_t* q;
  int8_t* q_pairs;
  float* d;
  float* dsum;
  float* d4;
  float* dsum4;
  int16_t* sum16;
};

Buffers Prepare(size_t cols, Int8Activations& out) {
  if (cols % kInt8ActivationBlock != 0) {
    Fail(ErrorCode::kInvalidArgument, "QuantizeActivations: ", cols,
         " values is not a multiple of ", kInt8ActivationBlock);
  }
  const size_t blocks = cols / kInt8ActivationBlock;
  if (cols > out.capacity) {
    out.q_storage = hwy::AllocateAligned<int8_t>(2 * cols);
    out.scale_storage = hwy::AllocateAligned<float>(10 * blocks);
    out.sum16_storage = hwy::AllocateAligned<int16_t>(2 * blocks);
    if (!out.q_storage || !out.scale_storage || !out.sum16_storage) {
      Fail(ErrorCode::kInternal, "QuantizeActivations: cannot allocate ", cols, " values");
    }
    out.capacity = cols;
  }
  out.cols = cols;
  // Offsets are taken from the capacity, so a narrower vector reuses the same layout.
  const size_t cap_blocks = out.capacity / kInt8ActivationBlock;
  float* scales = out.scale_storage.get();
  Buffers b{out.q_storage.get(),
            out.q_storage.get() + out.capacity,
            scales,
            scales + cap_blocks,
            scales + 2 * cap_blocks,
            scales + 6 * cap_blocks,
            out.sum16_storage.get()};
  out.q = b.q;
  out.q_pairs = b.q_pairs;
  out.d = b.d;
  out.dsum = b.dsum;
  out.d4 = b.d4;
  out.dsum4 = b.dsum4;
  out.sum16 = b.sum16;
  return b;
}

// The four-fold copies of d and dsum (int8_activations.h).
void FillFourFold(size_t blocks, const Buffers& b) {
  for (size_t blk = 0; blk < blocks; ++blk) {
    for (size_t i = 0; i < 4; ++i) {
      b.d4[4 * blk + i] = b.d[blk];
      b.dsum4[4 * blk + i] = b.dsum[blk];
    }
  }
}

}  // namespace

bool QuantizeActivations(const float* x, size_t cols, Int8Activations& out) {
  const Buffers b = Prepare(cols, out);
  if (HWY_DYNAMIC_DISPATCH(Lanes)() > 16) return QuantizeActivationsReference(x, cols, out);
  if (!HWY_DYNAMIC_DISPATCH(QuantizeBlocks)(x, cols, b.q, b.q_pairs, b.d, b.dsum, b.sum16)) {
    return false;
  }
  FillFourFold(cols / kInt8ActivationBlock, b);
  return true;
}

bool QuantizeActivationsReference(const float* x, size_t cols, Int8Activations& out) {
  const Buffers b = Prepare(cols, out);
  const size_t paired = cols / 64 * 2;
  for (size_t blk = 0; blk < cols / 32; ++blk) {
    const float* xb = x + 32 * blk;
    float amax = 0.0f;
    for (size_t i = 0; i < 32; ++i) {
      if (std::isnan(xb[i])) return false;
      amax = std::max(amax, std::fabs(xb[i]));
    }
    if (!std::isfinite(amax)) return false;
    const bool tiny = amax < int8_detail::kTinyMax;
    const float inv = tiny ? 0.0f : 127.0f / amax;
    int32_t total = 0;
    for (size_t h = 0; h < 2; ++h) {
      int32_t s = 0;
      for (size_t i = 16 * h; i < 16 * h + 16; ++i) {
        const float r = std::clamp(std::nearbyint(xb[i] * inv), -127.0f, 127.0f);
        const int32_t qi = static_cast<int32_t>(r);
        b.q[32 * blk + i] = static_cast<int8_t>(qi);
        if (blk < paired)
          b.q_pairs[64 * (blk / 2) + 32 * h + 16 * (blk % 2) + (i - 16 * h)] = b.q[32 * blk + i];
        s += qi;
      }
      b.sum16[2 * blk + h] = static_cast<int16_t>(s);
      total += s;
    }
    b.d[blk] = tiny ? 0.0f : amax / 127.0f;
    b.dsum[blk] = b.d[blk] * static_cast<float>(total);
  }
  FillFourFold(cols / kInt8ActivationBlock, b);
  return true;
}

}  // namespace gemma::quant
#endif  // HWY_ONCE
