// "2,17,33" -> {2, 17, 33} for --prompt-ids, --ids and --positions.
#pragma once

#include <charconv>
#include <string>
#include <string_view>
#include <vector>

#include "base/error.h"

namespace gemma::cli {

template <typename T>
std::vector<T> ParseList(std::string_view text, std::string_view flag) {
  std::vector<T> values;
  size_t begin = 0;
  while (begin <= text.size()) {
    size_t end = text.find(',', begin);
    if (end == std::string_view::npos) end = text.size();
    std::string_view item = text.substr(begin, end - begin);
    while (!item.empty() && item.front() == ' ') item.remove_prefix(1);
    while (!item.empty() && item.back() == ' ') item.remove_suffix(1);
    T value{};
    const auto [ptr, ec] = std::from_chars(item.data(), item.data() + item.size(), value);
    if (item.empty() || ec != std::errc() || ptr != item.data() + item.size()) {
      Fail(ErrorCode::kInvalidArgument, flag, ": '", item,
           "' is not an integer (expected a comma-separated list like 2,17,33)");
    }
    values.push_back(value);
    begin = end + 1;
  }
  return values;
}

}  // namespace gemma::cli
