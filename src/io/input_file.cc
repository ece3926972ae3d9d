#include "io/input_file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "base/error.h"

namespace gemma {
namespace {

class Descriptor {  // closes itself
 public:
  explicit Descriptor(int fd) : fd_(fd) {}
  Descriptor(const Descriptor&) = delete;
  Descriptor& operator=(const Descriptor&) = delete;
  ~Descriptor() {
    if (fd_ >= 0) ::close(fd_);
  }
  int get() const { return fd_; }

 private:
  int fd_;
};

[[noreturn]] void TooLarge(const std::string& name, const InputFileOptions& options,
                           const std::string& size) {
  Fail(ErrorCode::kInvalidArgument, name, ": ", size, " is over the limit of ", options.max_bytes,
       " bytes for ", options.what);
}

}  // namespace

std::string ReadInputFd(int fd, const std::string& name, const InputFileOptions& options) {
  struct stat info {};
  if (::fstat(fd, &info) != 0) Fail(ErrorCode::kIo, name, ": cannot stat: ", std::strerror(errno));
  if (S_ISDIR(info.st_mode)) {
    Fail(ErrorCode::kInvalidArgument, name, ": is a directory; expected a file (", options.what,
         ")");
  }
  const bool regular = S_ISREG(info.st_mode);
  if (!regular && !options.allow_streams) {
    Fail(ErrorCode::kInvalidArgument, name, ": not a regular file (", options.what,
         " must be one)");
  }
  if (regular && static_cast<uint64_t>(info.st_size) > options.max_bytes) {
    TooLarge(name, options, StrCat(info.st_size, " bytes"));
  }
  // A regular file is read to its size (plus one byte, to notice one that grows); a stream
  // until its end or one byte past the limit.
  const uint64_t expected = regular ? static_cast<uint64_t>(info.st_size) : 0;
  std::string bytes;
  bytes.reserve(static_cast<size_t>(expected) + options.padding);
  char buffer[1 << 16];
  while (true) {
    const ssize_t n = ::read(fd, buffer, sizeof(buffer));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) Fail(ErrorCode::kIo, name, ": cannot read: ", std::strerror(errno));
    if (n == 0) break;
    if (bytes.size() + static_cast<size_t>(n) > options.max_bytes) {
      TooLarge(name, options, StrCat("more than ", options.max_bytes, " bytes"));
    }
    bytes.append(buffer, static_cast<size_t>(n));
  }
  if (bytes.capacity() < bytes.size() + options.padding) {
    bytes.reserve(bytes.size() + options.padding);
  }
  return bytes;
}

std::string ReadInputFile(const std::string& path, const InputFileOptions& options) {
  // Where a stream is refused, O_NONBLOCK keeps open() from waiting forever on a FIFO
  // without a writer; fstat then refuses it.
  const int flags = O_RDONLY | O_CLOEXEC | (options.allow_streams ? 0 : O_NONBLOCK);
  const Descriptor fd(::open(path.c_str(), flags));
  if (fd.get() < 0) {
    const int error = errno;
    Fail(error == ENOENT ? ErrorCode::kNotFound : ErrorCode::kIo, path, ": cannot open (",
         options.what, "): ", std::strerror(error));
  }
  return ReadInputFd(fd.get(), path, options);
}

bool ReadBoundedLine(std::istream& in, std::string& line, size_t max_bytes, const std::string& name,
                     int64_t& line_number) {
  using Traits = std::istream::traits_type;
  line.clear();
  std::streambuf* buffer = in.rdbuf();
  Traits::int_type c = Traits::eof();
  while (buffer != nullptr && (c = buffer->sbumpc()) != Traits::eof() && c != '\n') {
    if (line.size() == max_bytes) {
      Fail(ErrorCode::kInvalidArgument, name, ":", line_number + 1, ": a line longer than ",
           max_bytes, " bytes");
    }
    line.push_back(Traits::to_char_type(c));
  }
  if (c == Traits::eof() && line.empty()) return false;
  ++line_number;
  return true;
}

}  // namespace gemma
