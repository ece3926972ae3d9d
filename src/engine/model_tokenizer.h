// The tokenizer that belongs to a `--model` path: a GGUF file's own `tokenizer.ggml.*`
// vocabulary, or a Hugging Face directory's tokenizer.json / tokenizer.model. Lives in the
// engine because it joins the model layer (GGUF metadata) and the tokenizer layer.
#pragma once

#include <memory>
#include <string>

#include "tokenizer/tokenizer.h"

namespace gemma {

// nullptr when the model carries no tokenizer. `tokenizer_path`, when not empty, overrides
// whatever the model carries. Throws Error for a corrupt tokenizer.
std::unique_ptr<Tokenizer> LoadModelTokenizer(const std::string& model_path,
                                              const std::string& tokenizer_path = {});

}  // namespace gemma
