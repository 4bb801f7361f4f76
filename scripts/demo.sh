#!/usr/bin/env bash
# Installs dependencies, builds tether (optimised) and runs `tether demo`.
# Extra arguments are passed to `tether demo` (e.g. --keep-running).
set -euo pipefail
cd "$(dirname "$0")/.."
# ccache hits across clones and build directories (paths are hashed relative to the root).
export CCACHE_BASEDIR="$PWD" CCACHE_NOHASHDIR=true
bash scripts/install-deps.sh >/dev/null
cmake -S . -B build/release -G Ninja -DCMAKE_BUILD_TYPE=Release -DTETHER_TESTS=OFF \
  -DTETHER_BENCH=OFF >/dev/null
cmake --build build/release -j "$(nproc)" --target tether
exec build/release/src/cli/tether demo "$@"
