// Writing a file that appears under its final name complete or not at all. The bytes go to
// a temporary file with a unique name in the final file's directory
// ("<name>.gemma-rt-tmp.XXXXXX"), which is fsync'ed, checked against the size the writer
// planned, and renamed over the final name. So a full disk, a kill or a crash leaves the
// previous file as it was; two runs writing the same file never share a temporary file; and a
// reader that has the previous file mapped keeps its bytes (rename gives a new inode; writing
// in place made such readers die with SIGBUS).
//
// While it is written, the temporary file is locked (flock). A killed run's temporary file
// is left unlocked: RemoveStaleTemporaryFiles removes it on the next run. A remover that
// catches a new file between its creation and its lock removes it while holding the lock; the
// writer's lock waits for that, sees its name gone and starts over with a fresh name.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace gemma {

inline constexpr std::string_view kTemporaryFileMarker = ".gemma-rt-tmp.";

class AtomicFile {
 public:
  // Creates the temporary file next to `path`. Throws Error(kIo) naming `path`.
  explicit AtomicFile(std::string path);
  ~AtomicFile();  // unless published, the temporary file is removed
  AtomicFile(AtomicFile&& other) noexcept;
  AtomicFile& operator=(AtomicFile&&) = delete;
  AtomicFile(const AtomicFile&) = delete;
  AtomicFile& operator=(const AtomicFile&) = delete;

  // Throws Error(kIo) naming the final path and the reason (e.g. "No space left on device").
  void Write(const void* data, size_t size);
  void Write(std::string_view bytes) { Write(bytes.data(), bytes.size()); }
  uint64_t bytes_written() const { return written_; }

  // Writes out what is buffered, fsyncs and checks that the file holds exactly
  // `expected_bytes` (what the writer planned). Then the file can be published.
  void Finish(uint64_t expected_bytes);
  // Renames the finished file over the final path and syncs the directory.
  void Publish();
  void Commit(uint64_t expected_bytes) {
    Finish(expected_bytes);
    Publish();
  }

  const std::string& path() const { return path_; }
  const std::string& temporary_path() const { return temporary_path_; }

 private:
  void Flush();
  void WriteOut(const char* bytes, size_t size);
  void Discard();

  std::string path_;
  std::string temporary_path_;
  int fd_ = -1;
  uint64_t written_ = 0;
  bool finished_ = false;
  bool published_ = false;
  std::vector<char> buffer_;
};

// The temporary files of `path` ("<path>.gemma-rt-tmp.*") that no running process holds:
// left by killed runs. Removes them and returns their names; locked ones are left alone.
std::vector<std::string> RemoveStaleTemporaryFiles(const std::string& path);
// The same for every temporary file in directory `dir`.
std::vector<std::string> RemoveStaleTemporaryFilesIn(const std::string& dir);

}  // namespace gemma
