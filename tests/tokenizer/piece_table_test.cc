// PieceTable: the vocabulary in one buffer. Pieces come back byte for byte (empty ones, NULs,
// long ones), and buffers read from a cache file are refused unless their offsets describe
// the text exactly.
#include "tokenizer/piece_table.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "tokenizer/pieces.h"

namespace gemma {
namespace {

TEST(PieceTableTest, KeepsEveryPieceByteForByte) {
  const std::vector<std::string> pieces = {
      "<pad>", "", std::string("a\0b", 3), std::string(300, 'x'), "\xE2\x96\x81the", ""};
  const PieceTable table(pieces);
  ASSERT_EQ(table.size(), pieces.size());
  for (size_t id = 0; id < pieces.size(); ++id) EXPECT_EQ(table[id], pieces[id]) << id;
  EXPECT_EQ(table.offsets().front(), 0u);
  EXPECT_EQ(table.offsets().back(), table.text().size());
  EXPECT_TRUE(PieceTable().empty());
}

TEST(PieceTableTest, FromPartsAcceptsOnlyOffsetsThatDescribeTheText) {
  const PieceTable table(std::vector<std::string>{"ab", "", "cde"});
  const auto good = PieceTable::FromParts(table.text(), table.offsets());
  ASSERT_TRUE(good.has_value());
  EXPECT_EQ(*good, table);
  EXPECT_EQ((*good)[2], "cde");

  EXPECT_FALSE(PieceTable::FromParts("abcde", {}));            // no end offset
  EXPECT_FALSE(PieceTable::FromParts("abcde", {1, 2, 5}));     // does not start at 0
  EXPECT_FALSE(PieceTable::FromParts("abcde", {0, 3, 2, 5}));  // decreases
  EXPECT_FALSE(PieceTable::FromParts("abcde", {0, 2, 4}));     // stops short of the text
  EXPECT_FALSE(PieceTable::FromParts("abcde", {0, 2, 6}));     // runs past it
  EXPECT_TRUE(PieceTable::FromParts("", {0}).has_value());     // no pieces
}

TEST(PieceTableTest, PieceIndexFindsEachPieceAndTheFirstOfRepeats) {
  const PieceTable table(std::vector<std::string>{"a", "b", "ab", "", "b"});
  const PieceIndex index(&table);
  EXPECT_EQ(index.Find("a"), 0);
  EXPECT_EQ(index.Find("b"), 1);  // the first of two
  EXPECT_EQ(index.Find("ab"), 2);
  EXPECT_EQ(index.Find(""), 3);
  EXPECT_EQ(index.Find("ba"), -1);
  EXPECT_EQ(PieceIndex().Find("a"), -1);
}

}  // namespace
}  // namespace gemma
