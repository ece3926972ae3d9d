#include "tokenizer/tokenizer_cache.h"

#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string_view>
#include <vector>

#include "base/error.h"
#include "tokenizer/tokenizer_json.h"

namespace gemma {
namespace {

constexpr char kMagic[8] = {'G', 'E', 'M', 'M', 'A', 'T', 'O', 'K'};
// Bump when the file layout changes, or when ParseTokenizerJson would put something different
// into a BpeModel: old copies then fail the version check and are rebuilt from the JSON.
constexpr uint32_t kVersion = 1;

// Header: magic, version, JSON size, JSON mtime, payload size, payload checksum.
struct Header {
  char magic[8];
  uint32_t version;
  uint32_t reserved;
  uint64_t json_size;
  int64_t json_mtime_ns;
  uint64_t payload_size;
  uint64_t payload_checksum;
};

uint64_t Checksum(std::string_view bytes) {  // FNV-1a over 8-byte words: fast, not crypto
  uint64_t hash = 0xCBF29CE484222325ull;
  size_t i = 0;
  for (; i + 8 <= bytes.size(); i += 8) {
    uint64_t word;
    std::memcpy(&word, bytes.data() + i, 8);
    hash = (hash ^ word) * 0x100000001B3ull;
  }
  for (; i < bytes.size(); ++i) hash = (hash ^ static_cast<uint8_t>(bytes[i])) * 0x100000001B3ull;
  return hash;
}

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
  w.Put(static_cast<uint32_t>(model.pieces.size()));
  for (const std::string& piece : model.pieces) w.PutString(piece);
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

std::optional<BpeModel> Deserialize(std::string_view payload) {
  Reader r(payload);
  BpeModel model;
  model.space_to_underline = r.Get<uint8_t>() != 0;
  model.byte_fallback = r.Get<uint8_t>() != 0;
  model.unk_id = r.Get<int32_t>();
  model.bos_id = r.Get<int32_t>();
  model.eos_id = r.Get<int32_t>();
  const uint32_t pieces = r.Get<uint32_t>();
  if (!r.Has(static_cast<size_t>(pieces) * 4)) return std::nullopt;  // before reserving
  model.pieces.reserve(pieces);
  for (uint32_t i = 0; i < pieces && r.ok(); ++i) model.pieces.push_back(r.GetString());
  const uint32_t merges = r.Get<uint32_t>();
  if (!r.Has(static_cast<size_t>(merges) * sizeof(MergeTable::Rule))) return std::nullopt;
  model.merges.resize(merges);
  for (MergeTable::Rule& rule : model.merges) rule = r.Get<MergeTable::Rule>();
  const uint32_t added = r.Get<uint32_t>();
  if (!r.Has(static_cast<size_t>(added) * 8)) return std::nullopt;
  for (uint32_t i = 0; i < added && r.ok(); ++i) {
    const int32_t id = r.Get<int32_t>();
    model.added_tokens.push_back({.text = r.GetString(), .id = id});
  }
  if (!r.ok() || !r.at_end()) return std::nullopt;
  return model;
}

std::string CacheDirectory() {
  const char* cache = std::getenv("GEMMA_RT_CACHE");
  if (cache && *cache) return std::string(cache) + "/tokenizer";
  const char* home = std::getenv("HOME");
  return std::string(home && *home ? home : "/tmp") + "/.cache/gemma-rt/tokenizer";
}

}  // namespace

JsonStamp StampOf(const std::string& json_path) {
  struct stat info {};
  if (::stat(json_path.c_str(), &info) != 0) return {};
  return {
      .size = static_cast<uint64_t>(info.st_size),
      .mtime_ns = static_cast<int64_t>(info.st_mtim.tv_sec) * 1'000'000'000 + info.st_mtim.tv_nsec};
}

std::string TokenizerCachePath(const std::string& json_path) {
  const std::filesystem::path json = std::filesystem::absolute(json_path);
  const std::filesystem::path beside = json.string() + ".gemma-rt-cache";
  if (::access(json.parent_path().c_str(), W_OK) == 0) return beside;
  // A read-only model folder: key the copy by the JSON's absolute path instead.
  const uint64_t key = Checksum(json.string());
  char name[40];
  std::snprintf(name, sizeof(name), "%016llx.gemma-rt-cache", static_cast<unsigned long long>(key));
  return CacheDirectory() + "/" + name;
}

std::optional<BpeModel> ReadTokenizerCache(const std::string& cache_path, const JsonStamp& stamp) {
  std::ifstream in(cache_path, std::ios::binary);
  if (!in) return std::nullopt;
  Header header{};
  if (!in.read(reinterpret_cast<char*>(&header), sizeof(header))) return std::nullopt;
  if (std::memcmp(header.magic, kMagic, sizeof(kMagic)) != 0 || header.version != kVersion ||
      header.json_size != stamp.size || header.json_mtime_ns != stamp.mtime_ns ||
      header.payload_size > (uint64_t{1} << 32)) {
    return std::nullopt;
  }
  std::string payload(header.payload_size, '\0');
  if (!in.read(payload.data(), static_cast<std::streamsize>(payload.size()))) return std::nullopt;
  if (in.peek() != std::char_traits<char>::eof()) return std::nullopt;  // trailing bytes
  if (Checksum(payload) != header.payload_checksum) return std::nullopt;
  return Deserialize(payload);
}

bool WriteTokenizerCache(const BpeModel& model, const std::string& cache_path,
                         const JsonStamp& stamp) {
  const std::string payload = Serialize(model);
  Header header{};
  std::memcpy(header.magic, kMagic, sizeof(kMagic));
  header.version = kVersion;
  header.json_size = stamp.size;
  header.json_mtime_ns = stamp.mtime_ns;
  header.payload_size = payload.size();
  header.payload_checksum = Checksum(payload);

  std::error_code error;
  std::filesystem::create_directories(std::filesystem::path(cache_path).parent_path(), error);
  // Write to a private name and rename, so a concurrent reader sees the old copy or the new
  // one, never half of one.
  const std::string temporary = cache_path + ".tmp." + std::to_string(::getpid());
  {
    std::ofstream out(temporary, std::ios::binary | std::ios::trunc);
    if (!out) return false;
    out.write(reinterpret_cast<const char*>(&header), sizeof(header));
    out.write(payload.data(), static_cast<std::streamsize>(payload.size()));
    if (!out.flush()) {
      std::filesystem::remove(temporary, error);
      return false;
    }
  }
  std::filesystem::rename(temporary, cache_path, error);
  if (error) std::filesystem::remove(temporary, error);
  return !error;
}

BpeModel LoadTokenizerJsonCached(const std::string& json_path,
                                 const TokenizerCacheOptions& options) {
  const char* env = std::getenv("GEMMA_RT_TOKENIZER_CACHE");
  const bool use_cache = options.use_cache && !(env && std::string_view(env) == "0");
  if (!use_cache) return ReadTokenizerJson(json_path);
  const JsonStamp stamp = StampOf(json_path);
  const std::string cache_path = TokenizerCachePath(json_path);
  if (std::optional<BpeModel> cached = ReadTokenizerCache(cache_path, stamp)) {
    return std::move(*cached);
  }
  BpeModel model = ReadTokenizerJson(json_path);  // throws for a bad JSON: nothing cached
  WriteTokenizerCache(model, cache_path, stamp);  // best effort: a failure only costs speed
  return model;
}

}  // namespace gemma
