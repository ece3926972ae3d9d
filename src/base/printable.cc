#include "base/printable.h"

#include <cstdint>
#include <cstdio>

namespace gemma {
namespace {

// Length of the valid UTF-8 sequence starting at text[i] (1..4), or 0 when there is none.
// Overlong forms, surrogates and code points past U+10FFFF are invalid.
size_t Utf8SequenceLength(std::string_view text, size_t i) {
  const auto byte = [&](size_t k) { return static_cast<uint8_t>(text[k]); };
  const uint8_t lead = byte(i);
  size_t length = 0;
  uint8_t low = 0x80, high = 0xBF;  // the allowed range of the second byte
  if (lead >= 0xC2 && lead <= 0xDF) {
    length = 2;
  } else if (lead >= 0xE0 && lead <= 0xEF) {
    length = 3;
    if (lead == 0xE0) low = 0xA0;   // no overlong forms
    if (lead == 0xED) high = 0x9F;  // no surrogates
  } else if (lead >= 0xF0 && lead <= 0xF4) {
    length = 4;
    if (lead == 0xF0) low = 0x90;   // no overlong forms
    if (lead == 0xF4) high = 0x8F;  // nothing past U+10FFFF
  } else {
    return 0;
  }
  if (i + length > text.size() || byte(i + 1) < low || byte(i + 1) > high) return 0;
  for (size_t k = 2; k < length; ++k) {
    if ((byte(i + k) & 0xC0) != 0x80) return 0;
  }
  return length;
}

void AppendHex(std::string& out, uint8_t byte) {
  char hex[5];
  std::snprintf(hex, sizeof(hex), "\\x%02x", byte);
  out += hex;
}

}  // namespace

std::string EscapeControlCharacters(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (size_t i = 0; i < text.size();) {
    const auto c = static_cast<uint8_t>(text[i]);
    if (c >= 0x20 && c < 0x7F) {
      out += static_cast<char>(c);
      ++i;
    } else if (c == '\n') {
      out += "\\n", ++i;
    } else if (c == '\t') {
      out += "\\t", ++i;
    } else if (c == '\r') {
      out += "\\r", ++i;
    } else if (const size_t length = c >= 0x80 ? Utf8SequenceLength(text, i) : 0;
               length > 0 && !(c == 0xC2 && static_cast<uint8_t>(text[i + 1]) < 0xA0)) {
      out.append(text.substr(i, length));  // printable UTF-8 (not a C1 control U+0080..9F)
      i += length;
    } else {
      AppendHex(out, c);  // C0 control, DEL, C1 control lead byte, or not UTF-8
      ++i;
    }
  }
  return out;
}

std::string PrintableName(std::string_view name, size_t max_bytes) {
  if (name.size() <= max_bytes) return EscapeControlCharacters(name);
  return EscapeControlCharacters(name.substr(0, max_bytes)) + "... (" +
         std::to_string(name.size()) + " bytes)";
}

std::string OneLineMessage(std::string_view message, size_t max_bytes) {
  std::string escaped = EscapeControlCharacters(message);
  if (escaped.size() <= max_bytes) return escaped;
  // Cut at character boundaries: never inside a UTF-8 sequence.
  const auto boundary = [&](size_t i) {
    while (i > 0 && (static_cast<uint8_t>(escaped[i]) & 0xC0) == 0x80) --i;
    return i;
  };
  const size_t head = boundary(max_bytes - max_bytes / 4);
  const size_t tail = boundary(escaped.size() - max_bytes / 4);
  return escaped.substr(0, head) + " ... (" + std::to_string(tail - head) + " bytes cut) ... " +
         escaped.substr(tail);
}

}  // namespace gemma
