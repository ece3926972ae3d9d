// libFuzzer target: the tokenizer cache loader (issue 17) must turn any bytes into either a
// BpeModel that a BpeTokenizer accepts, or nullopt; never a crash, an overread or an
// allocation larger than the input. Each input is tried as a whole cache file (keyed by its
// own header, so that the key check passes) and as a payload under a valid header (so that
// mutations reach the payload parser past the checksum).
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <optional>
#include <string>
#include <string_view>

#include "base/error.h"
#include "tokenizer/bpe_tokenizer.h"
#include "tokenizer/tokenizer_cache.h"

namespace {

void Use(std::optional<gemma::BpeModel> model) {
  if (!model) return;
  try {
    const gemma::BpeTokenizer tokenizer(std::move(*model));
    const std::vector<int32_t> ids = tokenizer.Encode("Hello, w\xC3\xB6rld! <bos>", true);
    (void)tokenizer.Decode(ids);
  } catch (const gemma::Error&) {
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view bytes(reinterpret_cast<const char*>(data), size);
  gemma::TokenizerCacheKey key{.json_size = 1, .json_hash = 2};
  if (size >= 32) {  // the key as the file's header states it (bytes 16..31)
    std::memcpy(&key.json_size, data + 16, 8);
    std::memcpy(&key.json_hash, data + 24, 8);
  }
  Use(gemma::ParseTokenizerCache(bytes, key));
  Use(gemma::ParseTokenizerCache(gemma::TokenizerCacheFile(bytes, key), key));
  return 0;
}
