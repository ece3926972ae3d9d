#!/usr/bin/env bash
# The README's first command: installs what gemma-rt needs, builds it, fetches Gemma's
# tokenizer, makes a random-weight model of the exact gemma-2b shape (once, 5.0 GB under
# models/), and generates from the model card's prompt with timing statistics.
#
# Random weights produce noise, not poetry: the demo shows the whole pipeline (tokenizer,
# 2.5 B-parameter forward pass, KV cache, sampling, streaming) at real size and speed.
# For real text, pass a downloaded google/gemma-2b directory:
#   scripts/demo.sh --model ~/models/gemma-2b
set -euo pipefail
cd "$(dirname "$0")/.."

build_dir="${GEMMA_BUILD_DIR:-build}"
model=""
prompt="Write me a poem about Machine Learning."
while [[ $# -gt 0 ]]; do
  case "$1" in
    --model) model="$2"; shift 2 ;;
    --prompt) prompt="$2"; shift 2 ;;
    *) echo "usage: scripts/demo.sh [--model DIR|FILE.gguf] [--prompt TEXT]" >&2; exit 2 ;;
  esac
done

bash scripts/install-deps.sh
tokenizer="$(bash scripts/fetch-tokenizer.sh | tail -n 1)"
cmake -S . -B "$build_dir" -G Ninja -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build "$build_dir" --target gemma-rt -j "$(nproc)"
cli="$build_dir/gemma-rt"

if [[ -z "$model" ]]; then
  model="models/random-2b-bf16"
  if [[ ! -f "$model/config.json" ]]; then
    echo "Making a random-weight gemma-2b (bf16, 5.0 GB, about a minute) in $model ..."
    "$cli" make-random --preset 2b --dtype bf16 --seed 1 --out "$model"
  fi
  # A model directory that holds tokenizer.json uses it automatically.
  [[ -f "$model/tokenizer.json" ]] || cp "$tokenizer" "$model/tokenizer.json"
  cat <<NOTE

NOTE: $model has RANDOM weights: the text below is noise. The pipeline, the model size and
the speed are real. For real output, download google/gemma-2b from Hugging Face and run
  scripts/demo.sh --model ~/models/gemma-2b

NOTE
fi

echo "gemma-rt generate --model $model --prompt \"$prompt\" --max-tokens 32 --stats"
"$cli" generate --model "$model" --prompt "$prompt" --max-tokens 32 --stats
echo
