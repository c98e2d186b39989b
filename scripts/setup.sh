#!/usr/bin/env bash
# Installs what gptc needs from Debian's packages (only what is missing), then configures and builds.
# Idempotent and quick when everything is present.
#   scripts/setup.sh [BUILD_DIR] [extra cmake args...]
# GPTC_TARGET=NAME builds only that target (scripts/main.sh: gptc); unset, everything (the tests).
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:-build}; shift || true

need=()
# graphviz: --emit=svg; chromium: the HTML report's headless-browser test (tests/study/);
# openmpi-bin, libopenmpi-dev: mpirun and libmpi.so.40 for data-parallel training (tests/mpi/).
for p in cmake g++ make llvm-19-dev libfmt-dev doctest-dev libcli11-dev nlohmann-json3-dev libpcre2-dev \
    graphviz chromium openmpi-bin libopenmpi-dev; do
  dpkg -s "$p" >/dev/null 2>&1 || need+=("$p")
done
if [ ${#need[@]} -gt 0 ]; then
  echo "setup: installing ${need[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi

if [ ! -f "$build/CMakeCache.txt" ]; then
  cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=Release "$@" >/dev/null
fi
if [ -n "${GPTC_TARGET:-}" ]; then
  cmake --build "$build" -j"$(nproc)" --target "$GPTC_TARGET"
else
  cmake --build "$build" -j"$(nproc)"
fi
