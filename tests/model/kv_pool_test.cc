// The paged KV pool and a sequence's blocks in it: allocation and release, publishing full
// blocks under their prefix hash, reuse by a sequence with the same prefix (and only then),
// copy before writing into a shared block, least-recently-released eviction, all-or-nothing
// reservation.
#include <gtest/gtest.h>

#include <vector>

#include "base/error.h"
#include "model/config.h"
#include "model/kv_pool.h"
#include "model/sequence_kv.h"

namespace gemma {
namespace {

ModelConfig Small() {
  ModelConfig c;
  c.vocab_size = 16;
  c.hidden_size = 8;
  c.intermediate_size = 16;
  c.num_hidden_layers = 2;
  c.num_attention_heads = 2;
  c.num_key_value_heads = 1;
  c.head_dim = 4;
  return c;
}

std::vector<int32_t> Iota(size_t n, int32_t first = 0) {
  std::vector<int32_t> v(n);
  for (size_t i = 0; i < n; ++i) v[i] = first + static_cast<int32_t>(i);
  return v;
}

TEST(KVPool, BlocksAreHandedOutLowestFirstAndComeBackWhenReleased) {
  KVPool pool(Small(), 3, 4);
  EXPECT_EQ(KVPool::BytesPerBlock(Small(), 4), 2u * 2 * 4 * 4 * sizeof(float));
  EXPECT_EQ(*pool.Allocate(), 0);
  EXPECT_EQ(*pool.Allocate(), 1);
  EXPECT_EQ(*pool.Allocate(), 2);
  EXPECT_FALSE(pool.Allocate().has_value());
  EXPECT_EQ(pool.available(), 0u);
  pool.Retain(1);
  pool.Release(1);
  EXPECT_EQ(pool.available(), 0u);
  pool.Release(1);
  EXPECT_EQ(pool.available(), 1u);
  EXPECT_EQ(*pool.Allocate(), 1);
  pool.Release(0);
  EXPECT_THROW(pool.Release(0), Error);
}

TEST(SequenceKV, ReserveIsAllOrNothingAndCommitPublishesFullBlocks) {
  KVPool pool(Small(), 4, 4);
  SequenceKV a(pool, /*publish=*/true);
  EXPECT_FALSE(a.Reserve(17));  // 5 blocks of 4
  EXPECT_EQ(a.blocks().size(), 0u);
  EXPECT_EQ(pool.available(), 4u);
  ASSERT_TRUE(a.Reserve(10));
  EXPECT_EQ(a.blocks().size(), 3u);
  const std::vector<int32_t> tokens = Iota(10, 100);
  a.Commit(tokens);
  EXPECT_EQ(a.length(), 10u);
  EXPECT_EQ(pool.published(), 2u);         // two full blocks; the third holds 2 of 4 positions
  EXPECT_THROW(a.Commit(Iota(3)), Error);  // past the reserved positions
  a.Clear();
  EXPECT_EQ(pool.available(), 4u);  // the published blocks stay cached, evictable
  EXPECT_EQ(pool.published(), 2u);
}

TEST(SequenceKV, ASamePrefixReusesPublishedBlocksAndADifferentOneDoesNot) {
  KVPool pool(Small(), 8, 4);
  SequenceKV a(pool, true);
  const std::vector<int32_t> prompt = Iota(11, 50);
  ASSERT_TRUE(a.Reserve(prompt.size()));
  a.Commit(prompt);

  SequenceKV b(pool, true);
  EXPECT_EQ(b.AttachCachedPrefix(prompt, prompt.size() - 1), 8u);  // two whole blocks
  EXPECT_EQ(b.blocks()[0], a.blocks()[0]);
  EXPECT_EQ(b.blocks()[1], a.blocks()[1]);
  EXPECT_EQ(pool.refs(a.blocks()[0]), 2);

  // Same tokens in block 1 but a different block 0: nothing is reused.
  std::vector<int32_t> other = prompt;
  other[0] = 7;
  SequenceKV c(pool, true);
  EXPECT_EQ(c.AttachCachedPrefix(other, other.size() - 1), 0u);
  // Same first block, different second: only the first.
  other = prompt;
  other[5] = 7;
  SequenceKV d(pool, true);
  EXPECT_EQ(d.AttachCachedPrefix(other, other.size() - 1), 4u);
}

TEST(SequenceKV, AWholeCachedPromptStillComputesItsLastTokenInACopiedBlock) {
  KVPool pool(Small(), 8, 4);
  SequenceKV a(pool, true);
  const std::vector<int32_t> prompt = Iota(8, 20);
  ASSERT_TRUE(a.Reserve(8));
  a.Commit(prompt);
  // Fill block 1's first position with a marker so the copy can be seen.
  const std::vector<float> marker(pool.kv_heads() * pool.head_dim(), 42.0f);
  pool.Write(0, a.blocks()[1], 0, marker.data(), marker.data());

  SequenceKV b(pool, true);
  EXPECT_EQ(b.AttachCachedPrefix(prompt, 7), 7u);  // position 7 is recomputed
  EXPECT_EQ(b.blocks()[1], a.blocks()[1]);
  EXPECT_EQ(b.BlocksNeeded(1), 1u);  // the shared block is copied before the write
  ASSERT_TRUE(b.Reserve(1));
  EXPECT_NE(b.blocks()[1], a.blocks()[1]);
  EXPECT_EQ(pool.KeyAt(0, pool.Offset(b.blocks()[1], 0, 0)), 42.0f);
  EXPECT_EQ(pool.refs(a.blocks()[1]), 1);
  b.Commit(std::span(prompt).subspan(7, 1));
  EXPECT_EQ(b.length(), 8u);
}

TEST(KVPool, EvictsTheLeastRecentlyReleasedCachedBlockWhenMemoryIsNeeded) {
  KVPool pool(Small(), 2, 4);
  SequenceKV first(pool, true), second(pool, true);
  ASSERT_TRUE(first.Reserve(4));
  first.Commit(Iota(4, 0));
  ASSERT_TRUE(second.Reserve(4));
  second.Commit(Iota(4, 10));
  first.Clear();   // released first
  second.Clear();  // released second
  EXPECT_EQ(pool.published(), 2u);
  SequenceKV third(pool, true);
  ASSERT_TRUE(third.Reserve(4));  // evicts `first`'s block
  EXPECT_EQ(pool.published(), 1u);
  SequenceKV again(pool, true);
  EXPECT_EQ(again.AttachCachedPrefix(Iota(4, 10), 4), 4u);  // `second`'s is still there
  SequenceKV gone(pool, true);
  EXPECT_EQ(gone.AttachCachedPrefix(Iota(4, 0), 4), 0u);
}

}  // namespace
}  // namespace gemma

namespace gemma {
namespace {

// A bf16 pool holds half the bytes, rounds what is written to the nearest bf16 (ties to
// even), and copies blocks whole.
TEST(KVPool, Bf16StorageRoundsToNearestBf16AndCopiesBlocks) {
  EXPECT_EQ(KVPool::BytesPerBlock(Small(), 4, DType::kBF16), KVPool::BytesPerBlock(Small(), 4) / 2);
  EXPECT_THROW(KVPool(Small(), 2, 4, DType::kQ8_0), Error);
  KVPool pool(Small(), 2, 4, DType::kBF16);
  EXPECT_EQ(pool.dtype(), DType::kBF16);
  const size_t row = pool.kv_heads() * pool.head_dim();
  std::vector<float> keys(row), values(row);
  for (size_t i = 0; i < row; ++i) {
    keys[i] = 1.0f + static_cast<float>(i) / 3.0f;
    values[i] = -0.1f * static_cast<float>(i);
  }
  pool.Write(1, 0, 3, keys.data(), values.data());
  pool.CopyBlock(0, 1, 4);
  size_t rounded = 0;  // values that bf16 cannot hold exactly
  for (int32_t block : {0, 1}) {
    for (size_t g = 0; g < pool.kv_heads(); ++g) {
      for (size_t d = 0; d < pool.head_dim(); ++d) {
        const float written = keys[g * pool.head_dim() + d];
        const float expected = BF16ToF32(F32ToBF16(written));
        EXPECT_EQ(pool.KeyAt(1, pool.Offset(block, g, 3) + d), expected);
        rounded += expected != written;
      }
    }
  }
  EXPECT_GT(rounded, 0u);
}

}  // namespace
}  // namespace gemma
