// Reads a Hugging Face tokenizer.json of the kind Gemma ships (model BPE with byte fallback,
// normalizer Replace ' ' -> '▁' or none, no pre-tokenizer) into a BpeModel. Anything else
// (another model type, a pre-tokenizer, other normalizers) is refused with Error(kUnsupported)
// rather than tokenized differently from the reference.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

#include "tokenizer/bpe_tokenizer.h"

namespace gemma {

// Throws Error naming `path`: kNotFound/kIo when unreadable, kFormat when not tokenizer.json.
BpeModel ReadTokenizerJson(const std::string& path);

// The same from text in memory; `name` is used in error messages.
BpeModel ParseTokenizerJson(std::string_view json, const std::string& name);

// The same without a copy, for `json` whose capacity leaves kTokenizerJsonPadding bytes
// after the text (simdjson reads past the end in blocks); ReadInputFile with
// .padding = kTokenizerJsonPadding gives such a string. Copies when it does not.
inline constexpr size_t kTokenizerJsonPadding = 64;
BpeModel ParseTokenizerJsonInPlace(const std::string& json, const std::string& name);

}  // namespace gemma
