// Per-target helpers shared by the SIMD kernels: loading weights of any plain dtype as
// float32 vectors. Include inside a HWY_NAMESPACE, after hwy/highway.h (the usual
// Highway "-inl.h" re-inclusion guard).
#if defined(GEMMA_KERNELS_SIMD_WEIGHTS_INL_H_) == defined(HWY_TARGET_TOGGLE)
#ifdef GEMMA_KERNELS_SIMD_WEIGHTS_INL_H_
#undef GEMMA_KERNELS_SIMD_WEIGHTS_INL_H_
#else
#define GEMMA_KERNELS_SIMD_WEIGHTS_INL_H_
#endif

#include <cstring>

#include "base/dtype.h"
#include "hwy/highway.h"

HWY_BEFORE_NAMESPACE();
namespace gemma::HWY_NAMESPACE {
// A namespace of their own: other kernel files may define helpers with these names.
namespace plain_weights {
namespace hn = hwy::HWY_NAMESPACE;

// Lanes(df) weights starting at p, widened to float32 in registers: bf16 is a shift, f16
// one F16C instruction (vcvtph2ps) on AVX2/AVX-512.
template <class DF>
HWY_INLINE hn::Vec<DF> LoadWeights(DF df, const float* HWY_RESTRICT p) {
  return hn::LoadU(df, p);
}
template <class DF>
HWY_INLINE hn::Vec<DF> LoadWeights(DF df, const hwy::bfloat16_t* HWY_RESTRICT p) {
  const hn::Rebind<hwy::bfloat16_t, DF> dbf;
  return hn::PromoteTo(df, hn::LoadU(dbf, p));
}
template <class DF>
HWY_INLINE hn::Vec<DF> LoadWeights(DF df, const hwy::float16_t* HWY_RESTRICT p) {
  const hn::Rebind<hwy::float16_t, DF> df16;
  return hn::PromoteTo(df, hn::LoadU(df16, p));
}

// One weight as float32, for the tails that do not fill a vector.
HWY_INLINE float WeightAt(const float* p, size_t i) { return p[i]; }
HWY_INLINE float WeightAt(const hwy::bfloat16_t* p, size_t i) {
  uint16_t bits;
  std::memcpy(&bits, p + i, sizeof(bits));
  return BF16ToF32(bits);
}
HWY_INLINE float WeightAt(const hwy::float16_t* p, size_t i) {
  uint16_t bits;
  std::memcpy(&bits, p + i, sizeof(bits));
  return F16ToF32(bits);
}

// The columns [begin, cols) of a row that do not fill a vector, one at a time (the decode
// kernels' last step: kernels/matvec.cc and its batched twin, matvec_batch.cc).
template <typename T, class DF>
HWY_INLINE float DotRowTail(DF, const T* HWY_RESTRICT row, const float* HWY_RESTRICT x,
                            size_t begin, size_t cols) {
  float sum = 0.0f;
  for (size_t c = begin; c < cols; ++c) sum += WeightAt(row, c) * x[c];
  return sum;
}

}  // namespace plain_weights
}  // namespace gemma::HWY_NAMESPACE
HWY_AFTER_NAMESPACE();

#endif  // GEMMA_KERNELS_SIMD_WEIGHTS_INL_H_
