// Finds added tokens (tokenizer.json `added_tokens`: <bos>, <start_of_turn>, "\n" runs, ...)
// in raw text by longest match, the first step of encoding. A byte trie: the scan costs one
// table lookup per byte of text that cannot start an added token.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace gemma {

struct AddedToken {
  std::string text;
  int32_t id;
};

class AddedTokenMatcher {
 public:
  AddedTokenMatcher() = default;
  explicit AddedTokenMatcher(const std::vector<AddedToken>& tokens);

  struct Match {
    size_t length = 0;  // 0: no added token starts here
    int32_t id = -1;
  };
  // The longest added token that starts at text[pos].
  Match LongestAt(std::string_view text, size_t pos) const {
    if (!can_start_[static_cast<uint8_t>(text[pos])]) return {};
    return Walk(text, pos);
  }
  bool empty() const { return nodes_.size() <= 1; }

 private:
  struct Node {
    std::vector<std::pair<uint8_t, uint32_t>> children;  // sorted by byte
    int32_t id = -1;                                     // an added token ends here
  };
  Match Walk(std::string_view text, size_t pos) const;

  std::vector<Node> nodes_{Node{}};  // nodes_[0] is the root
  std::array<bool, 256> can_start_{};
};

}  // namespace gemma
