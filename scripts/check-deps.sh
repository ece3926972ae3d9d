#!/usr/bin/env bash
# Checks that every file a configured CMake build found on this machine comes from a Debian
# package that scripts/install-deps.sh installs (or from one they depend on, or from the
# base system). A package installed by hand would let the build pass here and fail on a
# fresh machine; this names it instead.
#
# Usage: scripts/check-deps.sh BUILD_DIR...   (each configured with CMake)
# Exit 0 when every found file is covered, 1 (naming file and package) when one is not.
set -euo pipefail
cd "$(dirname "$0")/.."

[[ $# -ge 1 ]] || { echo "usage: scripts/check-deps.sh BUILD_DIR..." >&2; exit 2; }

# What the build found: package config directories (*_DIR), libraries found through
# pkg-config (pkgcfg_lib_*), programs (compilers, ninja, pkg-config, binutils; a cross
# build's emulator) and files a toolchain file requires (a cross build's dynamic loader).
# A cross build's compilers are not in the cache (the toolchain file names them): they are
# read from the compiler files CMake wrote.
found_paths() {
  local cache="$1/CMakeCache.txt"
  [[ -f "$cache" ]] || { echo "check-deps: $cache: not a configured build directory" >&2; exit 2; }
  sed -nE 's#^set\((CMAKE_[A-Z]+_COMPILER) "(/[^"]*)"\)$#\1 \2#p' \
    "$1"/CMakeFiles/[0-9]*/CMake*Compiler.cmake 2>/dev/null | sort -u
  sed -nE 's#^([A-Za-z0-9_]+):(PATH|FILEPATH)=(/.*)$#\1 \3#p' "$cache" |
    while read -r key path; do
      case "$key" in
        CMAKE_INSTALL_PREFIX | CMAKE_C_COMPILER | CMAKE_CXX_COMPILER) continue ;;  # CMAKE_*_COMPILER: above
        # Binary utilities CMake looks up by name and records whichever flavour the machine
        # has (llvm-ar when LLVM is installed, GNU ar otherwise, which every compiler
        # package pulls in): none of them is a requirement of the build, and the compilers
        # that need them are checked themselves.
        CMAKE_AR | CMAKE_RANLIB | CMAKE_NM | CMAKE_OBJCOPY | CMAKE_OBJDUMP | CMAKE_STRIP | \
          CMAKE_READELF | CMAKE_DLLTOOL | CMAKE_ADDR2LINE | CMAKE_LINKER | CMAKE_MT | \
          CMAKE_*_COMPILER_AR | CMAKE_*_COMPILER_RANLIB) continue ;;
      esac
      # The repository's own files (the cross build's CMAKE_TOOLCHAIN_FILE).
      [[ "$path" == "$PWD"/* ]] && continue
      [[ -e "$path" ]] || continue
      if [[ -d "$path" ]]; then
        # A config directory: the package that owns its *Config.cmake / *-config.cmake.
        local config
        config=$(find "$path" -maxdepth 1 \( -name '*Config.cmake' -o -name '*-config.cmake' \) | head -1)
        [[ -n "$config" ]] && echo "$key $config"
      else
        echo "$key $path"
      fi
    done
}

# Packages are named as apt names them: the machine's own architecture unqualified, another
# one qualified (libhwy-dev:arm64 of a cross build is not libhwy-dev).
native_arch=$(dpkg --print-architecture)

# The Debian package that owns a path (following links: /usr/bin/c++ is an alternative).
# dpkg -S prints "pkg[:arch][, pkg[:arch]...]: path"; a file several packages share (the
# headers of libhwy-dev:amd64 and libhwy-dev:arm64) is owned by the first.
owner() {
  local path="$1" real
  real=$(readlink -f "$path")
  for p in "$path" "$real" "${real#/usr}" "/usr$real"; do
    local pkg
    pkg=$(dpkg -S "$p" 2>/dev/null | head -1 | sed -E 's/: .*//; s/,.*//; s/:'"$native_arch"'$//') || true
    [[ -n "$pkg" ]] && { echo "$pkg"; return; }
  done
  return 0  # no owner: the caller names the file
}

# The listed packages and everything they pull in (Depends/Pre-Depends, recursively).
# GEMMA_INSTALL_DEPS_SCRIPT: another list to check against (the self-test in scripts/test.sh).
mapfile -t listed < <(bash "${GEMMA_INSTALL_DEPS_SCRIPT:-scripts/install-deps.sh}" --print)
closure=$(apt-cache depends --recurse --no-recommends --no-suggests --no-conflicts --no-breaks \
  --no-replaces --no-enhances "${listed[@]}" 2>/dev/null | grep -v '^ ' |
  sed "s/:$native_arch\$//" | sort -u)
# The base system every Debian machine has (Essential or Priority required), of its own
# architecture: a required arm64 package is there only if something installed it.
base=$(dpkg-query -W -f='${Package} ${Architecture} ${Essential} ${Priority}\n' |
  awk -v arch="$native_arch" '($2 == arch || $2 == "all") && ($3 == "yes" || $4 == "required") {print $1}' |
  sort -u)

missing=0
checked=0
for dir in "$@"; do
  while read -r key path; do
    pkg=$(owner "$path")
    checked=$((checked + 1))
    if [[ -z "$pkg" ]]; then
      echo "check-deps: $path (CMake's $key in $dir) belongs to no Debian package: install-deps.sh cannot provide it"
      missing=$((missing + 1))
    elif ! grep -qxF "$pkg" <<<"$closure" && ! grep -qxF "$pkg" <<<"$base"; then
      echo "check-deps: $path (CMake's $key in $dir) comes from Debian package '$pkg', which scripts/install-deps.sh does not install: add $pkg to its list"
      missing=$((missing + 1))
    fi
  done < <(found_paths "$dir")
done
if [[ $missing -gt 0 ]]; then
  echo "check-deps: $missing of $checked files CMake found are not covered by scripts/install-deps.sh"
  exit 1
fi
echo "check-deps: all $checked files CMake found come from packages scripts/install-deps.sh installs"
