// The factories of the Tokenizer contract and the decoding rule shared by all kinds.
#include "tokenizer/tokenizer.h"

#if defined(__GLIBC__)
#include <malloc.h>
#endif

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <tuple>
#include <unordered_map>
#include <utility>

#include "base/error.h"
#include "io/input_file.h"
#include "tokenizer/bpe_tokenizer.h"
#include "tokenizer/sentencepiece_tokenizer.h"
#include "tokenizer/tokenizer_cache.h"
#include "tokenizer/utf8.h"

namespace gemma {
namespace {

std::string ReadWholeFile(const std::string& path) {
  return ReadInputFile(path, {.what = "a tokenizer file", .max_bytes = kMaxTokenizerFileBytes});
}

// tokenizer.json is a JSON object; a SentencePiece model is a protobuf, whose first byte is
// a field tag (0x0A for `pieces`), never '{'.
bool LooksLikeJson(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  char c;
  while (in.get(c)) {
    if (c == ' ' || c == '\n' || c == '\r' || c == '\t') continue;
    return c == '{';
  }
  return false;
}

// Loading Gemma's tokenizer frees 40-90 MB of transients (the JSON or its cached copy, the
// merge list). glibc keeps freed heap pages resident, and after the 17.5 MB JSON is freed it
// serves buffers up to that size from the heap, so about 9 MB of them stayed resident next
// to the 18 MB tokenizer. Handing them back takes about a millisecond, once.
void ReleaseFreedHeap() {
#if defined(__GLIBC__)
  malloc_trim(0);
#endif
}

}  // namespace

void Tokenizer::CheckId(int32_t id) const {
  if (id < 0 || id >= vocab_size()) {
    Fail(ErrorCode::kOutOfRange, "token id ", id, " is outside the vocabulary (ids 0..",
         vocab_size() - 1, ")");
  }
}

std::string Tokenizer::Decode(std::span<const int32_t> ids) const {
  std::string text;
  std::string run;  // bytes of consecutive byte-fallback ids, read as UTF-8 as a whole
  for (const int32_t id : ids) {
    const int byte = ByteValue(id);
    if (byte >= 0) {
      run.push_back(static_cast<char>(byte));
      continue;
    }
    utf8::AppendSanitized(run, text);
    run.clear();
    text.append(DecodedText(id));
  }
  utf8::AppendSanitized(run, text);
  return text;
}

std::unique_ptr<Tokenizer> Tokenizer::FromFile(const std::string& path) {
  std::error_code error;
  if (!std::filesystem::is_regular_file(path, error)) {
    Fail(ErrorCode::kNotFound, path, ": no such tokenizer file");
  }
  if (LooksLikeJson(path)) {
    // Building the tokenizer can fail after the file was read (a piece too long to
    // merge): NamingFile names the file.
    std::unique_ptr<Tokenizer> tokenizer = NamingFile(path, [&]() -> std::unique_ptr<Tokenizer> {
      return std::make_unique<BpeTokenizer>(LoadTokenizerJsonCached(path));
    });
    ReleaseFreedHeap();
    return tokenizer;
  }
  const std::string bytes = ReadWholeFile(path);
  try {
    return SentencePieceTokenizer::FromSerialized(bytes, path);
  } catch (const Error&) {
    Fail(ErrorCode::kFormat, path,
         ": neither a tokenizer.json (JSON object) nor a SentencePiece tokenizer.model");
  }
}

std::unique_ptr<Tokenizer> Tokenizer::FromModelDirectory(const std::string& dir) {
  const std::filesystem::path root(dir);
  for (const char* name : {"tokenizer.json", "tokenizer.model"}) {
    std::error_code error;
    if (std::filesystem::is_regular_file(root / name, error)) return FromFile(root / name);
  }
  return nullptr;
}

std::unique_ptr<Tokenizer> Tokenizer::FromPieces(const PieceVocab& vocab) {
  const size_t n = vocab.pieces.size();
  if (n == 0 || vocab.scores.size() != n || vocab.types.size() != n) {
    Fail(ErrorCode::kInvalidArgument, "FromPieces: ", n, " pieces, ", vocab.scores.size(),
         " scores and ", vocab.types.size(), " types; expected the same non-zero count");
  }
  BpeModel model;
  model.pieces = PieceTable(vocab.pieces);
  model.space_to_underline = true;
  model.byte_fallback = true;
  model.unk_id = vocab.unk_id;
  model.bos_id = vocab.bos_id;
  model.eos_id = vocab.eos_id;

  std::unordered_map<std::string_view, int32_t> id_of;
  id_of.reserve(n);
  for (size_t id = 0; id < n; ++id) id_of.emplace(vocab.pieces[id], static_cast<int32_t>(id));

  const auto mergeable = [&](int32_t id) {
    return vocab.types[id] == PieceType::kNormal || vocab.types[id] == PieceType::kUserDefined;
  };
  struct Candidate {
    float score;
    MergeTable::Rule rule;
  };
  std::vector<Candidate> candidates;
  for (size_t id = 0; id < n; ++id) {
    const PieceType type = vocab.types[id];
    if (type == PieceType::kControl || type == PieceType::kUnknown ||
        type == PieceType::kUserDefined) {
      model.added_tokens.push_back({.text = vocab.pieces[id], .id = static_cast<int32_t>(id)});
    }
    if (!mergeable(static_cast<int32_t>(id))) continue;
    // Every split of the piece at a character boundary into two mergeable pieces is a merge
    // that produces it (SentencePiece BPE merges a pair when the joined piece exists).
    const std::string_view piece = vocab.pieces[id];
    for (size_t cut = 1; cut < piece.size(); ++cut) {
      if ((static_cast<uint8_t>(piece[cut]) & 0xC0) == 0x80) continue;  // inside a character
      const auto left = id_of.find(piece.substr(0, cut));
      const auto right = id_of.find(piece.substr(cut));
      if (left == id_of.end() || right == id_of.end()) continue;
      if (!mergeable(left->second) || !mergeable(right->second)) continue;
      candidates.push_back(
          {vocab.scores[id], {left->second, right->second, static_cast<int32_t>(id)}});
    }
  }
  std::sort(candidates.begin(), candidates.end(), [](const Candidate& a, const Candidate& b) {
    return std::tie(b.score, a.rule.merged, a.rule.left) <
           std::tie(a.score, b.rule.merged, b.rule.left);
  });
  model.merges.reserve(candidates.size());
  for (const Candidate& candidate : candidates) model.merges.push_back(candidate.rule);
  return std::make_unique<BpeTokenizer>(std::move(model));
}

}  // namespace gemma
