#!/usr/bin/env bash
# The main job: install what is missing, build, and run gptc's default job.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh build
exec build/tools/gptc compile models/gpt2.graph "$@"
