// Every record of tests/data/tokenizer/gemma_tokenizer_public.jsonl (ids from Hugging Face's
// Rust tokenizers and two JavaScript implementations) must come out exactly.
#include <gtest/gtest.h>

#include <fstream>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "tokenizer/gemma_tokenizer_path.h"  // tests/tokenizer/
#include "tokenizer/tokenizer.h"

namespace gemma {
namespace {

struct GoldenRecord {
  std::string text;
  std::vector<int32_t> ids;
  std::vector<int32_t> ids_with_bos;
  std::string decoded;
};

std::vector<GoldenRecord> ReadGolden() {
  const std::string path =
      std::string(GEMMA_TEST_DATA_DIR) + "/tokenizer/gemma_tokenizer_public.jsonl";
  std::ifstream in(path);
  EXPECT_TRUE(in) << "cannot open " << path;
  std::vector<GoldenRecord> records;
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty()) continue;
    const nlohmann::json j = nlohmann::json::parse(line);
    records.push_back({j.at("text").get<std::string>(), j.at("ids").get<std::vector<int32_t>>(),
                       j.at("ids_with_bos").get<std::vector<int32_t>>(),
                       j.at("decoded").get<std::string>()});
  }
  return records;
}

void ExpectAllRecords(const Tokenizer& tokenizer) {
  const std::vector<GoldenRecord> records = ReadGolden();
  ASSERT_EQ(records.size(), 354u);
  int failures = 0;
  for (size_t i = 0; i < records.size(); ++i) {
    const GoldenRecord& r = records[i];
    const std::vector<int32_t> ids = tokenizer.Encode(r.text, /*add_bos=*/false);
    const std::vector<int32_t> ids_with_bos = tokenizer.Encode(r.text, /*add_bos=*/true);
    const std::string decoded = tokenizer.Decode(r.ids);
    const bool ok = ids == r.ids && ids_with_bos == r.ids_with_bos && decoded == r.decoded;
    if (!ok && ++failures <= 10) {
      ADD_FAILURE() << "record " << i << " text " << nlohmann::json(r.text).dump()
                    << "\n  ids      " << nlohmann::json(ids).dump() << "\n  expected "
                    << nlohmann::json(r.ids).dump() << "\n  decoded  "
                    << nlohmann::json(decoded).dump();
    }
  }
  EXPECT_EQ(failures, 0) << "records that differ";
}

TEST(GoldenTest, TokenizerJsonReproducesEveryRecord) {
  const Tokenizer* tokenizer = testing::GemmaTokenizer();
  ASSERT_NE(tokenizer, nullptr);
  ExpectAllRecords(*tokenizer);
}

TEST(GoldenTest, VocabularyFacts) {
  const Tokenizer* tokenizer = testing::GemmaTokenizer();
  ASSERT_NE(tokenizer, nullptr);
  EXPECT_EQ(tokenizer->vocab_size(), 256000);
  EXPECT_EQ(tokenizer->bos_id(), 2);
  EXPECT_EQ(tokenizer->eos_id(), 1);
  EXPECT_EQ(tokenizer->Piece(226), "\t");  // the quirk: no <0x09>
  EXPECT_EQ(tokenizer->ByteValue(226), -1);
  EXPECT_EQ(tokenizer->Piece(217), "<0x00>");
  EXPECT_EQ(tokenizer->ByteValue(217 + 0x41), 0x41);
  EXPECT_EQ(tokenizer->PieceToId("<end_of_turn>"), 107);
  EXPECT_EQ(tokenizer->PieceToId("\xE2\x96\x81"), 235248);
  EXPECT_EQ(tokenizer->PieceToId("no such piece, surely"), -1);
}

// A GGUF file carries the same vocabulary as pieces + scores + types; built that way (with
// SentencePiece-style scores that fall with the id) it must give the same ids.
TEST(GoldenTest, FromPiecesWithGemmaVocabularyReproducesEveryRecord) {
  const Tokenizer* json = testing::GemmaTokenizer();
  ASSERT_NE(json, nullptr);
  PieceVocab vocab;
  for (int32_t id = 0; id < json->vocab_size(); ++id) {
    vocab.pieces.emplace_back(json->Piece(id));
    vocab.scores.push_back(-static_cast<float>(id));
    PieceType type = PieceType::kNormal;
    if (id <= 2) type = PieceType::kControl;  // <pad> <eos> <bos>
    if (id == 3) type = PieceType::kUnknown;
    if (id >= 4 && id <= 216) type = PieceType::kUserDefined;  // the other added tokens
    if (json->ByteValue(id) >= 0) type = PieceType::kByte;
    vocab.types.push_back(type);
  }
  const std::unique_ptr<Tokenizer> tokenizer = Tokenizer::FromPieces(vocab);
  ExpectAllRecords(*tokenizer);
}

}  // namespace
}  // namespace gemma
