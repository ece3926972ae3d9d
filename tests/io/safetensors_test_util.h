// Helpers for the safetensors tests: a scratch directory and hand-made files.
#pragma once

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <functional>
#include <random>
#include <string>

#include "base/error.h"

namespace gemma::testing {

// A fresh directory under the system temp dir, removed with everything in it at the end.
class ScratchDir {
 public:
  explicit ScratchDir(const std::string& tag) {
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    path_ =
        std::filesystem::temp_directory_path() /
        ("gemma-rt-" + tag + "-" + (info ? info->name() : "x") + "-" + std::to_string(::getpid()));
    std::filesystem::remove_all(path_);
    std::filesystem::create_directories(path_);
  }
  ~ScratchDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  std::string File(const std::string& name) const { return (path_ / name).string(); }
  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
};

inline void WriteFile(const std::string& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  ASSERT_TRUE(out.good()) << path;
}

inline std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

// 8-byte little-endian length, then `header` as is, then `data`.
inline std::string RawSafetensors(uint64_t header_length, const std::string& header,
                                  const std::string& data = "") {
  std::string bytes(8, '\0');
  for (int i = 0; i < 8; ++i) bytes[i] = static_cast<char>((header_length >> (8 * i)) & 0xff);
  return bytes + header + data;
}

// A well-formed file from a JSON header (padded to 8) and `data_bytes` zero bytes.
inline std::string Safetensors(std::string header, size_t data_bytes) {
  header.append((8 - header.size() % 8) % 8, ' ');
  return RawSafetensors(header.size(), header, std::string(data_bytes, '\0'));
}

// Runs `action`, expects a gemma::Error whose message contains every one of `parts`.
inline void ExpectError(const std::function<void()>& action,
                        std::initializer_list<std::string> parts) {
  try {
    action();
    ADD_FAILURE() << "expected a gemma::Error mentioning '" << *parts.begin() << "'";
  } catch (const Error& e) {
    const std::string message = e.what();
    for (const std::string& part : parts) {
      EXPECT_NE(message.find(part), std::string::npos)
          << "message '" << message << "' does not mention '" << part << "'";
    }
  }
}

}  // namespace gemma::testing
