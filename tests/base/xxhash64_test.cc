// XXH64 against the reference implementation's outputs (Debian's libxxhash 0.8.1, XXH64()).
#include "base/xxhash64.h"

#include <gtest/gtest.h>

#include <string>

namespace gemma {
namespace {

TEST(XxHash64, MatchesTheReferenceImplementation) {
  std::string long_input;
  for (int round = 0; round < 3; ++round) {
    for (int byte = 0; byte < 256; ++byte) long_input += static_cast<char>(byte);
  }
  long_input += "xyz";  // 771 bytes: stripes, 8-byte words, a 4-byte word and single bytes
  EXPECT_EQ(XxHash64(""), 0xef46db3751d8e999ull);
  EXPECT_EQ(XxHash64("a"), 0xd24ec4f1a98c6e5bull);
  EXPECT_EQ(XxHash64("abc"), 0x44bc2cf5ad770999ull);
  EXPECT_EQ(XxHash64("Nobody inspects the spammish repetition"), 0xfbcea83c8a378bf1ull);
  EXPECT_EQ(XxHash64(long_input), 0xe921a1b45bd779f8ull);
  EXPECT_EQ(XxHash64("", 1), 0xd5afba1336a3be4bull);
  EXPECT_EQ(XxHash64("abc", 1), 0xbea9ca8199328908ull);
  EXPECT_EQ(XxHash64(long_input, 1), 0x616ed66be1bd5bbull);
}

}  // namespace
}  // namespace gemma
