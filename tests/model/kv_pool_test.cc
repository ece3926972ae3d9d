// The paged KV pool and a sequence's blocks in it: allocation and release, publishing full
// blocks under their prefix hash, reuse by a sequence with the same prefix (and only then),
// the start of a partly matching block copied (from a running sequence's block or a cached
// one), least-recently-released eviction, all-or-nothing reservation, an exhausted pool.
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
  // Two whole blocks, and 2 of the 3 positions of a's third (the last is recomputed).
  EXPECT_EQ(b.AttachCachedPrefix(prompt, prompt.size() - 1), 10u);
  EXPECT_EQ(b.blocks()[0], a.blocks()[0]);
  EXPECT_EQ(b.blocks()[1], a.blocks()[1]);
  EXPECT_NE(b.blocks()[2], a.blocks()[2]);
  EXPECT_EQ(pool.refs(a.blocks()[0]), 2);

  // Same tokens in block 1 but a different block 0: nothing is reused.
  std::vector<int32_t> other = prompt;
  other[0] = 7;
  SequenceKV c(pool, true);
  EXPECT_EQ(c.AttachCachedPrefix(other, other.size() - 1), 0u);
  // Same first block, a second that differs from its second position: the first whole, and
  // the second's first position.
  other = prompt;
  other[5] = 7;
  SequenceKV d(pool, true);
  EXPECT_EQ(d.AttachCachedPrefix(other, other.size() - 1), 5u);
}

// Marks position `offset` of `block` in layer 0 with `value`, so that a copy can be seen.
void Mark(KVPool& pool, int32_t block, size_t offset, float value) {
  const std::vector<float> marker(pool.kv_heads() * pool.head_dim(), value);
  pool.Write(0, block, offset, marker.data(), marker.data());
}

TEST(SequenceKV, AWholeCachedPromptStillComputesItsLastTokenInACopiedBlock) {
  KVPool pool(Small(), 8, 4);
  SequenceKV a(pool, true);
  const std::vector<int32_t> prompt = Iota(8, 20);
  ASSERT_TRUE(a.Reserve(8));
  a.Commit(prompt);
  Mark(pool, a.blocks()[1], 2, 42.0f);

  SequenceKV b(pool, true);
  EXPECT_EQ(b.AttachCachedPrefix(prompt, 7), 7u);  // position 7 is recomputed
  EXPECT_EQ(b.blocks()[0], a.blocks()[0]);         // shared whole
  EXPECT_NE(b.blocks()[1], a.blocks()[1]);         // its first 3 positions copied
  EXPECT_EQ(pool.KeyAt(0, pool.Offset(b.blocks()[1], 0, 2)), 42.0f);
  EXPECT_EQ(pool.refs(a.blocks()[1]), 1);
  EXPECT_EQ(pool.refs(b.blocks()[1]), 1);
  EXPECT_EQ(b.BlocksNeeded(1), 0u);  // position 7 goes into the copy
  ASSERT_TRUE(b.Reserve(1));
  b.Commit(std::span(prompt).subspan(7, 1));
  EXPECT_EQ(b.length(), 8u);
  EXPECT_FALSE(pool.IsPublished(b.blocks()[1])) << "full, but a's block holds its prefix";
  EXPECT_EQ(pool.published(), 2u);
  a.Clear();
  b.Clear();
  EXPECT_EQ(pool.available(), 8u);
}

// Continuations of one context: the context ends inside a block, and each later sequence
// copies the positions of that block the context fills, whether the block's writer is still
// running (its last, partly written block) or has ended (the block stays cached).
TEST(SequenceKV, TheStartOfAPartlyMatchingBlockIsCopiedFromARunningOrEndedSequence) {
  KVPool pool(Small(), 12, 4);
  const std::vector<int32_t> context = Iota(6, 50);  // one whole block and 2 positions
  std::vector<int32_t> first = context;
  first.push_back(90);
  SequenceKV a(pool, true);
  ASSERT_TRUE(a.Reserve(first.size()));
  a.Commit(first);  // block 1 holds 54, 55, 90 of 4 positions
  Mark(pool, a.blocks()[1], 1, 7.0f);
  EXPECT_EQ(pool.published(), 1u);

  std::vector<int32_t> second = context;
  second.push_back(91);
  SequenceKV b(pool, true);
  EXPECT_EQ(b.AttachCachedPrefix(second, second.size()), 6u);
  ASSERT_EQ(b.blocks().size(), 2u);
  EXPECT_EQ(b.blocks()[0], a.blocks()[0]);
  EXPECT_NE(b.blocks()[1], a.blocks()[1]);
  EXPECT_EQ(pool.KeyAt(0, pool.Offset(b.blocks()[1], 0, 1)), 7.0f);
  EXPECT_EQ(pool.refs(a.blocks()[1]), 1) << "the source is not held after the copy";
  ASSERT_TRUE(b.Reserve(1));
  b.Commit(std::span(second).subspan(6, 1));
  // a writes on in its own block, b in its copy.
  ASSERT_TRUE(a.Reserve(1));
  a.Commit(std::vector<int32_t>{92});
  EXPECT_EQ(pool.KeyAt(0, pool.Offset(a.blocks()[1], 0, 1)), 7.0f);

  // a ends: its partly written block stays cached, and a third continuation copies from it
  // (or from b's: both hold the context's 2 positions).
  const int32_t a_last = a.blocks()[1];
  a.Clear();
  EXPECT_EQ(pool.refs(a_last), 0);
  EXPECT_EQ(pool.available(), 12u - 2) << "b holds the shared block and its copy";
  std::vector<int32_t> third = context;
  third.push_back(90);  // a's own continuation: 3 positions of a's block
  third.push_back(92);
  third.push_back(93);
  SequenceKV c(pool, true);
  EXPECT_EQ(c.AttachCachedPrefix(third, third.size() - 1), 8u) << "a's 2 blocks, now whole";
  SequenceKV d(pool, true);
  EXPECT_EQ(d.AttachCachedPrefix(third, 7), 7u) << "3 positions of a's second block";
  EXPECT_EQ(pool.KeyAt(0, pool.Offset(d.blocks()[1], 0, 1)), 7.0f);

  // A different first block: nothing, though the second block's tokens are the same.
  std::vector<int32_t> other = second;
  other[0] = 3;
  SequenceKV e(pool, true);
  EXPECT_EQ(e.AttachCachedPrefix(other, other.size()), 0u);
  EXPECT_TRUE(e.blocks().empty());

  for (SequenceKV* s : {&b, &c, &d, &e}) s->Clear();
  EXPECT_EQ(pool.available(), 12u) << "every block back";
}

// With no block left, the start of a block is not copied (the whole blocks still are), and
// nothing is lost or held when the reservation then fails.
TEST(SequenceKV, AnExhaustedPoolSkipsTheCopyAndReservationFailsCleanly) {
  KVPool pool(Small(), 3, 4);
  const std::vector<int32_t> prompt = Iota(6, 50);
  SequenceKV a(pool, true);
  ASSERT_TRUE(a.Reserve(6));
  a.Commit(prompt);
  SequenceKV filler(pool, false);
  ASSERT_TRUE(filler.Reserve(4));
  EXPECT_EQ(pool.available(), 0u);

  SequenceKV b(pool, true);
  EXPECT_EQ(b.AttachCachedPrefix(prompt, 5), 4u) << "the whole block only";
  EXPECT_EQ(b.blocks().size(), 1u);
  EXPECT_FALSE(b.Reserve(2));
  b.Clear();
  EXPECT_EQ(pool.refs(a.blocks()[0]), 1);

  filler.Clear();  // one block free: the copy fits
  SequenceKV c(pool, true);
  EXPECT_EQ(c.AttachCachedPrefix(prompt, 5), 5u);
  EXPECT_EQ(pool.available(), 0u);
  EXPECT_FALSE(c.Reserve(4)) << "positions 5..8 need one more block";
  EXPECT_EQ(c.length(), 5u);
  ASSERT_TRUE(c.Reserve(1));
  c.Commit(std::span(prompt).subspan(5, 1));
  for (SequenceKV* s : {&a, &c}) s->Clear();
  EXPECT_EQ(pool.available(), 3u);
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
