#!/usr/bin/env bash
# Installs every Debian package (and npm package) that tether's build, tests, fuzzers and
# benchmarks need. Idempotent; safe to run repeatedly. Must run as root (or via sudo).
set -euo pipefail

SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi

PACKAGES=(
  build-essential cmake ninja-build ccache pkg-config git
  clang-14 clang-format-14 clang-tidy-14 libclang-rt-14-dev
  libcurl4-openssl-dev libssl-dev
  libboost1.81-dev
  nlohmann-json3-dev libyaml-cpp-dev libspdlog-dev libfmt-dev libcli11-dev
  libre2-dev libexpected-dev
  libgtest-dev libgmock-dev libbenchmark-dev librapidcheck-dev
  prometheus
)

missing=()
for p in "${PACKAGES[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

if [ "${#missing[@]}" -gt 0 ]; then
  echo "install-deps: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
else
  echo "install-deps: all Debian packages present"
fi

# npm comes with the machine's Node.js; fall back to Debian's packages where there is none.
if ! command -v npm >/dev/null 2>&1; then
  $SUDO apt-get install -y -qq --no-install-recommends nodejs npm >/dev/null
fi

# The Debian prometheus package starts a system service on install; tests start their own
# server on loopback, so make sure the packaged one does not hold port 9090.
if command -v systemctl >/dev/null 2>&1 && systemctl is-active --quiet prometheus 2>/dev/null; then
  $SUDO systemctl stop prometheus || true
fi

# CEL conformance data (pinned) from npm, used by the CEL conformance test.
here="$(cd "$(dirname "$0")/.." && pwd)"
if [ -f "$here/third_party/cel-spec/package.json" ] && [ ! -d "$here/third_party/cel-spec/node_modules/@bufbuild/cel-spec" ]; then
  (cd "$here/third_party/cel-spec" && npm ci --no-audit --no-fund --silent)
fi
