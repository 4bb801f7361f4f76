#!/usr/bin/env bash
# Builds the libFuzzer targets with clang-14 and runs each for N seconds (default 15) from its
# seed corpus in fuzz/corpus/<target>. Any crash fails the script.
set -euo pipefail
cd "$(dirname "$0")/.."
# ccache hits across clones and build directories (paths are hashed relative to the root).
export CCACHE_BASEDIR="$PWD" CCACHE_NOHASHDIR=true
seconds="${1:-15}"
cmake -S . -B build/fuzz -G Ninja -DCMAKE_BUILD_TYPE=Debug -DCMAKE_CXX_COMPILER=clang++-14 \
  -DTETHER_FUZZ=ON -DTETHER_TESTS=OFF -DTETHER_BENCH=OFF -DCMAKE_CXX_FLAGS="-O1" >/dev/null
cmake --build build/fuzz -j "$(nproc)" --target fuzz_all
for bin in build/fuzz/fuzz/fuzz_*; do
  [ -x "$bin" ] || continue
  name="$(basename "$bin")"
  corpus="fuzz/corpus/${name#fuzz_}"
  work="build/fuzz/corpus-${name}"
  mkdir -p "$work"
  echo "fuzz: $name for ${seconds}s"
  seeds=()
  [ -d "$corpus" ] && seeds=("$corpus")
  "$bin" -max_total_time="$seconds" -rss_limit_mb=2048 -print_final_stats=0 "$work" "${seeds[@]}" \
    >"build/fuzz/$name.log" 2>&1 || { tail -50 "build/fuzz/$name.log"; exit 1; }
done
echo "fuzz: all targets ran clean"
