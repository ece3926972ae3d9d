// The sampling flags shared by generate (declared once here: name, default, help).
#pragma once

#include <CLI/CLI.hpp>
#include <optional>

#include "gemma_rt/gemma_rt.h"

namespace gemma::cli {

struct SamplingFlags {
  float temperature = 1.0f;
  size_t top_k = 0;
  float top_p = 1.0f;
  float min_p = 0.0f;
  float repeat_penalty = 1.0f;
  std::optional<uint64_t> seed;

  void Add(CLI::App* cmd) {
    cmd->add_option("--temperature", temperature, "Sampling temperature; 0 means greedy")
        ->capture_default_str();
    cmd->add_option("--top-k", top_k, "Keep the K most likely tokens (0: off)")
        ->capture_default_str();
    cmd->add_option("--top-p", top_p, "Nucleus sampling: smallest set with probability >= P")
        ->capture_default_str();
    cmd->add_option("--min-p", min_p, "Drop tokens below P x the top probability (0: off)")
        ->capture_default_str();
    cmd->add_option("--repeat-penalty", repeat_penalty,
                    "Penalize the last 64 tokens (1: off, >1 discourages repeats)")
        ->capture_default_str();
    cmd->add_option("--seed", seed, "Random seed (default: a random one); same seed, same text");
  }

  gemma_rt::SamplingOptions Options() const;
};

}  // namespace gemma::cli
