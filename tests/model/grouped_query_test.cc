// Grouped-query attention (heads / kv_heads = 2, neither 1 nor heads) is in no golden case,
// so this test builds a small random model in memory and checks the forward pass against a
// slow, independent double-precision implementation of the Gemma 1 conventions written
// below with plain loops, and checks that decode and prefill agree.
#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <vector>

#include "model/forward.h"

namespace gemma {
namespace {

ModelConfig GroupedQueryConfig() {
  ModelConfig c;
  c.vocab_size = 67;
  c.hidden_size = 40;
  c.intermediate_size = 72;
  c.num_hidden_layers = 2;
  c.num_attention_heads = 4;
  c.num_key_value_heads = 2;  // heads 0,1 read kv head 0; heads 2,3 read kv head 1
  c.head_dim = 12;            // heads * head_dim = 48 != hidden 40, as on gemma-7b
  c.max_position_embeddings = 64;
  c.rms_norm_eps = 1e-6;
  c.rope_theta = 10000.0;
  return c;
}

// A float32 matrix [rows, cols] that owns its values and lends a WeightMatrix view.
struct OwnedMatrix {
  std::vector<float> values;
  size_t rows = 0, cols = 0;
  WeightMatrix View() const {
    return {.dtype = DType::kF32,
            .data = reinterpret_cast<const std::byte*>(values.data()),
            .rows = rows,
            .cols = cols,
            .row_bytes = cols * sizeof(float)};
  }
  double at(size_t r, size_t c) const { return values[r * cols + c]; }
};

struct RandomModel {
  ModelConfig config;
  std::vector<OwnedMatrix> matrices;  // embedding, then per layer q k v o gate up down
  std::vector<std::vector<float>> attn_norm, ffn_norm;
  std::vector<float> final_norm;
  ModelWeights weights;
};

RandomModel MakeRandomModel(uint32_t seed) {
  RandomModel m;
  m.config = GroupedQueryConfig();
  const ModelConfig& c = m.config;
  std::mt19937 rng(seed);
  auto matrix = [&](size_t rows, size_t cols) {
    std::normal_distribution<float> normal(0.0f, 2.2f / std::sqrt(static_cast<float>(cols)));
    OwnedMatrix w{.values = std::vector<float>(rows * cols), .rows = rows, .cols = cols};
    for (float& v : w.values) v = normal(rng);
    return w;
  };
  auto norm = [&](float mean) {  // holds 1 + w, as ModelWeights does
    std::normal_distribution<float> normal(mean, 0.25f);
    std::vector<float> v(c.hidden_size);
    for (float& x : v) x = 1.0f + normal(rng);
    return v;
  };
  m.matrices.reserve(1 + 7 * c.num_hidden_layers);
  m.matrices.push_back(matrix(c.vocab_size, c.hidden_size));
  for (int64_t l = 0; l < c.num_hidden_layers; ++l) {
    m.matrices.push_back(matrix(c.q_dim(), c.hidden_size));
    m.matrices.push_back(matrix(c.kv_dim(), c.hidden_size));
    m.matrices.push_back(matrix(c.kv_dim(), c.hidden_size));
    m.matrices.push_back(matrix(c.hidden_size, c.q_dim()));
    m.matrices.push_back(matrix(c.intermediate_size, c.hidden_size));
    m.matrices.push_back(matrix(c.intermediate_size, c.hidden_size));
    m.matrices.push_back(matrix(c.hidden_size, c.intermediate_size));
    m.attn_norm.push_back(norm(0.0f));
    m.ffn_norm.push_back(norm(0.0f));
  }
  m.final_norm = norm(0.0f);

  m.weights.config = c;
  m.weights.embedding = m.matrices[0].View();
  for (int64_t l = 0; l < c.num_hidden_layers; ++l) {
    const OwnedMatrix* w = &m.matrices[1 + 7 * l];
    m.weights.layers.push_back({.attn_norm_scale = m.attn_norm[l],
                                .q = w[0].View(),
                                .k = w[1].View(),
                                .v = w[2].View(),
                                .o = w[3].View(),
                                .ffn_norm_scale = m.ffn_norm[l],
                                .gate = w[4].View(),
                                .up = w[5].View(),
                                .down = w[6].View()});
  }
  m.weights.final_norm_scale = m.final_norm;
  return m;
}

// ---- The independent reference: whole sequence at once, no cache, double precision.
using Vec = std::vector<double>;

Vec Apply(const OwnedMatrix& w, const Vec& x) {
  Vec y(w.rows, 0.0);
  for (size_t r = 0; r < w.rows; ++r)
    for (size_t c = 0; c < w.cols; ++c) y[r] += w.at(r, c) * x[c];
  return y;
}

Vec Norm(const Vec& x, const std::vector<float>& one_plus_w, double eps) {
  double sum = 0;
  for (double v : x) sum += v * v;
  const double inv = 1.0 / std::sqrt(sum / x.size() + eps);
  Vec y(x.size());
  for (size_t i = 0; i < x.size(); ++i) y[i] = x[i] * inv * one_plus_w[i];
  return y;
}

void Rotate(Vec& x, size_t heads, size_t head_dim, size_t position, double theta) {
  const size_t half = head_dim / 2;
  for (size_t h = 0; h < heads; ++h) {
    for (size_t i = 0; i < half; ++i) {
      const double angle = position * std::pow(theta, -2.0 * i / head_dim);
      const double a = x[h * head_dim + i], b = x[h * head_dim + i + half];
      x[h * head_dim + i] = a * std::cos(angle) - b * std::sin(angle);
      x[h * head_dim + i + half] = a * std::sin(angle) + b * std::cos(angle);
    }
  }
}

// Logits [tokens][vocab] for every position of `ids`.
std::vector<Vec> ReferenceLogits(const RandomModel& m, const std::vector<int32_t>& ids) {
  const ModelConfig& c = m.config;
  const size_t T = ids.size(), H = c.hidden_size, heads = c.num_attention_heads,
               kv_heads = c.num_key_value_heads, hd = c.head_dim;
  std::vector<Vec> x(T, Vec(H));
  for (size_t t = 0; t < T; ++t)
    for (size_t i = 0; i < H; ++i)
      x[t][i] = m.matrices[0].at(ids[t], i) * static_cast<double>(std::sqrt(float(H)));
  for (int64_t l = 0; l < c.num_hidden_layers; ++l) {
    const OwnedMatrix* w = &m.matrices[1 + 7 * l];
    std::vector<Vec> q(T), k(T), v(T);
    for (size_t t = 0; t < T; ++t) {
      const Vec h = Norm(x[t], m.attn_norm[l], c.rms_norm_eps);
      q[t] = Apply(w[0], h);
      k[t] = Apply(w[1], h);
      v[t] = Apply(w[2], h);
      Rotate(q[t], heads, hd, t, c.rope_theta);
      Rotate(k[t], kv_heads, hd, t, c.rope_theta);
    }
    for (size_t t = 0; t < T; ++t) {
      Vec concat(heads * hd, 0.0);
      for (size_t j = 0; j < heads; ++j) {
        const size_t g = j / (heads / kv_heads);
        Vec scores(t + 1);
        double max = -1e300, sum = 0;
        for (size_t p = 0; p <= t; ++p) {
          double dot = 0;
          for (size_t d = 0; d < hd; ++d) dot += q[t][j * hd + d] * k[p][g * hd + d];
          scores[p] = dot / std::sqrt(double(hd));
          max = std::max(max, scores[p]);
        }
        for (double& s : scores) sum += (s = std::exp(s - max));
        for (size_t p = 0; p <= t; ++p)
          for (size_t d = 0; d < hd; ++d) concat[j * hd + d] += scores[p] / sum * v[p][g * hd + d];
      }
      const Vec o = Apply(w[3], concat);
      for (size_t i = 0; i < H; ++i) x[t][i] += o[i];
      const Vec h = Norm(x[t], m.ffn_norm[l], c.rms_norm_eps);
      const Vec gate = Apply(w[4], h), up = Apply(w[5], h);
      Vec act(gate.size());
      for (size_t i = 0; i < gate.size(); ++i) {
        const double g = gate[i];
        act[i] =
            0.5 * g * (1 + std::tanh(std::sqrt(2 / M_PI) * (g + 0.044715 * g * g * g))) * up[i];
      }
      const Vec down = Apply(w[6], act);
      for (size_t i = 0; i < H; ++i) x[t][i] += down[i];
    }
  }
  std::vector<Vec> logits(T);
  for (size_t t = 0; t < T; ++t)
    logits[t] = Apply(m.matrices[0], Norm(x[t], m.final_norm, c.rms_norm_eps));
  return logits;
}

double MaxAbs(const std::vector<Vec>& rows) {
  double m = 0;
  for (const Vec& r : rows)
    for (double v : r) m = std::max(m, std::abs(v));
  return m;
}

TEST(GroupedQueryAttention, PrefillAndDecodeMatchADoublePrecisionReference) {
  const RandomModel m = MakeRandomModel(7);
  const ModelConfig& c = m.config;
  const size_t vocab = c.vocab_size;
  std::vector<int32_t> ids = {2};
  std::mt19937 rng(11);
  while (ids.size() < 23) ids.push_back(static_cast<int32_t>(rng() % vocab));
  const std::vector<Vec> expected = ReferenceLogits(m, ids);
  // Measured 1.55e-6 of the largest logit (decode) and 1.16e-6 (prefill); about 4x that.
  const double bound = 6e-6 * MaxAbs(expected);
  ThreadPool pool(2);

  // One batched prefill with logits at every position.
  KVCache prefill_cache(c, ids.size());
  ForwardWorkspace scratch(c, ids.size());
  std::vector<size_t> all(ids.size());
  for (size_t i = 0; i < all.size(); ++i) all[i] = i;
  std::vector<float> prefill(ids.size() * vocab);
  Forward(m.weights, {.tokens = ids, .first_position = 0, .logits_for = all, .logits = prefill},
          prefill_cache, scratch, pool);

  // Token by token through the cache.
  KVCache decode_cache(c, ids.size());
  std::vector<float> decoded(vocab);
  const size_t only[] = {0};
  for (size_t t = 0; t < ids.size(); ++t) {
    Forward(m.weights,
            {.tokens = std::span(ids).subspan(t, 1),
             .first_position = t,
             .logits_for = only,
             .logits = decoded},
            decode_cache, scratch, pool);
    for (size_t i = 0; i < vocab; ++i) {
      ASSERT_NEAR(prefill[t * vocab + i], expected[t][i], bound)
          << "prefill, position " << t << " id " << i;
      ASSERT_NEAR(decoded[i], expected[t][i], bound) << "decode, position " << t << " id " << i;
      ASSERT_NEAR(decoded[i], prefill[t * vocab + i],
                  1e-5 * MaxAbs(expected))  // measured 1.34e-6
          << "position " << t;
    }
  }
}

// The same check must fail if query heads were mapped to kv heads any other way (e.g.
// j % kv_heads): otherwise the test above would not pin the grouping down.
TEST(GroupedQueryAttention, TheKvHeadsReallyDiffer) {
  const RandomModel m = MakeRandomModel(7);
  const OwnedMatrix& k = m.matrices[2];
  double diff = 0;
  for (size_t c = 0; c < k.cols; ++c)
    for (size_t d = 0; d < static_cast<size_t>(m.config.head_dim); ++d)
      diff += std::abs(k.at(d, c) - k.at(m.config.head_dim + d, c));
  EXPECT_GT(diff, 1.0);
}

}  // namespace
}  // namespace gemma
