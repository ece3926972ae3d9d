#include "tokenizer/utf8.h"

#include <cstdint>

namespace gemma::utf8 {
namespace {

// Well-formed sequences (Unicode Table 3-7): the lead byte fixes the length and the allowed
// range of the second byte; the other continuation bytes are always 80..BF.
struct LeadRule {
  int length;  // 0: never a valid lead byte
  uint8_t second_min;
  uint8_t second_max;
};

LeadRule RuleFor(uint8_t lead) {
  if (lead < 0x80) return {1, 0, 0};
  if (lead < 0xC2) return {0, 0, 0};  // continuation byte or overlong 2-byte lead
  if (lead < 0xE0) return {2, 0x80, 0xBF};
  if (lead == 0xE0) return {3, 0xA0, 0xBF};  // no overlongs
  if (lead == 0xED) return {3, 0x80, 0x9F};  // no surrogates
  if (lead < 0xF0) return {3, 0x80, 0xBF};
  if (lead == 0xF0) return {4, 0x90, 0xBF};  // no overlongs
  if (lead < 0xF4) return {4, 0x80, 0xBF};
  if (lead == 0xF4) return {4, 0x80, 0x8F};  // nothing past U+10FFFF
  return {0, 0, 0};
}

}  // namespace

Scan ScanAt(std::string_view text, size_t pos) {
  const auto byte = [&](size_t i) { return static_cast<uint8_t>(text[i]); };
  const uint8_t lead = byte(pos);
  if (lead < 0x80) return {ScanStatus::kValid, 1, lead};
  const LeadRule rule = RuleFor(lead);
  if (rule.length == 0) return {ScanStatus::kInvalid, 1, 0};

  char32_t code_point = lead & (0x7F >> rule.length);
  for (int i = 1; i < rule.length; ++i) {
    if (pos + i >= text.size()) return {ScanStatus::kIncomplete, static_cast<size_t>(i), 0};
    const uint8_t next = byte(pos + i);
    const uint8_t min = i == 1 ? rule.second_min : 0x80;
    const uint8_t max = i == 1 ? rule.second_max : 0xBF;
    if (next < min || next > max) return {ScanStatus::kInvalid, static_cast<size_t>(i), 0};
    code_point = (code_point << 6) | (next & 0x3F);
  }
  return {ScanStatus::kValid, static_cast<size_t>(rule.length), code_point};
}

bool IsValid(std::string_view text) {
  size_t pos = 0;
  while (pos < text.size()) {
    // ASCII fast path: most text is ASCII, and it needs no table.
    if (static_cast<uint8_t>(text[pos]) < 0x80) {
      ++pos;
      continue;
    }
    const Scan scan = ScanAt(text, pos);
    if (scan.status != ScanStatus::kValid) return false;
    pos += scan.length;
  }
  return true;
}

void AppendSanitized(std::string_view text, std::string& out) {
  size_t pos = 0;
  while (pos < text.size()) {
    const Scan scan = ScanAt(text, pos);
    if (scan.status == ScanStatus::kValid) {
      out.append(text.substr(pos, scan.length));
    } else {
      out.append(kReplacementCharacter);  // an incomplete tail is one maximal subpart too
    }
    pos += scan.length;
  }
}

std::string Sanitize(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  AppendSanitized(text, out);
  return out;
}

void AppendCodePoint(char32_t c, std::string& out) {
  if (c < 0x80) {
    out.push_back(static_cast<char>(c));
  } else if (c < 0x800) {
    out.push_back(static_cast<char>(0xC0 | (c >> 6)));
    out.push_back(static_cast<char>(0x80 | (c & 0x3F)));
  } else if (c < 0x10000) {
    out.push_back(static_cast<char>(0xE0 | (c >> 12)));
    out.push_back(static_cast<char>(0x80 | ((c >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (c & 0x3F)));
  } else {
    out.push_back(static_cast<char>(0xF0 | (c >> 18)));
    out.push_back(static_cast<char>(0x80 | ((c >> 12) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | ((c >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (c & 0x3F)));
  }
}

}  // namespace gemma::utf8
