#include "model/weights.h"

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <set>

#include "base/error.h"
#include "base/printable.h"
#include "io/safetensors_checkpoint.h"

namespace gemma {
namespace {

WeightMatrix ToMatrix(const TensorView& view) {
  const size_t rows = static_cast<size_t>(view.shape[0]);
  const size_t cols = static_cast<size_t>(view.shape[1]);
  return WeightMatrix{.dtype = view.dtype,
                      .data = view.bytes.data(),
                      .rows = rows,
                      .cols = cols,
                      .row_bytes = ByteSize(view.dtype, cols)};
}

std::vector<float> ToNormScale(const TensorView& view, NormStorage storage) {
  const size_t n = static_cast<size_t>(view.shape[0]);
  std::vector<float> scale(n);
  const WeightMatrix as_row{.dtype = view.dtype,
                            .data = view.bytes.data(),
                            .rows = 1,
                            .cols = n,
                            .row_bytes = view.bytes.size()};
  DequantizeRow(as_row, 0, scale.data());
  // Gemma quirk: RMSNorm multiplies by (1 + w). Fold the 1 in once here, in float32 as the
  // reference does, unless the file already stores 1 + w (llama.cpp's GGUF).
  if (storage == NormStorage::kWeight) {
    for (float& s : scale) s = 1.0f + s;
  }
  return scale;
}

}  // namespace

void SetQuantDot(ModelWeights& weights, QuantDot dot) {
  weights.embedding.quant_dot = dot;
  for (LayerWeights& layer : weights.layers) {
    for (WeightMatrix* m :
         {&layer.q, &layer.k, &layer.v, &layer.o, &layer.gate, &layer.up, &layer.down}) {
      m->quant_dot = dot;
    }
  }
}

uint64_t ModelWeights::WeightBytes() const {
  auto matrix = [](const WeightMatrix& m) { return static_cast<uint64_t>(m.rows) * m.row_bytes; };
  uint64_t total = matrix(embedding) + final_norm_scale.size() * sizeof(float);
  for (const LayerWeights& l : layers) {
    total += matrix(l.q) + matrix(l.k) + matrix(l.v) + matrix(l.o) + matrix(l.gate) + matrix(l.up) +
             matrix(l.down);
    total += (l.attn_norm_scale.size() + l.ffn_norm_scale.size()) * sizeof(float);
  }
  return total;
}

ModelWeights BindWeights(const ModelConfig& config, const WeightSource& source) {
  ModelWeights weights;
  weights.config = config;
  weights.origin = source.origin;
  weights.storage = source.storage;
  weights.layers.resize(static_cast<size_t>(config.num_hidden_layers));

  std::vector<std::string> problems;
  std::set<std::string> expected_names;
  ForEachTensor(config, [&](const TensorSpec& spec) {
    const std::string& name = source.use_gguf_names ? spec.gguf_name : spec.hf_name;
    expected_names.insert(name);
    const std::optional<TensorView> view = source.find(name);
    if (!view) {
      problems.push_back(StrCat("missing tensor '", name, "'"));
      return;
    }
    if (view->shape != spec.shape) {
      problems.push_back(StrCat("tensor '", name, "' has shape ", ShapeToString(view->shape),
                                " but the config implies ", ShapeToString(spec.shape)));
      return;
    }
    if (spec.shape.size() == 2 && spec.shape[1] % Traits(view->dtype).block_elements != 0) {
      problems.push_back(StrCat("tensor '", name, "' rows of ", spec.shape[1],
                                " values do not fill whole ", DTypeName(view->dtype), " blocks"));
      return;
    }
    LayerWeights* layer = spec.layer >= 0 ? &weights.layers[spec.layer] : nullptr;
    switch (spec.role) {
      case TensorRole::kEmbedding:
        weights.embedding = ToMatrix(*view);
        break;
      case TensorRole::kAttnNorm:
        layer->attn_norm_scale = ToNormScale(*view, source.norm_storage);
        break;
      case TensorRole::kQ:
        layer->q = ToMatrix(*view);
        break;
      case TensorRole::kK:
        layer->k = ToMatrix(*view);
        break;
      case TensorRole::kV:
        layer->v = ToMatrix(*view);
        break;
      case TensorRole::kO:
        layer->o = ToMatrix(*view);
        break;
      case TensorRole::kFfnNorm:
        layer->ffn_norm_scale = ToNormScale(*view, source.norm_storage);
        break;
      case TensorRole::kGate:
        layer->gate = ToMatrix(*view);
        break;
      case TensorRole::kUp:
        layer->up = ToMatrix(*view);
        break;
      case TensorRole::kDown:
        layer->down = ToMatrix(*view);
        break;
      case TensorRole::kFinalNorm:
        weights.final_norm_scale = ToNormScale(*view, source.norm_storage);
        break;
      case TensorRole::kCount:
        break;
    }
  });
  for (const std::string& name : source.all_names) {
    // lm_head.weight is accepted when present: some exports write the tied matrix twice.
    if (expected_names.count(name) == 0 && name != "lm_head.weight" && name != "output.weight") {
      problems.push_back(StrCat("unexpected tensor '", PrintableName(name), "'"));
    }
  }
  if (!problems.empty()) {
    // One line (the error contract): the problems separated by "; ".
    std::string message = StrCat(source.origin, ": ", problems.size(),
                                 " problem(s) binding the weights to the config: ");
    const size_t shown = std::min<size_t>(problems.size(), 20);
    for (size_t i = 0; i < shown; ++i) message += (i > 0 ? "; " : "") + problems[i];
    if (shown < problems.size()) message += StrCat("; ... and ", problems.size() - shown, " more");
    throw Error(ErrorCode::kShape, message);
  }
  return weights;
}

std::string ConfigPathFor(const std::string& path) {
  namespace fs = std::filesystem;
  const fs::path root(path);
  std::error_code ec;
  const fs::path dir = fs::is_directory(root, ec) ? root : root.parent_path();
  return (dir / "config.json").string();
}

ModelWeights BindSafetensorsCheckpoint(std::shared_ptr<const SafetensorsCheckpoint> checkpoint,
                                       const ModelConfig& config, const std::string& origin) {
  WeightSource source;
  source.origin = origin;
  source.norm_storage = NormStorage::kWeight;
  source.find = [ckpt = checkpoint.get()](const std::string& name) -> std::optional<TensorView> {
    const LocatedTensor* t = ckpt->Find(name);
    if (t == nullptr) return std::nullopt;
    return t->view;
  };
  for (const LocatedTensor& t : checkpoint->tensors()) source.all_names.push_back(t.name);
  source.storage = std::move(checkpoint);
  return BindWeights(config, source);
}

ModelWeights LoadSafetensorsModel(const std::string& path) {
  // The checkpoint first: its errors say what is wrong with the path itself.
  auto checkpoint =
      std::make_shared<const SafetensorsCheckpoint>(SafetensorsCheckpoint::Open(path));
  const ModelConfig config = LoadConfigFile(ConfigPathFor(path));
  return BindSafetensorsCheckpoint(std::move(checkpoint), config, path);
}

}  // namespace gemma
