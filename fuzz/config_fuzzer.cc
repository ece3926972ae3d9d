// libFuzzer target: config.json parsing must turn any text into either a valid ModelConfig
// or a gemma::Error. A config that parses must also survive what the loader does next (the
// tensor table, the parameter count) and round-trip through ConfigToJson.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "base/error.h"
#include "model/config.h"
#include "model/tensor_table.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  gemma::ModelConfig config;
  try {
    config = gemma::ParseConfigJson(text, "fuzz/config.json");
  } catch (const gemma::Error&) {
    return 0;
  }
  int64_t elements = 0;
  // Validated sizes keep this small enough to walk (at most 4096 layers x 9 tensors).
  gemma::ForEachTensor(
      config, [&](const gemma::TensorSpec& spec) { elements += gemma::ElementCount(spec.shape); });
  if (elements != config.ParameterCount()) __builtin_trap();
  try {
    const gemma::ModelConfig again = gemma::ParseConfigJson(gemma::ConfigToJson(config), "again");
    if (again.hidden_size != config.hidden_size || again.head_dim != config.head_dim) {
      __builtin_trap();
    }
  } catch (const gemma::Error&) {
    __builtin_trap();  // what we write, we must read back
  }
  return 0;
}
