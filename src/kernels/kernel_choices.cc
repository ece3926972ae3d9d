// KernelChoices (kernels/cpu_features.h): which instruction set each kernel family uses
// on this CPU with the features enabled now.
#include "kernels/simd_targets.h"
// simd_targets.h first: HWY_TARGETS must be the set the kernels were compiled for.
#include "hwy/targets.h"
#include "kernels/cpu_features.h"
#include "kernels/quant/int8_matmul.h"
#include "kernels/quant/quant_matmul.h"

namespace gemma {

std::vector<std::pair<std::string, std::string>> KernelChoices() {
  // Highway's choice: the best target both compiled in and supported (lowest bit first).
  const int64_t usable = hwy::SupportedTargets() & HWY_TARGETS;
  const int64_t best = usable & -usable;
  std::vector<std::pair<std::string, std::string>> out = {
      {"highway", best != 0 ? hwy::TargetName(best) : "none"},
      // Products of bf16 weights with rounded activations (QuantDot::kInt8).
      {"bf16", CpuFeatureEnabled(kCpuAvx512Bf16) ? "avx512_bf16" : "highway_f32"},
      // Decode with int8 activations (QuantDot::kInt8); "float32" where there is no
      // integer kernel (the float32-activation kernels then run).
      {"int8_matvec", CpuFeatureEnabled(kCpuAvx512Vnni) ? "avx512_vnni"
                      : CpuFeatureEnabled(kCpuNeonDot)  ? "neon_dotprod"
                      : HasInt8MatVec(DType::kQ4_0)     ? "avx2"
                                                        : "float32"},
      // Prefill with int8 activations: every quantized type on VNNI, Q4_0 on AVX2 (its
      // micro-kernel in inline assembly, or the intrinsics twin).
      {"int8_matmul", CpuFeatureEnabled(kCpuAvx512Vnni)  ? "avx512_vnni"
                      : !HasInt8MatMul(DType::kQ4_0)     ? "float32"
                      : CpuFeatureEnabled(kCpuInlineAsm) ? "avx2_q4_0_asm"
                                                         : "avx2_q4_0_intrinsics"},
  };
  return out;
}

}  // namespace gemma
