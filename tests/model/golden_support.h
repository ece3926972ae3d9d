// Reads a golden case of tests/data/golden (see its README): the model and golden.json.
#pragma once

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace gemma::testing {

struct GoldenCase {
  std::string name;
  std::string dir;
  std::vector<int32_t> prompt_ids;
  std::vector<size_t> logits_positions;
  std::vector<std::vector<float>> logits;  // [positions][vocab]
  std::vector<std::vector<int32_t>> top5_ids;
  std::vector<int32_t> greedy_ids;
  std::vector<std::vector<float>> greedy_logits;  // [16][vocab]
  std::vector<size_t> hidden_states_positions;
  std::map<std::string, std::vector<std::vector<float>>> hidden_states;  // key -> [pos][H]
  float max_abs_logit = 0;
};

// Bounds for comparisons with the golden (reference) logits and hidden states, as a
// fraction of the largest |value| of the kind. Measured on every case (Zen 5, AVX-512
// kernels): logits 2.9e-6, hidden states 2.6e-6 (the README's "about 4e-6" was measured on
// Zen 3, AVX2). The bounds are about 4x that: another summation order (SIMD width, thread
// split) passes, a real regression fails.
inline constexpr float kGoldenLogitsTolerance = 1.2e-5f;
inline constexpr float kGoldenHiddenTolerance = 1.1e-5f;
// Two float32 paths of our own over the same sequence (decode steps vs one prefill, the
// trimmed last layer vs every row): measured 2.3e-6 of the largest logit.
inline constexpr float kSameArithmeticTolerance = 1e-5f;
// A KV cache stored as bf16 (keys and values rounded to the nearest bf16, 2^-9 relative at
// most) against the golden logits, teacher-forced over the 16 greedy steps: measured 1.0e-2
// (tiny-2b-bf16), 1.5e-2 (tiny-2b-f32), 1.6e-2 (tiny-2b-long), 1.7e-2 (tiny-7b-f32) of the
// largest logit (tests/engine/engine_test.cc prints each case's figure); about 1.5x that.
inline constexpr float kBf16KvLogitsTolerance = 2.5e-2f;

inline std::string GoldenRoot() { return std::string(GEMMA_TEST_DATA_DIR) + "/golden"; }

// Every case directory under tests/data/golden, so a new case is tested without code changes.
inline std::vector<std::string> GoldenCaseNames() {
  std::vector<std::string> names;
  for (const auto& entry : std::filesystem::directory_iterator(GoldenRoot())) {
    if (std::filesystem::exists(entry.path() / "golden.json")) {
      names.push_back(entry.path().filename().string());
    }
  }
  std::sort(names.begin(), names.end());
  return names;
}

template <typename T>
std::vector<std::vector<T>> Rows(const nlohmann::json& j) {
  std::vector<std::vector<T>> rows;
  for (const auto& row : j) {
    std::vector<T> r;
    for (const auto& v : row) r.push_back(static_cast<T>(v.get<double>()));
    rows.push_back(std::move(r));
  }
  return rows;
}

inline GoldenCase LoadGoldenCase(const std::string& name) {
  GoldenCase g;
  g.name = name;
  g.dir = GoldenRoot() + "/" + name;
  std::ifstream in(g.dir + "/golden.json");
  const nlohmann::json j = nlohmann::json::parse(in);
  g.prompt_ids = j.at("prompt_ids").get<std::vector<int32_t>>();
  g.logits_positions = j.at("logits_positions").get<std::vector<size_t>>();
  g.logits = Rows<float>(j.at("logits"));
  for (const auto& t : j.at("top5")) g.top5_ids.push_back(t.at("ids").get<std::vector<int32_t>>());
  g.greedy_ids = j.at("greedy_ids").get<std::vector<int32_t>>();
  g.greedy_logits = Rows<float>(j.at("greedy_logits"));
  g.hidden_states_positions = j.at("hidden_states_positions").get<std::vector<size_t>>();
  for (const auto& [key, value] : j.at("hidden_states").items()) {
    g.hidden_states[key] = Rows<float>(value);
  }
  g.max_abs_logit = static_cast<float>(j.at("max_abs_logit").get<double>());
  return g;
}

inline float MaxAbs(const std::vector<std::vector<float>>& rows) {
  float m = 0;
  for (const auto& r : rows)
    for (float v : r) m = std::max(m, std::abs(v));
  return m;
}

}  // namespace gemma::testing
