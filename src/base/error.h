// The one error type of gemma-rt. Library code throws gemma::Error with a message that
// names the file, the tensor or the argument and says what was expected; the CLI and the
// server catch it and print it. Never assert on user input.
// Names read from input files go through PrintableName (base/printable.h) where they are
// put into a message; as a last guard every message is kept to one line of bounded length
// with control characters escaped, so no input can split, hijack or flood an error line.
#pragma once

#include <sstream>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>

#include "base/printable.h"

namespace gemma {

enum class ErrorCode {
  kInvalidArgument,    // a caller passed something that cannot be right
  kNotFound,           // a file, tensor or key that must exist does not
  kIo,                 // the operating system refused (open, mmap, read, write)
  kFormat,             // a file's bytes do not follow its format
  kShape,              // a tensor's shape or dtype disagrees with the config
  kUnsupported,        // valid input that gemma-rt does not handle (yet)
  kOutOfRange,         // e.g. a token id past the vocabulary, a prompt past the context
  kInternal,           // a bug in gemma-rt
  kResourceExhausted,  // valid, but not now: a full queue, no memory left (retry later)
};

const char* ErrorCodeName(ErrorCode code);

class Error : public std::runtime_error {
 public:
  Error(ErrorCode code, const std::string& message)
      : std::runtime_error(OneLineMessage(message)), code_(code) {}
  ErrorCode code() const { return code_; }

 private:
  ErrorCode code_;
};

// StrCat("tensor ", name, " has ", n, " rows"): g++ 12 has no std::format.
template <typename... Args>
std::string StrCat(Args&&... args) {
  std::ostringstream out;
  (out << ... << std::forward<Args>(args));
  return out.str();
}

template <typename... Args>
[[noreturn]] void Fail(ErrorCode code, Args&&... args) {
  throw Error(code, StrCat(std::forward<Args>(args)...));
}

// Runs `body`; an Error it throws whose message does not start with `file` is thrown again
// as "file: message", so that errors from code that does not know the file (a metadata
// value's conversion, a tokenizer's construction) still name it.
template <typename Body>
decltype(auto) NamingFile(const std::string& file, Body&& body) {
  try {
    return body();
  } catch (const Error& e) {
    const std::string_view message = e.what();
    if (message.starts_with(EscapeControlCharacters(file))) throw;
    throw Error(e.code(), StrCat(file, ": ", message));
  }
}

}  // namespace gemma
