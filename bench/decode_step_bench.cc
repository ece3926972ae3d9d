// The weight products of one batched decode step on a real model file, alone: every layer's
// k, v, q, o, gate, up and down and the tied output projection, each through MatVecBatch
// (kernels/matmul.h) with `rows` random activation rows, as Forward calls them. Shows where a
// step's product time goes and how far it is from the machine's memory bandwidth, without
// attention, sampling or the engine. Time it on a quiet machine:
//   decode_step_bench MODEL ROWS [STEPS=5] [THREADS=2]
// prints per matrix kind the milliseconds per step and GB/s of weights read.
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <string>
#include <vector>

#include "base/error.h"
#include "kernels/decode_activations.h"
#include "kernels/matmul.h"
#include "kernels/thread_pool.h"
#include "model/model_loader.h"

namespace gemma {
namespace {

using Clock = std::chrono::steady_clock;

struct Kind {
  const char* name;
  double seconds = 0;
  double bytes = 0;
};

int Main(int argc, char** argv) {
  if (argc < 3) {
    std::fprintf(stderr, "usage: decode_step_bench MODEL ROWS [STEPS=5] [THREADS=2]\n");
    return 2;
  }
  const size_t rows = std::strtoul(argv[2], nullptr, 10);
  const int steps = argc > 3 ? std::atoi(argv[3]) : 5;
  const int threads = argc > 4 ? std::atoi(argv[4]) : 2;
  const ModelWeights weights = LoadModelWeights(argv[1]);
  ThreadPool pool(threads);
  const ModelConfig& c = weights.config;
  const size_t widest = std::max<size_t>(c.intermediate_size, c.q_dim());
  std::vector<float> x(rows * widest), y(rows * std::max<size_t>(c.vocab_size, widest));
  std::mt19937 rng(1);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  for (float& v : x) v = normal(rng);

  Kind kinds[] = {{"qkv"}, {"o"}, {"gate+up"}, {"down"}, {"output"}};
  DecodeActivations in;
  const auto product = [&](Kind& kind, const WeightMatrix& w, bool reset) {
    const Clock::time_point start = Clock::now();
    if (reset) in.Reset(x.data(), rows, w.cols);  // rounding counted once per shared input
    MatVecBatch(w, in, y.data(), pool);
    kind.seconds += std::chrono::duration<double>(Clock::now() - start).count();
    kind.bytes += static_cast<double>(w.rows * w.row_bytes);
  };
  for (int step = -1; step < steps; ++step) {  // step -1 warms up
    if (step == 0) {
      for (Kind& k : kinds) k.seconds = k.bytes = 0;
    }
    for (const LayerWeights& l : weights.layers) {
      product(kinds[0], l.k, true);
      product(kinds[0], l.v, false);
      product(kinds[0], l.q, false);
      product(kinds[1], l.o, true);
      product(kinds[2], l.gate, true);
      product(kinds[2], l.up, false);
      product(kinds[3], l.down, true);
    }
    product(kinds[4], weights.embedding, true);
  }
  double total_s = 0, total_b = 0;
  for (const Kind& k : kinds) {
    std::printf("%-8s %8.2f ms/step %6.1f GB/s\n", k.name, 1e3 * k.seconds / steps,
                k.bytes / k.seconds / 1e9);
    total_s += k.seconds, total_b += k.bytes;
  }
  std::printf("%-8s %8.2f ms/step %6.1f GB/s  rows %zu threads %d -> %.1f tok/s if products only\n",
              "total", 1e3 * total_s / steps, total_b / total_s / 1e9, rows, threads,
              static_cast<double>(rows) * steps / total_s);
  return 0;
}

}  // namespace
}  // namespace gemma

int main(int argc, char** argv) {
  try {
    return gemma::Main(argc, argv);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "decode_step_bench: %s\n", e.what());
    return 1;
  }
}
