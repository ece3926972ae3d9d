// The BPE rules on a tiny hand-made tokenizer.json, where every expected id can be worked
// out by hand from the rules in tests/data/tokenizer/README.md; plus errors and the cache.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "base/error.h"
#include "tokenizer/bpe_tokenizer.h"
#include "tokenizer/tokenizer.h"
#include "tokenizer/tokenizer_cache.h"
#include "tokenizer/tokenizer_json.h"

namespace gemma {
namespace {

using Ids = std::vector<int32_t>;

// ids: 0 <pad> 1 <eos> 2 <bos> 3 <unk> 4 ▁ 5 a 6 b 7 c 8 ab 9 bc 10 abc 11 aa 12 <0xC3>
// 13 <0xA9> 14 \n 15 \n\n 16 ▁▁ 17 ▁a
nlohmann::json TinyJson() {
  const std::vector<std::string> pieces = {"<pad>",
                                           "<eos>",
                                           "<bos>",
                                           "<unk>",
                                           "\xE2\x96\x81",
                                           "a",
                                           "b",
                                           "c",
                                           "ab",
                                           "bc",
                                           "abc",
                                           "aa",
                                           "<0xC3>",
                                           "<0xA9>",
                                           "\n",
                                           "\n\n",
                                           "\xE2\x96\x81\xE2\x96\x81",
                                           "\xE2\x96\x81"
                                           "a"};
  nlohmann::json vocab = nlohmann::json::object();
  for (size_t i = 0; i < pieces.size(); ++i) vocab[pieces[i]] = i;
  nlohmann::json added = nlohmann::json::array();
  for (const int id : {0, 1, 2, 3, 14, 15}) {
    added.push_back({{"id", id},
                     {"content", pieces[id]},
                     {"single_word", false},
                     {"lstrip", false},
                     {"rstrip", false},
                     {"normalized", false},
                     {"special", id < 4}});
  }
  return {
      {"version", "1.0"},
      {"added_tokens", added},
      {"normalizer",
       {{"type", "Replace"}, {"pattern", {{"String", " "}}}, {"content", "\xE2\x96\x81"}}},
      {"pre_tokenizer", nullptr},
      {"model",
       {{"type", "BPE"},
        {"byte_fallback", true},
        {"unk_token", "<unk>"},
        {"vocab", vocab},
        {"merges", {"a b", "b c", "ab c", "a a", "\xE2\x96\x81 \xE2\x96\x81", "\xE2\x96\x81 a"}}}}};
}

BpeTokenizer Tiny(const nlohmann::json& json = TinyJson()) {
  return BpeTokenizer(ParseTokenizerJson(json.dump(), "tiny.json"));
}

TEST(BpeTest, LowestRankMergesFirst) {
  const BpeTokenizer t = Tiny();
  EXPECT_EQ(t.Encode("abc", false), (Ids{10}));  // a+b (rank 0), then ab+c (rank 2)
  EXPECT_EQ(t.Encode("bc", false), (Ids{9}));
  EXPECT_EQ(t.Encode("abcbc", false), (Ids{10, 9}));
}

TEST(BpeTest, EqualRanksMergeLeftmostFirst) {
  const BpeTokenizer t = Tiny();
  EXPECT_EQ(t.Encode("aaa", false), (Ids{11, 5}));
  EXPECT_EQ(t.Encode("aaaaa", false), (Ids{11, 11, 5}));
}

TEST(BpeTest, SpacesBecomeUnderlineAndMerge) {
  const BpeTokenizer t = Tiny();
  EXPECT_EQ(t.Encode(" a", false), (Ids{17}));
  EXPECT_EQ(t.Encode("   ", false), (Ids{16, 4}));
  EXPECT_EQ(t.Encode("\xE2\x96\x81"
                     "a",
                     false),
            (Ids{17}));  // a literal ▁ is a space too
  EXPECT_EQ(t.Decode(Ids{16, 17}), "   a");
}

TEST(BpeTest, UnknownCharactersFallBackToBytesOrUnk) {
  const BpeTokenizer t = Tiny();
  EXPECT_EQ(t.Encode("a\xC3\xA9"
                     "b",
                     false),
            (Ids{5, 12, 13, 6}));  // é = C3 A9
  EXPECT_EQ(t.Decode(Ids{5, 12, 13, 6}),
            "a\xC3\xA9"
            "b");
  EXPECT_EQ(t.Encode("xy", false), (Ids{3}));  // no byte pieces: <unk>, fused
  EXPECT_EQ(t.Encode("xay", false), (Ids{3, 5, 3}));
}

TEST(BpeTest, AddedTokensAreCutOutFirstByLongestMatch) {
  const BpeTokenizer t = Tiny();
  EXPECT_EQ(t.Encode("\n\n\n", false), (Ids{15, 14}));
  EXPECT_EQ(t.Encode("a<bos>b", false), (Ids{5, 2, 6}));
  EXPECT_EQ(t.Encode("a<bos>b", true), (Ids{2, 5, 2, 6}));
  EXPECT_EQ(t.Encode("<bos", false), (Ids{3, 6, 3}));    // plain text; unknowns are <unk>
  EXPECT_EQ(t.Encode("ab\nc", false), (Ids{8, 14, 7}));  // "\n" splits the BPE word
  EXPECT_EQ(t.Encode("", true), (Ids{2}));
  EXPECT_EQ(t.Encode("", false), (Ids{}));
}

TEST(BpeTest, InvalidUtf8IsReplacedBeforeEncoding) {
  const BpeTokenizer t = Tiny();
  // U+FFFD is not in this vocabulary and neither are its bytes EF BF BD: one <unk>.
  EXPECT_EQ(t.Encode("a\xFF", false), (Ids{5, 3}));
  EXPECT_EQ(t.Encode("a\xFF", false), t.Encode("a\xEF\xBF\xBD", false));
}

TEST(BpeTest, DecodeKeepsSpecialTokensAndRejectsUnknownIds) {
  const BpeTokenizer t = Tiny();
  EXPECT_EQ(t.Decode(Ids{2, 10, 1}), "<bos>abc<eos>");
  EXPECT_EQ(t.Decode(Ids{}), "");
  try {
    t.Decode(Ids{5, 18});
    FAIL() << "no error for id 18";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kOutOfRange);
    EXPECT_NE(std::string(e.what()).find("18"), std::string::npos) << e.what();
  }
  EXPECT_THROW(t.Decode(Ids{-1}), Error);
  EXPECT_THROW(t.Piece(100), Error);
}

TEST(BpeTest, DecodeReplacesInvalidByteRuns) {
  const BpeTokenizer t = Tiny();
  EXPECT_EQ(t.Decode(Ids{12, 5}),
            "\xEF\xBF\xBD"
            "a");                                // C3 cut short by a piece
  EXPECT_EQ(t.Decode(Ids{13}), "\xEF\xBF\xBD");  // lone continuation byte
  EXPECT_EQ(t.Decode(Ids{12, 13, 13}), "\xC3\xA9\xEF\xBF\xBD");
}

TEST(BpeTest, StreamingHoldsBackSplitCharacters) {
  const BpeTokenizer t = Tiny();
  StreamingDecoder decoder(t);
  EXPECT_EQ(decoder.Push(17), " a");
  EXPECT_EQ(decoder.Push(12), "");  // first byte of é: held back
  EXPECT_EQ(decoder.Push(13), "\xC3\xA9");
  EXPECT_EQ(decoder.Push(12), "");
  EXPECT_EQ(decoder.Flush(), "\xEF\xBF\xBD");  // incomplete at the end
  EXPECT_EQ(decoder.Flush(), "");
  EXPECT_THROW(decoder.Push(99), Error);
}

void ExpectError(const nlohmann::json& json, ErrorCode code, const std::string& needle) {
  try {
    Tiny(json);
    FAIL() << "no error; wanted one mentioning " << needle;
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), code) << e.what();
    EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
  }
}

void ExpectErrorText(const std::string& text, ErrorCode code, const std::string& needle) {
  try {
    BpeTokenizer tokenizer(ParseTokenizerJson(text, "tiny.json"));
    FAIL() << "no error; wanted one mentioning " << needle;
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), code) << e.what();
    EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
  }
}

TEST(BpeTest, RefusesWhatItCannotTokenizeExactly) {
  nlohmann::json j = TinyJson();
  j["model"]["type"] = "WordPiece";
  ExpectError(j, ErrorCode::kUnsupported, "WordPiece");
  j = TinyJson();
  j["pre_tokenizer"] = {{"type", "Whitespace"}};
  ExpectError(j, ErrorCode::kUnsupported, "pre_tokenizer");
  j = TinyJson();
  j["normalizer"] = {{"type", "NFKC"}};
  ExpectError(j, ErrorCode::kUnsupported, "normalizer");
  j = TinyJson();
  j["added_tokens"][0]["lstrip"] = true;
  ExpectError(j, ErrorCode::kUnsupported, "lstrip");
}

TEST(BpeTest, RejectsBrokenFiles) {
  nlohmann::json j = TinyJson();
  j["model"]["merges"].push_back("a zz");
  ExpectError(j, ErrorCode::kFormat, "zz");
  j = TinyJson();
  j["model"]["vocab"]["gap"] = 40;
  ExpectError(j, ErrorCode::kFormat, "gaps");
  j = TinyJson();
  j["model"]["merges"].push_back("abc");
  ExpectError(j, ErrorCode::kFormat, "abc");
  j = TinyJson();
  j.erase("model");
  ExpectError(j, ErrorCode::kFormat, "model");
  // A second "vocab" key (nlohmann::json cannot write one, so the text is edited): refused,
  // not read past the first one's bookkeeping (a crash the tokenizer.json fuzzer found).
  std::string twice = TinyJson().dump();
  const size_t vocab = twice.find("\"vocab\":");
  ASSERT_NE(vocab, std::string::npos);
  twice.insert(vocab, "\"vocab\":{\"a\":0},");
  ExpectErrorText(twice, ErrorCode::kFormat, "twice");
  try {
    ParseTokenizerJson("{\"model\": {\"vocab\": [", "cut.json");
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kFormat);
    EXPECT_NE(std::string(e.what()).find("cut.json"), std::string::npos);
  }
}

class TempDir {
 public:
  TempDir() {
    path_ = std::filesystem::temp_directory_path() /
            ("gemma_tok_test_" + std::to_string(::getpid()) + "_" +
             ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::create_directories(path_);
  }
  ~TempDir() { std::filesystem::remove_all(path_); }
  std::string Write(const std::string& name, const std::string& bytes) const {
    const std::string file = path_ / name;
    std::ofstream(file, std::ios::binary) << bytes;
    return file;
  }
  std::filesystem::path path_;
};

TEST(BpeTest, FromFileTellsKindsApartAndNamesTheFile) {
  TempDir dir;
  const std::string json = dir.Write("tokenizer.json", TinyJson().dump());
  EXPECT_EQ(Tokenizer::FromFile(json)->Encode("abc", false), (Ids{10}));
  EXPECT_EQ(Tokenizer::FromModelDirectory(dir.path_)->Encode("abc", false), (Ids{10}));

  const std::string garbage = dir.Write("garbage.bin", std::string("\x01\x02\x03not a model", 14));
  try {
    Tokenizer::FromFile(garbage);
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kFormat);
    EXPECT_NE(std::string(e.what()).find("garbage.bin"), std::string::npos) << e.what();
  }
  EXPECT_THROW(Tokenizer::FromFile(dir.path_ / "missing.json"), Error);
  std::filesystem::remove(json);
  EXPECT_EQ(Tokenizer::FromModelDirectory(dir.path_), nullptr);
}

TEST(BpeTest, CacheRoundTripsAndRejectsStaleOrCorruptCopies) {
  TempDir dir;
  const std::string text = TinyJson().dump();
  const std::string cache = dir.path_ / "copy.bin";
  const BpeModel model = ParseTokenizerJson(text, "tiny.json");
  const TokenizerCacheKey key = TokenizerCacheKeyOf(text);
  ASSERT_TRUE(WriteTokenizerCache(model, cache, key));

  std::optional<BpeModel> read = ReadTokenizerCache(cache, key);
  ASSERT_TRUE(read.has_value());
  EXPECT_EQ(read->pieces, model.pieces);
  EXPECT_EQ(read->merges.size(), model.merges.size());
  EXPECT_EQ(BpeTokenizer(std::move(*read)).Encode(" abc\n\n\xC3\xA9", true),
            Tiny().Encode(" abc\n\n\xC3\xA9", true));

  // Another JSON (another size or the same size with other bytes) does not use this copy.
  EXPECT_FALSE(
      ReadTokenizerCache(cache, {.json_size = key.json_size + 1, .json_hash = key.json_hash}));
  EXPECT_FALSE(
      ReadTokenizerCache(cache, {.json_size = key.json_size, .json_hash = key.json_hash ^ 1}));

  std::string bytes;
  {
    std::ifstream in(cache, std::ios::binary);
    bytes.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  }
  std::string flipped = bytes;
  flipped[flipped.size() / 2] ^= 0x40;
  dir.Write("copy.bin", flipped);
  EXPECT_FALSE(ReadTokenizerCache(cache, key));
  dir.Write("copy.bin", bytes.substr(0, bytes.size() - 3));
  EXPECT_FALSE(ReadTokenizerCache(cache, key));
  dir.Write("copy.bin", "");
  EXPECT_FALSE(ReadTokenizerCache(cache, key));
}

TEST(BpeTest, FromPiecesDerivesMergesFromScores) {
  PieceVocab vocab;
  const auto add = [&](std::string piece, float score, PieceType type) {
    vocab.pieces.push_back(std::move(piece));
    vocab.scores.push_back(score);
    vocab.types.push_back(type);
  };
  add("<pad>", 0, PieceType::kControl);
  add("<eos>", 0, PieceType::kControl);
  add("<bos>", 0, PieceType::kControl);
  add("<unk>", 0, PieceType::kUnknown);
  add("<0xC3>", 0, PieceType::kByte);
  add("<0xA9>", 0, PieceType::kByte);
  add("a", -100, PieceType::kNormal);        // 6
  add("b", -100, PieceType::kNormal);        // 7
  add("c", -100, PieceType::kNormal);        // 8
  add("bc", -1, PieceType::kNormal);         // 9: the highest score merges first
  add("ab", -2, PieceType::kNormal);         // 10
  add("ca", -3, PieceType::kNormal);         // 11
  add("<sep>", 0, PieceType::kUserDefined);  // 12
  const std::unique_ptr<Tokenizer> t = Tokenizer::FromPieces(vocab);
  EXPECT_EQ(t->Encode("abc", false), (Ids{6, 9}));   // b+c wins over a+b; "abc" is no piece
  EXPECT_EQ(t->Encode("cab", false), (Ids{8, 10}));  // a+b (-2) before c+a (-3)
  EXPECT_EQ(t->Encode("ca", false), (Ids{11}));
  EXPECT_EQ(t->Encode("ab", true), (Ids{2, 10}));
  EXPECT_EQ(t->Encode("a<sep><bos>\xC3\xA9", false), (Ids{6, 12, 2, 4, 5}));
  EXPECT_EQ(t->Decode(Ids{6, 12, 4, 5}), "a<sep>\xC3\xA9");

  vocab.scores.pop_back();
  EXPECT_THROW(Tokenizer::FromPieces(vocab), Error);
}

}  // namespace
}  // namespace gemma
