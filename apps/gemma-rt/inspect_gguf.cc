// gemma-rt inspect on a .gguf file: the model it holds (checked the way `generate` loads it),
// every metadata key, the tokenizer it carries and every tensor with its type. Names, keys
// and string values come from the file: printed escaped and cut (base/printable.h).
#include <cstdio>
#include <map>
#include <nlohmann/json.hpp>
#include <string>

#include "apps/gemma-rt/inspect.h"
#include "base/error.h"
#include "base/printable.h"
#include "io/gguf.h"
#include "model/gguf_model.h"
#include "model/model_loader.h"

namespace gemma::cli {
namespace {

constexpr size_t kShownStringBytes = 1024;  // longer string values are cut in the output

// A metadata value for --json: numbers, bools and strings as themselves, arrays as their
// element type and count (a tokenizer's 256,000 pieces are the tokenizer's business).
nlohmann::json ValueJson(const GgufValue& v) {
  if (v.is_array()) {
    return {{"array", GgufTypeName(v.element_type())}, {"count", v.array_size()}};
  }
  switch (v.type()) {
    case GgufType::kString: {
      const std::string& s = v.ToString("");
      return s.size() <= kShownStringBytes ? s : s.substr(0, kShownStringBytes) + "...";
    }
    case GgufType::kBool:
      return v.ToBool("");
    case GgufType::kFloat32:
    case GgufType::kFloat64:
      return v.ToDouble("");
    case GgufType::kUint64:
      return v.ToUint64("");
    default:
      return v.ToInt64("");
  }
}

std::string TokenizerSummary(const GgufVocabulary& v) {
  if (v.pieces.empty()) return "none (give --prompt-ids and --print-ids to generate)";
  return StrCat(PrintableName(v.model), ", ", v.pieces.size(), " pieces",
                v.scores.empty() ? "" : ", scores", v.types.empty() ? "" : ", types", "; <bos> ",
                v.bos_id, ", <eos> ", v.eos_id, ", <unk> ", v.unk_id, ", <pad> ", v.pad_id,
                ", add_bos ", v.add_bos ? "true" : "false");
}

}  // namespace

int InspectGguf(const std::string& path, bool json) {
  // Loading binds every tensor to the config, as generate does: a file that cannot run
  // fails here with the reason.
  const ModelWeights weights = LoadModelWeights(path);
  const GgufFile file = GgufFile::Open(path);
  const GgufHeader& h = file.header();
  const GgufVocabulary vocab = ReadGgufVocabulary(h, path);

  std::map<std::string, uint64_t> bytes_per_dtype;
  uint64_t data_bytes = 0;
  for (const GgufTensorInfo& t : h.tensors) {
    bytes_per_dtype[std::string(DTypeName(t.dtype))] += t.bytes;
    data_bytes += t.bytes;
  }

  if (json) {
    nlohmann::json out;
    out["model"] = path;
    out["format"] = {{"name", "GGUF"},
                     {"version", h.version},
                     {"alignment", h.alignment},
                     {"data_start", h.data_start}};
    out["config"] = nlohmann::json::parse(ConfigToJson(weights.config));
    out["parameters"] = weights.config.ParameterCount();
    out["tensor_data_bytes"] = data_bytes;
    out["bytes_per_dtype"] = bytes_per_dtype;
    nlohmann::json metadata = nlohmann::json::array();
    for (const GgufKeyValue& kv : h.metadata) {
      metadata.push_back({{"key", kv.key}, {"value", ValueJson(kv.value)}});
    }
    out["metadata"] = metadata;
    out["tokenizer"] =
        vocab.pieces.empty()
            ? nlohmann::json(nullptr)
            : nlohmann::json{{"model", vocab.model},    {"pieces", vocab.pieces.size()},
                             {"bos_id", vocab.bos_id},  {"eos_id", vocab.eos_id},
                             {"unk_id", vocab.unk_id},  {"pad_id", vocab.pad_id},
                             {"add_bos", vocab.add_bos}};
    nlohmann::json tensors = nlohmann::json::array();
    for (const GgufTensorInfo& t : h.tensors) {
      tensors.push_back({{"name", t.name},
                         {"dtype", DTypeName(t.dtype)},
                         {"shape", t.HfShape()},
                         {"bytes", t.bytes},
                         {"offset", h.data_start + t.offset}});
    }
    out["tensors"] = tensors;
    // Strings from the file may hold bytes that are not UTF-8: replaced, not an exception.
    PrintLine(out.dump(2, ' ', false, nlohmann::json::error_handler_t::replace));
    return 0;
  }

  PrintLine(StrCat("model        ", path));
  PrintLine(StrCat("format       GGUF version ", h.version, ", ", h.metadata.size(),
                   " metadata keys, ", h.tensors.size(), " tensors, alignment ", h.alignment));
  PrintConfigLines(weights.config);
  PrintLine(StrCat("tokenizer    ", TokenizerSummary(vocab)));
  PrintLine(StrCat("tensor data  ", data_bytes, " bytes from byte ", h.data_start));
  for (const auto& [dtype, bytes] : bytes_per_dtype) {
    std::printf("bytes %-6s %llu\n", dtype.c_str(), static_cast<unsigned long long>(bytes));
  }
  PrintLine("metadata");
  for (const GgufKeyValue& kv : h.metadata) {
    const std::string key = PrintableName(kv.key, 60);
    PrintLine(StrCat("  ", key, std::string(key.size() < 44 ? 44 - key.size() : 1, ' '),
                     kv.value.Summary()));
  }
  char line[256];
  std::snprintf(line, sizeof(line), "%-56s %-5s %-16s %s", "tensor", "type", "shape", "offset");
  PrintLine(line);
  for (const GgufTensorInfo& t : h.tensors) {
    std::snprintf(line, sizeof(line), "%-56s %-5s %-16s %llu", PrintableName(t.name, 100).c_str(),
                  std::string(DTypeName(t.dtype)).c_str(), ShapeToString(t.HfShape()).c_str(),
                  static_cast<unsigned long long>(h.data_start + t.offset));
    PrintLine(line);
  }
  return 0;
}

}  // namespace gemma::cli
