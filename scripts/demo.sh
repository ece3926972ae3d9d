#!/usr/bin/env bash
# The README's first command: installs what gemma-rt needs, builds the CLI and runs it on a
# checkpoint bundled with the repository (a tiny random-weight Gemma shaped like gemma-7b,
# two safetensors shards + index). Pass --model DIR to inspect another checkpoint.
set -euo pipefail
cd "$(dirname "$0")/.."

build_dir="${GEMMA_BUILD_DIR:-build}"
model="tests/data/golden/tiny-7b-f32"
if [[ "${1:-}" == "--model" && -n "${2:-}" ]]; then model="$2"; fi

bash scripts/install-deps.sh
cmake -S . -B "$build_dir" -G Ninja -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build "$build_dir" --target gemma-rt -j "$(nproc)"
echo
"$build_dir/gemma-rt" inspect --model "$model"
