// Reading input files that are used whole (config.json, an index, tokenizer.json, a prompt)
// with memory bounded by the input's real size: a regular file is read after its size is
// checked against a limit; a pipe or a device (stdin, /dev/zero) only when the caller allows
// streams, and then no further than the limit. A directory, a device where a file is needed
// or an input over the limit is an Error naming the file, never a read until memory runs out.
#pragma once

#include <cstdint>
#include <istream>
#include <string>
#include <string_view>

namespace gemma {

struct InputFileOptions {
  std::string_view what = "input file";  // for messages: "config file", "--prompt-file"
  uint64_t max_bytes = uint64_t{64} << 20;
  bool allow_streams = false;  // accept pipes and character devices, read up to max_bytes
  size_t padding = 0;          // spare capacity after the bytes (simdjson reads past the end)
};

// The bytes of `path`. Throws Error(kNotFound) when it does not exist, Error(kInvalidArgument)
// for a directory, a non-regular file (unless allow_streams) or more than max_bytes,
// Error(kIo) when reading fails.
std::string ReadInputFile(const std::string& path, const InputFileOptions& options);

// The same for an open file descriptor (0 for stdin); `name` names it in messages.
std::string ReadInputFd(int fd, const std::string& name, const InputFileOptions& options);

// std::getline with a bound: false at the end of `in`; a line longer than max_bytes is an
// Error(kInvalidArgument) naming `name` and the line number (`line_number` counts lines).
bool ReadBoundedLine(std::istream& in, std::string& line, size_t max_bytes, const std::string& name,
                     int64_t& line_number);

// Common limits. Real files are far below them (Gemma's tokenizer.json is 17.5 MB).
inline constexpr uint64_t kMaxMetadataFileBytes = uint64_t{64} << 20;  // config, index
inline constexpr uint64_t kMaxTokenizerFileBytes = uint64_t{1} << 30;
inline constexpr uint64_t kMaxPromptBytes = uint64_t{64} << 20;
inline constexpr uint64_t kMaxTextFileBytes = uint64_t{256} << 20;  // tokenize --file
inline constexpr size_t kMaxLineBytes = size_t{64} << 20;           // a JSONL line, a chat turn

}  // namespace gemma
