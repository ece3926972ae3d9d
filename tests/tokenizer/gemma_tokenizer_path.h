// Where the tests find Gemma's tokenizer.json (17.5 MB, not in git): $GEMMA_TOKENIZER_JSON,
// else the cache that scripts/fetch-tokenizer.sh fills. A missing file fails the test with
// instructions; it is never a silent skip.
#pragma once

#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <memory>
#include <string>

#include "tokenizer/tokenizer.h"
#include "tokenizer/tokenizer_cache.h"

namespace gemma::testing {

inline std::string GemmaTokenizerJsonPath() {
  if (const char* path = std::getenv("GEMMA_TOKENIZER_JSON"); path && *path) return path;
  return GemmaRtCacheRoot() + "/tokenizer/gemma/tokenizer.json";
}

// The Gemma tokenizer, loaded once per test binary. ADD_FAILURE + nullptr when it is absent.
inline const Tokenizer* GemmaTokenizer() {
  static const std::unique_ptr<Tokenizer> tokenizer = []() -> std::unique_ptr<Tokenizer> {
    const std::string path = GemmaTokenizerJsonPath();
    if (!std::filesystem::exists(path)) return nullptr;
    return Tokenizer::FromFile(path);
  }();
  if (!tokenizer) {
    ADD_FAILURE() << "Gemma's tokenizer.json is not at " << GemmaTokenizerJsonPath()
                  << ". Run scripts/fetch-tokenizer.sh (or set GEMMA_TOKENIZER_JSON).";
  }
  return tokenizer.get();
}

}  // namespace gemma::testing
