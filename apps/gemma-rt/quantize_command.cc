// gemma-rt quantize --model DIR|FILE --type q4_k_m --out FILE.gguf: a GGUF file that
// llama.cpp loads (its names, metadata, per-tensor types and quantizers), written tensor by
// tensor with a progress bar on stderr.
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <string>

#include "apps/gemma-rt/command.h"
#include "apps/gemma-rt/error_output.h"
#include "base/error.h"
#include "io/atomic_file.h"
#include "io/gguf.h"
#include "model/gguf_model.h"
#include "model/gguf_model_quantize.h"
#include "model/model_loader.h"
#include "tokenizer/tokenizer.h"

#include <sentencepiece_processor.h>

namespace gemma::cli {
namespace {

struct QuantizeCommandOptions {
  std::string model;
  std::string type;
  std::string out;
  std::string name;
  int threads = 0;
};

// tokenizer.ggml.* keys for a Hugging Face directory, as convert_hf_to_gguf.py writes them
// for Gemma: from tokenizer.model (SentencePiece: pieces, scores, types) when it is there.
// Otherwise from any tokenizer gemma-rt reads (tokenizer.json), whose interface gives the
// pieces only: types are then derived from the spelling and scores are -id.
std::vector<GgufKeyValue> TokenizerKeysFor(const std::string& model_path,
                                           const ModelConfig& config) {
  namespace fs = std::filesystem;
  const fs::path p(model_path);
  const fs::path dir = fs::is_directory(p) ? p : p.parent_path();
  GgufVocabulary v;
  v.model = "llama";
  v.bos_id = config.bos_token_id;
  v.eos_id = config.eos_token_id;
  v.pad_id = config.pad_token_id;
  auto add = [&](const std::string& piece, float score, GgufTokenType type) {
    if (type == GgufTokenType::kUnknown) v.unk_id = static_cast<int32_t>(v.pieces.size());
    v.pieces.push_back(piece);
    v.scores.push_back(score);
    v.types.push_back(static_cast<int32_t>(type));
  };
  // llama.cpp (and gemma-rt's generation) need one piece per row of the embedding: a file
  // with another count would be written fine and then fail or mislead.
  const auto check_size = [&](const fs::path& path) {
    if (static_cast<int64_t>(v.pieces.size()) != config.vocab_size) {
      Fail(ErrorCode::kInvalidArgument, path.string(), ": ", v.pieces.size(),
           " pieces, but the model's vocabulary has ", config.vocab_size,
           " rows; the GGUF tokenizer must match the model");
    }
  };
  const fs::path spm_path = dir / "tokenizer.model";
  if (fs::exists(spm_path)) {
    sentencepiece::SentencePieceProcessor spm;
    if (!spm.Load(spm_path.string()).ok()) {
      Fail(ErrorCode::kFormat, spm_path.string(), ": not a SentencePiece model");
    }
    for (int id = 0; id < spm.GetPieceSize(); ++id) {
      GgufTokenType type = GgufTokenType::kNormal;
      if (spm.IsUnknown(id))
        type = GgufTokenType::kUnknown;
      else if (spm.IsControl(id))
        type = GgufTokenType::kControl;
      else if (spm.IsUnused(id))
        type = GgufTokenType::kUnused;
      else if (spm.IsByte(id))
        type = GgufTokenType::kByte;
      add(spm.IdToPiece(id), spm.GetScore(id), type);
    }
    check_size(spm_path);
    return VocabularyGgufMetadata(v);
  }
  std::unique_ptr<Tokenizer> tokenizer = Tokenizer::FromModelDirectory(dir.string());
  if (tokenizer == nullptr) return {};
  for (int32_t id = 0; id < tokenizer->vocab_size(); ++id) {
    const std::string piece(tokenizer->Piece(id));
    GgufTokenType type = GgufTokenType::kNormal;
    if (piece == "<unk>") {
      type = GgufTokenType::kUnknown;
    } else if (piece == "<pad>" || piece == "<eos>" || piece == "<bos>") {
      type = GgufTokenType::kControl;
    } else if (piece.size() == 6 && piece.starts_with("<0x") && piece.ends_with(">")) {
      type = GgufTokenType::kByte;
    } else if (piece.size() > 2 && piece.front() == '<' && piece.back() == '>') {
      type = GgufTokenType::kUserDefined;
    }
    add(piece, type == GgufTokenType::kNormal ? -static_cast<float>(id) : 0.0f, type);
  }
  check_size(fs::exists(dir / "tokenizer.json") ? dir / "tokenizer.json" : dir);
  return VocabularyGgufMetadata(v);
}

void PrintProgress(const QuantizeProgress& p) {
  constexpr int kWidth = 30;
  const int filled = static_cast<int>(kWidth * p.done / std::max<size_t>(p.total, 1));
  std::fprintf(stderr, "\r[%s%s] %zu/%zu %-28.*s %-5s", std::string(filled, '#').c_str(),
               std::string(kWidth - filled, '.').c_str(), p.done, p.total,
               static_cast<int>(p.tensor.size()), p.tensor.data(),
               std::string(DTypeName(p.dtype)).c_str());
  if (p.done == p.total) std::fputc('\n', stderr);
  SetStderrLineOpen(p.done != p.total);
  std::fflush(stderr);
}

int RunQuantize(const QuantizeCommandOptions& options) {
  const auto start = std::chrono::steady_clock::now();
  RemoveLeftovers(RemoveStaleTemporaryFiles(options.out));
  std::vector<GgufKeyValue> tokenizer_keys;
  if (!IsGgufModelPath(options.model)) {
    tokenizer_keys = TokenizerKeysFor(options.model, LoadModelWeights(options.model).config);
  }
  const QuantizeSummary summary = QuantizeModelToGguf({.input = options.model,
                                                       .output = options.out,
                                                       .type = options.type,
                                                       .tokenizer_metadata = tokenizer_keys,
                                                       .model_name = options.name,
                                                       .threads = options.threads,
                                                       .progress = PrintProgress});
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::printf("wrote %s: %zu tensors, %.1f MiB (input weights %.1f MiB) in %.1f s%s\n",
              options.out.c_str(), summary.tensors, summary.output_file_bytes / 1048576.0,
              summary.input_weight_bytes / 1048576.0, seconds,
              tokenizer_keys.empty() && !IsGgufModelPath(options.model)
                  ? " (no tokenizer in the input: none written)"
                  : "");
  return 0;
}

}  // namespace

void AddQuantizeCommand(CLI::App& app, RunFunction& run) {
  auto options = std::make_shared<QuantizeCommandOptions>();
  CLI::App* cmd = app.add_subcommand(
      "quantize", "Write a GGUF file (llama.cpp's format, types and quantizers) from a model");
  cmd->add_option("--model", options->model, "Hugging Face directory or .gguf file")->required();
  cmd->add_option("--type", options->type,
                  "q8_0, q4_0, q4_1, q5_0, q5_1, q4_k_s, q4_k_m, q5_k_s, q5_k_m, q6_k, f16, "
                  "bf16 or f32")
      ->required();
  cmd->add_option("--out", options->out, "Output .gguf file")->required();
  cmd->add_option("--name", options->name, "general.name (default: the model directory's name)");
  cmd->add_option("--threads", options->threads, "Threads (0: all)")->capture_default_str();
  cmd->callback([&run, options] { run = [options] { return RunQuantize(*options); }; });
}

}  // namespace gemma::cli
