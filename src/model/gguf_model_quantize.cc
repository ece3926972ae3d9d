#include "model/gguf_model_quantize.h"

#include <algorithm>
#include <array>
#include <cctype>
#include <filesystem>

#include "base/error.h"
#include "base/threads.h"
#include "io/gguf_writer.h"
#include "kernels/quant/quantize.h"
#include "model/gguf_model.h"
#include "model/model_loader.h"
#include "model/weights.h"

namespace gemma {
namespace {

constexpr std::array<GgufFileType, 13> kFileTypes = {{
    {"f32", 0, DType::kF32},
    {"f16", 1, DType::kF16},
    {"q4_0", 2, DType::kQ4_0},
    {"q4_1", 3, DType::kQ4_1},
    {"q8_0", 7, DType::kQ8_0},
    {"q5_0", 8, DType::kQ5_0},
    {"q5_1", 9, DType::kQ5_1},
    {"q4_k_s", 14, DType::kQ4_K},
    {"q4_k_m", 15, DType::kQ4_K},
    {"q5_k_s", 16, DType::kQ5_K},
    {"q5_k_m", 17, DType::kQ5_K},
    {"q6_k", 18, DType::kQ6_K},
    {"bf16", 32, DType::kBF16},
}};

// llama.cpp's use_more_bits: the first and last eighth of the layers, and every third
// layer in between, get more bits for attn_v / ffn_down.
bool UseMoreBits(int64_t i, int64_t n) {
  return i < n / 8 || i >= 7 * n / 8 || (i - n / 8) % 3 == 2;
}

// The row length a tensor's type must divide (its ne[0]).
int64_t RowLength(const TensorSpec& spec) { return spec.shape.back(); }

// llama.cpp's fallback for K types on rows that are not whole super-blocks.
DType Compatible(DType type, int64_t row) {
  if (row % 256 == 0) return type;
  switch (type) {
    case DType::kQ4_K:
      return DType::kQ5_0;
    case DType::kQ5_K:
      return DType::kQ5_1;
    case DType::kQ6_K:
      return DType::kQ8_0;
    default:
      return type;
  }
}

// llama-quantize's tensor order: tensors outside the blocks first, then block by block,
// names sorted within each group.
std::vector<TensorSpec> LlamaQuantizeOrder(std::vector<TensorSpec> specs) {
  std::sort(specs.begin(), specs.end(), [](const TensorSpec& a, const TensorSpec& b) {
    if (a.layer != b.layer) return a.layer < b.layer;
    return a.gguf_name < b.gguf_name;
  });
  return specs;
}

const WeightMatrix& MatrixOf(const ModelWeights& w, const TensorSpec& spec) {
  const LayerWeights* l = spec.layer >= 0 ? &w.layers[spec.layer] : nullptr;
  switch (spec.role) {
    case TensorRole::kEmbedding:
      return w.embedding;
    case TensorRole::kQ:
      return l->q;
    case TensorRole::kK:
      return l->k;
    case TensorRole::kV:
      return l->v;
    case TensorRole::kO:
      return l->o;
    case TensorRole::kGate:
      return l->gate;
    case TensorRole::kUp:
      return l->up;
    case TensorRole::kDown:
      return l->down;
    default:
      Fail(ErrorCode::kInternal, "MatrixOf: ", spec.gguf_name, " is not a matrix");
  }
}

const std::vector<float>& NormOf(const ModelWeights& w, const TensorSpec& spec) {
  switch (spec.role) {
    case TensorRole::kAttnNorm:
      return w.layers[spec.layer].attn_norm_scale;
    case TensorRole::kFfnNorm:
      return w.layers[spec.layer].ffn_norm_scale;
    case TensorRole::kFinalNorm:
      return w.final_norm_scale;
    default:
      Fail(ErrorCode::kInternal, "NormOf: ", spec.gguf_name, " is not a norm");
  }
}

// Quantizes every row of `m` to `type`, rows split across threads.
std::vector<std::byte> QuantizeMatrix(const WeightMatrix& m, DType type, int threads) {
  const size_t out_row = ByteSize(type, m.cols);
  std::vector<std::byte> out(out_row * m.rows);
  auto work = [&](size_t begin, size_t end) {
    std::vector<float> row(m.cols);  // [cols]
    for (size_t r = begin; r < end; ++r) {
      DequantizeRow(m, r, row.data());
      quant::QuantizeRow(type, row.data(), out.data() + r * out_row, m.cols);
    }
  };
  const size_t n = static_cast<size_t>(std::max(1, threads));
  RunOnThreads(static_cast<int>(n), [&](int t) { work(m.rows * t / n, m.rows * (t + 1) / n); });
  return out;
}

}  // namespace

GgufFileType ParseGgufFileType(std::string_view name) {
  std::string lower(name);
  for (char& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  for (const GgufFileType& t : kFileTypes) {
    if (t.name == lower) return t;
  }
  std::string known;
  for (const GgufFileType& t : kFileTypes) known += StrCat(known.empty() ? "" : ", ", t.name);
  Fail(ErrorCode::kInvalidArgument, "unknown quantization type '", name, "' (expected one of ",
       known, ")");
}

DType LlamaQuantizeTensorType(const GgufFileType& ft, const TensorSpec& spec, int64_t layers) {
  if (spec.is_norm) return DType::kF32;
  if (!IsQuantized(ft.base)) return ft.base;
  const int64_t row = RowLength(spec);
  if (spec.role == TensorRole::kEmbedding) {
    // With tied embeddings llama.cpp quantizes token_embd as the output tensor.
    if (row % 256 != 0) return DType::kQ8_0;
    return ft.base == DType::kQ8_0 ? DType::kQ8_0 : DType::kQ6_K;
  }
  DType type = ft.base;
  const bool k_m = ft.name == "q4_k_m" || ft.name == "q5_k_m";
  if (spec.role == TensorRole::kV) {
    if (k_m && UseMoreBits(spec.layer, layers)) type = DType::kQ6_K;
    if (ft.name == "q4_k_s" && spec.layer < 4) type = DType::kQ5_K;
  } else if (spec.role == TensorRole::kDown) {
    if (k_m && UseMoreBits(spec.layer, layers)) type = DType::kQ6_K;
    if (ft.name == "q4_k_s" && spec.layer < layers / 8) type = DType::kQ5_K;
  }
  return Compatible(type, row);
}

QuantizeSummary QuantizeModelToGguf(const QuantizeOptions& options) {
  const GgufFileType file_type = ParseGgufFileType(options.type);
  const ModelWeights weights = LoadModelWeights(options.input);
  const ModelConfig& config = weights.config;
  const int threads = ResolveThreadCount(options.threads, "--threads");

  // Metadata: a GGUF input's keys are kept in order (its tokenizer included); like
  // llama-quantize, quantization_version and file_type are then set, which moves them last.
  std::vector<GgufKeyValue> metadata;
  if (IsGgufModelPath(options.input)) {
    const GgufFile input = GgufFile::Open(options.input);
    for (const GgufKeyValue& kv : input.header().metadata) {
      if (kv.key != "general.file_type" && kv.key != "general.quantization_version" &&
          kv.key != "general.alignment") {
        metadata.push_back(kv);
      }
    }
  } else {
    std::string name = options.model_name;
    if (name.empty()) {
      std::filesystem::path p(options.input);
      name = (std::filesystem::is_directory(p) ? p : p.parent_path()).filename().string();
    }
    metadata = GemmaGgufMetadata(config, name);
    metadata.insert(metadata.end(), options.tokenizer_metadata.begin(),
                    options.tokenizer_metadata.end());
  }
  metadata.push_back({"general.quantization_version", GgufValue::Uint32(2)});
  metadata.push_back({"general.file_type", GgufValue::Uint32(file_type.llama_ftype)});

  const std::vector<TensorSpec> specs = LlamaQuantizeOrder(TensorTable(config));
  std::vector<GgufTensorDecl> decls;
  for (const TensorSpec& spec : specs) {
    decls.push_back({.name = spec.gguf_name,
                     .dtype = LlamaQuantizeTensorType(file_type, spec, config.num_hidden_layers),
                     .shape = spec.shape});
  }

  QuantizeSummary summary;
  summary.input_weight_bytes = weights.WeightBytes();
  GgufWriter writer(options.output, metadata, decls);
  for (size_t i = 0; i < specs.size(); ++i) {
    const TensorSpec& spec = specs[i];
    const DType type = decls[i].dtype;
    if (spec.is_norm) {
      // Scales hold 1 + w already: exactly what llama.cpp's converter stores.
      const std::vector<float>& scale = NormOf(weights, spec);
      writer.WriteTensor(spec.gguf_name, std::as_bytes(std::span(scale)));
    } else {
      const std::vector<std::byte> bytes = QuantizeMatrix(MatrixOf(weights, spec), type, threads);
      writer.WriteTensor(spec.gguf_name, bytes);
    }
    if (options.progress) {
      options.progress(
          {.done = i + 1, .total = specs.size(), .tensor = spec.gguf_name, .dtype = type});
    }
  }
  // Every file written must load: the finished file is loaded the way generate loads it
  // before it gets its final name.
  writer.Finish([&](const std::string& temporary_path) {
    try {
      LoadGgufModel(temporary_path);
      ReadGgufVocabulary(GgufFile::Open(temporary_path).header(), temporary_path);
    } catch (const Error& e) {
      Fail(ErrorCode::kInternal, options.output,
           ": the file written does not load (a bug in gemma-rt's quantizer): ", e.what());
    }
  });
  summary.tensors = specs.size();
  summary.output_file_bytes = std::filesystem::file_size(options.output);
  return summary;
}

}  // namespace gemma
