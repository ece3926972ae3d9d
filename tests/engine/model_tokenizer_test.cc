// The tokenizer that comes with a --model path: a GGUF file's own vocabulary
// (tokenizer.ggml.*), which llama.cpp's small Gemma files carry.
#include "engine/model_tokenizer.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "base/error.h"

namespace {

const std::string kGguf = std::string(GEMMA_TEST_DATA_DIR) + "/gguf/small-2b-256/";

TEST(ModelTokenizer, GgufCarriesItsVocabulary) {
  for (const char* file : {"model-f32.gguf", "model-q4_k_m.gguf"}) {
    const auto tokenizer = gemma::LoadModelTokenizer(kGguf + file);
    ASSERT_NE(tokenizer, nullptr) << file;
    // The README of the test data lists the synthetic vocabulary: 1024 pieces, control ids
    // 0-3, <start_of_turn>/<end_of_turn> at 106/107, byte pieces at 108-363.
    EXPECT_EQ(tokenizer->vocab_size(), 1024);
    EXPECT_EQ(tokenizer->Piece(2), "<bos>");
    EXPECT_EQ(tokenizer->Piece(106), "<start_of_turn>");
    EXPECT_EQ(tokenizer->Piece(108), "<0x00>");
    EXPECT_EQ(tokenizer->Encode("<start_of_turn>user", true).at(1), 106);
    const std::vector<int32_t> ids = tokenizer->Encode("<end_of_turn>", false);
    ASSERT_EQ(ids.size(), 1u);
    EXPECT_EQ(ids[0], 107);
    // Byte fallback covers any text, so decoding gives it back.
    for (const std::string text : {"Hello, world!", "tabs\tand\nnewlines", "ünïcödé ✓"}) {
      EXPECT_EQ(tokenizer->Decode(tokenizer->Encode(text, false)), text) << text;
    }
  }
}

TEST(ModelTokenizer, DirectoryWithoutTokenizerGivesNone) {
  EXPECT_EQ(gemma::LoadModelTokenizer(std::string(GEMMA_TEST_DATA_DIR) + "/golden/tiny-2b-f32"),
            nullptr);
}

TEST(ModelTokenizer, ExplicitTokenizerFileMustExist) {
  EXPECT_THROW(gemma::LoadModelTokenizer(kGguf + "model-f32.gguf", "/nonexistent/tokenizer.json"),
               gemma::Error);
}

}  // namespace
