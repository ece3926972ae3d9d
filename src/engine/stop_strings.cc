#include "engine/stop_strings.h"

#include <algorithm>
#include <utility>

namespace gemma {

StopStringMatcher::StopStringMatcher(std::vector<std::string> stop_strings) {
  for (std::string& s : stop_strings) {
    if (!s.empty()) stop_strings_.push_back(std::move(s));
  }
}

StopStringMatcher::Result StopStringMatcher::Push(std::string_view piece) {
  pending_ += piece;
  // The earliest complete stop string wins.
  size_t first = std::string::npos;
  for (const std::string& stop : stop_strings_) first = std::min(first, pending_.find(stop));
  if (first != std::string::npos) {
    Result result{.text = pending_.substr(0, first), .stopped = true};
    pending_.clear();
    return result;
  }
  // Hold back the longest suffix that is a proper prefix of some stop string.
  size_t keep_from = pending_.size();
  for (size_t i = 0; i < pending_.size(); ++i) {
    const std::string_view tail = std::string_view(pending_).substr(i);
    const bool could_start =
        std::any_of(stop_strings_.begin(), stop_strings_.end(), [&](const std::string& stop) {
          return stop.size() > tail.size() && stop.starts_with(tail);
        });
    if (could_start) {
      keep_from = i;
      break;
    }
  }
  Result result{.text = pending_.substr(0, keep_from)};
  pending_.erase(0, keep_from);
  return result;
}

std::string StopStringMatcher::Flush() { return std::exchange(pending_, std::string()); }

}  // namespace gemma
