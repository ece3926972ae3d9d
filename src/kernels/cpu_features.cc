#include "kernels/cpu_features.h"

#include <atomic>
#include <cstdlib>
#include <cstring>
#include <fstream>

#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
#include <immintrin.h>
#endif
#if defined(__aarch64__) && defined(__linux__)
#include <sys/auxv.h>
#endif

namespace gemma {
namespace {

#if defined(__x86_64__) || defined(__i386__)
struct Regs {
  unsigned a = 0, b = 0, c = 0, d = 0;
};
Regs CpuId(unsigned leaf, unsigned subleaf) {
  Regs r;
  if (!__get_cpuid_count(leaf, subleaf, &r.a, &r.b, &r.c, &r.d)) return Regs{};
  return r;
}
bool Bit(unsigned v, int i) { return (v >> i) & 1u; }

std::string BrandString() {
  Regs max = CpuId(0x80000000u, 0);
  if (max.a < 0x80000004u) return {};
  char brand[49] = {};
  for (unsigned i = 0; i < 3; ++i) {
    const Regs r = CpuId(0x80000002u + i, 0);
    std::memcpy(brand + 16 * i + 0, &r.a, 4);
    std::memcpy(brand + 16 * i + 4, &r.b, 4);
    std::memcpy(brand + 16 * i + 8, &r.c, 4);
    std::memcpy(brand + 16 * i + 12, &r.d, 4);
  }
  std::string s(brand);
  while (!s.empty() && s.back() == ' ') s.pop_back();
  const size_t first = s.find_first_not_of(' ');
  s = first == std::string::npos ? std::string() : s.substr(first);
  // Family and model too: hypervisors often shorten the brand string ("AMD EPYC").
  const Regs l1 = CpuId(1, 0);
  const unsigned base_family = (l1.a >> 8) & 0xf, base_model = (l1.a >> 4) & 0xf;
  const unsigned family = base_family == 0xf ? base_family + ((l1.a >> 20) & 0xff) : base_family;
  const unsigned model = base_family >= 0x6 ? base_model | (((l1.a >> 16) & 0xf) << 4) : base_model;
  return s + " (family " + std::to_string(family) + ", model " + std::to_string(model) + ")";
}

// XCR0: the register state the OS saves on context switches. The xgetbv intrinsic needs the
// xsave target; it runs only after CPUID reported OSXSAVE.
__attribute__((target("xsave"))) uint64_t Xcr0() { return _xgetbv(0); }

uint32_t DetectFeatures() {
  const Regs l1 = CpuId(1, 0);
  const bool osxsave = Bit(l1.c, 27);
  if (!osxsave) return 0;
  const uint64_t xcr0 = Xcr0();
  const bool ymm_state = (xcr0 & 0x6u) == 0x6u;    // SSE + AVX state
  const bool zmm_state = (xcr0 & 0xe6u) == 0xe6u;  // + opmask, ZMM_Hi256, Hi16_ZMM
  const Regs l7 = CpuId(7, 0);
  const Regs l7s1 = l7.a >= 1 ? CpuId(7, 1) : Regs{};
  uint32_t f = 0;
  const bool avx2_fma =
      ymm_state && Bit(l1.c, 28) && Bit(l1.c, 12) && Bit(l1.c, 29) && Bit(l7.b, 5);
  if (!avx2_fma) return 0;
  f |= kCpuAvx2Fma;
  if (Bit(l7s1.a, 4)) f |= kCpuAvxVnni;
  const bool avx512 = zmm_state && Bit(l7.b, 16) && Bit(l7.b, 17) && Bit(l7.b, 30) && Bit(l7.b, 31);
  if (avx512) {
    f |= kCpuAvx512;
    if (Bit(l7.c, 11)) f |= kCpuAvx512Vnni;
    if (Bit(l7s1.a, 5)) f |= kCpuAvx512Bf16;
  }
  return f;
}
#elif defined(__aarch64__) && defined(__linux__)
std::string BrandString() { return {}; }
uint32_t DetectFeatures() {
#ifndef HWCAP_ASIMDDP
#define HWCAP_ASIMDDP (1 << 20)
#endif
  return (getauxval(AT_HWCAP) & HWCAP_ASIMDDP) ? uint32_t{kCpuNeonDot} : 0u;
}
#else
std::string BrandString() { return {}; }
uint32_t DetectFeatures() { return 0; }
#endif

// /proc/cpuinfo's "model name" (x86, some Arm kernels) or its CPU part (Arm).
std::string ProcCpuModel() {
  std::ifstream in("/proc/cpuinfo");
  std::string line, part;
  while (std::getline(in, line)) {
    const size_t colon = line.find(':');
    if (colon == std::string::npos || colon + 2 > line.size()) continue;
    const std::string key = line.substr(0, line.find_last_not_of(" \t", colon - 1) + 1);
    const std::string value = line.substr(colon + 2);
    if (key == "model name") return value;
    if (key == "CPU part" && part.empty()) part = "CPU part " + value;
  }
  return part;
}

CpuInfo Detect() {
  CpuInfo info;
  info.features = DetectFeatures();
  info.model = BrandString();
  if (info.model.empty()) info.model = ProcCpuModel();
  if (info.model.empty()) info.model = "unknown";
  info.avx2_fma = info.features & kCpuAvx2Fma;
  info.avx512 = info.features & kCpuAvx512;
  info.avx512_vnni = info.features & kCpuAvx512Vnni;
  info.avx512_bf16 = info.features & kCpuAvx512Bf16;
  info.avx_vnni = info.features & kCpuAvxVnni;
  info.neon_dot = info.features & kCpuNeonDot;
  return info;
}

constexpr std::pair<CpuFeature, const char*> kFeatureNames[] = {
    {kCpuAvx2Fma, "avx2_fma"},       {kCpuAvx512, "avx512"},    {kCpuAvx512Vnni, "avx512_vnni"},
    {kCpuAvx512Bf16, "avx512_bf16"}, {kCpuAvxVnni, "avx_vnni"}, {kCpuNeonDot, "neon_dotprod"},
    {kCpuInlineAsm, "inline_asm"},
};

// The inline-assembly variants exist in x86-64 builds (their instructions are AVX2: the
// kernels that use them check kCpuAvx2Fma through Highway's dispatch).
constexpr uint32_t kBuiltVariants =
#if defined(__x86_64__)
    kCpuInlineAsm;
#else
    0;
#endif

// GEMMA_DISABLE_CPU_FEATURES=avx512_bf16,avx512_vnni switches kernel variants off for the
// whole process: side-by-side measurements of one binary, and a way around a suspect kernel.
uint32_t DisabledByEnvironment() {
  const char* env = std::getenv("GEMMA_DISABLE_CPU_FEATURES");
  if (env == nullptr) return 0;
  uint32_t disabled = 0;
  const std::string list = std::string(",") + env + ",";
  for (const auto& [bit, name] : kFeatureNames) {
    if (list.find(std::string(",") + name + ",") != std::string::npos) disabled |= bit;
  }
  return disabled;
}

std::atomic<uint32_t>& EnabledMask() {
  static std::atomic<uint32_t> mask{(Cpu().features | kBuiltVariants) & ~DisabledByEnvironment()};
  return mask;
}

}  // namespace

const CpuInfo& Cpu() {
  static const CpuInfo info = Detect();
  return info;
}

uint32_t EnabledCpuFeatures() { return EnabledMask().load(std::memory_order_relaxed); }

ScopedCpuFeatureLimit::ScopedCpuFeatureLimit(uint32_t allowed)
    : previous_(EnabledMask().load(std::memory_order_relaxed)) {
  EnabledMask().store(previous_ & allowed, std::memory_order_relaxed);
}
ScopedCpuFeatureLimit::~ScopedCpuFeatureLimit() {
  EnabledMask().store(previous_, std::memory_order_relaxed);
}

std::string CpuFeatureNames(uint32_t features) {
  std::string out;
  for (const auto& [bit, name] : kFeatureNames) {
    if ((features & bit) == 0) continue;
    if (!out.empty()) out += ',';
    out += name;
  }
  return out.empty() ? "none" : out;
}

std::string KernelIsaSummary() {
  std::string out;
  for (const auto& [kernel, isa] : KernelChoices()) {
    if (!out.empty()) out += ' ';
    out += kernel + "=" + isa;
  }
  return out;
}

}  // namespace gemma
