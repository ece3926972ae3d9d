// Text that came from an input file (tensor names, metadata keys, token pieces) made safe to
// print on one terminal line. A name may hold a newline (splits an error line), a terminal
// escape (rewrites the screen), a NUL (cuts a C string) or run to megabytes: control
// characters, C1 controls and bytes that are not UTF-8 are written as \n, \t, \r or \xNN,
// and long text is cut with its length said.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace gemma {

// `text` with every control character escaped; valid UTF-8 otherwise kept as it is.
std::string EscapeControlCharacters(std::string_view text);

// A name for a message: escaped, and when longer than `max_bytes`, its first bytes then
// "... (N bytes)". Error messages put it in quotes: "tensor '" + PrintableName(name) + "'".
inline constexpr size_t kPrintableNameBytes = 160;
std::string PrintableName(std::string_view name, size_t max_bytes = kPrintableNameBytes);

// A whole message kept to one line of bounded length: escaped, and when longer than
// `max_bytes`, its head and its tail (which says what is wrong) around the length cut.
inline constexpr size_t kMessageBytes = 4000;
std::string OneLineMessage(std::string_view message, size_t max_bytes = kMessageBytes);

}  // namespace gemma
