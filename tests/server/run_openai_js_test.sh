#!/usr/bin/env bash
# Runs the openai npm client tests (tests/server/js) against gemma-rt serve.
# Usage: run_openai_js_test.sh GEMMA_RT_BINARY. node_modules comes from `npm ci` in
# tests/server/js (scripts/test.sh runs it; package-lock.json pins openai@6.30.1).
set -euo pipefail
cd "$(dirname "$0")/js"
if [[ ! -f node_modules/openai/package.json ]]; then
  echo "openai client missing: run 'npm ci --prefix tests/server/js' (scripts/test.sh does)" >&2
  exit 1
fi
version="$(node -p 'require("./node_modules/openai/package.json").version')"
[[ "$version" == "6.30.1" ]] || { echo "openai $version installed, 6.30.1 expected: npm ci" >&2; exit 1; }
GEMMA_RT_CLI="$1" exec node --test --test-reporter=spec openai_client.test.mjs
