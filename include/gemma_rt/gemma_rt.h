// gemma-rt's public C++ API: load a Gemma model (and its tokenizer), open sessions, prefill
// a prompt, generate with a streaming callback, read logits.
//
//   gemma_rt::Model model = gemma_rt::Model::Load({.path = "/models/gemma-2b"});
//   gemma_rt::Session session(model);
//   session.PrefillText("Write me a poem about Machine Learning.");
//   session.Generate({.max_tokens = 64}, [](int32_t, std::string_view text) {
//     std::fputs(std::string(text).c_str(), stdout);
//     return true;  // false stops generation
//   });
//
// Errors are thrown as std::runtime_error (gemma-rt's own error type derives from it) with
// a message naming the file, tensor or argument at fault.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace gemma_rt {

struct ModelOptions {
  std::string path;       // Hugging Face directory (config.json + *.safetensors) or a .gguf file
  std::string tokenizer;  // tokenizer.json / tokenizer.model; empty: look in `path`
  int threads = 0;        // worker threads; 0: the hardware's concurrency
  // Quantized (GGUF) weights: integer products on activations rounded to int8 in decode and
  // in Q4_0 prefill (default, as llama.cpp does; faster), or float32 activations everywhere
  // (exact products of the file's weights). bf16 weights: activations rounded to bf16
  // (default, as llama.cpp does; vdpbf16ps on AVX-512 BF16 CPUs, 2x the float32 rate), or
  // float32 (exact).
  bool exact_quantized_products = false;
};

struct ModelInfo {
  int64_t vocab_size, hidden_size, layers, heads, kv_heads, head_dim, max_context;
  uint64_t weight_bytes;
};

class Session;
class Engine;

// Weights stay where they lie in the mapped files (no float32 copy of a bf16 model).
// A Model may be shared by several Sessions; it must outlive them.
class Model {
 public:
  static Model Load(const ModelOptions& options);
  Model(Model&&) noexcept;
  Model& operator=(Model&&) noexcept;
  ~Model();

  ModelInfo info() const;
  bool has_tokenizer() const;
  // Text to ids; with add_bos, <bos> first (Gemma's quality collapses without it). Throws
  // when the model has no tokenizer.
  std::vector<int32_t> Tokenize(std::string_view text, bool add_bos = true) const;
  std::string Detokenize(std::span<const int32_t> ids) const;

 private:
  friend class Session;
  friend class Engine;
  struct Impl;
  explicit Model(std::shared_ptr<Impl> impl);
  std::shared_ptr<Impl> impl_;
};

struct SamplingOptions {
  float temperature = 1.0f;  // 0: greedy
  size_t top_k = 0;          // 0: off
  float top_p = 1.0f;        // 1: off
  float min_p = 0.0f;        // 0: off
  float repeat_penalty = 1.0f;
  uint64_t seed = 0;  // the same seed, prompt and options give the same output
  // (token id, value added to its logit) before every other step (OpenAI's logit_bias).
  std::vector<std::pair<int32_t, float>> logit_bias;
  // OpenAI's penalties, each in [-2, 2]: presence + frequency x count is subtracted from the
  // logit of every id among the last 64 ids (prompt and generated, as llama.cpp's
  // penalty_last_n), after the repetition penalty.
  float presence_penalty = 0.0f;
  float frequency_penalty = 0.0f;
};

struct GenerateOptions {
  size_t max_tokens = 256;
  SamplingOptions sampling;
  bool chat = false;                      // also stop at <end_of_turn>
  std::vector<std::string> stop_strings;  // matched on the text; never emitted
};

enum class StopReason {
  kMaxTokens,
  kEndOfSequence,
  kEndOfTurn,
  kStopString,
  kCallback,
  kContextFull,
  kCancelled
};
const char* StopReasonName(StopReason reason);

struct GenerateResult {
  std::vector<int32_t> ids;  // generated ids (a stopping EOS / <end_of_turn> excluded)
  std::string text;          // their text (empty without a tokenizer)
  StopReason stop_reason = StopReason::kMaxTokens;
  double first_token_seconds = 0;  // from Generate() to the first id
  double decode_tokens_per_second = 0;
};

// Called per generated id with its newly complete text; id -1 carries held-back text at the
// end. Return false to stop.
using TokenCallback = std::function<bool(int32_t id, std::string_view text)>;

struct SessionOptions {
  size_t context = 0;          // KV cache positions; 0: the model's maximum (8192)
  size_t prefill_chunk = 512;  // tokens per batched forward call
};

// One conversation: its own KV cache and buffers. Sessions of one Model do not interfere.
// Threads: a Session is used by one thread at a time; sessions of one Model may be used
// from different threads, and their forward passes take turns on the model's thread pool
// (the model's lock is held only during a forward pass, never while a callback runs, so a
// callback may use other sessions; calling its own session from its callback is an error).
class Session {
 public:
  explicit Session(const Model& model, const SessionOptions& options = {});
  Session(Session&&) noexcept;
  Session& operator=(Session&&) noexcept;
  ~Session();

  // Runs ids at the next positions, exactly as given (no <bos> is added).
  void Prefill(std::span<const int32_t> ids);
  // Tokenizes and prefills; <bos> is added when the session is empty.
  void PrefillText(std::string_view text);
  // Continues from the end of the context. Every id in the result joins the context (the
  // last one's forward pass runs when the context is next used), so a following Generate,
  // Prefill or chat turn continues from exactly what was streamed. A stopping EOS or
  // <end_of_turn> is not added; a stop string is cut from the text but its ids stay.
  GenerateResult Generate(const GenerateOptions& options, const TokenCallback& callback = {});

  // One chat turn with Gemma's template (<start_of_turn>user\n...<end_of_turn>\n
  // <start_of_turn>model\n), keeping the cache across turns; generates until <end_of_turn>.
  // Gemma has no system role: `system_text` is put at the start of the first user turn.
  GenerateResult ChatTurn(std::string_view user_text, GenerateOptions options,
                          const TokenCallback& callback = {}, std::string_view system_text = {});

  // Logits [vocab] for the position after the context (runs the last generated id's forward
  // pass if it has not run yet). Valid until the next call on the session.
  std::span<const float> Logits() const;
  // One forward pass over ids that returns the logits at `positions` (absolute, ascending,
  // among the new ones): [positions.size() * vocab].
  std::vector<float> PrefillWithLogits(std::span<const int32_t> ids,
                                       std::span<const size_t> positions);
  size_t position() const;  // ids in the context (prompt and generated)
  void Reset();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace gemma_rt
