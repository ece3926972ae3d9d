#include "model/sequence_kv.h"

#include <algorithm>
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
  const size_t usable = std::min(tokens.size(), max_positions);
  uint64_t parent = 0;
  while ((blocks_.size() + 1) * bs <= usable) {
    const std::span<const int32_t> block_tokens = tokens.subspan(blocks_.size() * bs, bs);
    const uint64_t hash = ChainHash(parent, block_tokens);
    const std::optional<int32_t> block = pool_->Lookup(hash, block_tokens);
    if (!block) break;
    blocks_.push_back(*block);
    hashes_.push_back(hash);
    parent = hash;
  }
  length_ = blocks_.size() * bs;
  // At most bs - 1 positions: a block that matches whole is published (or a duplicate of a
  // published one), and the loop above found none.
  if (length_ < usable) {
    const std::optional<KVPool::CachedStart> start =
        pool_->CopyCachedStart(parent, tokens.subspan(length_, std::min(bs - 1, usable - length_)));
    if (start) {
      blocks_.push_back(start->block);
      length_ += start->positions;
    }
  }
  tail_tokens_.assign(tokens.begin() + long(hashes_.size() * bs), tokens.begin() + long(length_));
  return length_;
}

size_t SequenceKV::BlocksNeeded(size_t n) const {
  const size_t bs = pool_->block_size();
  const size_t blocks = (length_ + n + bs - 1) / bs;
  return blocks > blocks_.size() ? blocks - blocks_.size() : 0;
}

bool SequenceKV::Reserve(size_t n) {
  if (BlocksNeeded(n) > pool_->available()) return false;
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
  const auto parent = [&] { return hashes_.empty() ? uint64_t{0} : hashes_.back(); };
  for (const int32_t t : tokens) {
    tail_tokens_.push_back(t);
    ++length_;
    if (tail_tokens_.size() == bs) {
      const uint64_t hash = ChainHash(parent(), tail_tokens_);
      if (publish_) {
        const int32_t block = blocks_[hashes_.size()];
        pool_->Record(block, parent(), tail_tokens_);
        pool_->Publish(block, hash);
      }
      hashes_.push_back(hash);
      tail_tokens_.clear();
    }
  }
  if (publish_ && !tail_tokens_.empty()) {
    pool_->Record(blocks_[hashes_.size()], parent(), tail_tokens_);
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
