// libFuzzer target: the safetensors header parser must turn any byte string into either a
// header whose tensors lie inside the input without overlapping, or a gemma::Error; never a
// crash, an overread, a huge allocation or undefined behaviour.
#include <cstddef>
#include <cstdint>
#include <span>

#include "base/error.h"
#include "io/safetensors.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::span<const std::byte> bytes(reinterpret_cast<const std::byte*>(data), size);
  try {
    const gemma::SafetensorsHeader header = gemma::ParseSafetensorsHeader(bytes, "fuzz");
    // Touch the last byte of every tensor: ASan reports it if the checks let one escape.
    uint64_t checksum = 0;
    uint64_t previous_end = 0;
    for (const gemma::SafetensorsEntry& t : header.tensors) {
      if (t.begin < previous_end) __builtin_trap();  // overlap got through
      previous_end = t.end;
      const auto tensor = bytes.subspan(header.data_start + t.begin, t.end - t.begin);
      if (!tensor.empty()) checksum += static_cast<uint8_t>(tensor.back());
    }
    return checksum == 0xdeadbeef ? 1 : 0;
  } catch (const gemma::Error&) {
    return 0;
  }
}
