// UTF-8 scanning with the Unicode "maximal subpart" rule for invalid bytes (the rule of the
// WHATWG TextDecoder and Python's errors="replace"): each maximal invalid subpart of the
// input becomes one U+FFFD. Encode and Decode both use it, so the policy lives in one place.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace gemma::utf8 {

inline constexpr std::string_view kReplacementCharacter = "\xEF\xBF\xBD";  // U+FFFD

enum class ScanStatus {
  kValid,       // `length` bytes form one code point
  kInvalid,     // `length` bytes are a maximal invalid subpart: replace them with one U+FFFD
  kIncomplete,  // the text ended inside a character that could still become valid
};

struct Scan {
  ScanStatus status;
  size_t length;        // >= 1
  char32_t code_point;  // set when status is kValid
};

// The character (or invalid subpart) starting at text[pos]; pos < text.size().
Scan ScanAt(std::string_view text, size_t pos);

bool IsValid(std::string_view text);

// `text` with each maximal invalid subpart (an incomplete tail included) replaced by U+FFFD.
std::string Sanitize(std::string_view text);
void AppendSanitized(std::string_view text, std::string& out);

void AppendCodePoint(char32_t code_point, std::string& out);

}  // namespace gemma::utf8
