// The invalid-UTF-8 policy: each maximal invalid subpart becomes one U+FFFD. Expected values
// are what Python's bytes.decode("utf-8", "replace") gives (the same Unicode rule).
#include "tokenizer/utf8.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace gemma::utf8 {
namespace {

const std::string R(kReplacementCharacter);

TEST(Utf8Test, ValidTextIsUnchanged) {
  for (const std::string& text :
       std::vector<std::string>{"", "plain", "caf\xC3\xA9", "\xE2\x96\x81", "\xF0\x9F\x98\x80",
                                std::string("nul\0inside", 10), "\xF4\x8F\xBF\xBF"}) {
    EXPECT_TRUE(IsValid(text));
    EXPECT_EQ(Sanitize(text), text);
  }
}

TEST(Utf8Test, MaximalSubpartsBecomeOneReplacementEach) {
  struct Case {
    std::string input;
    std::string expected;
  };
  const Case cases[] = {
      {"\x80", R},  // lone continuation byte
      {"a\xFF"
       "b",
       "a" + R + "b"},                               // never valid
      {"\xC3", R},                                   // truncated 2-byte character at the end
      {"\xE2\x96", R},                               // truncated 3-byte character: one subpart
      {"\xE2\x96x", R + "x"},                        // interrupted
      {"\xF0\x9F\x98", R},                           // truncated 4-byte character
      {"\xC0\xAF", R + R},                           // overlong lead C0 is never valid
      {"\xE0\x80\xAF", R + R + R},                   // overlong 3-byte: E0 needs A0..BF next
      {"\xED\xA0\x80", R + R + R},                   // surrogate U+D800
      {"\xF4\x90\x80\x80", R + R + R + R},           // past U+10FFFF
      {"\xF5", R},                                   // invalid lead
      {"\xE2\x82\xE2\x82\xAC", R + "\xE2\x82\xAC"},  // broken then good euro sign
  };
  for (const Case& c : cases) {
    EXPECT_FALSE(IsValid(c.input));
    EXPECT_EQ(Sanitize(c.input), c.expected) << "input bytes " << c.input.size();
  }
}

TEST(Utf8Test, ScanReportsIncompleteOnlyAtTheEnd) {
  EXPECT_EQ(ScanAt("\xE2\x96", 0).status, ScanStatus::kIncomplete);
  EXPECT_EQ(ScanAt("\xE2\x96x", 0).status, ScanStatus::kInvalid);
  const Scan scan = ScanAt("\xE2\x96\x81", 0);
  EXPECT_EQ(scan.status, ScanStatus::kValid);
  EXPECT_EQ(scan.code_point, 0x2581u);
  EXPECT_EQ(scan.length, 3u);
}

TEST(Utf8Test, AppendCodePointRoundTrips) {
  for (const char32_t c : {0x0u, 0x7Fu, 0x80u, 0x7FFu, 0x800u, 0xFFFFu, 0x10000u, 0x10FFFFu}) {
    std::string out;
    AppendCodePoint(c, out);
    const Scan scan = ScanAt(out, 0);
    ASSERT_EQ(scan.status, ScanStatus::kValid) << static_cast<uint32_t>(c);
    EXPECT_EQ(scan.code_point, c);
    EXPECT_EQ(scan.length, out.size());
  }
}

}  // namespace
}  // namespace gemma::utf8
