// One sequence's positions in a KVPool: its block table, how many positions hold keys and
// values, and the prefix hashes of its full blocks.
//
// Prefix hashes chain over blocks: the hash of block i covers every token from position 0 to
// the end of block i, so two sequences share a block only when everything before it is the
// same too (keys and values depend on the whole prefix). A sequence's last block, when
// partly written, is its own (one reference, not published): the only block it writes.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

#include "model/kv_pool.h"

namespace gemma {

class SequenceKV {
 public:
  // publish: full blocks become reusable by other sequences of the pool (prefix caching).
  SequenceKV(KVPool& pool, bool publish);
  ~SequenceKV();
  SequenceKV(SequenceKV&& other) noexcept;
  SequenceKV& operator=(SequenceKV&& other) noexcept;
  SequenceKV(const SequenceKV&) = delete;
  SequenceKV& operator=(const SequenceKV&) = delete;

  size_t length() const { return length_; }  // positions whose keys and values are stored
  std::span<const int32_t> blocks() const { return blocks_; }
  size_t capacity() const { return blocks_.size() * pool_->block_size(); }

  // Takes the longest cached prefix of `tokens[0, max_positions)`: published whole blocks,
  // retained, then the start of the next block that some recorded block holds (the end of a
  // context shared with another sequence), copied into a block of its own (pool permitting).
  // Returns the positions taken. Only on an empty sequence. (A caller that needs a position's
  // logits computes it: a prompt cached whole still computes its last token.)
  size_t AttachCachedPrefix(std::span<const int32_t> tokens, size_t max_positions);

  // New blocks Reserve(n) takes.
  size_t BlocksNeeded(size_t n) const;
  // Makes positions [length(), length() + n) writable: allocates blocks. All or nothing:
  // false, and no change, when the pool cannot provide BlocksNeeded(n) blocks.
  bool Reserve(size_t n);
  // Blocks that grow capacity() to at least `positions`, without the copy rule (for a
  // private cache whose positions are written in any order).
  bool ReserveCapacity(size_t positions);

  // Records that the next tokens.size() positions were written with these tokens' keys and
  // values (in the pool too, when publishing); publishes blocks that became full.
  void Commit(std::span<const int32_t> tokens);

  // Releases every block (published ones stay cached in the pool until evicted).
  void Clear();

 private:
  KVPool* pool_;
  bool publish_;
  std::vector<int32_t> blocks_;
  std::vector<uint64_t> hashes_;      // of the prefix ending at each full block
  std::vector<int32_t> tail_tokens_;  // tokens of the positions after the last full block
  size_t length_ = 0;
};

// The hash of a prefix that ends with `tokens`, given the hash of what came before it.
uint64_t ChainHash(uint64_t parent, std::span<const int32_t> tokens);

}  // namespace gemma
