// Which instruction sets the SIMD kernels are compiled for. Include this first in every
// file that uses Highway's foreach_target.h, before any hwy header.
//
// Highway compiles each kernel once per target and picks the best one at run time, so
// one binary runs on any x86-64. Every extra target costs a full compile of the kernel
// files; SSSE3/SSE4 machines are too rare for the time they add on our 2-core builders,
// so x86-64 gets AVX2 (+FMA+F16C), AVX-512 and the portable scalar fallback. Arm gets NEON
// only: the kernels keep register tiles in arrays of vectors, which SVE's sizeless vector
// types forbid (GCC: "array elements cannot have SVE type"); SVE CPUs (Graviton 3/4,
// Neoverse V/N2) run the NEON code, with the dot-product kernels of kernels/arm/.
#pragma once

#ifndef HWY_DISABLED_TARGETS
#define HWY_DISABLED_TARGETS \
  (HWY_SSSE3 | HWY_SSE4 | HWY_SVE | HWY_SVE2 | HWY_SVE_256 | HWY_SVE2_128)
#endif
