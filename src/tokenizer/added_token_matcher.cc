#include "tokenizer/added_token_matcher.h"

#include <algorithm>

namespace gemma {

AddedTokenMatcher::AddedTokenMatcher(const std::vector<AddedToken>& tokens) {
  for (const AddedToken& token : tokens) {
    if (token.text.empty()) continue;  // an empty token can never be matched
    uint32_t node = 0;
    for (const char c : token.text) {
      const uint8_t byte = static_cast<uint8_t>(c);
      auto& children = nodes_[node].children;
      auto it = std::lower_bound(children.begin(), children.end(), byte,
                                 [](const auto& edge, uint8_t b) { return edge.first < b; });
      if (it != children.end() && it->first == byte) {
        node = it->second;
      } else {
        const uint32_t child = static_cast<uint32_t>(nodes_.size());
        children.insert(it, {byte, child});
        nodes_.emplace_back();  // invalidates `children`; not used again below
        node = child;
      }
    }
    nodes_[node].id = token.id;
    can_start_[static_cast<uint8_t>(token.text[0])] = true;
  }
}

AddedTokenMatcher::Match AddedTokenMatcher::Walk(std::string_view text, size_t pos) const {
  Match best;
  uint32_t node = 0;
  for (size_t i = pos; i < text.size(); ++i) {
    const uint8_t byte = static_cast<uint8_t>(text[i]);
    const auto& children = nodes_[node].children;
    auto it = std::lower_bound(children.begin(), children.end(), byte,
                               [](const auto& edge, uint8_t b) { return edge.first < b; });
    if (it == children.end() || it->first != byte) break;
    node = it->second;
    if (nodes_[node].id >= 0) best = {i - pos + 1, nodes_[node].id};
  }
  return best;
}

}  // namespace gemma
