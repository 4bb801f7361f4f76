#!/usr/bin/env bash
# Installs dependencies, builds everything with AddressSanitizer + UndefinedBehaviorSanitizer,
# runs the whole test suite through ctest, then runs each fuzz target briefly.
# Usage: scripts/test.sh            (from the repository root)
#        TETHER_FUZZ_SECONDS=0 scripts/test.sh   (skip fuzzing)
set -euo pipefail
cd "$(dirname "$0")/.."
# ccache hits across clones and build directories (paths are hashed relative to the root).
export CCACHE_BASEDIR="$PWD" CCACHE_NOHASHDIR=true
bash scripts/install-deps.sh

jobs="$(nproc)"
cmake -S . -B build/asan -G Ninja -DCMAKE_BUILD_TYPE=Debug -DTETHER_SANITIZE=ON \
  -DTETHER_BENCH=OFF -DCMAKE_CXX_FLAGS="-O1" >/dev/null
cmake --build build/asan -j "$jobs"

export ASAN_OPTIONS="detect_leaks=1:abort_on_error=1:strict_string_checks=1"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1"
ctest --test-dir build/asan --output-on-failure -j "$jobs" --timeout 600

fuzz_seconds="${TETHER_FUZZ_SECONDS:-15}"
if [ "$fuzz_seconds" != "0" ]; then
  bash scripts/fuzz.sh "$fuzz_seconds"
fi
