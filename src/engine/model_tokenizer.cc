#include "engine/model_tokenizer.h"

#include <filesystem>

#include "base/error.h"
#include "base/printable.h"
#include "io/gguf.h"
#include "model/gguf_model.h"
#include "model/model_loader.h"

namespace gemma {

std::unique_ptr<Tokenizer> LoadModelTokenizer(const std::string& model_path,
                                              const std::string& tokenizer_path) {
  if (!tokenizer_path.empty()) return Tokenizer::FromFile(tokenizer_path);
  if (IsGgufModelPath(model_path)) {
    const GgufFile file = GgufFile::Open(model_path);
    const GgufVocabulary vocab = ReadGgufVocabulary(file.header(), model_path);
    if (vocab.pieces.empty()) return nullptr;
    if (vocab.model != "llama") {
      Fail(ErrorCode::kUnsupported, model_path, ": tokenizer.ggml.model \"",
           PrintableName(vocab.model),
           "\" is not supported (Gemma files use \"llama\", SentencePiece-style)");
    }
    PieceVocab pieces{.pieces = vocab.pieces,
                      .scores = vocab.scores,
                      .bos_id = vocab.bos_id,
                      .eos_id = vocab.eos_id,
                      .unk_id = vocab.unk_id};
    pieces.types.reserve(vocab.types.size());
    for (int32_t type : vocab.types) pieces.types.push_back(static_cast<PieceType>(type));
    // Files without scores or types: every piece normal, earlier ids merge first.
    if (pieces.scores.empty()) {
      for (size_t i = 0; i < pieces.pieces.size(); ++i) {
        pieces.scores.push_back(-static_cast<float>(i));
      }
    }
    if (pieces.types.empty()) pieces.types.assign(pieces.pieces.size(), PieceType::kNormal);
    // Building the tokenizer can fail (a piece too long to merge): name the file.
    return NamingFile(model_path, [&] { return Tokenizer::FromPieces(pieces); });
  }
  namespace fs = std::filesystem;
  const fs::path path(model_path);
  std::error_code ec;
  const fs::path dir = fs::is_directory(path, ec) ? path : path.parent_path();
  return Tokenizer::FromModelDirectory(dir.string());
}

}  // namespace gemma
