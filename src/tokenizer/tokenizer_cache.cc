#include "tokenizer/tokenizer_cache.h"

#include <algorithm>
#include <cstddef>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <vector>

#include "base/error.h"
#include "base/xxhash64.h"
#include "io/atomic_file.h"
#include "io/input_file.h"
#include "tokenizer/tokenizer_json.h"

namespace gemma {
namespace {

namespace fs = std::filesystem;

constexpr char kMagic[8] = {'G', 'E', 'M', 'M', 'A', 'T', 'O', 'K'};
// Bump when the layout changes, or when ParseTokenizerJson would put something different
// into a BpeModel: old copies then fail the version check and are rebuilt from the JSON.
// Version 1 was keyed by the JSON's size and mtime; version 2 stored each piece as a length
// and its bytes, version 3 stores the PieceTable's offsets and text as they are in memory.
constexpr uint32_t kVersion = 3;
constexpr uint64_t kMaxPieceCharacters = 4095;  // BpeTokenizer's limit for a merged piece

// Header: magic, version, reserved (0), JSON size, JSON hash, payload size, payload hash.
struct Header {
  char magic[8];
  uint32_t version;
  uint32_t reserved;
  uint64_t json_size;
  uint64_t json_hash;
  uint64_t payload_size;  // at byte 32
  uint64_t payload_hash;
};
static_assert(sizeof(Header) == 48 && offsetof(Header, payload_size) == 32);

class Writer {
 public:
  template <typename T>
  void Put(const T& value) {
    out_.append(reinterpret_cast<const char*>(&value), sizeof(T));
  }
  void PutString(std::string_view s) {
    Put(static_cast<uint32_t>(s.size()));
    out_.append(s);
  }
  std::string& bytes() { return out_; }

 private:
  std::string out_;
};

class Reader {  // every read is bounds-checked; `ok()` turns false on the first overrun
 public:
  explicit Reader(std::string_view bytes) : bytes_(bytes) {}
  template <typename T>
  T Get() {
    T value{};
    if (!Has(sizeof(T))) return value;
    std::memcpy(&value, bytes_.data() + pos_, sizeof(T));
    pos_ += sizeof(T);
    return value;
  }
  std::string GetString() {
    const uint32_t size = Get<uint32_t>();
    if (!Has(size)) return {};
    std::string s(bytes_.substr(pos_, size));
    pos_ += size;
    return s;
  }
  template <typename T>  // count values of T; empty when fewer bytes are left
  std::vector<T> GetArray(size_t count) {
    if (count > (bytes_.size() - pos_) / sizeof(T)) {
      ok_ = false;
      return {};
    }
    std::vector<T> values(count);
    if (count > 0) std::memcpy(values.data(), bytes_.data() + pos_, count * sizeof(T));
    pos_ += count * sizeof(T);
    return values;
  }
  std::string GetBytes(size_t count) {
    if (!Has(count)) return {};
    std::string s(bytes_.substr(pos_, count));
    pos_ += count;
    return s;
  }
  bool Has(size_t n) {
    if (bytes_.size() - pos_ < n) ok_ = false;
    return ok_;
  }
  bool ok() const { return ok_; }
  bool at_end() const { return pos_ == bytes_.size(); }

 private:
  std::string_view bytes_;
  size_t pos_ = 0;
  bool ok_ = true;
};

std::string Serialize(const BpeModel& model) {
  Writer w;
  w.Put(static_cast<uint8_t>(model.space_to_underline));
  w.Put(static_cast<uint8_t>(model.byte_fallback));
  w.Put(model.unk_id);
  w.Put(model.bos_id);
  w.Put(model.eos_id);
  // The pieces: count, offsets (count + 1), then the text; the last offset is its size.
  w.Put(static_cast<uint32_t>(model.pieces.size()));
  const std::vector<uint32_t>& offsets = model.pieces.offsets();
  w.bytes().append(reinterpret_cast<const char*>(offsets.data()),
                   offsets.size() * sizeof(uint32_t));
  w.bytes().append(model.pieces.text());
  w.Put(static_cast<uint32_t>(model.merges.size()));
  w.bytes().append(reinterpret_cast<const char*>(model.merges.data()),
                   model.merges.size() * sizeof(MergeTable::Rule));
  w.Put(static_cast<uint32_t>(model.added_tokens.size()));
  for (const AddedToken& token : model.added_tokens) {
    w.Put(token.id);
    w.PutString(token.text);
  }
  return std::move(w.bytes());
}

// The ids BpeTokenizer will index with, checked: a copy is not trusted to be well formed.
bool IdsAreValid(const BpeModel& model) {
  const auto n = static_cast<int64_t>(model.pieces.size());
  const auto in_vocab = [&](int32_t id) { return id >= 0 && id < n; };
  const auto in_vocab_or_none = [&](int32_t id) { return id >= -1 && id < n; };
  if (!in_vocab_or_none(model.unk_id) || !in_vocab_or_none(model.bos_id) ||
      !in_vocab_or_none(model.eos_id)) {
    return false;
  }
  for (const MergeTable::Rule& rule : model.merges) {
    if (!in_vocab(rule.left) || !in_vocab(rule.right) || !in_vocab(rule.merged)) return false;
    const std::string_view piece = model.pieces[rule.merged];
    const auto characters = std::count_if(piece.begin(), piece.end(), [](char c) {
      return (static_cast<uint8_t>(c) & 0xC0) != 0x80;
    });
    if (static_cast<uint64_t>(characters) > kMaxPieceCharacters) return false;
  }
  return std::all_of(model.added_tokens.begin(), model.added_tokens.end(),
                     [&](const AddedToken& t) { return in_vocab(t.id); });
}

std::optional<BpeModel> Deserialize(std::string_view payload) {
  Reader r(payload);
  BpeModel model;
  model.space_to_underline = r.Get<uint8_t>() != 0;
  model.byte_fallback = r.Get<uint8_t>() != 0;
  model.unk_id = r.Get<int32_t>();
  model.bos_id = r.Get<int32_t>();
  model.eos_id = r.Get<int32_t>();
  // Each count is checked against the bytes left before anything is allocated.
  const uint32_t pieces = r.Get<uint32_t>();
  std::vector<uint32_t> offsets = r.GetArray<uint32_t>(size_t{pieces} + 1);
  if (!r.ok()) return std::nullopt;
  std::string text = r.GetBytes(offsets.back());
  if (!r.ok()) return std::nullopt;
  std::optional<PieceTable> table = PieceTable::FromParts(std::move(text), std::move(offsets));
  if (!table) return std::nullopt;  // offsets that decrease or do not start at 0
  model.pieces = std::move(*table);
  const uint32_t merges = r.Get<uint32_t>();
  model.merges = r.GetArray<MergeTable::Rule>(merges);
  const uint32_t added = r.Get<uint32_t>();
  if (!r.Has(static_cast<size_t>(added) * 8)) return std::nullopt;
  model.added_tokens.reserve(added);
  for (uint32_t i = 0; i < added && r.ok(); ++i) {
    const int32_t id = r.Get<int32_t>();
    model.added_tokens.push_back({.text = r.GetString(), .id = id});
  }
  if (!r.ok() || !r.at_end() || !IdsAreValid(model)) return std::nullopt;
  return model;
}

bool HeaderMatches(const Header& h, const TokenizerCacheKey& key, uint64_t file_size) {
  return std::memcmp(h.magic, kMagic, sizeof(kMagic)) == 0 && h.version == kVersion &&
         h.reserved == 0 && h.json_size == key.json_size && h.json_hash == key.json_hash &&
         h.payload_size == file_size - sizeof(Header);
}

// Keeps the newest kMaxTokenizerCacheFiles copies: each changed tokenizer.json adds one.
void Prune(const std::string& dir) {
  std::vector<std::pair<fs::file_time_type, fs::path>> copies;
  std::error_code error;
  for (fs::directory_iterator it(dir, error), end; !error && it != end; it.increment(error)) {
    if (it->path().extension() == ".gemma-rt-cache") {
      copies.emplace_back(it->last_write_time(error), it->path());
    }
  }
  if (copies.size() <= kMaxTokenizerCacheFiles) return;
  std::sort(copies.begin(), copies.end(), [](const auto& a, const auto& b) { return a > b; });
  for (size_t i = kMaxTokenizerCacheFiles; i < copies.size(); ++i) {
    fs::remove(copies[i].second, error);
  }
}

}  // namespace

TokenizerCacheKey TokenizerCacheKeyOf(std::string_view json) {
  return {.json_size = json.size(), .json_hash = XxHash64(json)};
}

std::string GemmaRtCacheRoot() {
  // XDG: only an absolute XDG_CACHE_HOME counts; GEMMA_RT_CACHE moves every gemma-rt cache.
  if (const char* gemma = std::getenv("GEMMA_RT_CACHE"); gemma && *gemma) return gemma;
  if (const char* xdg = std::getenv("XDG_CACHE_HOME"); xdg && xdg[0] == '/') {
    return std::string(xdg) + "/gemma-rt";
  }
  if (const char* home = std::getenv("HOME"); home && *home) {
    return std::string(home) + "/.cache/gemma-rt";
  }
  return "";  // nowhere private to cache: the JSON is parsed every time
}

std::string TokenizerCacheDirectory() {
  const std::string root = GemmaRtCacheRoot();
  return root.empty() ? "" : root + "/tokenizer-cache";
}

std::string TokenizerCachePath(const TokenizerCacheKey& key) {
  const std::string dir = TokenizerCacheDirectory();
  if (dir.empty()) return "";
  // The format version is part of the name: binaries of different versions sharing one
  // cache keep a copy each instead of rewriting each other's on every switch.
  char name[80];
  std::snprintf(name, sizeof(name), "%016llx-%llu.v%u.gemma-rt-cache",
                static_cast<unsigned long long>(key.json_hash),
                static_cast<unsigned long long>(key.json_size), kVersion);
  return dir + "/" + name;
}

std::string SerializeTokenizerCache(const BpeModel& model, const TokenizerCacheKey& key) {
  return TokenizerCacheFile(Serialize(model), key);
}

std::string TokenizerCacheFile(std::string_view payload, const TokenizerCacheKey& key) {
  Header header{};
  std::memcpy(header.magic, kMagic, sizeof(kMagic));
  header.version = kVersion;
  header.json_size = key.json_size;
  header.json_hash = key.json_hash;
  header.payload_size = payload.size();
  header.payload_hash = XxHash64(payload);
  std::string file(reinterpret_cast<const char*>(&header), sizeof(header));
  file.append(payload);
  return file;
}

std::optional<BpeModel> ParseTokenizerCache(std::string_view file, const TokenizerCacheKey& key) {
  Header header{};
  if (file.size() < sizeof(header)) return std::nullopt;
  std::memcpy(&header, file.data(), sizeof(header));
  if (!HeaderMatches(header, key, file.size())) return std::nullopt;
  const std::string_view payload = file.substr(sizeof(header));
  if (XxHash64(payload) != header.payload_hash) return std::nullopt;
  return Deserialize(payload);
}

std::optional<BpeModel> ReadTokenizerCache(const std::string& cache_path,
                                           const TokenizerCacheKey& key) {
  try {
    // The copy of a 17.5 MB JSON is ~10 MB; the limit only bounds a hostile file, whose
    // header is then checked against its real size before the payload is used.
    const std::string file = ReadInputFile(
        cache_path, {.what = "a tokenizer cache", .max_bytes = kMaxTokenizerFileBytes});
    return ParseTokenizerCache(file, key);
  } catch (const std::exception&) {  // missing, unreadable, too large, out of memory
    return std::nullopt;
  }
}

bool WriteTokenizerCache(const BpeModel& model, const std::string& cache_path,
                         const TokenizerCacheKey& key) {
  try {
    const std::string dir = fs::path(cache_path).parent_path().string();
    fs::create_directories(dir);
    RemoveStaleTemporaryFilesIn(dir);
    const std::string file = SerializeTokenizerCache(model, key);
    AtomicFile out(cache_path);  // a concurrent reader sees the old copy or the new one
    out.Write(file);
    out.Commit(file.size());
    Prune(dir);
    return true;
  } catch (const std::exception&) {  // read-only, full, not a directory: only costs speed
    return false;
  }
}

BpeModel LoadTokenizerJsonCached(const std::string& json_path,
                                 const TokenizerCacheOptions& options) {
  const auto read_json = [&] {
    return ReadInputFile(json_path, {.what = "a tokenizer.json",
                                     .max_bytes = kMaxTokenizerFileBytes,
                                     .padding = kTokenizerJsonPadding});
  };
  std::string json = read_json();
  const char* env = std::getenv("GEMMA_RT_TOKENIZER_CACHE");
  const bool use_cache = options.use_cache && !(env && std::string_view(env) == "0");
  if (!use_cache) return ParseTokenizerJsonInPlace(json, json_path);
  TokenizerCacheKey key = TokenizerCacheKeyOf(json);
  std::string cache_path = TokenizerCachePath(key);
  if (cache_path.empty()) return ParseTokenizerJsonInPlace(json, json_path);
  // The JSON (17.5 MB) is only the key when the copy is good: it goes before the copy is
  // read, so that the two are never resident together. A miss reads it again (~10 ms next
  // to a parse of ~1 s), and keys the new copy by what it parsed, should the file have
  // changed in between.
  std::string().swap(json);
  if (std::optional<BpeModel> cached = ReadTokenizerCache(cache_path, key)) {
    return std::move(*cached);
  }
  json = read_json();
  if (const TokenizerCacheKey reread = TokenizerCacheKeyOf(json);
      reread.json_size != key.json_size || reread.json_hash != key.json_hash) {
    key = reread;
    cache_path = TokenizerCachePath(key);
  }
  BpeModel model = ParseTokenizerJsonInPlace(json, json_path);  // throws for a bad JSON
  std::string().swap(json);
  WriteTokenizerCache(model, cache_path, key);  // best effort: a failure only costs speed
  return model;
}

}  // namespace gemma
