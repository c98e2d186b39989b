#!/usr/bin/env bash
# The whole test suite: install what is missing, build everything (gptc, every test binary) with
# AddressSanitizer + UBSan, run every test.
set -euo pipefail
cd "$(dirname "$0")/.."
GPTC_TARGET= scripts/setup.sh build-asan -DCMAKE_BUILD_TYPE=RelWithDebInfo -DGPTC_SANITIZE=ON
cd build-asan
ASAN_OPTIONS=detect_leaks=1:abort_on_error=0 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
  ctest --output-on-failure -j"$(nproc)" "$@"
