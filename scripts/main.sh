#!/usr/bin/env bash
# The main job: install what is missing, build (Release), and train the character-level
# Shakespeare GPT with the JIT: `gptc run --train` (docs/training.md). Extra arguments go to it,
# e.g. scripts/main.sh --steps 500 or scripts/main.sh --set L=6 C=256 NH=8 T=256 B=16.
set -euo pipefail
cd "$(dirname "$0")/.."
GPTC_TARGET=gptc scripts/setup.sh build # only what the main job runs; the tests: scripts/test.sh
exec build/tools/gptc run --train "$@"
