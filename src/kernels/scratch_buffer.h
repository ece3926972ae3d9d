// A thread's reusable scratch for SIMD types (panels of unpacked weights, saved accumulators):
// aligned for any vector (std::vector does not promise the alignment of __m256 members in
// every build), grown to the largest size asked for, never shrunk. Contents are not
// initialized. T must be trivially copyable.
#pragma once

#include <cstddef>
#include <type_traits>

#include "hwy/aligned_allocator.h"

namespace gemma {

template <typename T>
class ScratchBuffer {
  static_assert(std::is_trivially_copyable_v<T>);

 public:
  // At least n elements; the pointer stays valid until a larger Reserve.
  T* Reserve(size_t n) {
    if (n > capacity_) {
      storage_ = hwy::AllocateAligned<T>(n);
      capacity_ = n;
    }
    return storage_.get();
  }
  T* data() const { return storage_.get(); }

 private:
  hwy::AlignedFreeUniquePtr<T[]> storage_;
  size_t capacity_ = 0;
};

}  // namespace gemma
