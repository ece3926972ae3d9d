#include "eval/python_text.h"

#include <cstdint>

namespace gemma::eval {
namespace {

// The code point at text[i] and its length in bytes; a byte that starts no valid sequence
// counts as one character of its own (it is never whitespace).
std::pair<uint32_t, size_t> DecodeAt(std::string_view text, size_t i) {
  const auto byte = [&](size_t k) { return static_cast<uint8_t>(text[k]); };
  const uint8_t b0 = byte(i);
  if (b0 < 0x80) return {b0, 1};
  size_t length = b0 >= 0xf0 ? 4 : b0 >= 0xe0 ? 3 : b0 >= 0xc0 ? 2 : 0;
  if (length == 0 || i + length > text.size()) return {0xfffd, 1};
  uint32_t cp = b0 & (0x7f >> length);
  for (size_t k = 1; k < length; ++k) {
    if ((byte(i + k) & 0xc0) != 0x80) return {0xfffd, 1};
    cp = (cp << 6) | (byte(i + k) & 0x3f);
  }
  return {cp, length};
}

bool IsPythonSpace(uint32_t cp) {
  return (cp >= 0x09 && cp <= 0x0d) || (cp >= 0x1c && cp <= 0x20) || cp == 0x85 || cp == 0xa0 ||
         cp == 0x1680 || (cp >= 0x2000 && cp <= 0x200a) || cp == 0x2028 || cp == 0x2029 ||
         cp == 0x202f || cp == 0x205f || cp == 0x3000;
}

// A code point below U+0100.
void AppendLatin1(std::string& out, uint32_t cp) {
  if (cp < 0x80) {
    out += static_cast<char>(cp);
  } else {
    out += static_cast<char>(0xc0 | (cp >> 6));
    out += static_cast<char>(0x80 | (cp & 0x3f));
  }
}

uint32_t ToUpper(uint32_t cp) {
  if (cp >= 'a' && cp <= 'z') return cp - 0x20;
  if (cp >= 0xe0 && cp <= 0xfe && cp != 0xf7) return cp - 0x20;
  return cp;
}

uint32_t ToLower(uint32_t cp) {
  if (cp >= 'A' && cp <= 'Z') return cp + 0x20;
  if (cp >= 0xc0 && cp <= 0xde && cp != 0xd7) return cp + 0x20;
  return cp;
}

}  // namespace

std::string_view PythonRStrip(std::string_view text) {
  size_t end = text.size();
  while (end > 0) {
    // Find where the last character starts.
    size_t start = end - 1;
    while (start > 0 && (static_cast<uint8_t>(text[start]) & 0xc0) == 0x80 && end - start < 4) {
      --start;
    }
    const auto [cp, length] = DecodeAt(text, start);
    if (start + length != end || !IsPythonSpace(cp)) break;
    end = start;
  }
  return text.substr(0, end);
}

bool StartsWithPythonSpace(std::string_view text) {
  return !text.empty() && IsPythonSpace(DecodeAt(text, 0).first);
}

std::string_view PythonStrip(std::string_view text) {
  size_t begin = 0;
  while (begin < text.size()) {
    const auto [cp, length] = DecodeAt(text, begin);
    if (!IsPythonSpace(cp)) break;
    begin += length;
  }
  return PythonRStrip(text.substr(begin));
}

size_t CodePoints(std::string_view text) {
  size_t count = 0;
  for (size_t i = 0; i < text.size();) {
    i += DecodeAt(text, i).second;
    ++count;
  }
  return count;
}

std::string PythonCapitalize(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (size_t i = 0; i < text.size();) {
    const auto [cp, length] = DecodeAt(text, i);
    if (cp < 0x100) {
      AppendLatin1(out, i == 0 ? ToUpper(cp) : ToLower(cp));
    } else {
      out.append(text.substr(i, length));  // outside Latin-1, or not UTF-8: kept as it is
    }
    i += length;
  }
  return out;
}

std::string ReplaceAll(std::string_view text, std::string_view from, std::string_view to) {
  std::string out;
  size_t i = 0;
  while (true) {
    const size_t at = text.find(from, i);
    if (at == std::string_view::npos || from.empty()) break;
    out.append(text.substr(i, at - i));
    out.append(to);
    i = at + from.size();
  }
  out.append(text.substr(i));
  return out;
}

std::string HellaswagPreprocess(std::string_view text) {
  const std::string titled = ReplaceAll(PythonStrip(text), " [title]", ". ");
  // re.sub("\\[.*?\\]", "", text): '.' does not match a newline.
  std::string unbracketed;
  for (size_t i = 0; i < titled.size();) {
    if (titled[i] == '[') {
      size_t j = i + 1;
      while (j < titled.size() && titled[j] != ']' && titled[j] != '\n') ++j;
      if (j < titled.size() && titled[j] == ']') {
        i = j + 1;
        continue;
      }
    }
    unbracketed += titled[i++];
  }
  return ReplaceAll(unbracketed, "  ", " ");
}

}  // namespace gemma::eval
