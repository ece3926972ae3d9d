// gemma-rt compare --model A --reference B [--prompt-file F | --random-prompts N]: how far
// model A's next-token distributions are from model B's over the same tokens (B is usually
// the bf16/f32 original, A a quantized file). Per position: KL(P_B || P_A), whether the
// argmax agrees, and max |logit_A - logit_B|; the summary aggregates every position of
// every prompt. Same numbers as llama.cpp's perplexity --kl-divergence reports.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <random>
#include <span>
#include <sstream>
#include <string>
#include <vector>

#include "apps/gemma-rt/command.h"
#include "base/error.h"
#include "base/threads.h"
#include "io/input_file.h"
#include "kernels/thread_pool.h"
#include "model/forward.h"
#include "model/kv_cache.h"
#include "model/model_loader.h"
#include "tokenizer/tokenizer.h"

namespace gemma::cli {
namespace {

struct CompareOptions {
  std::string model;
  std::string reference;
  std::string prompt_file;
  size_t random_prompts = 0;
  size_t length = 64;  // tokens per random prompt
  uint64_t seed = 1;
  int threads = 2;
  bool decode = false;       // one token per Forward call, as in generation
  bool exact_quant = false;  // float32 activations for quantized weights in decode
};

// Logits at every position of `ids`: [ids.size(), vocab].
// decode: one token per call (the arithmetic of generation, e.g. integer products for
// quantized weights); otherwise one prefill call.
std::vector<float> AllLogits(const ModelWeights& w, const std::vector<int32_t>& ids, bool decode,
                             ThreadPool& pool) {
  const size_t vocab = static_cast<size_t>(w.config.vocab_size);
  KVCache cache(w.config, ids.size());
  ForwardWorkspace scratch(w.config, ids.size());
  std::vector<size_t> positions(ids.size());
  for (size_t i = 0; i < ids.size(); ++i) positions[i] = i;
  std::vector<float> logits(ids.size() * vocab);
  if (!decode) {
    Forward(w, {.tokens = ids, .first_position = 0, .logits_for = positions, .logits = logits},
            cache, scratch, pool);
    return logits;
  }
  const size_t only[] = {0};
  for (size_t p = 0; p < ids.size(); ++p) {
    Forward(w,
            {.tokens = std::span(ids).subspan(p, 1),
             .first_position = p,
             .logits_for = only,
             .logits = std::span(logits).subspan(p * vocab, vocab)},
            cache, scratch, pool);
  }
  return logits;
}

// log softmax in double.
std::vector<double> LogSoftmax(const float* row, size_t n) {
  const double max = *std::max_element(row, row + n);
  double sum = 0;
  for (size_t i = 0; i < n; ++i) sum += std::exp(row[i] - max);
  const double log_sum = std::log(sum) + max;
  std::vector<double> out(n);
  for (size_t i = 0; i < n; ++i) out[i] = row[i] - log_sum;
  return out;
}

std::unique_ptr<Tokenizer> TokenizerNear(const std::string& model_path) {
  namespace fs = std::filesystem;
  if (IsGgufModelPath(model_path)) return nullptr;
  const fs::path p(model_path);
  return Tokenizer::FromModelDirectory((fs::is_directory(p) ? p : p.parent_path()).string());
}

std::vector<std::vector<int32_t>> Prompts(const CompareOptions& o, const ModelConfig& config) {
  std::vector<std::vector<int32_t>> prompts;
  if (!o.prompt_file.empty()) {
    std::unique_ptr<Tokenizer> tokenizer = TokenizerNear(o.reference);
    if (!tokenizer) tokenizer = TokenizerNear(o.model);
    if (!tokenizer) {
      Fail(ErrorCode::kUnsupported,
           "--prompt-file needs a tokenizer next to --model or "
           "--reference (a Hugging Face directory with tokenizer.json "
           "or tokenizer.model); use --random-prompts otherwise");
    }
    std::istringstream in(ReadInputFile(
        o.prompt_file,
        {.what = "--prompt-file", .max_bytes = kMaxPromptBytes, .allow_streams = true}));
    std::string line;
    while (std::getline(in, line)) {
      if (line.empty()) continue;
      std::vector<int32_t> ids = tokenizer->Encode(line, /*add_bos=*/true);
      if (ids.size() > static_cast<size_t>(config.max_position_embeddings)) {
        ids.resize(static_cast<size_t>(config.max_position_embeddings));
      }
      prompts.push_back(std::move(ids));
    }
    if (prompts.empty())
      Fail(ErrorCode::kInvalidArgument, o.prompt_file, ": no prompts (one per line)");
    return prompts;
  }
  std::mt19937_64 rng(o.seed);
  std::uniform_int_distribution<int32_t> token(0, static_cast<int32_t>(config.vocab_size) - 1);
  for (size_t p = 0; p < o.random_prompts; ++p) {
    std::vector<int32_t> ids = {config.bos_token_id};
    while (ids.size() < o.length) ids.push_back(token(rng));
    prompts.push_back(std::move(ids));
  }
  return prompts;
}

int RunCompare(const CompareOptions& o, const CLI::App& cmd) {
  if ((cmd.count("--prompt-file") > 0) == (cmd.count("--random-prompts") > 0)) {
    Fail(ErrorCode::kInvalidArgument, "give exactly one of --prompt-file and --random-prompts");
  }
  if (o.length < 1) Fail(ErrorCode::kInvalidArgument, "--length must be at least 1");
  if (cmd.count("--random-prompts") > 0 && o.random_prompts < 1) {
    Fail(ErrorCode::kInvalidArgument, "--random-prompts must be at least 1");
  }
  const ModelLoadOptions load{.quant_dot = o.exact_quant ? QuantDot::kFloat32 : QuantDot::kInt8};
  const ModelWeights a = LoadModelWeights(o.model, load);
  const ModelWeights b = LoadModelWeights(o.reference, load);
  if (a.config.vocab_size != b.config.vocab_size) {
    Fail(ErrorCode::kInvalidArgument, "the models have different vocabularies (",
         a.config.vocab_size, " vs ", b.config.vocab_size, ")");
  }
  ThreadPool pool(ResolveThreadCount(o.threads, "--threads"));
  const size_t vocab = static_cast<size_t>(a.config.vocab_size);
  double kl_sum = 0, kl_max = 0, max_delta = 0, max_ref_logit = 0;
  size_t positions = 0, top1_agree = 0;
  for (const std::vector<int32_t>& ids : Prompts(o, b.config)) {
    const std::vector<float> la = AllLogits(a, ids, o.decode, pool);
    const std::vector<float> lb = AllLogits(b, ids, o.decode, pool);
    for (size_t t = 0; t < ids.size(); ++t) {
      const float* ra = &la[t * vocab];
      const float* rb = &lb[t * vocab];
      const std::vector<double> pa = LogSoftmax(ra, vocab), pb = LogSoftmax(rb, vocab);
      double kl = 0;
      for (size_t i = 0; i < vocab; ++i) {
        kl += std::exp(pb[i]) * (pb[i] - pa[i]);
        max_delta = std::max(max_delta, static_cast<double>(std::fabs(ra[i] - rb[i])));
        max_ref_logit = std::max(max_ref_logit, static_cast<double>(std::fabs(rb[i])));
      }
      kl_sum += kl;
      kl_max = std::max(kl_max, kl);
      top1_agree +=
          (std::max_element(ra, ra + vocab) - ra) == (std::max_element(rb, rb + vocab) - rb);
      ++positions;
    }
  }
  std::printf("model      %s\nreference  %s\npositions  %zu\n", o.model.c_str(),
              o.reference.c_str(), positions);
  std::printf("KL(ref||model)  mean %.6g  max %.6g\n", kl_sum / positions, kl_max);
  std::printf("top-1 agreement %zu/%zu (%.2f%%)\n", top1_agree, positions,
              100.0 * top1_agree / positions);
  std::printf("max |dlogit|    %.6g (%.3g of max |reference logit| %.4g)\n", max_delta,
              max_delta / max_ref_logit, max_ref_logit);
  return 0;
}

}  // namespace

void AddCompareCommand(CLI::App& app, RunFunction& run) {
  auto options = std::make_shared<CompareOptions>();
  CLI::App* cmd = app.add_subcommand(
      "compare", "KL divergence, top-1 agreement and max |dlogit| of a model vs a reference");
  cmd->add_option("--model", options->model, "Model to judge (HF directory or .gguf)")->required();
  cmd->add_option("--reference", options->reference, "Reference model (HF directory or .gguf)")
      ->required();
  cmd->add_option("--prompt-file", options->prompt_file, "Text file, one prompt per line");
  cmd->add_option("--random-prompts", options->random_prompts,
                  "Number of prompts of random token ids (BOS first)");
  cmd->add_option("--length", options->length, "Tokens per random prompt")->capture_default_str();
  cmd->add_option("--seed", options->seed, "Seed of the random prompts")->capture_default_str();
  cmd->add_option("--threads", options->threads, "Threads")->capture_default_str();
  cmd->add_flag("--decode", options->decode,
                "Evaluate one token per step, as generation does (quantized weights then use "
                "the decode arithmetic); default: one prefill over each prompt");
  AddExactQuantFlag(*cmd, options->exact_quant);
  cmd->callback(
      [&run, options, cmd] { run = [options, cmd] { return RunCompare(*options, *cmd); }; });
}

}  // namespace gemma::cli
