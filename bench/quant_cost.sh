#!/bin/sh
# What rounding to each GGUF type costs a full-size model: perplexity and KL divergence from
# the bf16 weights (docs/eval.md, "What the quantized formats cost"). Not a timing run.
#
#   bench/quant_cost.sh BUILD/gemma-rt MODEL_DIR OUT_DIR [CHUNKS]
#
# MODEL_DIR: a Hugging Face directory of bf16 weights (e.g. a random gemma-2b made by
# `gemma-rt make-random --preset 2b --dtype bf16 --seed 1 --out DIR`). The text: Debian's
# license texts (/usr/share/common-licenses), about 120 KB of English. Writes OUT_DIR/text.txt,
# OUT_DIR/<type>.gguf and OUT_DIR/<type>.json (gemma-rt perplexity --json).
set -eu
gemma_rt=$1
model=$2
out=$3
chunks=${4:-8}
mkdir -p "$out"
licenses=/usr/share/common-licenses
cat "$licenses/GPL-3" "$licenses/LGPL-3" "$licenses/Apache-2.0" "$licenses/MPL-2.0" \
  "$licenses/GFDL-1.3" "$licenses/GPL-2" "$licenses/Artistic" > "$out/text.txt"
for type in q8_0 q6_k q4_k_m q4_0; do
  [ -f "$out/$type.gguf" ] || "$gemma_rt" quantize --model "$model" --type "$type" --out "$out/$type.gguf"
  "$gemma_rt" perplexity --model "$out/$type.gguf" --reference-model "$model" -f "$out/text.txt" \
    --ctx 512 --chunks "$chunks" --json > "$out/$type.json"
  cat "$out/$type.json"
done
