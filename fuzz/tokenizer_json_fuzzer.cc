// libFuzzer target: tokenizer.json (issue 17). Any bytes give either a BpeModel that
// BpeTokenizer accepts and can encode and decode with, or a gemma::Error; never a crash, an
// overread or memory out of proportion to the input.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "base/error.h"
#include "tokenizer/bpe_tokenizer.h"
#include "tokenizer/tokenizer_json.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view json(reinterpret_cast<const char*>(data), size);
  try {
    const gemma::BpeTokenizer tokenizer(gemma::ParseTokenizerJson(json, "fuzz.json"));
    // Text made of the input itself: the pieces it names are likely to be in it.
    const std::string text = "Hello <bos> w\xC3\xB6rld " + std::string(json.substr(0, 256));
    const std::vector<int32_t> ids = tokenizer.Encode(text, true);
    (void)tokenizer.Decode(ids);
  } catch (const gemma::Error&) {
  }
  return 0;
}
