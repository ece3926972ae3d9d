// The tokenizer.model path: a small model made with spm_train (tests/data/tokenizer/
// spm_small.md) must give the ids that spm_encode gave, and decode back to the text.
#include <gtest/gtest.h>

#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "base/error.h"
#include "tokenizer/tokenizer.h"

namespace gemma {
namespace {

using Ids = std::vector<int32_t>;
const std::string kDataDir = std::string(GEMMA_TEST_DATA_DIR) + "/tokenizer/";

std::unique_ptr<Tokenizer> Small() { return Tokenizer::FromFile(kDataDir + "spm_small.model"); }

TEST(SentencePieceTest, MatchesSpmEncodeAndRoundTrips) {
  const std::unique_ptr<Tokenizer> t = Small();
  EXPECT_EQ(t->vocab_size(), 700);
  EXPECT_EQ(t->bos_id(), 2);
  EXPECT_EQ(t->eos_id(), 1);
  std::ifstream in(kDataDir + "spm_small_expected.jsonl");
  ASSERT_TRUE(in);
  std::string line;
  int records = 0;
  while (std::getline(in, line)) {
    const nlohmann::json record = nlohmann::json::parse(line);
    const std::string text = record.at("text");
    const Ids expected = record.at("ids").get<Ids>();
    const Ids ids = t->Encode(text, false);
    EXPECT_EQ(ids, expected) << text;
    Ids with_bos = {2};
    with_bos.insert(with_bos.end(), expected.begin(), expected.end());
    EXPECT_EQ(t->Encode(text, true), with_bos) << text;
    EXPECT_EQ(t->Decode(ids), text);

    StreamingDecoder decoder(*t);
    std::string streamed;
    for (const int32_t id : ids) streamed += decoder.Push(id);
    EXPECT_EQ(streamed + decoder.Flush(), text);
    ++records;
  }
  EXPECT_EQ(records, 8);
}

TEST(SentencePieceTest, PiecesBytesAndErrors) {
  const std::unique_ptr<Tokenizer> t = Small();
  EXPECT_EQ(t->PieceToId("<start_of_turn>"), 4);
  EXPECT_EQ(t->Piece(2), "<bos>");
  const int32_t byte_a = t->PieceToId("<0x41>");
  ASSERT_GE(byte_a, 0);
  EXPECT_EQ(t->ByteValue(byte_a), 0x41);
  EXPECT_EQ(t->ByteValue(4), -1);
  EXPECT_EQ(t->Decode(Ids{t->PieceToId("<0xC3>"), t->PieceToId("<0xA9>")}), "\xC3\xA9");
  try {
    t->Decode(Ids{700});
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kOutOfRange);
  }
  // Invalid UTF-8 follows the same policy as tokenizer.json: U+FFFD per maximal subpart.
  EXPECT_EQ(t->Encode("a\xFF", false), t->Encode("a\xEF\xBF\xBD", false));
}

TEST(SentencePieceTest, FromModelDirectoryFindsTokenizerModel) {
  const std::filesystem::path dir =
      std::filesystem::temp_directory_path() / ("gemma_spm_dir_test_" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  std::filesystem::copy_file(kDataDir + "spm_small.model", dir / "tokenizer.model",
                             std::filesystem::copy_options::overwrite_existing);
  const std::unique_ptr<Tokenizer> t = Tokenizer::FromModelDirectory(dir);
  ASSERT_NE(t, nullptr);
  EXPECT_EQ(t->vocab_size(), 700);
  std::filesystem::remove_all(dir);
  EXPECT_EQ(Tokenizer::FromModelDirectory(dir), nullptr);
}

}  // namespace
}  // namespace gemma
