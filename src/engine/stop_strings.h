// Finds user stop strings in streamed text without ever emitting part of one: text that
// could still turn out to be the start of a stop string is held back until it cannot.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace gemma {

class StopStringMatcher {
 public:
  explicit StopStringMatcher(std::vector<std::string> stop_strings);

  struct Result {
    std::string text;      // safe to emit now
    bool stopped = false;  // a stop string was found; `text` ends right before it
  };
  Result Push(std::string_view piece);
  std::string Flush();  // what was held back, at the end of generation

 private:
  std::vector<std::string> stop_strings_;
  std::string pending_;
};

}  // namespace gemma
