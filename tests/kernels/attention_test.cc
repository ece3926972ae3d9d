// CausalAttention against ref::Attention: multi-head, grouped and multi-query, prefill and
// decode, positions across several tiles, caches in blocks of several sizes at shuffled
// places, several sequences in one call, 1-3 threads, every compiled instruction set.
#include "kernels/attention.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <random>
#include <string>
#include <vector>

#include "base/dtype.h"
#include "base/error.h"
#include "kernel_test_util.h"
#include "kernels/ref/reference.h"

namespace gemma::test {
namespace {

class AttentionTest : public PerTarget {};
HWY_TARGET_INSTANTIATE_TEST_SUITE_P(AttentionTest);

struct Case {
  size_t heads, kv_heads, head_dim, tokens, first_position;
};

// Error bound for one output value, derived from float32 rounding in both versions:
// a score's error is at most gamma_d * scale * sum_d |q_d k_d| (d = head_dim); a softmax
// weight then moves by at most twice that (relative) plus the exp and sum roundings
// (gamma_P for P positions); with |v| <= 1 the output moves by at most the same amount.
// Doubled because the reference rounds too.
double Bound(const float* q, const float* k, size_t positions, size_t head_dim, float scale) {
  double worst = 0.0;
  for (size_t p = 0; p < positions; ++p) {
    double abs_dot = 0.0;
    for (size_t d = 0; d < head_dim; ++d) abs_dot += std::fabs(double(q[d]) * k[p * head_dim + d]);
    worst = std::max(worst, abs_dot);
  }
  const double score_error = Gamma(head_dim) * scale * worst;
  return 2.0 * (2.0 * score_error + Gamma(positions + 2) + 8 * kEps);
}

// A sequence's contiguous cache [kv_heads][capacity][head_dim] copied into a pool of
// blocks of `block_size` positions, the blocks in shuffled order among unused ones.
struct PagedCopy {
  std::vector<float> keys, values;
  std::vector<int32_t> blocks;
  size_t block_size;

  PagedCopy(const std::vector<float>& k, const std::vector<float>& v, size_t kv_heads,
            size_t capacity, size_t head_dim, size_t block_size, std::mt19937& rng)
      : block_size(block_size) {
    const size_t used = (capacity + block_size - 1) / block_size;
    const size_t pool_blocks = 2 * used + 1;
    std::vector<int32_t> order(pool_blocks);
    for (size_t i = 0; i < pool_blocks; ++i) order[i] = static_cast<int32_t>(i);
    std::shuffle(order.begin(), order.end(), rng);
    blocks.assign(order.begin(), order.begin() + used);
    keys.assign(pool_blocks * kv_heads * block_size * head_dim, NAN);  // unused: NaN
    values.assign(keys.size(), NAN);
    for (size_t g = 0; g < kv_heads; ++g) {
      for (size_t p = 0; p < capacity; ++p) {
        const size_t to =
            ((blocks[p / block_size] * kv_heads + g) * block_size + p % block_size) * head_dim;
        std::copy_n(&k[(g * capacity + p) * head_dim], head_dim, &keys[to]);
        std::copy_n(&v[(g * capacity + p) * head_dim], head_dim, &values[to]);
      }
    }
  }
  PagedKV View() const {
    return {.keys = reinterpret_cast<const std::byte*>(keys.data()),
            .values = reinterpret_cast<const std::byte*>(values.data()),
            .blocks = blocks.data(),
            .num_blocks = blocks.size(),
            .block_size = block_size};
  }
};

// The same pool stored as bf16 (each value rounded to the nearest bf16).
struct PagedCopyBf16 {
  std::vector<uint16_t> keys, values;
  PagedKV view;

  explicit PagedCopyBf16(const PagedCopy& f32) {
    for (const float x : f32.keys) keys.push_back(F32ToBF16(x));
    for (const float x : f32.values) values.push_back(F32ToBF16(x));
    view = f32.View();
    view.keys = reinterpret_cast<const std::byte*>(keys.data());
    view.values = reinterpret_cast<const std::byte*>(values.data());
    view.dtype = DType::kBF16;
  }
};

// x with every value rounded to bf16.
std::vector<float> RoundedToBf16(std::vector<float> x) {
  for (float& v : x) v = BF16ToF32(F32ToBF16(v));
  return x;
}

// One sequence's queries and cache, with the reference's answer.
struct Sequence {
  Case c;
  size_t capacity;
  std::vector<float> q, k, v, want;
  float scale;
};

Sequence MakeSequence(const Case& c, std::mt19937& rng) {
  Sequence s{.c = c, .capacity = c.first_position + c.tokens + 3};  // cache not full
  const size_t row = c.heads * c.head_dim;
  // Scores up to a few units: the softmax is neither flat nor one-hot.
  s.q = RandomFloats(c.tokens * row, rng, -1.0f, 1.0f);
  s.k = RandomFloats(c.kv_heads * s.capacity * c.head_dim, rng, -1.0f, 1.0f);
  s.v = RandomFloats(c.kv_heads * s.capacity * c.head_dim, rng, -1.0f, 1.0f);
  s.scale = 4.0f / std::sqrt(static_cast<float>(c.head_dim));
  s.want.resize(c.tokens * row);
  ref::Attention(s.q.data(), c.tokens, c.first_position, s.k.data(), s.v.data(), s.capacity,
                 c.heads, c.kv_heads, c.head_dim, s.scale, s.want.data());
  return s;
}

void ExpectNearReference(const Sequence& s, const std::vector<float>& got,
                         const std::string& what) {
  const Case& c = s.c;
  const size_t row = c.heads * c.head_dim;
  const size_t group = c.heads / c.kv_heads;
  for (size_t t = 0; t < c.tokens; ++t) {
    for (size_t h = 0; h < c.heads; ++h) {
      const size_t positions = c.first_position + t + 1;
      const double bound =
          Bound(s.q.data() + t * row + h * c.head_dim,
                s.k.data() + (h / group) * s.capacity * c.head_dim, positions, c.head_dim, s.scale);
      for (size_t d = 0; d < c.head_dim; ++d) {
        const size_t i = t * row + h * c.head_dim + d;
        ASSERT_NEAR(got[i], s.want[i], bound)
            << what << " heads=" << c.heads << " kv_heads=" << c.kv_heads
            << " head_dim=" << c.head_dim << " tokens=" << c.tokens << " first=" << c.first_position
            << " t=" << t << " h=" << h << " d=" << d;
      }
    }
  }
}

void Check(const Case& c, int threads, std::mt19937& rng) {
  const Sequence s = MakeSequence(c, rng);
  const AttentionShape shape{.heads = c.heads, .kv_heads = c.kv_heads, .head_dim = c.head_dim};
  ThreadPool pool(threads);
  std::vector<float> first_result;
  for (size_t block_size : {size_t{1}, size_t{3}, size_t{16}, size_t{64}, size_t{100}}) {
    const PagedCopy paged(s.k, s.v, c.kv_heads, s.capacity, c.head_dim, block_size, rng);
    std::vector<float> got(s.want.size(), NAN);
    const AttentionQuery query{.q = s.q.data(),
                               .tokens = c.tokens,
                               .first_position = c.first_position,
                               .kv = paged.View(),
                               .out = got.data()};
    CausalAttention({&query, 1}, shape, s.scale, pool);
    ExpectNearReference(
        s, got, "threads=" + std::to_string(threads) + " block=" + std::to_string(block_size));
    // Where the blocks lie and how big they are changes nothing: the same bits.
    if (first_result.empty()) first_result = got;
    EXPECT_EQ(got, first_result) << "block size " << block_size;
  }
}

TEST_P(AttentionTest, MatchesReferenceOnAwkwardShapes) {
  std::mt19937 rng(20);
  const Case cases[] = {
      {1, 1, 1, 1, 0},    {1, 1, 7, 3, 0},     {2, 2, 5, 4, 2},    {4, 2, 9, 5, 0},
      {8, 1, 16, 1, 63},  {8, 1, 16, 1, 64},   {8, 1, 17, 2, 127}, {3, 3, 33, 70, 0},
      {6, 2, 24, 65, 10}, {8, 1, 256, 3, 200}, {32, 2, 8, 2, 5},   {4, 4, 12, 1, 300},
  };
  for (const Case& c : cases) {
    for (int threads : {1, 2, 3}) Check(c, threads, rng);
  }
}

TEST_P(AttentionTest, LongDecodeStreamsManyTiles) {
  std::mt19937 rng(21);
  for (int threads : {1, 2}) Check({8, 1, 64, 1, 1500}, threads, rng);
}

// Several sequences of different shapes and lengths in one call: each gets exactly what it
// gets alone (a query's result does not depend on the others), and the reference's values.
TEST_P(AttentionTest, SeveralSequencesInOneCallEachAsAlone) {
  std::mt19937 rng(22);
  const Case cases[] = {{8, 1, 16, 1, 63}, {8, 1, 16, 7, 0}, {8, 1, 16, 1, 200}, {8, 1, 16, 30, 5}};
  std::vector<Sequence> sequences;
  std::vector<PagedCopy> caches;
  for (const Case& c : cases) {
    sequences.push_back(MakeSequence(c, rng));
    const Sequence& s = sequences.back();
    caches.emplace_back(s.k, s.v, c.kv_heads, s.capacity, c.head_dim, 16, rng);
  }
  const AttentionShape shape{.heads = 8, .kv_heads = 1, .head_dim = 16};
  for (int threads : {1, 2, 3}) {
    ThreadPool pool(threads);
    std::vector<std::vector<float>> together(sequences.size()), alone(sequences.size());
    std::vector<AttentionQuery> queries;
    for (size_t i = 0; i < sequences.size(); ++i) {
      const Sequence& s = sequences[i];
      together[i].assign(s.want.size(), NAN);
      alone[i].assign(s.want.size(), NAN);
      queries.push_back({.q = s.q.data(),
                         .tokens = s.c.tokens,
                         .first_position = s.c.first_position,
                         .kv = caches[i].View(),
                         .out = together[i].data()});
    }
    CausalAttention(queries, shape, sequences[0].scale, pool);
    for (size_t i = 0; i < sequences.size(); ++i) {
      AttentionQuery one = queries[i];
      one.out = alone[i].data();
      CausalAttention({&one, 1}, shape, sequences[i].scale, pool);
      EXPECT_EQ(together[i], alone[i]) << "sequence " << i << ", " << threads << " threads";
      ExpectNearReference(sequences[i], together[i], "batched");
    }
  }
}

// A bf16 cache widens each element as it is loaded: the output is bit for bit what a float32
// cache holding the rounded values gives (every head_dim tail, every target), and so within
// the float32 bound of the reference on those values.
TEST_P(AttentionTest, Bf16CacheGivesExactlyTheFloatCacheOfItsRoundedValues) {
  std::mt19937 rng(23);
  const Case cases[] = {{1, 1, 1, 1, 0},   {2, 2, 5, 4, 2},     {8, 1, 17, 2, 127},
                        {3, 3, 33, 70, 0}, {8, 1, 256, 3, 200}, {4, 4, 12, 1, 300}};
  for (const Case& c : cases) {
    Sequence s = MakeSequence(c, rng);
    s.k = RoundedToBf16(s.k);
    s.v = RoundedToBf16(s.v);
    ref::Attention(s.q.data(), c.tokens, c.first_position, s.k.data(), s.v.data(), s.capacity,
                   c.heads, c.kv_heads, c.head_dim, s.scale, s.want.data());
    const PagedCopy f32(s.k, s.v, c.kv_heads, s.capacity, c.head_dim, 16, rng);
    const PagedCopyBf16 bf16(f32);
    const AttentionShape shape{.heads = c.heads, .kv_heads = c.kv_heads, .head_dim = c.head_dim};
    for (int threads : {1, 2}) {
      ThreadPool pool(threads);
      std::vector<float> from_f32(s.want.size(), NAN), from_bf16(s.want.size(), NAN);
      AttentionQuery query{.q = s.q.data(),
                           .tokens = c.tokens,
                           .first_position = c.first_position,
                           .kv = f32.View(),
                           .out = from_f32.data()};
      CausalAttention({&query, 1}, shape, s.scale, pool);
      query.kv = bf16.view;
      query.out = from_bf16.data();
      CausalAttention({&query, 1}, shape, s.scale, pool);
      EXPECT_EQ(from_bf16, from_f32) << "head_dim " << c.head_dim << ", " << threads << " threads";
      ExpectNearReference(s, from_bf16, "bf16 cache");
    }
  }
}

TEST(AttentionArgsTest, RejectsBadShapes) {
  ThreadPool pool(1);
  std::vector<float> buf(64);
  const int32_t blocks[] = {0};
  const auto* bytes = reinterpret_cast<const std::byte*>(buf.data());
  PagedKV kv{.keys = bytes, .values = bytes, .blocks = blocks, .num_blocks = 1, .block_size = 4};
  AttentionQuery query{
      .q = buf.data(), .tokens = 1, .first_position = 0, .kv = kv, .out = buf.data()};
  EXPECT_THROW(CausalAttention({&query, 1}, {.heads = 3, .kv_heads = 2, .head_dim = 4}, 1.0f, pool),
               Error);
  query.tokens = 2;
  query.first_position = 3;  // positions 3 and 4 do not fit one block of 4
  EXPECT_THROW(CausalAttention({&query, 1}, {.heads = 2, .kv_heads = 1, .head_dim = 4}, 1.0f, pool),
               Error);
  query.tokens = 1;
  query.first_position = 0;
  query.kv.dtype = DType::kQ8_0;  // not a cache type
  EXPECT_THROW(CausalAttention({&query, 1}, {.heads = 2, .kv_heads = 1, .head_dim = 4}, 1.0f, pool),
               Error);
}

}  // namespace
}  // namespace gemma::test
