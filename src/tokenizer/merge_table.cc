#include "tokenizer/merge_table.h"

#include "base/error.h"

namespace gemma {

MergeTable::MergeTable(const std::vector<Rule>& merges) {
  if (merges.size() > kRankMask) {
    Fail(ErrorCode::kUnsupported, "BPE has ", merges.size(), " merges; at most ", kRankMask,
         " are supported");
  }
  size_t capacity = 16;
  shift_ = 60;
  while (capacity < merges.size() * 2) {  // load factor <= 0.5
    capacity *= 2;
    --shift_;
  }
  slots_.assign(capacity, kEmpty);
  mask_ = capacity - 1;
  merged_by_rank_.reserve(merges.size());

  constexpr int32_t kMaxId = (1 << kIdBits) - 1;
  for (uint32_t rank = 0; rank < merges.size(); ++rank) {
    const Rule& rule = merges[rank];
    if (rule.left < 0 || rule.right < 0 || rule.merged < 0 || rule.left > kMaxId ||
        rule.right > kMaxId) {
      Fail(ErrorCode::kInvalidArgument, "BPE merge ", rank, " has an id outside 0..", kMaxId);
    }
    merged_by_rank_.push_back(rule.merged);
    const uint64_t pair = PairKey(rule.left, rule.right);
    for (uint64_t slot = Hash(pair) & mask_;; slot = (slot + 1) & mask_) {
      if (slots_[slot] == kEmpty) {
        slots_[slot] = (pair << kRankBits) | rank;
        break;
      }
      if ((slots_[slot] >> kRankBits) == pair) {  // a repeat: the later rank replaces it
        slots_[slot] = (pair << kRankBits) | rank;
        break;
      }
    }
  }
}

}  // namespace gemma
