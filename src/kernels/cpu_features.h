// What this CPU can run, for the kernels that have hand-written per-instruction-set
// variants (kernels/x86/, kernels/arm/) next to their portable Highway twins. Highway picks
// its own target (AVX2, AVX-512, NEON, ...) for the rest; these features go beyond what
// Highway 1.0's targets name (AVX-512 BF16, AVX-VNNI, NEON dot products).
//
// Detection is done once (CPUID and the OS's saved register state on x86, hwcaps on Arm).
// Tests restrict the set (ScopedCpuFeatureLimit) to run each variant on the same machine;
// a variant whose feature the CPU lacks is reported as not tested, never as passed.
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace gemma {

// One bit per instruction-set extension a kernel variant needs.
enum CpuFeature : uint32_t {
  kCpuAvx2Fma = 1u << 0,     // AVX2 + FMA + F16C
  kCpuAvx512 = 1u << 1,      // AVX-512 F + BW + DQ + VL, zmm state saved by the OS
  kCpuAvx512Vnni = 1u << 2,  // AVX-512 VNNI (vpdpbusd on 512 bits)
  kCpuAvx512Bf16 = 1u << 3,  // AVX-512 BF16 (vdpbf16ps)
  kCpuAvxVnni = 1u << 4,     // AVX-VNNI (vpdpbusd on 256 bits, VEX encoded)
  kCpuNeonDot = 1u << 5,     // Armv8.2 dot products (sdot/udot)
  // Not an instruction set: the kernels written in inline assembly where a compiler could not
  // allocate the registers (kernels/x86/int8_tile_avx2-inl.h). Enabled on x86-64 builds but
  // never part of CpuInfo::features; switched off, their intrinsics twins run (the tests
  // compare both; GEMMA_DISABLE_CPU_FEATURES=inline_asm for A/B measurements).
  kCpuInlineAsm = 1u << 6,
};

struct CpuInfo {
  std::string model;  // e.g. "AMD EPYC 9B45" (CPUID brand string, or /proc/cpuinfo)
  uint32_t features;  // CpuFeature bits detected
  bool avx2_fma = false, avx512 = false, avx512_vnni = false, avx512_bf16 = false;
  bool avx_vnni = false, neon_dot = false;
};

// The CPU this process runs on (detected on first use).
const CpuInfo& Cpu();

// The features the kernels may use now: those detected, minus those named in the
// environment variable GEMMA_DISABLE_CPU_FEATURES (comma-separated CpuFeatureNames, read
// once) and any a test or benchmark has switched off (ScopedCpuFeatureLimit). Read by the
// kernels at each dispatch.
uint32_t EnabledCpuFeatures();
inline bool CpuFeatureEnabled(CpuFeature f) { return (EnabledCpuFeatures() & f) != 0; }

// Allows only `allowed` (intersected with what the CPU has) until destroyed, then restores
// the previous set. For tests and benchmarks that compare variants; not for concurrent use
// with kernels running in other threads.
class ScopedCpuFeatureLimit {
 public:
  explicit ScopedCpuFeatureLimit(uint32_t allowed);  // allowed & the enabled features
  ~ScopedCpuFeatureLimit();
  ScopedCpuFeatureLimit(const ScopedCpuFeatureLimit&) = delete;
  ScopedCpuFeatureLimit& operator=(const ScopedCpuFeatureLimit&) = delete;

 private:
  uint32_t previous_;
};

// Short names of feature bits ("avx512_bf16", ...), comma-separated.
std::string CpuFeatureNames(uint32_t features);

// What the kernels chose on this CPU with the enabled features: pairs of (kernel family,
// instruction set), e.g. {"highway", "AVX3"}, {"bf16_matmul", "avx512_bf16"},
// {"int8_matvec", "avx512_vnni"}. For `gemma-rt bench --json` and the benchmarks.
std::vector<std::pair<std::string, std::string>> KernelChoices();
// The same as one line: "highway=AVX3 bf16_matmul=avx512_bf16 ...".
std::string KernelIsaSummary();

}  // namespace gemma
