// lm-evaluation-harness's multiple-choice prompts (its ConfigurableTask with the default
// target delimiter " " and few-shot delimiter "\n\n"), and its split of a (context,
// continuation) pair into ids (HFLM._encode_pair with Gemma's <bos>).
#pragma once

#include <cstddef>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "eval/loglikelihood_scorer.h"
#include "eval/task_docs.h"
#include "gemma_rt/gemma_rt.h"

namespace gemma::eval {

struct ContinuationText {
  std::string context;
  std::string continuation;
};

// The task's description before the shots: MMLU's "The following are multiple choice
// questions (with answers) about {subject with spaces}.\n\n"; "" for the other tasks.
std::string TaskDescription(Task task, const Doc& doc);

// One solved example: its text, the delimiter (none when the answer starts with
// whitespace), its right answer, "\n\n". WinoGrande: the right context, " ", the target.
std::string SolvedExample(const Doc& shot);

// The few-shot examples for `doc`: the first `shots` of `pool` (lm-evaluation-harness's
// first_n sampler, which MMLU uses with its dev split), only those of the doc's subject
// for MMLU, and never the doc itself when `pool` is the evaluated set (same `where`).
std::vector<const Doc*> SelectShots(Task task, std::span<const Doc> pool, const Doc& doc,
                                    size_t shots);

// The requests of one document: context = description + solved examples + the doc's text,
// continuation = " " + choice (WinoGrande: context = ... + choice, continuation = " " +
// target).
std::vector<ContinuationText> DocRequests(Task task, const Doc& doc,
                                          std::span<const Doc* const> shots);

// The harness's lengths for acc_norm: each choice's length in characters (code points).
std::vector<size_t> ChoiceLengths(const Doc& doc);

// HFLM._encode_pair with add_bos_token (what lm-evaluation-harness does for Gemma): trailing
// whitespace of the context moves to the continuation; context ids = Tokenize(context) with
// <bos>; continuation ids = those of Tokenize(context + continuation) (with <bos>) after as
// many ids as the context has. Choices with the same context tokenize it once.
std::vector<ContinuationRequest> EncodePairs(const gemma_rt::Model& model,
                                             std::span<const ContinuationText> texts);

}  // namespace gemma::eval
