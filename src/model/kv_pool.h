// The key/value memory of every sequence of a model, in fixed-size blocks (paged, as vLLM
// does): a sequence holds a table of block ids, so many short sequences do not each reserve
// the model's whole context, and one byte budget bounds them all.
//
// Per layer, keys and values are [num_blocks][kv_heads][block_size][head_dim] of float32,
// or of bfloat16 (half the memory: each key and value rounded to the nearest bf16, a
// relative error of at most 2^-9; docs/architecture.md has what that does to the logits); a
// block holds block_size consecutive positions of one sequence (keys after RoPE).
//
// Blocks are reference-counted, and the pool is a prefix cache (sequence_kv.h makes the hashes):
// - A sequence records the block it writes: which tokens its first positions hold, after
//   which prefix (the hash of every token before the block). A recorded block whose last
//   reference is released stays cached, evictable, until its memory is needed: allocation
//   takes a never-used or plainly free block first, then evicts the least recently released
//   cached one.
// - A full block is also published under the hash of the whole prefix up to its end; a later
//   sequence whose prompt starts with the same tokens retains it instead of computing it.
//   Published blocks are never written.
// - Where a later sequence's tokens agree with a recorded block's only in its first positions
//   (the shared context of several continuations ends inside a block), those positions are
//   copied into a fresh block of the later sequence (CopyCachedStart), which then writes its
//   own positions after them. So a block is only ever written by the one sequence holding it.
#pragma once

#include <cstddef>
#include <cstdint>
#include <list>
#include <memory>
#include <optional>
#include <span>
#include <unordered_map>
#include <vector>

#include "base/dtype.h"
#include "model/config.h"

namespace gemma {

class KVPool {
 public:
  static constexpr size_t kDefaultBlockSize = 16;

  // Bytes of keys and values one block holds over all layers.
  static size_t BytesPerBlock(const ModelConfig& config, size_t block_size = kDefaultBlockSize,
                              DType dtype = DType::kF32);

  // The memory is reserved, not touched: pages become resident as blocks are written, and
  // blocks are handed out lowest id first, so a large pool costs what is used. dtype: kF32
  // or kBF16 (Error(kInvalidArgument) otherwise).
  KVPool(const ModelConfig& config, size_t num_blocks, size_t block_size = kDefaultBlockSize,
         DType dtype = DType::kF32);
  KVPool(const KVPool&) = delete;
  KVPool& operator=(const KVPool&) = delete;

  size_t block_size() const { return block_size_; }
  size_t num_blocks() const { return refs_.size(); }
  size_t layers() const { return keys_.size(); }
  size_t kv_heads() const { return kv_heads_; }
  size_t head_dim() const { return head_dim_; }
  DType dtype() const { return dtype_; }

  // [num_blocks][kv_heads][block_size][head_dim] of one layer, elements of dtype().
  const std::byte* keys(size_t layer) const { return keys_[layer].get(); }
  const std::byte* values(size_t layer) const { return values_[layer].get(); }
  // Offset (elements) of position `offset` of kv head `kv_head` in block `block`, in a layer.
  size_t Offset(int32_t block, size_t kv_head, size_t offset) const {
    return ((static_cast<size_t>(block) * kv_heads_ + kv_head) * block_size_ + offset) * head_dim_;
  }

  // Stores one position's keys and values of a layer ([kv_heads, head_dim] each), rounded
  // to dtype().
  void Write(size_t layer, int32_t block, size_t offset, const float* keys, const float* values);
  // One stored key or value element as float32 (tests).
  float KeyAt(size_t layer, size_t element) const;

  // A block with one reference, or nothing when every block is referenced.
  std::optional<int32_t> Allocate();
  void Retain(int32_t block);
  void Release(int32_t block);
  int refs(int32_t block) const { return refs_[block]; }

  // Blocks that Allocate can still hand out (free, or cached and unreferenced).
  size_t available() const { return free_.size() + evictable_.size(); }
  // Blocks some sequence references.
  size_t referenced() const { return num_blocks() - available(); }
  // Published blocks (referenced or evictable).
  size_t published() const { return by_hash_.size(); }

  // Records that the first tokens.size() positions of `block` (one that is not published)
  // hold the keys and values of these tokens after the prefix whose hash is `parent`; its
  // writer calls it after each write.
  void Record(int32_t block, uint64_t parent, std::span<const int32_t> tokens);
  // Publishes a full recorded block under `hash` (of its prefix up to its end). When another
  // block already holds that hash (two sequences computed the same prefix), the existing one
  // stays and `block` is no longer recorded (it is freed when released); returns whether
  // `block` was published.
  bool Publish(int32_t block, uint64_t hash);
  // The block published under `hash` holding `tokens`, retained; nothing if there is none.
  std::optional<int32_t> Lookup(uint64_t hash, std::span<const int32_t> tokens);
  bool IsPublished(int32_t block) const { return hash_of_[block].has_value(); }

  struct CachedStart {
    int32_t block;     // a new block, one reference
    size_t positions;  // its first positions, copied
  };
  // The longest start of `tokens` (at most block_size) that a recorded block after the prefix
  // `parent` holds, copied into a new block; nothing when no recorded block starts with
  // tokens[0], or no block can be allocated.
  std::optional<CachedStart> CopyCachedStart(uint64_t parent, std::span<const int32_t> tokens);

  // Copies the first `positions` positions of every layer of block `from` into `to`.
  void CopyBlock(int32_t from, int32_t to, size_t positions);

 private:
  // Drops a block's record and publication (it is being evicted or was a duplicate).
  void Forget(int32_t block);

  size_t block_size_;
  size_t kv_heads_;
  size_t head_dim_;
  DType dtype_;
  size_t element_bytes_;
  // new std::byte[n] (default-initialized), not std::vector: a vector would zero, and so
  // touch, the whole pool up front.
  std::vector<std::unique_ptr<std::byte[]>> keys_;    // per layer
  std::vector<std::unique_ptr<std::byte[]>> values_;  // per layer
  std::vector<int> refs_;                             // per block
  std::vector<int32_t> free_;                         // never used or unrecorded; lowest id last
  // Recorded blocks without references, least recently released first.
  std::list<int32_t> evictable_;
  std::vector<std::list<int32_t>::iterator> evictable_at_;  // per block, valid when listed
  std::vector<std::optional<uint64_t>> hash_of_;            // per block, when published
  std::vector<std::vector<int32_t>> tokens_of_;             // per block; empty: not recorded
  std::vector<uint64_t> parent_of_;                         // per recorded block
  std::unordered_map<uint64_t, int32_t> by_hash_;
  std::unordered_multimap<uint64_t, int32_t> by_parent_;  // recorded blocks
};

}  // namespace gemma
