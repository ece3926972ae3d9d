// Many sequences at once on one model: continuous batching over a shared paged KV pool.
//
// Requests join and leave at every step. A step has a token budget: first one decode row for
// every running sequence that is generating, then prefill chunks of the others (oldest
// first), so a long prompt never holds the other streams back for more than one chunk. All
// rows go through one forward pass (each weight read once for the batch), with the
// row-invariant products (RowArithmetic::kRowInvariant): a sequence's numbers, and so its
// greedy or seeded output, do not depend on what else is in the batch.
//
// KV memory: blocks from one pool with a byte budget. A prompt's blocks are reserved when it
// is admitted (it waits while they are not free); a generating sequence takes one more block
// every block_size tokens, and when none is free the newest running sequence is preempted:
// its blocks are released (they stay cached), it goes back to the front of the queue, and
// is recomputed from its tokens when readmitted, continuing exactly where it was. With
// prefix caching, a prompt that starts with tokens another sequence has computed (a system
// prompt, few-shot examples, a chat's earlier turns, the context shared by multiple-choice
// answers) reuses those positions: whole blocks shared, and the start of a block where the
// shared tokens end inside it copied (model/kv_pool.h).
//
// Threads: Submit, Cancel and stats may be called from any thread. The engine runs either
// on its own thread (Start) or in the caller's (Step / RunUntilIdle). Callbacks run on the
// engine's thread; they must not call Step.
#pragma once

#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <string_view>
#include <thread>
#include <unordered_set>
#include <vector>

#include "engine/generate.h"
#include "kernels/thread_pool.h"
#include "model/forward.h"
#include "model/kv_pool.h"
#include "model/weights.h"
#include "tokenizer/tokenizer.h"

namespace gemma {

struct EngineOptions {
  size_t max_sequences = 8;  // running at once; more requests wait
  size_t step_tokens = 512;  // rows per forward step (decode rows, then prefill chunks)
  // Prompt rows a step takes while other sequences generate (0: what step_tokens leaves).
  // Every generating sequence waits for the whole step, so this bounds the pause a new
  // prompt puts into their streams; it does not change any number computed.
  size_t prefill_tokens_while_decoding = 0;
  uint64_t kv_bytes = 0;  // KV pool budget; 0: max_sequences x 2048 positions, >= 8192
  size_t block_size = KVPool::kDefaultBlockSize;
  bool prefix_cache = true;          // reuse computed blocks of identical prompt prefixes
  size_t max_waiting = 4096;         // Submit refuses more waiting requests (kResourceExhausted)
  std::mutex* pool_mutex = nullptr;  // held around each forward pass when the pool is shared
  // Rows of prompt logits (EngineRequest::prompt_logits_from) per step: bounds the logits
  // buffer at (max_sequences + max_prompt_logit_rows) x vocab floats (allocated as needed).
  size_t max_prompt_logit_rows = 64;
  // Keys and values stored as float32, or as bf16 (half the memory per position; the logits
  // move by what rounding them costs: docs/architecture.md).
  DType kv_dtype = DType::kF32;
};

struct EngineResult {
  GenerateResult generation;  // ids, text, stop_reason, timing
  size_t prompt_tokens = 0;
  size_t cached_prompt_tokens = 0;  // prompt positions reused from the prefix cache
  std::string error;                // non-empty: the request failed (generation is partial)
};

struct EngineRequest {
  std::vector<int32_t> prompt;  // used exactly as given (no <bos> added)
  GenerateOptions options;
  size_t context = 0;  // most positions (prompt + generated); 0: the model's maximum
  // Each generated id with the text that became complete with it, and at the end kNoToken
  // with held-back text. Return false to stop (StopReason::kCallback).
  TokenCallback on_token;
  // Once, when the request ends for any reason.
  std::function<void(const EngineResult&)> on_done;
  // The logits row [vocab] each generated id is picked from, before sampling (for log
  // probabilities); valid during the call only.
  std::function<void(std::span<const float> logits)> on_logits;
  // Scoring a prompt (log-likelihoods; echo with log-probabilities): the logits row of every
  // prompt position from this one on (position p's row predicts token p + 1; the last
  // one's is also the row the first id is picked from), in order, each once. Those
  // positions are always computed, never taken from the prefix cache. kNoPromptLogits: none.
  static constexpr size_t kNoPromptLogits = SIZE_MAX;
  size_t prompt_logits_from = kNoPromptLogits;
  std::function<void(size_t position, std::span<const float> logits)> on_prompt_logits;
};

struct EngineStats {
  size_t waiting = 0;
  size_t running = 0;
  size_t kv_blocks = 0;         // in the pool
  size_t kv_blocks_used = 0;    // referenced by sequences
  size_t kv_blocks_cached = 0;  // published (prefix cache), referenced or not
  uint64_t steps = 0;
  uint64_t prompt_tokens = 0;  // computed in prefill chunks
  uint64_t cached_tokens = 0;  // prompt tokens reused from the prefix cache
  uint64_t generated_tokens = 0;
  uint64_t preemptions = 0;
  uint64_t finished = 0;
};

class Engine {
 public:
  // weights, tokenizer (may be null) and pool must outlive the engine.
  Engine(const ModelWeights& weights, const Tokenizer* tokenizer, ThreadPool& pool,
         const EngineOptions& options = {});
  ~Engine();
  Engine(const Engine&) = delete;
  Engine& operator=(const Engine&) = delete;

  // Queues a request and returns its id. Throws Error for a request that can never run
  // (empty prompt, ids outside the vocabulary, longer than its context or than the whole KV
  // pool, bad sampling options) and kResourceExhausted when max_waiting requests wait.
  uint64_t Submit(EngineRequest request);
  // Ends a request at the next step (waiting, in prefill or generating); its blocks are
  // released. Unknown or finished ids are ignored.
  void Cancel(uint64_t id);
  EngineStats stats() const;
  const EngineOptions& options() const { return options_; }

  // Runs steps on a thread of the engine's own until Stop (or destruction).
  void Start();
  // Cancels every request and stops the thread.
  void Stop();
  // One step in the calling thread; false when there was nothing to run.
  bool Step();
  // Steps until no request is left.
  void RunUntilIdle();

 private:
  struct Sequence;
  void TakeIncoming();
  void Finish(Sequence& s, StopReason reason, std::string error = {});
  bool CallOnToken(Sequence& s, int32_t id, std::string_view text);
  void FinishRemoved();
  bool Admit(Sequence& s);
  void Preempt(Sequence& s);
  void Loop();
  // Adds the counters of `added` and refreshes the queue and pool figures.
  void UpdateStats(const EngineStats& added);

  const ModelWeights& weights_;
  const Tokenizer* tokenizer_;
  ThreadPool& pool_;
  EngineOptions options_;
  std::unique_ptr<KVPool> kv_;
  ForwardWorkspace workspace_;

  // Engine thread only.
  std::deque<std::unique_ptr<Sequence>> waiting_;
  std::vector<std::unique_ptr<Sequence>> running_;  // in admission order
  uint64_t admissions_ = 0;
  std::vector<int32_t> batch_tokens_;
  std::vector<Segment> batch_segments_;
  std::vector<size_t> batch_logits_for_;  // every segment's wanted rows, segment after segment
  std::vector<float> batch_logits_;       // [rows wanted, vocab], grown on demand
  SamplerScratch sampler_scratch_;        // every sequence's picks, one after another
  // What a step runs for each sequence it includes (one segment each).
  struct Planned {
    Sequence* sequence;
    size_t tokens;
    size_t prompt_logits_begin, prompt_logits_end;  // owed prompt positions in this chunk
    bool wants_last;                                // its last row picks the next id
  };
  std::vector<Planned> planned_;
  std::vector<std::pair<size_t, size_t>> wanted_range_;  // each segment's range of logits_for

  // Shared with other threads.
  mutable std::mutex mutex_;
  std::condition_variable wake_;
  std::deque<std::unique_ptr<Sequence>> incoming_;
  std::unordered_set<uint64_t> cancelled_;
  uint64_t next_id_ = 1;
  EngineStats stats_;
  bool stop_ = false;
  std::thread thread_;
};

}  // namespace gemma
