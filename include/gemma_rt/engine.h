// gemma-rt's batched engine in the public API: many requests at once on one Model, from any
// thread, each streamed as soon as its tokens exist (continuous batching over a shared paged
// KV cache; see docs/api.md).
//
//   gemma_rt::Engine engine(model, {.max_sequences = 8});
//   gemma_rt::RequestHandle a = engine.Submit({.prompt = "Write a haiku.",
//                                              .options = {.max_tokens = 64}});
//   gemma_rt::RequestHandle b = engine.Submit({.prompt = "Name three rivers."});
//   for (gemma_rt::Piece p; a.Next(&p);) std::cout << p.text;   // a's text as it comes
//   gemma_rt::RequestResult rb = b.Wait();                      // or wait for all of b
//
// A sequence's output does not depend on what else runs with it: the same prompt, options
// and seed give the same ids (and bit-identical logits) alone or in any batch.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "gemma_rt/gemma_rt.h"

namespace gemma_rt {

// How the KV cache stores keys and values: float32, or bfloat16 (half the memory per
// position; the logits then differ from float32 storage by what rounding keys and values
// to bf16 costs, measured in docs/architecture.md).
enum class KvType { kF32, kBF16 };

struct EngineOptions {
  size_t max_sequences = 8;  // generating at once; more requests wait in a queue
  size_t step_tokens = 512;  // rows per forward step: decode rows, then prefill chunks
  // Prompt rows a step takes while other requests generate (0: what step_tokens leaves).
  // Generating requests wait for the whole step, so a smaller value shortens the pause a
  // new prompt puts into their streams (and lengthens that prompt's time to first token);
  // it changes no output.
  size_t prefill_tokens_while_decoding = 0;
  uint64_t kv_bytes = 0;      // KV cache budget; 0: max_sequences x 2048 positions, >= 8192
  bool prefix_cache = true;   // reuse the cache of identical prompt prefixes
  size_t max_waiting = 4096;  // Submit throws beyond this many waiting requests
  // Rows of prompt logits (Request::prompt_logits_from) handed out per step: scoring many
  // positions goes faster with more, and the engine holds this many rows of vocab floats.
  size_t max_prompt_logit_rows = 64;
  KvType kv_type = KvType::kF32;
};

struct RequestResult {
  std::vector<int32_t> ids;  // generated ids (a stopping EOS / <end_of_turn> excluded)
  std::string text;          // their text, stop strings cut (empty without a tokenizer)
  StopReason stop_reason = StopReason::kMaxTokens;
  size_t prompt_tokens = 0;
  size_t cached_prompt_tokens = 0;  // prompt positions reused from the prefix cache
  double first_token_seconds = 0;   // from Submit to the first id (queueing included)
  double decode_tokens_per_second = 0;
  std::string error;  // non-empty: the request failed
};

struct Request {
  std::string prompt;               // text: tokenized, <bos> first; or
  std::vector<int32_t> prompt_ids;  // ids, used exactly as given (then `prompt` is unused)
  GenerateOptions options;          // max_tokens, sampling (own seed), stop rules, chat
  size_t context = 0;               // most positions, prompt included; 0: the model's maximum
  // Optional callbacks, called on the engine's thread (keep them short; they must not wait
  // for this engine). on_token: each id with its newly complete text, then id -1 with
  // held-back text; return false to stop. on_done: once, at the end.
  TokenCallback on_token;
  std::function<void(const RequestResult&)> on_done;
  // The logits row [vocab] each generated id is picked from (log-probabilities).
  std::function<void(std::span<const float> logits)> on_logits;
  // Scoring a prompt: the logits of every prompt position from `prompt_logits_from` on
  // (position p's row predicts token p + 1), in order. SIZE_MAX: none.
  size_t prompt_logits_from = SIZE_MAX;
  std::function<void(size_t position, std::span<const float> logits)> on_prompt_logits;
};

// A piece of streamed output: an id and the text that became complete with it (id -1: the
// text held back until the end).
struct Piece {
  int32_t id = -1;
  std::string text;
};

// A submitted request, usable from any thread; copies refer to the same request.
class RequestHandle {
 public:
  uint64_t id() const;
  // The next piece; blocks until one arrives. false when the request has ended and every
  // piece was taken.
  bool Next(Piece* piece);
  // Blocks until the request ends (the pieces stay for Next).
  RequestResult Wait();
  bool done() const;
  // Ends the request at the engine's next step (StopReason::kCancelled).
  void Cancel();

 private:
  friend class Engine;
  struct State;
  std::shared_ptr<State> state_;
};

struct EngineStats {
  size_t waiting = 0, running = 0;
  size_t kv_blocks = 0, kv_blocks_used = 0, kv_blocks_cached = 0;
  size_t kv_block_positions = 0;
  uint64_t steps = 0, prompt_tokens = 0, cached_tokens = 0, generated_tokens = 0;
  uint64_t preemptions = 0, finished = 0;
};

// Runs on a thread of its own from construction to destruction (which cancels what is
// left). The Model must outlive it; Sessions of the same Model may be used alongside (their
// forward passes take turns with the engine's).
class Engine {
 public:
  explicit Engine(const Model& model, const EngineOptions& options = {});
  ~Engine();
  Engine(const Engine&) = delete;
  Engine& operator=(const Engine&) = delete;

  // Throws std::runtime_error for a request that can never run (empty or too long a
  // prompt, bad options, text without a tokenizer) or when the queue is full.
  RequestHandle Submit(Request request);
  EngineStats stats() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace gemma_rt
