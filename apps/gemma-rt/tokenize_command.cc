// gemma-rt tokenize | detokenize: text <-> ids with a model's tokenizer, for checking the
// tokenizer against other implementations (--jsonl runs a whole corpus in one process).
//   gemma-rt tokenize (--model DIR | --tokenizer FILE) [--bos] (--text T | --file F | --jsonl F)
//   gemma-rt detokenize (--model DIR | --tokenizer FILE) --ids 2,651,...
#include <charconv>
#include <cstdio>
#include <fstream>
#include <iterator>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "apps/gemma-rt/command.h"
#include "apps/gemma-rt/id_list.h"
#include "base/error.h"
#include "tokenizer/tokenizer.h"

namespace gemma::cli {
namespace {

struct TokenizerSource {
  std::string model;      // a model directory with tokenizer.json or tokenizer.model
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
  std::unique_ptr<Tokenizer> tokenizer = Tokenizer::FromModelDirectory(source.model);
  if (!tokenizer) {
    Fail(ErrorCode::kNotFound, "--model ", source.model,
         ": the directory has neither tokenizer.json nor tokenizer.model");
  }
  return tokenizer;
}

std::string ReadFile(const std::string& path, const char* flag) {
  std::ifstream in(path, std::ios::binary);
  if (!in) Fail(ErrorCode::kNotFound, flag, " ", path, ": cannot open the file");
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
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

int RunTokenize(const TokenizeOptions& options, bool has_text) {
  const std::unique_ptr<Tokenizer> tokenizer = LoadTokenizer(options.source);
  if (options.jsonl.empty()) {
    const std::string text = has_text ? options.text : ReadFile(options.file, "--file");
    Print(IdsJson(tokenizer->Encode(text, options.bos)) + "\n");
    return 0;
  }
  std::ifstream in(options.jsonl, std::ios::binary);
  if (!in) Fail(ErrorCode::kNotFound, "--jsonl ", options.jsonl, ": cannot open the file");
  std::string line;
  for (int line_number = 1; std::getline(in, line); ++line_number) {
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
    const std::vector<int32_t> ids =
        tokenizer->Encode(record["text"].get<std::string>(), options.bos);
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
  CLI::Option* model = encode->add_option("--model", tokenize->source.model,
                                          "Model directory with tokenizer.json or tokenizer.model");
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
                         "Model directory with tokenizer.json or tokenizer.model");
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
