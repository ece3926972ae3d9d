// What a gemma_rt::Model holds, shared by the Session and Engine halves of the public API.
#pragma once

#include <memory>
#include <mutex>

#include "gemma_rt/gemma_rt.h"
#include "kernels/thread_pool.h"
#include "model/weights.h"
#include "tokenizer/tokenizer.h"

namespace gemma_rt {

struct Model::Impl {
  gemma::ModelWeights weights;
  std::unique_ptr<gemma::Tokenizer> tokenizer;
  std::unique_ptr<gemma::ThreadPool> pool;
  // The pool runs one job at a time: held around each forward pass of any session or engine
  // of this model, never while a user's callback runs.
  std::mutex mutex;
};

}  // namespace gemma_rt
