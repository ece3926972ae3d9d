#include "io/atomic_file.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <random>
#include <utility>

#include "base/error.h"

namespace gemma {
namespace {

namespace fs = std::filesystem;

constexpr size_t kBufferBytes = size_t{1} << 20;

std::string Directory(const std::string& path) {
  const fs::path parent = fs::path(path).parent_path();
  return parent.empty() ? "." : parent.string();
}

// True when `name` exists and is the file open as `fd`.
bool NameLeadsTo(const std::string& name, int fd) {
  struct stat by_name = {};
  struct stat by_fd = {};
  return ::stat(name.c_str(), &by_name) == 0 && ::fstat(fd, &by_fd) == 0 &&
         by_name.st_dev == by_fd.st_dev && by_name.st_ino == by_fd.st_ino;
}

// Opens a new file "<path>.gemma-rt-tmp.XXXXXX" (O_EXCL: never one that exists) and locks it.
int CreateTemporary(const std::string& path, std::string& temporary_path) {
  static constexpr char kAlphabet[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
  std::random_device seed;
  std::mt19937_64 random((uint64_t{seed()} << 32) ^ seed() ^ static_cast<uint64_t>(::getpid()));
  for (int attempt = 0; attempt < 100; ++attempt) {
    std::string name = path;
    name.append(kTemporaryFileMarker);
    for (int i = 0; i < 6; ++i) name.push_back(kAlphabet[random() % (sizeof(kAlphabet) - 1)]);
    const int fd = ::open(name.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    if (fd < 0 && errno == EEXIST) continue;
    if (fd < 0) {
      Fail(ErrorCode::kIo, path, ": cannot create a file in ", Directory(path), ": ",
           std::strerror(errno));
    }
    // Held until close: tells RemoveStaleTemporaryFiles that the file is alive. A remover may
    // have taken the lock and unlinked the file between our open and this flock (it looked
    // like a killed run's file); flock then waits until the remover is done, and the name no
    // longer leads to our file. So check, and try a fresh name.
    ::flock(fd, LOCK_EX);
    if (!NameLeadsTo(name, fd)) {
      ::close(fd);
      continue;
    }
    temporary_path = std::move(name);
    return fd;
  }
  Fail(ErrorCode::kIo, path, ": cannot find a free temporary name in ", Directory(path));
}

void SyncDirectory(const std::string& dir) {
  const int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return;
  ::fsync(fd);  // best effort: makes the rename itself durable
  ::close(fd);
}

// True (and the file removed) when `temporary` is not locked by a live writer.
bool RemoveIfStale(const std::string& temporary) {
  const int fd = ::open(temporary.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK);
  if (fd < 0) return false;
  bool removed = false;
  struct stat info {};
  if (::fstat(fd, &info) == 0 && S_ISREG(info.st_mode) && ::flock(fd, LOCK_EX | LOCK_NB) == 0) {
    removed = ::unlink(temporary.c_str()) == 0;
  }
  ::close(fd);
  return removed;
}

// Removes the stale temporary files in `dir` of the file named `name` (of any file when
// `name` is empty).
std::vector<std::string> RemoveStale(const std::string& dir, std::string_view name_of) {
  std::vector<std::string> removed;
  std::error_code error;
  for (fs::directory_iterator it(dir, error), end; !error && it != end; it.increment(error)) {
    const std::string name = it->path().filename().string();
    const size_t marker = name.find(kTemporaryFileMarker);
    if (marker == std::string::npos || name.size() != marker + kTemporaryFileMarker.size() + 6 ||
        (!name_of.empty() && name.substr(0, marker) != name_of)) {
      continue;
    }
    if (RemoveIfStale(it->path().string())) removed.push_back(it->path().string());
  }
  return removed;
}

}  // namespace

AtomicFile::AtomicFile(std::string path) : path_(std::move(path)) {
  struct stat info {};
  if (::stat(path_.c_str(), &info) == 0 && !S_ISREG(info.st_mode)) {
    Fail(ErrorCode::kIo, path_, ": exists and is not a regular file; refusing to replace it");
  }
  fd_ = CreateTemporary(path_, temporary_path_);
  buffer_.reserve(kBufferBytes);
}

AtomicFile::AtomicFile(AtomicFile&& other) noexcept
    : path_(std::move(other.path_)),
      temporary_path_(std::move(other.temporary_path_)),
      fd_(std::exchange(other.fd_, -1)),
      written_(other.written_),
      finished_(other.finished_),
      published_(std::exchange(other.published_, true)),
      buffer_(std::move(other.buffer_)) {}

AtomicFile::~AtomicFile() {
  if (!published_) Discard();
}

void AtomicFile::Discard() {
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
  if (!temporary_path_.empty()) ::unlink(temporary_path_.c_str());
}

void AtomicFile::Write(const void* data, size_t size) {
  if (finished_) Fail(ErrorCode::kInternal, path_, ": write after Finish");
  const char* bytes = static_cast<const char*>(data);
  written_ += size;
  if (buffer_.size() + size > kBufferBytes) Flush();
  if (size >= kBufferBytes) {
    WriteOut(bytes, size);  // a large piece goes straight to the file
  } else {
    buffer_.insert(buffer_.end(), bytes, bytes + size);
  }
}

void AtomicFile::Flush() {
  WriteOut(buffer_.data(), buffer_.size());
  buffer_.clear();
}

void AtomicFile::WriteOut(const char* bytes, size_t size) {
  while (size > 0) {
    const ssize_t n = ::write(fd_, bytes, size);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      const int error = n < 0 ? errno : ENOSPC;
      Fail(ErrorCode::kIo, path_, ": write failed: ", std::strerror(error),
           " (the previous file, if any, is unchanged)");
    }
    bytes += n;
    size -= static_cast<size_t>(n);
  }
}

void AtomicFile::Finish(uint64_t expected_bytes) {
  if (finished_) return;
  Flush();
  if (::fsync(fd_) != 0) {
    Fail(ErrorCode::kIo, path_, ": cannot write to disk (fsync): ", std::strerror(errno));
  }
  struct stat info {};
  if (::fstat(fd_, &info) != 0) Fail(ErrorCode::kIo, path_, ": fstat: ", std::strerror(errno));
  if (static_cast<uint64_t>(info.st_size) != expected_bytes || written_ != expected_bytes) {
    Fail(ErrorCode::kInternal, path_, ": wrote ", info.st_size, " bytes (", written_,
         " given) but ", expected_bytes, " were planned; the file was not kept");
  }
  finished_ = true;
  std::vector<char>().swap(buffer_);  // a checkpoint holds several finished files at once
}

void AtomicFile::Publish() {
  if (!finished_) Fail(ErrorCode::kInternal, path_, ": Publish before Finish");
  if (published_) return;
  if (::rename(temporary_path_.c_str(), path_.c_str()) != 0) {
    Fail(ErrorCode::kIo, path_, ": cannot rename ", temporary_path_,
         " to it: ", std::strerror(errno));
  }
  published_ = true;
  ::close(fd_);  // releases the lock
  fd_ = -1;
  SyncDirectory(Directory(path_));
}

std::vector<std::string> RemoveStaleTemporaryFiles(const std::string& path) {
  return RemoveStale(Directory(path), fs::path(path).filename().string());
}

std::vector<std::string> RemoveStaleTemporaryFilesIn(const std::string& dir) {
  return RemoveStale(dir, "");
}

}  // namespace gemma
