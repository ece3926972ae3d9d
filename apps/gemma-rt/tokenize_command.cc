// gemma-rt tokenize | detokenize: text <-> ids with a model's tokenizer, for checking the
// tokenizer against other implementations (--jsonl runs a whole corpus in one process).
//   gemma-rt tokenize (--model DIR|FILE.gguf | --tokenizer FILE) [--bos] (--text T | --file F |
//   --jsonl F) gemma-rt detokenize (--model DIR|FILE.gguf | --tokenizer FILE) --ids 2,651,...
#include <charconv>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "apps/gemma-rt/command.h"
#include "apps/gemma-rt/id_list.h"
#include "base/error.h"
#include "engine/model_tokenizer.h"
#include "io/input_file.h"
#include "model/model_loader.h"
#include "tokenizer/tokenizer.h"

namespace gemma::cli {
namespace {

struct TokenizerSource {
  std::string model;      // a .gguf file, or a model directory with tokenizer.json / .model
  std::string tokenizer;  // or the tokenizer file itself
};

struct TokenizeOptions {
  TokenizerSource source;
  bool bos = false;
  std::string text;
  std::string file;
  std::string jsonl;
};

struct DetokenizeOptions {
  TokenizerSource source;
  std::string ids;
};

std::unique_ptr<Tokenizer> LoadTokenizer(const TokenizerSource& source) {
  if (!source.tokenizer.empty()) return Tokenizer::FromFile(source.tokenizer);
  std::error_code error;
  if (!std::filesystem::exists(source.model, error)) {
    Fail(ErrorCode::kNotFound, source.model, ": no such model directory or file");
  }
  // A .gguf file's own vocabulary, or a directory's tokenizer.json / tokenizer.model.
  std::unique_ptr<Tokenizer> tokenizer = LoadModelTokenizer(source.model);
  if (!tokenizer) {
    Fail(ErrorCode::kNotFound, source.model,
         IsGgufModelPath(source.model)
             ? ": the GGUF file carries no tokenizer (no tokenizer.ggml.tokens)"
             : ": the model has neither tokenizer.json nor tokenizer.model");
  }
  return tokenizer;
}

std::string IdsJson(const std::vector<int32_t>& ids) {
  std::string out = "[";
  for (size_t i = 0; i < ids.size(); ++i) {
    if (i > 0) out += ',';
    out += std::to_string(ids[i]);
  }
  return out + "]";
}

void Print(const std::string& text) { std::fwrite(text.data(), 1, text.size(), stdout); }

// The file the tokenizer came from, to name it in errors that arise while encoding.
const std::string& SourceName(const TokenizerSource& source) {
  return source.tokenizer.empty() ? source.model : source.tokenizer;
}

int RunTokenize(const TokenizeOptions& options, bool has_text) {
  const std::unique_ptr<Tokenizer> tokenizer = LoadTokenizer(options.source);
  const auto encode = [&](std::string_view text) {
    return NamingFile(SourceName(options.source),
                      [&] { return tokenizer->Encode(text, options.bos); });
  };
  if (options.jsonl.empty()) {
    const std::string text = has_text ? options.text
                                      : ReadInputFile(options.file, {.what = "tokenize --file",
                                                                     .max_bytes = kMaxTextFileBytes,
                                                                     .allow_streams = true});
    Print(IdsJson(encode(text)) + "\n");
    return 0;
  }
  // Streamed line by line, each line bounded (a pipe or /dev/zero never ends).
  std::error_code error;
  if (std::filesystem::is_directory(options.jsonl, error)) {
    Fail(ErrorCode::kInvalidArgument, options.jsonl, ": is a directory; expected a JSONL file");
  }
  std::ifstream in(options.jsonl, std::ios::binary);
  if (!in) Fail(ErrorCode::kNotFound, options.jsonl, ": cannot open (tokenize --jsonl)");
  std::string line;
  int64_t line_number = 0;
  while (ReadBoundedLine(in, line, kMaxLineBytes, options.jsonl, line_number)) {
    nlohmann::json record;
    try {
      record = nlohmann::json::parse(line);
    } catch (const nlohmann::json::exception& e) {
      Fail(ErrorCode::kFormat, options.jsonl, ":", line_number, ": not a JSON object (", e.what(),
           ")");
    }
    if (!record.is_object() || !record.contains("text") || !record["text"].is_string()) {
      Fail(ErrorCode::kFormat, options.jsonl, ":", line_number,
           ": expected an object with a string field \"text\"");
    }
    const std::vector<int32_t> ids = encode(record["text"].get<std::string>());
    Print("{\"ids\": " + IdsJson(ids) + "}\n");
  }
  return 0;
}

int RunDetokenize(const DetokenizeOptions& options) {
  const std::unique_ptr<Tokenizer> tokenizer = LoadTokenizer(options.source);
  const std::vector<int32_t> ids =
      options.ids.empty() ? std::vector<int32_t>{} : ParseList<int32_t>(options.ids, "--ids");
  Print(tokenizer->Decode(ids));  // exactly the decoded text: no newline is added
  return 0;
}

}  // namespace

void AddTokenizeCommands(CLI::App& app, RunFunction& run) {
  auto tokenize = std::make_shared<TokenizeOptions>();
  CLI::App* encode = app.add_subcommand("tokenize", "Print the token ids of a text as JSON");
  CLI::Option* model =
      encode->add_option("--model", tokenize->source.model,
                         "Model directory (tokenizer.json or tokenizer.model) or .gguf file");
  CLI::Option* file = encode->add_option("--tokenizer", tokenize->source.tokenizer,
                                         "tokenizer.json or SentencePiece tokenizer.model");
  model->excludes(file);
  encode->add_flag("--bos", tokenize->bos, "Put <bos> first");
  CLI::Option* text = encode->add_option("--text", tokenize->text, "The text");
  CLI::Option* input = encode->add_option("--file", tokenize->file, "Read the text from a file");
  CLI::Option* jsonl = encode->add_option(
      "--jsonl", tokenize->jsonl,
      "One JSON object with a \"text\" field per line; prints one {\"ids\": [...]} line each");
  text->excludes(input)->excludes(jsonl);
  input->excludes(jsonl);
  encode->callback([tokenize, encode, &run] {
    if (encode->count("--model") + encode->count("--tokenizer") != 1) {
      throw CLI::RequiredError("--model or --tokenizer");
    }
    if (encode->count("--text") + encode->count("--file") + encode->count("--jsonl") != 1) {
      throw CLI::RequiredError("--text, --file or --jsonl");
    }
    const bool has_text = encode->count("--text") == 1;
    run = [tokenize, has_text] { return RunTokenize(*tokenize, has_text); };
  });

  auto detokenize = std::make_shared<DetokenizeOptions>();
  CLI::App* decode = app.add_subcommand("detokenize", "Print the text of token ids");
  CLI::Option* decode_model =
      decode->add_option("--model", detokenize->source.model,
                         "Model directory (tokenizer.json or tokenizer.model) or .gguf file");
  CLI::Option* decode_file = decode->add_option("--tokenizer", detokenize->source.tokenizer,
                                                "tokenizer.json or SentencePiece tokenizer.model");
  decode_model->excludes(decode_file);
  decode->add_option("--ids", detokenize->ids, "Comma-separated ids, e.g. 2,651,6974")->required();
  decode->callback([detokenize, decode, &run] {
    if (decode->count("--model") + decode->count("--tokenizer") != 1) {
      throw CLI::RequiredError("--model or --tokenizer");
    }
    run = [detokenize] { return RunDetokenize(*detokenize); };
  });
}

}  // namespace gemma::cli
