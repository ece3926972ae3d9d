// CausalAttention against ref::Attention: multi-head, grouped and multi-query, prefill and
// decode, positions across several tiles, 1-3 threads, every compiled instruction set.
#include "kernels/attention.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <random>
#include <vector>

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

void Check(const Case& c, int threads, std::mt19937& rng) {
  const size_t capacity = c.first_position + c.tokens + 3;  // cache not full
  const size_t row = c.heads * c.head_dim;
  // Scores up to a few units: the softmax is neither flat nor one-hot.
  const std::vector<float> q = RandomFloats(c.tokens * row, rng, -1.0f, 1.0f);
  const std::vector<float> k = RandomFloats(c.kv_heads * capacity * c.head_dim, rng, -1.0f, 1.0f);
  const std::vector<float> v = RandomFloats(c.kv_heads * capacity * c.head_dim, rng, -1.0f, 1.0f);
  const float scale = 4.0f / std::sqrt(static_cast<float>(c.head_dim));
  std::vector<float> want(c.tokens * row), got(c.tokens * row, NAN);
  ref::Attention(q.data(), c.tokens, c.first_position, k.data(), v.data(), capacity, c.heads,
                 c.kv_heads, c.head_dim, scale, want.data());
  ThreadPool pool(threads);
  CausalAttention(
      q.data(), c.tokens, c.first_position, k.data(), v.data(),
      AttentionShape{
          .heads = c.heads, .kv_heads = c.kv_heads, .head_dim = c.head_dim, .capacity = capacity},
      scale, got.data(), pool);
  const size_t group = c.heads / c.kv_heads;
  for (size_t t = 0; t < c.tokens; ++t) {
    for (size_t h = 0; h < c.heads; ++h) {
      const size_t positions = c.first_position + t + 1;
      const double bound =
          Bound(q.data() + t * row + h * c.head_dim, k.data() + (h / group) * capacity * c.head_dim,
                positions, c.head_dim, scale);
      for (size_t d = 0; d < c.head_dim; ++d) {
        const size_t i = t * row + h * c.head_dim + d;
        ASSERT_NEAR(got[i], want[i], bound)
            << "heads=" << c.heads << " kv_heads=" << c.kv_heads << " head_dim=" << c.head_dim
            << " tokens=" << c.tokens << " first=" << c.first_position << " threads=" << threads
            << " t=" << t << " h=" << h << " d=" << d;
      }
    }
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

TEST(AttentionArgsTest, RejectsBadShapes) {
  ThreadPool pool(1);
  std::vector<float> buf(64);
  AttentionShape shape{.heads = 3, .kv_heads = 2, .head_dim = 4, .capacity = 4};
  EXPECT_THROW(
      CausalAttention(buf.data(), 1, 0, buf.data(), buf.data(), shape, 1.0f, buf.data(), pool),
      Error);
  shape = {.heads = 2, .kv_heads = 1, .head_dim = 4, .capacity = 4};
  EXPECT_THROW(
      CausalAttention(buf.data(), 2, 3, buf.data(), buf.data(), shape, 1.0f, buf.data(), pool),
      Error);  // positions 3 and 4 do not fit capacity 4
}

}  // namespace
}  // namespace gemma::test
