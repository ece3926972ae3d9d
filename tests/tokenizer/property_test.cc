// Properties of the Gemma tokenizer on seeded random input: decode(encode(s)) == s unless s
// holds a literal '▁', and streaming decode == whole decode, also for arbitrary id sequences
// full of byte-fallback ids that split characters. Plus the README's worked examples.
#include <gtest/gtest.h>

#include <random>
#include <string>
#include <vector>

#include "tokenizer/gemma_tokenizer_path.h"  // tests/tokenizer/
#include "tokenizer/tokenizer.h"
#include "tokenizer/utf8.h"

namespace gemma {
namespace {

using Ids = std::vector<int32_t>;

std::string StreamAll(const Tokenizer& tokenizer, const Ids& ids) {
  StreamingDecoder decoder(tokenizer);
  std::string text;
  for (const int32_t id : ids) {
    const std::string part = decoder.Push(id);
    EXPECT_TRUE(utf8::IsValid(part)) << "Push emitted incomplete UTF-8";
    text += part;
  }
  return text + decoder.Flush();
}

// Random text from pieces that stress the rules: whitespace runs, added-token text, emoji
// (byte fallback), scripts, controls, and random code points (no surrogates).
std::string RandomText(std::mt19937& rng, bool allow_underline) {
  static const std::vector<std::string> fragments = {" ",
                                                     "  ",
                                                     "    ",
                                                     "\t",
                                                     "\t\t",
                                                     "\n",
                                                     "\n\n\n",
                                                     "\r\n",
                                                     "\xC2\xA0",
                                                     "\xE3\x80\x80",
                                                     "<bos>",
                                                     "<eos>",
                                                     "<start_of_turn>",
                                                     "<end_of_turn>",
                                                     "<unused7>",
                                                     "<unused99>",
                                                     "<0x41>",
                                                     "<pad>",
                                                     "<table>",
                                                     "</s>",
                                                     "<s>",
                                                     "<mask>",
                                                     "[@BOS@]",
                                                     "<BOS>",
                                                     "<bos",
                                                     "bos>",
                                                     "\xF0\x9F\x91\x8D\xF0\x9F\x8F\xBD",
                                                     "\xF0\x9F\x87\xAF\xF0\x9F\x87\xB5",
                                                     "\xF0\x9F\x91\xA8\xE2\x80\x8D\xF0\x9F\x91\xA9",
                                                     "1\xEF\xB8\x8F\xE2\x83\xA3",
                                                     "caf\xC3\xA9",
                                                     "cafe\xCC\x81",
                                                     "\xE6\x97\xA5\xE6\x9C\xAC\xE8\xAA\x9E",
                                                     "\xD8\xA7\xD9\x84\xD8\xB9",
                                                     "\xE0\xA4\xB9\xE0\xA4\xBF",
                                                     "\xEF\xBB\xBF",
                                                     "\xE2\x80\x8B",
                                                     std::string("\0", 1),
                                                     "\x7F",
                                                     "\xC2\x85",
                                                     "the",
                                                     " quick",
                                                     " brown",
                                                     "fox",
                                                     "12345",
                                                     "3.14",
                                                     "def f(x):",
                                                     "{\"a\": 1}"};
  std::uniform_int_distribution<int> count(0, 12);
  std::uniform_int_distribution<size_t> pick(0, fragments.size() - 1);
  std::uniform_int_distribution<int> kind(0, 3);
  std::string text;
  const int n = count(rng);
  for (int i = 0; i < n; ++i) {
    switch (kind(rng)) {
      case 0:
        text += fragments[pick(rng)];
        break;
      case 1: {  // printable ASCII
        std::uniform_int_distribution<int> c(0x20, 0x7E);
        text.push_back(static_cast<char>(c(rng)));
        break;
      }
      case 2: {  // any Unicode scalar value
        std::uniform_int_distribution<uint32_t> c(1, 0x10FFFF);
        uint32_t cp;
        do cp = c(rng);
        while ((cp >= 0xD800 && cp <= 0xDFFF) || (!allow_underline && cp == 0x2581));
        utf8::AppendCodePoint(cp, text);
        break;
      }
      default: {  // the Basic Multilingual Plane, where most vocabulary lives
        std::uniform_int_distribution<uint32_t> c(0x80, 0xFFFF);
        uint32_t cp;
        do cp = c(rng);
        while ((cp >= 0xD800 && cp <= 0xDFFF) || (!allow_underline && cp == 0x2581));
        utf8::AppendCodePoint(cp, text);
        break;
      }
    }
  }
  if (allow_underline) text += "\xE2\x96\x81";
  return text;
}

TEST(PropertyTest, DecodeOfEncodeIsTheTextAndStreamingAgrees) {
  const Tokenizer* tokenizer = testing::GemmaTokenizer();
  ASSERT_NE(tokenizer, nullptr);
  std::mt19937 rng(20240221);
  int failures = 0;
  for (int i = 0; i < 4000 && failures < 5; ++i) {
    const std::string text = RandomText(rng, /*allow_underline=*/false);
    const Ids ids = tokenizer->Encode(text, false);
    const std::string decoded = tokenizer->Decode(ids);
    if (decoded != text) {
      ++failures;
      ADD_FAILURE() << "round trip failed for case " << i << " (" << text.size() << " bytes)";
    }
    EXPECT_EQ(StreamAll(*tokenizer, ids), decoded) << "case " << i;
    const Ids with_bos = tokenizer->Encode(text, true);
    ASSERT_FALSE(with_bos.empty());
    EXPECT_EQ(with_bos[0], 2);
    EXPECT_EQ(Ids(with_bos.begin() + 1, with_bos.end()), ids);
  }
}

TEST(PropertyTest, LiteralUnderlineDecodesAsASpace) {
  const Tokenizer* tokenizer = testing::GemmaTokenizer();
  ASSERT_NE(tokenizer, nullptr);
  std::mt19937 rng(7);
  for (int i = 0; i < 500; ++i) {
    const std::string text = RandomText(rng, /*allow_underline=*/true);
    std::string expected;  // every '▁' as ' '
    for (size_t pos = 0; pos < text.size();) {
      if (text.compare(pos, 3, "\xE2\x96\x81") == 0) {
        expected += ' ';
        pos += 3;
      } else {
        expected += text[pos++];
      }
    }
    const Ids ids = tokenizer->Encode(text, false);
    EXPECT_EQ(tokenizer->Decode(ids), expected) << "case " << i;
    EXPECT_EQ(StreamAll(*tokenizer, ids), expected) << "case " << i;
  }
}

TEST(PropertyTest, StreamingEqualsDecodeForArbitraryIds) {
  const Tokenizer* tokenizer = testing::GemmaTokenizer();
  ASSERT_NE(tokenizer, nullptr);
  std::mt19937 rng(99);
  std::uniform_int_distribution<int32_t> byte_id(217, 472);  // <0x00>..<0xFF> (and 226 '\t')
  std::uniform_int_distribution<int32_t> any_id(0, 255999);
  std::uniform_int_distribution<int> length(0, 20);
  std::bernoulli_distribution mostly_bytes(0.8);
  for (int i = 0; i < 5000; ++i) {
    Ids ids(length(rng));
    for (int32_t& id : ids) id = mostly_bytes(rng) ? byte_id(rng) : any_id(rng);
    const std::string decoded = tokenizer->Decode(ids);
    EXPECT_TRUE(utf8::IsValid(decoded));
    ASSERT_EQ(StreamAll(*tokenizer, ids), decoded) << "case " << i;
  }
}

TEST(PropertyTest, StreamingEmitsEachCharacterAsSoonAsItIsWhole) {
  const Tokenizer* tokenizer = testing::GemmaTokenizer();
  ASSERT_NE(tokenizer, nullptr);
  // "a", the four bytes of U+1F999 as byte-fallback ids, then "▁b".
  const Ids ids = {tokenizer->PieceToId("a"),
                   tokenizer->PieceToId("<0xF0>"),
                   tokenizer->PieceToId("<0x9F>"),
                   tokenizer->PieceToId("<0xA6>"),
                   tokenizer->PieceToId("<0x99>"),
                   tokenizer->PieceToId("\xE2\x96\x81"
                                        "b")};
  for (const int32_t id : ids) ASSERT_GE(id, 0);
  StreamingDecoder decoder(*tokenizer);
  std::vector<std::string> parts;
  for (const int32_t id : ids) parts.push_back(decoder.Push(id));
  EXPECT_EQ(decoder.Flush(), "");
  std::string joined;
  for (const std::string& part : parts) joined += part;
  EXPECT_EQ(joined, "a\xF0\x9F\xA6\x99 b");
  ASSERT_GE(parts.size(), 6u);  // a, four bytes, ▁b
  EXPECT_EQ(parts[1], "");
  EXPECT_EQ(parts[3], "");
  EXPECT_EQ(parts[4], "\xF0\x9F\xA6\x99");
}

TEST(PropertyTest, ReadmeExamples) {
  const Tokenizer* t = testing::GemmaTokenizer();
  ASSERT_NE(t, nullptr);
  EXPECT_EQ(t->Encode(std::string(32, ' '), false), (Ids{153, 153}));
  EXPECT_EQ(t->Encode(std::string(32, '\n'), false), (Ids{138, 108}));
  EXPECT_EQ(t->Encode("<start_of_turn>user\nHi<end_of_turn>\n<start_of_turn>model\n", false),
            (Ids{106, 1645, 108, 2151, 107, 108, 106, 2516, 108}));
  EXPECT_EQ(t->Encode("<bos><bos><eos><eos>", false), (Ids{2, 2, 1, 1}));
  EXPECT_EQ(t->Encode("text before <bos> and after", false),
            (Ids{1082, 1794, 235248, 2, 578, 1452}));
  EXPECT_EQ(t->Encode("<unused0> <unused42> <unused98> <unused99>", false),
            (Ids{7, 235248, 49, 235248, 105, 968, 45526, 235315, 235315, 235313}));
  EXPECT_EQ(t->Encode("<bos>", true), (Ids{2, 2}));
  EXPECT_EQ(t->Decode(Ids{2}), "<bos>");
}

TEST(PropertyTest, InvalidUtf8EncodesAsReplacementCharacters) {
  const Tokenizer* t = testing::GemmaTokenizer();
  ASSERT_NE(t, nullptr);
  EXPECT_EQ(t->Encode("ok\xFF\xFEthen\xE2\x96", false),
            t->Encode("ok\xEF\xBF\xBD\xEF\xBF\xBDthen\xEF\xBF\xBD", false));
  EXPECT_EQ(t->Decode(t->Encode("a\xC0\xAF"
                                "b",
                                false)),
            "a\xEF\xBF\xBD\xEF\xBF\xBD"
            "b");
}

}  // namespace
}  // namespace gemma
