// A small random-weight Gemma with the full 256,000-id vocabulary and Gemma's real
// tokenizer.json beside it, for tests that need real text (chat template, streaming,
// server): the golden models' 512-id vocabulary cannot hold ordinary words. Written once
// per machine (deterministic: same seed, same bytes) into the temp directory, atomically,
// so concurrent test processes never see half a model.
#pragma once

#include <unistd.h>

#include <filesystem>
#include <string>

#include "model/config.h"
#include "model/random_weights.h"
#include "tokenizer/gemma_tokenizer_path.h"  // tests/tokenizer/

namespace gemma::testing {

inline ModelConfig RealVocabConfig() {
  ModelConfig c;
  c.vocab_size = 256000;
  c.hidden_size = 64;
  c.intermediate_size = 128;
  c.num_hidden_layers = 2;
  c.num_attention_heads = 2;
  c.num_key_value_heads = 1;
  c.head_dim = 32;
  c.torch_dtype = "bfloat16";
  return c;
}

// The model directory (config.json, model.safetensors, tokenizer.json); "" with a test
// failure when Gemma's tokenizer has not been fetched.
inline std::string RealVocabModelDir() {
  namespace fs = std::filesystem;
  static const std::string dir = []() -> std::string {
    const std::string tokenizer = GemmaTokenizerJsonPath();
    if (!fs::exists(tokenizer)) return "";
    const fs::path final_dir = fs::temp_directory_path() / "gemma-rt-tests" / "real-vocab-64-v1";
    if (fs::exists(final_dir / "tokenizer.json")) return final_dir.string();
    fs::create_directories(final_dir.parent_path());
    const fs::path work = final_dir.string() + ".tmp." + std::to_string(::getpid());
    fs::remove_all(work);
    WriteRandomCheckpoint({.config = RealVocabConfig(),
                           .dtype = DType::kBF16,
                           .seed = 7,
                           .out_dir = work.string(),
                           .threads = 2});
    fs::copy_file(tokenizer, work / "tokenizer.json");
    std::error_code ec;
    fs::rename(work, final_dir, ec);  // another process may have won the race: use its copy
    if (ec) fs::remove_all(work);
    return final_dir.string();
  }();
  if (dir.empty()) {
    ADD_FAILURE() << "Gemma's tokenizer.json is not at " << GemmaTokenizerJsonPath()
                  << ". Run scripts/fetch-tokenizer.sh (or set GEMMA_TOKENIZER_JSON).";
  }
  return dir;
}

}  // namespace gemma::testing
