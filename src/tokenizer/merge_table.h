// BPE merge rules: (left id, right id) -> (rank, merged id), looked up twice per merge in the
// encode loop, so it is a flat open-addressing table of 8-byte slots (key and rank packed)
// rather than a node-based map: one cache line per lookup.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace gemma {

class MergeTable {
 public:
  static constexpr int kIdBits = 22;    // ids < 4,194,304
  static constexpr int kRankBits = 20;  // ranks < 1,048,576
  static constexpr uint32_t kNoMerge = UINT32_MAX;

  MergeTable() = default;
  // merges[rank] = {left id, right id, merged id}. When a pair repeats, the later rank
  // replaces the earlier one, as Hugging Face's Rust tokenizers does (it collects the merges
  // into a hash map). Gemma's merges have no repeats.
  struct Rule {
    int32_t left;
    int32_t right;
    int32_t merged;
  };
  explicit MergeTable(const std::vector<Rule>& merges);

  // Rank of the merge of (left, right), or kNoMerge.
  uint32_t RankOf(int32_t left, int32_t right) const {
    const uint64_t pair = PairKey(left, right);
    for (uint64_t slot = Hash(pair) & mask_;; slot = (slot + 1) & mask_) {
      const uint64_t entry = slots_[slot];
      if (entry == kEmpty) return kNoMerge;
      if ((entry >> kRankBits) == pair) return static_cast<uint32_t>(entry & kRankMask);
    }
  }
  int32_t MergedId(uint32_t rank) const { return merged_by_rank_[rank]; }
  size_t size() const { return merged_by_rank_.size(); }

 private:
  static constexpr uint64_t kEmpty = UINT64_MAX;
  static constexpr uint64_t kRankMask = (uint64_t{1} << kRankBits) - 1;
  static uint64_t PairKey(int32_t left, int32_t right) {
    return (static_cast<uint64_t>(left) << kIdBits) | static_cast<uint64_t>(right);
  }
  uint64_t Hash(uint64_t key) const {  // Fibonacci hashing: the high bits are the best mixed
    return (key * 0x9E3779B97F4A7C15ull) >> shift_;
  }

  std::vector<uint64_t> slots_{kEmpty};  // (pair << kRankBits) | rank, or kEmpty
  uint64_t mask_ = 0;
  int shift_ = 63;  // 64 - log2(capacity)
  std::vector<int32_t> merged_by_rank_;
};

}  // namespace gemma
