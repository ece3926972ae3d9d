// libFuzzer target: the GGUF header parser must turn any byte string into either a header
// whose tensors lie inside the input, or a gemma::Error; never a crash or an overread.
#include <cstddef>
#include <cstdint>
#include <span>

#include "base/error.h"
#include "io/gguf.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::span<const std::byte> bytes(reinterpret_cast<const std::byte*>(data), size);
  try {
    const gemma::GgufHeader header = gemma::ParseGgufHeader(bytes, "fuzz.gguf");
    uint64_t checksum = 0;
    for (const gemma::GgufTensorInfo& t : header.tensors) {
      const auto tensor = bytes.subspan(header.data_start + t.offset, t.bytes);
      if (!tensor.empty()) checksum += static_cast<uint8_t>(tensor.back());
    }
    for (const gemma::GgufKeyValue& kv : header.metadata) checksum += kv.value.Summary().size();
    return checksum == 0xdeadbeef ? 1 : 0;
  } catch (const gemma::Error&) {
    return 0;
  }
}
