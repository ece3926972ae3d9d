// A compact binary copy of a parsed tokenizer.json, so the 17.5 MB JSON is parsed once:
// parsing takes about a second on a busy 2-core machine, reading the copy a few tens of ms.
//
// Where: ${GEMMA_RT_CACHE:-${XDG_CACHE_HOME:-~/.cache}/gemma-rt}/tokenizer-cache/, never next
// to the JSON (model directories are often read-only or shared). No cache directory (no
// $HOME) or one that cannot be written only costs speed, never an error.
//
// Key: the JSON's content. The copy is named by the XXH64 hash of the JSON's bytes and
// records their size and hash, so a changed tokenizer.json is never served from a stale copy,
// even when the change keeps the size, the modification time and the inode (a copy keyed by
// size + mtime was; `cp -p`, `touch -r`, a rewrite within the clock's resolution all do that).
// Hashing costs reading the JSON (which the key needs anyway) plus ~2 ms.
//
// A copy is untrusted input: every size is checked against the file's real size before
// anything is allocated, and the payload's checksum and every id are checked. A copy that
// fails any check is ignored and rewritten, never fatal. At most kMaxTokenizerCacheFiles
// copies are kept (the least recently written go first).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "tokenizer/bpe_tokenizer.h"

namespace gemma {

inline constexpr int kMaxTokenizerCacheFiles = 8;

struct TokenizerCacheOptions {
  bool use_cache = true;  // false: always parse the JSON (set GEMMA_RT_TOKENIZER_CACHE=0)
};

// The BpeModel of the tokenizer.json at `json_path`, from its binary copy when that is valid.
// Throws Error naming the file for a missing, oversized or invalid tokenizer.json.
BpeModel LoadTokenizerJsonCached(const std::string& json_path,
                                 const TokenizerCacheOptions& options = {});

// The halves, exposed for tests and the fuzzer.
struct TokenizerCacheKey {
  uint64_t json_size = 0;
  uint64_t json_hash = 0;  // XXH64 of the JSON's bytes
};
TokenizerCacheKey TokenizerCacheKeyOf(std::string_view json);
// gemma-rt's cache root: $GEMMA_RT_CACHE, else $XDG_CACHE_HOME/gemma-rt (when absolute), else
// $HOME/.cache/gemma-rt; "" without any of them. scripts/fetch-tokenizer.sh keeps Gemma's
// tokenizer.json under it too (tokenizer/gemma/tokenizer.json).
std::string GemmaRtCacheRoot();
// The copies' directory (<root>/tokenizer-cache, "" when there is no root), and the copy's
// path for a key ("" likewise).
std::string TokenizerCacheDirectory();
std::string TokenizerCachePath(const TokenizerCacheKey& key);
// The whole file for `model`: header (magic, version, key, payload size and checksum) and
// payload. The payload size is the 8 bytes at offset 32.
std::string SerializeTokenizerCache(const BpeModel& model, const TokenizerCacheKey& key);
// A file with a valid header around any `payload` (for the fuzzer: it reaches the payload's
// parser past the checksum).
std::string TokenizerCacheFile(std::string_view payload, const TokenizerCacheKey& key);
// nullopt for bytes that are not a valid copy for `key` (any size, any content).
std::optional<BpeModel> ParseTokenizerCache(std::string_view file, const TokenizerCacheKey& key);
// Reading returns nullopt for a missing, stale or corrupt file, without allocating more than
// its size; writing returns false when the file cannot be written (the caller carries on).
std::optional<BpeModel> ReadTokenizerCache(const std::string& cache_path,
                                           const TokenizerCacheKey& key);
bool WriteTokenizerCache(const BpeModel& model, const std::string& cache_path,
                         const TokenizerCacheKey& key);

}  // namespace gemma
