// Names from input files are escaped and cut before they reach a terminal (issue 17), and
// every Error message is one line of bounded length whatever it was built from.
#include "base/printable.h"

#include <gtest/gtest.h>

#include <string>

#include "base/error.h"

namespace gemma {
namespace {

using namespace std::string_literals;

TEST(Printable, ControlCharactersAreEscaped) {
  EXPECT_EQ(EscapeControlCharacters("plain name.weight"), "plain name.weight");
  EXPECT_EQ(EscapeControlCharacters("a\nb\tc\rd"), "a\\nb\\tc\\rd");
  EXPECT_EQ(EscapeControlCharacters("\x1b[2J\x07"), "\\x1b[2J\\x07");
  EXPECT_EQ(EscapeControlCharacters("nul\0tail"s), "nul\\x00tail");
  EXPECT_EQ(EscapeControlCharacters("del\x7f"), "del\\x7f");
}

TEST(Printable, Utf8IsKeptButC1ControlsAndInvalidBytesAreEscaped) {
  EXPECT_EQ(EscapeControlCharacters("\xE2\x96\x81the caf\xC3\xA9 \xF0\x9F\x98\x80"),
            "\xE2\x96\x81the caf\xC3\xA9 \xF0\x9F\x98\x80");
  EXPECT_EQ(EscapeControlCharacters("\xC2\x9B"
                                    "31m"),
            "\\xc2\\x9b31m");  // U+009B: CSI
  EXPECT_EQ(EscapeControlCharacters("\x9B"
                                    "31m"),
            "\\x9b31m");                                                  // a lone 8-bit CSI
  EXPECT_EQ(EscapeControlCharacters("\xC0\xAF"), "\\xc0\\xaf");           // overlong '/'
  EXPECT_EQ(EscapeControlCharacters("\xED\xA0\x80"), "\\xed\\xa0\\x80");  // a surrogate
  EXPECT_EQ(EscapeControlCharacters("\xE2\x96"), "\\xe2\\x96");           // cut short
  EXPECT_EQ(EscapeControlCharacters("\xF4\x90\x80\x80"), "\\xf4\\x90\\x80\\x80");  // > U+10FFFF
}

TEST(Printable, LongNamesAreCutWithTheirLength) {
  const std::string name(40'000'000, 'A');
  const std::string shown = PrintableName(name);
  EXPECT_EQ(shown, std::string(kPrintableNameBytes, 'A') + "... (40000000 bytes)");
  EXPECT_EQ(PrintableName("short"), "short");
  EXPECT_EQ(PrintableName("\n" + std::string(200, 'x'), 4), "\\nxxx... (201 bytes)");
}

TEST(Printable, ErrorMessagesAreOneBoundedLine) {
  const Error e(ErrorCode::kFormat, "f.gguf: tensor '" + std::string(1'000'000, 'n') +
                                        "\n' is bad: the reason at the end");
  const std::string message = e.what();
  EXPECT_LE(message.size(), kMessageBytes + 64);
  EXPECT_EQ(message.find('\n'), std::string::npos);
  EXPECT_EQ(message.rfind("f.gguf: tensor 'nnn", 0), 0u);
  EXPECT_NE(message.find("bytes cut"), std::string::npos);
  EXPECT_NE(message.find("the reason at the end"), std::string::npos);
}

TEST(Printable, NamingFilePutsTheFileFirstOnce) {
  const auto throws = [](std::string message) {
    return [message] { throw Error(ErrorCode::kFormat, message); };
  };
  try {
    NamingFile("m.gguf", throws("GGUF key 'x' is a string, expected an integer"));
  } catch (const Error& e) {
    EXPECT_STREQ(e.what(), "m.gguf: GGUF key 'x' is a string, expected an integer");
    EXPECT_EQ(e.code(), ErrorCode::kFormat);
  }
  try {
    NamingFile("m.gguf", throws("m.gguf: truncated"));
  } catch (const Error& e) {
    EXPECT_STREQ(e.what(), "m.gguf: truncated");
  }
  EXPECT_EQ(NamingFile("m.gguf", [] { return 7; }), 7);
}

}  // namespace
}  // namespace gemma
