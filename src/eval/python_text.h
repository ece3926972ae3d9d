// The few Python string operations lm-evaluation-harness applies to benchmark text, with
// Python's semantics on UTF-8 bytes: what counts as whitespace (str.isspace), length in
// code points (len), str.capitalize, and HellaSwag's preprocessing.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace gemma::eval {

// str.strip() / str.rstrip(): every character str.isspace() accepts (ASCII whitespace,
// \x1c-\x1f, U+0085, U+00A0, U+1680, U+2000-U+200A, U+2028, U+2029, U+202F, U+205F,
// U+3000).
std::string_view PythonStrip(std::string_view text);
std::string_view PythonRStrip(std::string_view text);
bool StartsWithPythonSpace(std::string_view text);

// len(str): code points (bytes that do not continue a UTF-8 sequence).
size_t CodePoints(std::string_view text);

// str.capitalize(): the first character upper case, the rest lower case. Letters outside
// ASCII and Latin-1 (U+00C0-U+00FE) keep their case.
std::string PythonCapitalize(std::string_view text);

// `text.replace(from, to)`: every non-overlapping occurrence, left to right.
std::string ReplaceAll(std::string_view text, std::string_view from, std::string_view to);

// lm-evaluation-harness's hellaswag `preprocess`: strip, " [title]" -> ". ", remove
// re"\[.*?\]" (a bracket pair on one line), "  " -> " ".
std::string HellaswagPreprocess(std::string_view text);

}  // namespace gemma::eval
