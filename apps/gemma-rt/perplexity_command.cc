// gemma-rt perplexity --model M --file text.txt [--ctx 512] [--chunks N] [--parallel N]
//   [--reference-model M_REF] [--json] [-t N]
// Perplexity as llama-perplexity computes it (src/eval/perplexity.h); with
// --reference-model, the KL divergence of the model from the reference and both
// perplexities, both models in this process (src/eval/kl_divergence.h).
#include <cstdio>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "apps/gemma-rt/command.h"
#include "apps/gemma-rt/progress_line.h"
#include "base/error.h"
#include "eval/data_records.h"
#include "eval/kl_divergence.h"
#include "eval/perplexity.h"
#include "gemma_rt/gemma_rt.h"

namespace gemma::cli {
namespace {

struct PerplexityFlags {
  std::string model;
  std::string reference_model;
  std::string tokenizer;
  std::string file;
  eval::PerplexityOptions options;
  bool json = false;
  int threads = 0;
  bool exact_quant = false;
};

gemma_rt::Model LoadModel(const PerplexityFlags& f, const std::string& path) {
  gemma_rt::Model model = gemma_rt::Model::Load({.path = path,
                                                 .tokenizer = f.tokenizer,
                                                 .threads = f.threads,
                                                 .exact_quantized_products = f.exact_quant});
  if (!model.has_tokenizer()) {
    Fail(ErrorCode::kInvalidArgument, "model ", path,
         " has no tokenizer: give one with --tokenizer (tokenizer.json or tokenizer.model)");
  }
  return model;
}

std::string Fixed(double value, int digits) {
  char buffer[64];
  std::snprintf(buffer, sizeof(buffer), "%.*f", digits, value);
  return buffer;
}

std::string PlusMinus(const eval::MeanAndError& v, int digits) {
  return Fixed(v.mean, digits) + " ± " + Fixed(v.error, digits);
}

nlohmann::json ToJson(const eval::MeanAndError& v) {
  return {{"value", v.mean}, {"stderr", v.error}};
}

void PrintKlSummary(const eval::KlSummary& s) {
  std::printf("====== Perplexity statistics ======\n");
  std::printf("Mean PPL(Q)                   : %s\n", PlusMinus(s.ppl_model, 6).c_str());
  std::printf("Mean PPL(base)                : %s\n", PlusMinus(s.ppl_reference, 6).c_str());
  std::printf("Cor(ln(PPL(Q)), ln(PPL(base))): %6.2f%%\n", 100.0 * s.nll_correlation);
  std::printf("Mean ln(PPL(Q)/PPL(base))     : %s\n", PlusMinus(s.ln_ppl_ratio, 6).c_str());
  std::printf("Mean PPL(Q)/PPL(base)         : %s\n", PlusMinus(s.ppl_ratio, 6).c_str());
  std::printf("Mean PPL(Q)-PPL(base)         : %s\n\n", PlusMinus(s.ppl_difference, 6).c_str());
  std::printf("====== KL divergence statistics ======\n");
  std::printf("Mean    KLD: %s\n", PlusMinus(s.kl_mean, 6).c_str());
  std::printf("Maximum KLD: %10.6f\n", s.kl_max);
  std::printf("99.9%%   KLD: %10.6f\n", s.kl_p999);
  std::printf("99.0%%   KLD: %10.6f\n", s.kl_p99);
  std::printf("90.0%%   KLD: %10.6f\n", s.kl_p90);
  std::printf("Median  KLD: %10.6f\n", s.kl_median);
  std::printf("Minimum KLD: %10.6f\n\n", s.kl_min);
  std::printf("====== Token probability statistics ======\n");
  std::printf("Mean    Δp: %6.3f ± %5.3f %%\n", 100 * s.dp_mean.mean, 100 * s.dp_mean.error);
  std::printf("Median  Δp: %6.3f%%\n", 100 * s.dp_median);
  std::printf("RMS Δp    : %6.3f ± %5.3f %%\n", 100 * s.dp_rms.mean, 100 * s.dp_rms.error);
  std::printf("Same top p: %6.3f ± %5.3f %%\n", 100 * s.top1_agreement.mean,
              100 * s.top1_agreement.error);
}

nlohmann::json KlJson(const eval::KlSummary& s) {
  return {{"mean", s.kl_mean.mean}, {"mean_stderr", s.kl_mean.error},
          {"median", s.kl_median},  {"p90", s.kl_p90},
          {"p99", s.kl_p99},        {"p99_9", s.kl_p999},
          {"max", s.kl_max},        {"min", s.kl_min}};
}

int RunPerplexity(PerplexityFlags f) {
  std::string text = eval::ReadWholeFile(f.file);
  // llama-perplexity's -f drops one trailing newline (common/arg.cpp): the same ids.
  if (!text.empty() && text.back() == '\n') text.pop_back();
  const gemma_rt::Model model = LoadModel(f, f.model);
  std::optional<gemma_rt::Model> reference;
  if (!f.reference_model.empty()) reference.emplace(LoadModel(f, f.reference_model));

  const std::vector<int32_t> tokens = model.Tokenize(text, /*add_bos=*/true);
  f.options.bos_id = model.Tokenize("", /*add_bos=*/true).at(0);
  if (reference && reference->Tokenize(text, /*add_bos=*/true) != tokens) {
    Fail(ErrorCode::kInvalidArgument, "the two models' tokenizers split ", f.file,
         " differently: compare formats of one model");
  }
  eval::ChunkPlan plan;
  try {
    plan = eval::PlanChunks(tokens.size(), f.options);
  } catch (const std::invalid_argument& e) {
    Fail(ErrorCode::kInvalidArgument, f.file, ": ", e.what());
  }
  std::fprintf(stderr, "perplexity: %zu tokens; %zu chunks of %zu, %zu scored per chunk%s\n",
               tokens.size(), plan.chunks, f.options.context, plan.scored_per_chunk,
               reference ? "; KL divergence from the reference model" : "");

  ProgressLine bar(0.0);  // one line per chunk
  const size_t per_chunk = f.options.context;
  nlohmann::json out;
  if (!reference) {
    const eval::PerplexityResult r =
        eval::ComputePerplexity(model, tokens, f.options, [&](const eval::PerplexityProgress& p) {
          bar.Update(p.chunks_done, p.chunks, p.seconds,
                     "ppl " + Fixed(p.nll.Perplexity(), 4) + "  " +
                         Fixed(p.chunks_done * per_chunk / p.seconds, 1) + " tok/s");
        });
    out = {{"perplexity", r.nll.Perplexity()},
           {"stderr", r.nll.PerplexityError()},
           {"tokens", r.tokens_evaluated},
           {"scored_tokens", r.nll.count},
           {"chunks", r.chunks},
           {"ctx", r.context},
           {"seconds", r.seconds},
           {"tokens_per_s", r.TokensPerSecond()}};
    if (!f.json) {
      std::printf("Final estimate: PPL = %.4f +/- %.5f\n", r.nll.Perplexity(),
                  r.nll.PerplexityError());
      std::printf("%zu tokens (%zu scored) in %.1f s: %.2f tokens/s\n", r.tokens_evaluated,
                  r.nll.count, r.seconds, r.TokensPerSecond());
    }
  } else {
    const eval::KlResult r = eval::ComputeKlDivergence(
        model, *reference, tokens, f.options, [&](const eval::KlProgress& p) {
          const eval::KlAccumulator& a = *p.so_far;
          bar.Update(p.chunks_done, p.chunks, p.seconds,
                     "ppl " + Fixed(a.model.Perplexity(), 4) + " (reference " +
                         Fixed(a.reference.Perplexity(), 4) + ")  KL " +
                         Fixed(a.sum_kl / a.count(), 6) + "  " +
                         Fixed(p.chunks_done * per_chunk / p.seconds, 1) + " tok/s per model");
        });
    const eval::KlSummary& s = r.summary;
    const double tokens_per_s = r.seconds > 0 ? r.tokens_evaluated / r.seconds : 0.0;
    out = {{"perplexity", s.ppl_model.mean},
           {"stderr", s.ppl_model.error},
           {"reference_perplexity", s.ppl_reference.mean},
           {"reference_stderr", s.ppl_reference.error},
           {"ln_ppl_ratio", ToJson(s.ln_ppl_ratio)},
           {"ppl_ratio", ToJson(s.ppl_ratio)},
           {"ppl_difference", ToJson(s.ppl_difference)},
           {"nll_correlation", s.nll_correlation},
           {"kl_divergence", KlJson(s)},
           {"top1_agreement", ToJson(s.top1_agreement)},
           {"delta_p_rms", ToJson(s.dp_rms)},
           {"tokens", r.tokens_evaluated},
           {"scored_tokens", s.tokens},
           {"chunks", r.chunks},
           {"ctx", r.context},
           {"seconds", r.seconds},
           {"tokens_per_s", tokens_per_s}};
    if (!f.json) {
      PrintKlSummary(s);
      std::printf("\n%zu tokens (%zu scored) through each model in %.1f s: %.2f tokens/s\n",
                  r.tokens_evaluated, s.tokens, r.seconds, tokens_per_s);
    }
  }
  if (f.json) std::printf("%s\n", out.dump(2).c_str());
  return 0;
}

}  // namespace

void AddPerplexityCommand(CLI::App& app, RunFunction& run) {
  auto f = std::make_shared<PerplexityFlags>();
  CLI::App* cmd = app.add_subcommand(
      "perplexity",
      "Perplexity of a text as llama-perplexity computes it; KL divergence from a "
      "reference model");
  cmd->add_option("--model", f->model, "Model directory or .gguf file")->required();
  cmd->add_option("-f,--file", f->file, "Text file")->required();
  cmd->add_option("-c,--ctx", f->options.context, "Tokens per chunk")->capture_default_str();
  cmd->add_option("--chunks", f->options.max_chunks, "Chunks to score (0: all whole chunks)")
      ->capture_default_str();
  cmd->add_option("--parallel", f->options.parallel, "Chunks in the engine at once")
      ->capture_default_str();
  cmd->add_option("--reference-model", f->reference_model,
                  "Also run this model (the unquantized one) and report the KL divergence of "
                  "--model from it, both perplexities and their difference");
  cmd->add_option("--tokenizer", f->tokenizer,
                  "tokenizer.json / tokenizer.model (default: the model's own)");
  cmd->add_flag("--json", f->json, "Print the final figures as one JSON object");
  cmd->add_option("-t,--threads", f->threads, "Worker threads per model (default: all)");
  AddExactQuantFlag(*cmd, f->exact_quant);
  cmd->callback([f, &run] { run = [f] { return RunPerplexity(*f); }; });
}

}  // namespace gemma::cli
