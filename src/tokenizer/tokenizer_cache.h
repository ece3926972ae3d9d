// A compact binary copy of a parsed tokenizer.json, so the 17.5 MB JSON is parsed once:
// parsing it takes about a second on a busy 2-core machine, reading the copy a few tens of ms.
// The copy sits next to the JSON (`tokenizer.json.gemma-rt-cache`), or in
// ${GEMMA_RT_CACHE:-~/.cache/gemma-rt}/tokenizer/ when that folder is read-only. It records
// the JSON's size and modification time and a checksum of itself; a copy that does not match
// or does not check out is ignored and rewritten, never trusted.
#pragma once

#include <optional>
#include <string>

#include "tokenizer/bpe_tokenizer.h"

namespace gemma {

struct TokenizerCacheOptions {
  bool use_cache = true;  // false: always parse the JSON (set GEMMA_RT_TOKENIZER_CACHE=0)
};

// The BpeModel of the tokenizer.json at `json_path`, from its binary copy when that is valid.
BpeModel LoadTokenizerJsonCached(const std::string& json_path,
                                 const TokenizerCacheOptions& options = {});

// Where the binary copy of `json_path` is (or would be) written; exposed for tests.
std::string TokenizerCachePath(const std::string& json_path);

// The two halves, exposed for tests. Reading returns nullopt for a missing, stale or corrupt
// file; writing returns false when the file cannot be written (the caller carries on).
struct JsonStamp {
  uint64_t size = 0;
  int64_t mtime_ns = 0;
};
std::optional<BpeModel> ReadTokenizerCache(const std::string& cache_path, const JsonStamp& stamp);
bool WriteTokenizerCache(const BpeModel& model, const std::string& cache_path,
                         const JsonStamp& stamp);
JsonStamp StampOf(const std::string& json_path);

}  // namespace gemma
