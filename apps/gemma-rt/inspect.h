// gemma-rt inspect, split by format: inspect_command.cc (Hugging Face directory or
// .safetensors) and inspect_gguf.cc (.gguf). Shared printing helpers.
#pragma once

#include <string>
#include <string_view>

#include "model/config.h"

namespace gemma::cli {

int InspectGguf(const std::string& path, bool json);

void PrintLine(std::string_view line);             // stdout, with '\n'
void PrintConfigLines(const ModelConfig& config);  // "architecture ...", "norm eps ...", ...

}  // namespace gemma::cli
