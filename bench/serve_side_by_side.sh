#!/usr/bin/env bash
# gemma-rt serve next to llama.cpp's llama-server on the same GGUF file, through the same load
# generator (gemma-rt bench-serve, /v1/completions streams, token-id prompts of exact length,
# EOS banned): 8 concurrent clients, 128-token prompts, 64-token answers; one client alone;
# and 8 clients while a 2048-token prompt arrives 2 s in (issue 14's targets: aggregate
# tokens/s >= 1.3x llama-server -np 8; p99 inter-token latency under 3x the single-client
# value during the long prefill). Run it on a quiet machine; prints one JSON report per run.
# Usage: bench/serve_side_by_side.sh GEMMA_RT LLAMA_SERVER MODEL.gguf [THREADS]
set -euo pipefail
cli="$1"; llama="$2"; model="$3"; threads="${4:-2}"
work="$(mktemp -d)"
server_pid=""
stop() { [[ -n "$server_pid" ]] && kill "$server_pid" 2>/dev/null && wait "$server_pid" 2>/dev/null; server_pid=""; }
trap 'stop; rm -rf "$work"' EXIT
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_health() {
  for _ in $(seq 1200); do curl -sf "http://127.0.0.1:$1/health" >/dev/null && return; sleep 0.25; done
  echo "server on port $1 did not become healthy" >&2; exit 1
}
runs() {  # $1: label, $2: port
  echo "== $1: 8 clients"
  "$cli" bench-serve --url "http://127.0.0.1:$2" --clients 8 --requests 32 --prompt-tokens 128 --max-tokens 64 --json
  echo "== $1: 1 client"
  "$cli" bench-serve --url "http://127.0.0.1:$2" --clients 1 --requests 4 --prompt-tokens 128 --max-tokens 64 --json
  echo "== $1: 8 clients, a 2048-token prompt 2 s in"
  "$cli" bench-serve --url "http://127.0.0.1:$2" --clients 8 --requests 32 --prompt-tokens 128 --max-tokens 64 \
    --late-prompt-tokens 2048 --late-at 2 --json
}

port="$(free_port)"
"$cli" serve --model "$model" --port "$port" --parallel 8 -t "$threads" >"$work/gemma.out" 2>"$work/gemma.err" &
server_pid=$!
wait_health "$port"
runs "gemma-rt serve --parallel 8 -t $threads" "$port"
stop

port="$(free_port)"
# 8 slots of 4096 positions (the 2048-token prompt fits one), continuous batching.
"$llama" -m "$model" --port "$port" -np 8 -c 32768 -t "$threads" -tb "$threads" >"$work/llama.out" 2>&1 &
server_pid=$!
wait_health "$port"
runs "llama-server -np 8 -t $threads" "$port"
stop
