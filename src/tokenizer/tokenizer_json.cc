#include "tokenizer/tokenizer_json.h"

#include <simdjson.h>

#include <optional>
#include <utility>

#include "base/error.h"
#include "base/printable.h"
#include "io/input_file.h"
#include "tokenizer/pieces.h"

namespace gemma {
namespace {

using simdjson::ondemand::json_type;
using simdjson::ondemand::object;
using simdjson::ondemand::value;

bool IsNull(value v) { return v.type() == json_type::null; }

std::string_view StringField(object obj, std::string_view key) {
  for (auto field : obj) {
    if (field.unescaped_key().value() == key) return field.value().get_string().value();
  }
  return {};
}

// Gemma's normalizer is exactly Replace(String " ", "▁"); returns whether it is present.
bool ReadNormalizer(value normalizer, const std::string& name) {
  if (IsNull(normalizer)) return false;
  std::string type, pattern, content;
  for (auto field : normalizer.get_object()) {
    const std::string_view key = field.unescaped_key().value();
    if (key == "type") {
      type = std::string(field.value().get_string().value());
    } else if (key == "pattern") {
      pattern = std::string(StringField(field.value().get_object(), "String"));
    } else if (key == "content") {
      content = std::string(field.value().get_string().value());
    }
  }
  if (type != "Replace" || pattern != " " || content != kUnderline) {
    Fail(ErrorCode::kUnsupported, name, ": normalizer ", PrintableName(type), " '",
         PrintableName(pattern), "' -> '", PrintableName(content),
         "' is not supported (gemma-rt reads Gemma's Replace ' ' -> '▁' only)");
  }
  return true;
}

// What model.vocab and model.merges hold, read with as few copies as possible: Gemma's file
// has 256k pieces and 580k merges, and string copies of them took 45 MB while parsing.
// Strings that simdjson returns stay valid while its parser lives (they are unescaped into
// one buffer), so pieces are copied once, into the PieceTable, and merges become ids.
struct RawModel {
  PieceTable pieces;  // (vocab,) by id, once model.vocab is read
  PieceIndex id_of;   // over `pieces`; a RawModel does not move while it is filled
  bool has_vocab = false;
  std::vector<MergeTable::Rule> merges;  // by rank, resolved as read when the vocab came first
  // Merges met before model.vocab, as views, resolved when it comes (a file written with
  // sorted keys has "merges" first); the parser outlives them.
  std::vector<std::pair<std::string_view, std::string_view>> pending_merges;
  // The first merge piece not in the vocabulary (rank, piece), reported once the whole file
  // is read, so that an unsupported model.type is still the error a WordPiece file gets.
  std::optional<std::pair<size_t, std::string>> unknown_merge_piece;
  std::string unk_token;
  bool byte_fallback = false;

  // Adds the merge of rank merges.size(), or records the first piece not in the vocabulary.
  void Resolve(std::string_view left, std::string_view right, std::string& joined) {
    joined.assign(left).append(right);
    const std::string_view parts[3] = {left, right, joined};
    int32_t ids[3];
    for (int i = 0; i < 3; ++i) {
      ids[i] = id_of.Find(parts[i]);
      if (ids[i] < 0) {
        if (!unknown_merge_piece) unknown_merge_piece.emplace(merges.size(), parts[i]);
        ids[i] = 0;  // a placeholder: the file is refused once parsing is done
      }
    }
    merges.push_back({ids[0], ids[1], ids[2]});
  }
};

// `max_id` bounds ids by the file's size (an entry takes at least 4 bytes, "":0), so that
// a tiny file cannot make the vector of pieces grow to millions of entries.
void ReadVocab(object vocab, const std::string& name, int64_t max_id, RawModel& raw) {
  // A second "vocab" key would meet pieces the first one sized (found by the fuzzer: `seen`
  // then missed them); JSON leaves duplicate keys undefined, so refuse them.
  if (raw.has_vocab) Fail(ErrorCode::kFormat, name, ": model.vocab appears twice");
  std::vector<std::string_view> by_id;  // views into the parser's strings
  std::vector<bool> seen;
  size_t count = 0;
  for (auto field : vocab) {
    const std::string_view piece = field.unescaped_key().value();
    const int64_t id = field.value().get_int64().value();
    if (id < 0 || id > (int64_t{1} << 24) || id > max_id) {
      Fail(ErrorCode::kFormat, name, ": model.vocab id ", id, " of '", PrintableName(piece),
           "' is out of range");
    }
    if (static_cast<size_t>(id) >= by_id.size()) {
      by_id.resize(id + 1);
      seen.resize(id + 1);
    }
    if (seen[id]) Fail(ErrorCode::kFormat, name, ": model.vocab has id ", id, " twice");
    seen[id] = true;
    by_id[id] = piece;
    ++count;
  }
  if (count != by_id.size()) {
    Fail(ErrorCode::kFormat, name, ": model.vocab has ", count, " entries but ids up to ",
         by_id.size() - 1, "; ids must be 0..n-1 without gaps");
  }
  raw.pieces = PieceTable(by_id);
  raw.id_of = PieceIndex(&raw.pieces);
  raw.has_vocab = true;
  // Merges read before the vocabulary (a file written with sorted keys) are resolved now.
  std::string joined;
  raw.merges.reserve(raw.merges.size() + raw.pending_merges.size());
  for (const auto& [left, right] : raw.pending_merges) raw.Resolve(left, right, joined);
  raw.pending_merges = {};
}

void ReadMerges(simdjson::ondemand::array merges, const std::string& name, RawModel& raw) {
  std::string joined;
  size_t rank = 0;
  for (auto merge : merges) {
    std::string_view left, right;
    if (merge.type() == json_type::string) {  // "left right"
      const std::string_view text = merge.get_string().value();
      const size_t space = text.find(' ');
      if (space == std::string_view::npos || text.find(' ', space + 1) != std::string_view::npos) {
        Fail(ErrorCode::kFormat, name, ": merge ", rank, " '", PrintableName(text),
             "' is not two pieces separated by one space");
      }
      left = text.substr(0, space);
      right = text.substr(space + 1);
    } else {  // ["left", "right"] (newer tokenizers versions)
      std::string_view parts[2];
      size_t count = 0;
      for (auto part : merge.get_array()) {
        const std::string_view text = part.get_string().value();
        if (count < 2) parts[count] = text;
        ++count;
      }
      if (count != 2) {
        Fail(ErrorCode::kFormat, name, ": merge ", rank, " has ", count, " parts, expected 2");
      }
      left = parts[0];
      right = parts[1];
    }
    if (raw.has_vocab) {
      raw.Resolve(left, right, joined);
    } else {
      raw.pending_merges.emplace_back(left, right);
    }
    ++rank;
  }
}

void ReadModel(object model, const std::string& name, int64_t max_id, RawModel& raw) {
  std::string type;
  for (auto field : model) {
    const std::string_view key = field.unescaped_key().value();
    value v = field.value();
    if (key == "type") {
      type = std::string(v.get_string().value());
    } else if (key == "vocab") {
      ReadVocab(v.get_object(), name, max_id, raw);
    } else if (key == "merges") {
      ReadMerges(v.get_array(), name, raw);
    } else if (key == "byte_fallback") {
      raw.byte_fallback = v.get_bool().value();
    } else if (key == "unk_token") {
      if (!IsNull(v)) raw.unk_token = std::string(v.get_string().value());
    } else if (key == "continuing_subword_prefix" || key == "end_of_word_suffix") {
      if (!IsNull(v) && !v.get_string().value().empty()) {
        Fail(ErrorCode::kUnsupported, name, ": model.", PrintableName(key), " is not supported");
      }
    } else if (key == "ignore_merges") {
      if (v.get_bool().value()) {
        Fail(ErrorCode::kUnsupported, name, ": model.ignore_merges true is not supported");
      }
    }
  }
  if (type != "BPE") {
    Fail(ErrorCode::kUnsupported, name, ": model.type is '", PrintableName(type),
         "'; gemma-rt reads BPE only");
  }
}

std::vector<AddedToken> ReadAddedTokens(simdjson::ondemand::array tokens, const std::string& name) {
  std::vector<AddedToken> out;
  for (auto token : tokens) {
    AddedToken added{.text = {}, .id = -1};
    for (auto field : token.get_object()) {
      const std::string_view key = field.unescaped_key().value();
      value v = field.value();
      if (key == "id") {
        added.id = static_cast<int32_t>(v.get_int64().value());
      } else if (key == "content") {
        added.text = std::string(v.get_string().value());
      } else if (key == "lstrip" || key == "rstrip" || key == "single_word" ||
                 key == "normalized") {
        // Gemma sets all four to false; honouring them would change where tokens match.
        if (v.get_bool().value()) {
          Fail(ErrorCode::kUnsupported, name, ": added token ", added.id, " sets '",
               PrintableName(key), "', which gemma-rt does not support");
        }
      }
    }
    if (added.id < 0) Fail(ErrorCode::kFormat, name, ": an added token has no id");
    out.push_back(std::move(added));
  }
  return out;
}

BpeModel Assemble(RawModel& raw, std::vector<AddedToken> added, bool space_to_underline,
                  const std::string& name) {
  if (raw.pieces.empty()) Fail(ErrorCode::kFormat, name, ": model.vocab is missing or empty");
  BpeModel model;
  model.space_to_underline = space_to_underline;
  model.byte_fallback = raw.byte_fallback;
  model.added_tokens = std::move(added);
  for (const AddedToken& token : model.added_tokens) {
    if (token.id >= static_cast<int32_t>(raw.pieces.size())) {
      Fail(ErrorCode::kFormat, name, ": added token '", PrintableName(token.text), "' has id ",
           token.id, " past the vocabulary of ", raw.pieces.size());
    }
  }

  if (raw.unknown_merge_piece) {
    Fail(ErrorCode::kFormat, name, ": merge ", raw.unknown_merge_piece->first, " uses '",
         PrintableName(raw.unknown_merge_piece->second), "', which is not in model.vocab");
  }
  model.merges = std::move(raw.merges);
  model.unk_id = raw.unk_token.empty() ? -1 : raw.id_of.Find(raw.unk_token);
  model.bos_id = raw.id_of.Find("<bos>");
  model.eos_id = raw.id_of.Find("<eos>");
  if (model.bos_id < 0 || model.eos_id < 0) {
    Fail(ErrorCode::kFormat, name, ": the vocabulary has no <bos> or no <eos> piece");
  }
  model.pieces = std::move(raw.pieces);  // raw.id_of is not used past here
  return model;
}

BpeModel ParsePadded(simdjson::padded_string_view json, const std::string& name) {
  RawModel raw;
  std::vector<AddedToken> added;
  bool space_to_underline = false;
  bool has_model = false;
  try {
    simdjson::ondemand::parser parser;
    auto doc = parser.iterate(json);
    for (auto field : doc.get_object()) {
      const std::string_view key = field.unescaped_key().value();
      value v = field.value();
      if (key == "model") {
        ReadModel(v.get_object(), name, static_cast<int64_t>(json.length() / 4), raw);
        has_model = true;
      } else if (key == "added_tokens") {
        if (!IsNull(v)) added = ReadAddedTokens(v.get_array(), name);
      } else if (key == "normalizer") {
        space_to_underline = ReadNormalizer(v, name);
      } else if (key == "pre_tokenizer") {
        if (!IsNull(v)) {
          Fail(ErrorCode::kUnsupported, name,
               ": has a pre_tokenizer; gemma-rt reads Gemma's tokenizer.json, which has none");
        }
      }
    }
  } catch (const simdjson::simdjson_error& e) {
    Fail(ErrorCode::kFormat, name, ": not a valid tokenizer.json (", e.what(), ")");
  }
  if (!has_model) Fail(ErrorCode::kFormat, name, ": not a tokenizer.json (no \"model\" object)");
  return Assemble(raw, std::move(added), space_to_underline, name);
}

}  // namespace

BpeModel ParseTokenizerJson(std::string_view json, const std::string& name) {
  const simdjson::padded_string padded(json);  // simdjson reads past the end in blocks
  return ParsePadded(padded, name);
}

static_assert(simdjson::SIMDJSON_PADDING <= kTokenizerJsonPadding);

BpeModel ParseTokenizerJsonInPlace(const std::string& json, const std::string& name) {
  if (json.capacity() - json.size() < simdjson::SIMDJSON_PADDING) {
    return ParseTokenizerJson(json, name);
  }
  return ParsePadded(simdjson::padded_string_view(json.data(), json.size(), json.capacity()), name);
}

BpeModel ReadTokenizerJson(const std::string& path) {
  return ParseTokenizerJsonInPlace(ReadInputFile(path, {.what = "a tokenizer.json",
                                                        .max_bytes = kMaxTokenizerFileBytes,
                                                        .padding = kTokenizerJsonPadding}),
                                   path);
}

}  // namespace gemma
