// The binary cache of tokenizer.json (issues 12 and 17): it lives under
// $XDG_CACHE_HOME/gemma-rt (never in the model directory), a cache that cannot be written is
// no error, a changed tokenizer.json is never served from a stale copy (even with the same
// size and modification time), and a bad cache file (a size field claiming gigabytes,
// truncated, garbage) costs no more memory than its real size and is rebuilt, never fatal.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/resource.h>
#include <sys/stat.h>

#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <random>
#include <string>
#include <vector>

#include "base/error.h"
#include "tokenizer/tokenizer.h"
#include "tokenizer/tokenizer_cache.h"
#include "tokenizer/tokenizer_json.h"

namespace {

// Growth of this process's peak resident memory since the last Reset(): the loader must not
// allocate (and fill) what a file claims before checking it against the file's size. (The
// old loader zero-filled a 4 GiB string for a 145-byte file.) Each test runs in its own
// process under ctest, so the peak starts small.
class PeakMemory {
 public:
  PeakMemory() { Reset(); }
  void Reset() { start_ = MaxRss(); }
  size_t GrowthBytes() const { return MaxRss() - start_; }

 private:
  static size_t MaxRss() {
    struct rusage usage {};
    ::getrusage(RUSAGE_SELF, &usage);
    return static_cast<size_t>(usage.ru_maxrss) * 1024;
  }
  size_t start_ = 0;
};

constexpr size_t kMaxGrowth = size_t{128} << 20;

}  // namespace

namespace gemma {
namespace {

namespace fs = std::filesystem;

class TokenizerCacheTest : public ::testing::Test {
 protected:
  void SetUp() override {
    root_ = fs::temp_directory_path() /
            ("gemma-rt-cache-" +
             std::string(::testing::UnitTest::GetInstance()->current_test_info()->name()) + "-" +
             std::to_string(::getpid()));
    fs::remove_all(root_);
    fs::create_directories(root_ / "model");
    ::unsetenv("GEMMA_RT_CACHE");
    ::unsetenv("GEMMA_RT_TOKENIZER_CACHE");
    ::setenv("XDG_CACHE_HOME", (root_ / "xdg").c_str(), 1);
  }
  void TearDown() override { fs::remove_all(root_); }

  // A small tokenizer.json whose pieces are `a` and `b` (ids 3 and 4) and their merge.
  std::string WriteJson(const std::string& a, const std::string& b) {
    const std::string json = root_ / "model" / "tokenizer.json";
    std::ofstream(json) << R"({"model": {"type": "BPE", "byte_fallback": true, "vocab": {)"
                        << R"("<pad>": 0, "<eos>": 1, "<bos>": 2, ")" << a << R"(": 3, ")" << b
                        << R"(": 4, ")" << a << b << R"(": 5}, "merges": [")" << a << " " << b
                        << R"("]}})";
    return json;
  }

  // The cache files gemma-rt wrote anywhere under the test's root.
  std::vector<fs::path> CacheFiles() const {
    std::vector<fs::path> files;
    for (const auto& e : fs::recursive_directory_iterator(root_)) {
      if (e.is_regular_file() && e.path().filename() != "tokenizer.json") {
        files.push_back(e.path());
      }
    }
    return files;
  }

  fs::path root_;
};

std::string Read(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}
void Write(const fs::path& path, const std::string& bytes) {
  std::ofstream(path, std::ios::binary | std::ios::trunc) << bytes;
}

TEST_F(TokenizerCacheTest, TheCacheLivesUnderXdgCacheHomeNotInTheModelDirectory) {
  const std::string json = WriteJson("x", "y");
  EXPECT_EQ(Tokenizer::FromFile(json)->Encode("xy", false), (std::vector<int32_t>{5}));
  const std::vector<fs::path> files = CacheFiles();
  ASSERT_EQ(files.size(), 1u);
  EXPECT_EQ(files[0].string().rfind((root_ / "xdg" / "gemma-rt").string(), 0), 0u) << files[0];
  // Without XDG_CACHE_HOME: $HOME/.cache/gemma-rt.
  ::unsetenv("XDG_CACHE_HOME");
  ::setenv("HOME", (root_ / "home").c_str(), 1);
  EXPECT_EQ(Tokenizer::FromFile(json)->Encode("xy", false), (std::vector<int32_t>{5}));
  EXPECT_TRUE(fs::exists(root_ / "home" / ".cache" / "gemma-rt"));
  for (const auto& e : fs::directory_iterator(root_ / "model")) {
    EXPECT_EQ(e.path().filename(), "tokenizer.json") << "written into the model directory";
  }
}

TEST_F(TokenizerCacheTest, ACacheDirectoryThatCannotBeMadeIsNoError) {
  Write(root_ / "not-a-directory", "a file where the cache directory would go");
  ::setenv("XDG_CACHE_HOME", (root_ / "not-a-directory").c_str(), 1);
  const std::string json = WriteJson("x", "y");
  EXPECT_EQ(Tokenizer::FromFile(json)->Encode("xy", false), (std::vector<int32_t>{5}));
  EXPECT_EQ(Tokenizer::FromFile(json)->Encode("xy", false), (std::vector<int32_t>{5}));
}

// Same size, same modification time, same inode, other content: keyed by content, the old
// copy is not used.
TEST_F(TokenizerCacheTest, AChangedJsonIsNeverServedFromAStaleCache) {
  const std::string json = WriteJson("X", "Y");
  struct stat before {};
  ASSERT_EQ(::stat(json.c_str(), &before), 0);
  EXPECT_EQ(Tokenizer::FromFile(json)->Encode("XY", false), (std::vector<int32_t>{5}));
  {
    std::string changed = Read(json);
    for (char& c : changed) {
      if (c == 'X') c = 'P';
      if (c == 'Y') c = 'Q';
    }
    std::fstream f(json, std::ios::in | std::ios::out | std::ios::binary);  // in place
    f.write(changed.data(), std::streamsize(changed.size()));
  }
  const struct timespec times[2] = {before.st_atim, before.st_mtim};
  ASSERT_EQ(::utimensat(AT_FDCWD, json.c_str(), times, 0), 0);
  struct stat after {};
  ASSERT_EQ(::stat(json.c_str(), &after), 0);
  ASSERT_EQ(after.st_size, before.st_size);
  ASSERT_EQ(after.st_ino, before.st_ino);
  ASSERT_EQ(after.st_mtim.tv_nsec, before.st_mtim.tv_nsec);
  const auto tokenizer = Tokenizer::FromFile(json);
  EXPECT_EQ(tokenizer->Encode("PQ", false), (std::vector<int32_t>{5}));
  EXPECT_EQ(tokenizer->Piece(3), "P");
}

// The issue's case: a 145-byte cache file whose header claims a payload of almost 4 GiB.
TEST_F(TokenizerCacheTest, ASizeClaimedByTheCacheIsCheckedBeforeAllocating) {
  const std::string json = WriteJson("x", "y");
  Tokenizer::FromFile(json);
  const std::vector<fs::path> files = CacheFiles();
  ASSERT_EQ(files.size(), 1u);
  const std::string good = Read(files[0]);
  std::string bytes = good;
  bytes.resize(145);
  const uint64_t claim = 0xFFFFFFF0ull;  // the payload size field, at byte 32
  std::memcpy(bytes.data() + 32, &claim, 8);
  Write(files[0], bytes);

  PeakMemory peak;
  const auto tokenizer = Tokenizer::FromFile(json);
  EXPECT_LT(peak.GrowthBytes(), kMaxGrowth);
  EXPECT_EQ(tokenizer->Encode("xy", false), (std::vector<int32_t>{5}));
  // The bad copy was replaced by a good one.
  EXPECT_TRUE(Read(files[0]) == good);
}

TEST_F(TokenizerCacheTest, BadCacheFilesAreDiscardedAndRebuilt) {
  const std::string json = WriteJson("x", "y");
  Tokenizer::FromFile(json);
  const std::vector<fs::path> files = CacheFiles();
  ASSERT_EQ(files.size(), 1u);
  const std::string good = Read(files[0]);
  std::mt19937 rng(7);
  std::vector<std::string> bad = {"", "GEMMATOK", good.substr(0, good.size() / 2),
                                  good + "trailing", std::string(4096, '\xff')};
  for (int i = 0; i < 64; ++i) {  // single flipped bytes anywhere, header included
    std::string flipped = good;
    flipped[rng() % flipped.size()] ^= static_cast<char>(1 + rng() % 255);
    bad.push_back(flipped);
  }
  for (const std::string& bytes : bad) {
    Write(files[0], bytes);
    PeakMemory peak;
    const auto tokenizer = Tokenizer::FromFile(json);
    EXPECT_EQ(tokenizer->Encode("xy", false), (std::vector<int32_t>{5}));
    EXPECT_EQ(tokenizer->Piece(4), "y");
    EXPECT_LT(peak.GrowthBytes(), kMaxGrowth);
    EXPECT_TRUE(Read(files[0]) == good) << "not rebuilt";
  }
}

// A copy whose header gives another format version is ignored and rewritten. (Copies of
// other versions also have other names, so this is a copy whose header was damaged there.)
TEST_F(TokenizerCacheTest, ACopyOfAnotherVersionIsRebuilt) {
  const std::string json = WriteJson("x", "y");
  Tokenizer::FromFile(json);
  const std::vector<fs::path> files = CacheFiles();
  ASSERT_EQ(files.size(), 1u);
  const std::string good = Read(files[0]);
  std::string old = good;
  uint32_t version = 0;
  std::memcpy(&version, old.data() + 8, 4);  // after the 8-byte magic
  --version;
  std::memcpy(old.data() + 8, &version, 4);
  Write(files[0], old);
  const std::string text = Read(json);
  EXPECT_FALSE(ReadTokenizerCache(files[0], TokenizerCacheKeyOf(text)));
  EXPECT_EQ(Tokenizer::FromFile(json)->Encode("xy", false), (std::vector<int32_t>{5}));
  EXPECT_TRUE(Read(files[0]) == good) << "not rebuilt";
}

// The pieces are stored as offsets and text; offsets that do not describe the text are
// refused even under a valid header and checksum.
TEST_F(TokenizerCacheTest, PieceOffsetsInACopyAreChecked) {
  const std::string text = Read(WriteJson("x", "y"));
  const TokenizerCacheKey key = TokenizerCacheKeyOf(text);
  const BpeModel model = ParseTokenizerJson(text, "tokenizer.json");
  const std::string file = SerializeTokenizerCache(model, key);
  ASSERT_TRUE(ParseTokenizerCache(file, key).has_value());
  // Payload: 2 flag bytes, 3 ids, the piece count, then the offsets (count + 1 of them).
  const std::string payload = file.substr(TokenizerCacheFile("", key).size());  // no header
  constexpr size_t kOffsets = 2 + 3 * 4 + 4;
  uint32_t count = 0;
  std::memcpy(&count, payload.data() + kOffsets - 4, 4);
  ASSERT_EQ(count, model.pieces.size());
  const auto with_offset = [&](size_t i, uint32_t value) {
    std::string p = payload;
    std::memcpy(p.data() + kOffsets + 4 * i, &value, 4);
    return ParseTokenizerCache(TokenizerCacheFile(p, key), key);
  };
  EXPECT_TRUE(with_offset(0, 0).has_value());  // unchanged
  EXPECT_FALSE(with_offset(0, 1));             // does not start at 0
  uint32_t third = 0;
  std::memcpy(&third, payload.data() + kOffsets + 4 * 3, 4);
  EXPECT_FALSE(with_offset(2, third + 1));        // decreases
  EXPECT_FALSE(with_offset(count, 0xFFFFFFF0u));  // text past the end of the file
}

// tokenizer.json, not its cache: a 50-byte file naming id 16,000,000 used to make the
// parser allocate 16 million piece strings (half a gigabyte) before it found the gap.
TEST_F(TokenizerCacheTest, AVocabularyIdIsCheckedAgainstTheFileSize) {
  const std::string json = root_ / "model" / "tokenizer.json";
  Write(json, R"({"model": {"type": "BPE", "vocab": {"a": 16000000}}})");
  PeakMemory peak;
  try {
    Tokenizer::FromFile(json);
    ADD_FAILURE() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find(json), std::string::npos) << e.what();
  }
  EXPECT_LT(peak.GrowthBytes(), kMaxGrowth);
}

}  // namespace
}  // namespace gemma
