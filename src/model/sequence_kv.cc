#include "model/sequence_kv.h"

#include <utility>

#include "base/error.h"

namespace gemma {

uint64_t ChainHash(uint64_t parent, std::span<const int32_t> tokens) {
  // SplitMix64-style mixing of each token into the running value.
  uint64_t h = parent ^ 0x9e3779b97f4a7c15ull;
  for (const int32_t t : tokens) {
    h ^= static_cast<uint64_t>(static_cast<uint32_t>(t)) + 0x9e3779b97f4a7c15ull + (h << 6) +
         (h >> 2);
    h = (h ^ (h >> 30)) * 0xbf58476d1ce4e5b9ull;
    h = (h ^ (h >> 27)) * 0x94d049bb133111ebull;
    h ^= h >> 31;
  }
  return h;
}

SequenceKV::SequenceKV(KVPool& pool, bool publish) : pool_(&pool), publish_(publish) {}

SequenceKV::~SequenceKV() { Clear(); }

SequenceKV::SequenceKV(SequenceKV&& other) noexcept
    : pool_(other.pool_),
      publish_(other.publish_),
      blocks_(std::move(other.blocks_)),
      hashes_(std::move(other.hashes_)),
      tail_tokens_(std::move(other.tail_tokens_)),
      length_(std::exchange(other.length_, 0)) {
  other.blocks_.clear();
}

SequenceKV& SequenceKV::operator=(SequenceKV&& other) noexcept {
  if (this != &other) {
    Clear();
    pool_ = other.pool_;
    publish_ = other.publish_;
    blocks_ = std::move(other.blocks_);
    other.blocks_.clear();
    hashes_ = std::move(other.hashes_);
    tail_tokens_ = std::move(other.tail_tokens_);
    length_ = std::exchange(other.length_, 0);
  }
  return *this;
}

size_t SequenceKV::AttachCachedPrefix(std::span<const int32_t> tokens, size_t max_positions) {
  if (length_ != 0 || !blocks_.empty()) {
    Fail(ErrorCode::kInternal, "SequenceKV: a cached prefix attaches to an empty sequence only");
  }
  const size_t bs = pool_->block_size();
  uint64_t parent = 0;
  while ((blocks_.size() + 1) * bs <= tokens.size()) {
    const std::span<const int32_t> block_tokens = tokens.subspan(blocks_.size() * bs, bs);
    const uint64_t hash = ChainHash(parent, block_tokens);
    const std::optional<int32_t> block = pool_->Lookup(hash, block_tokens);
    if (!block) break;
    blocks_.push_back(*block);
    hashes_.push_back(hash);
    parent = hash;
  }
  length_ = std::min(blocks_.size() * bs, max_positions);
  // Positions past length_ inside the last attached block are recomputed: keep the hashes of
  // the blocks that stay full and the tokens of the partial one.
  hashes_.resize(length_ / bs);
  tail_tokens_.assign(tokens.begin() + hashes_.size() * bs, tokens.begin() + length_);
  // Blocks wholly past length_ (none unless max_positions cut more than one block).
  while (blocks_.size() * bs >= length_ + bs && !blocks_.empty()) {
    pool_->Release(blocks_.back());
    blocks_.pop_back();
  }
  return length_;
}

size_t SequenceKV::BlocksNeeded(size_t n) const {
  const size_t bs = pool_->block_size();
  const size_t end = length_ + n;
  size_t needed = (end + bs - 1) / bs > blocks_.size() ? (end + bs - 1) / bs - blocks_.size() : 0;
  // A partly written last block that others share, or that is published, is copied first.
  if (n > 0 && length_ % bs != 0) {
    const int32_t last = blocks_[length_ / bs];
    if (pool_->refs(last) > 1 || pool_->IsPublished(last)) ++needed;
  }
  return needed;
}

bool SequenceKV::Reserve(size_t n) {
  if (BlocksNeeded(n) > pool_->available()) return false;
  const size_t bs = pool_->block_size();
  if (n > 0 && length_ % bs != 0) {
    const int32_t last = blocks_[length_ / bs];
    if (pool_->refs(last) > 1 || pool_->IsPublished(last)) {
      const int32_t copy = *pool_->Allocate();
      pool_->CopyBlock(last, copy, length_ % bs);
      pool_->Release(last);
      blocks_[length_ / bs] = copy;
    }
  }
  while (capacity() < length_ + n) blocks_.push_back(*pool_->Allocate());
  return true;
}

bool SequenceKV::ReserveCapacity(size_t positions) {
  const size_t bs = pool_->block_size();
  const size_t blocks = (positions + bs - 1) / bs;
  if (blocks > blocks_.size() && blocks - blocks_.size() > pool_->available()) return false;
  while (blocks_.size() < blocks) blocks_.push_back(*pool_->Allocate());
  return true;
}

void SequenceKV::Commit(std::span<const int32_t> tokens) {
  if (length_ + tokens.size() > capacity()) {
    Fail(ErrorCode::kInternal, "SequenceKV::Commit past the reserved positions");
  }
  const size_t bs = pool_->block_size();
  for (const int32_t t : tokens) {
    tail_tokens_.push_back(t);
    ++length_;
    if (tail_tokens_.size() == bs) {
      const uint64_t hash = ChainHash(hashes_.empty() ? 0 : hashes_.back(), tail_tokens_);
      hashes_.push_back(hash);
      if (publish_) pool_->Publish(blocks_[hashes_.size() - 1], hash, tail_tokens_);
      tail_tokens_.clear();
    }
  }
}

void SequenceKV::Clear() {
  for (const int32_t block : blocks_) pool_->Release(block);
  blocks_.clear();
  hashes_.clear();
  tail_tokens_.clear();
  length_ = 0;
}

}  // namespace gemma
