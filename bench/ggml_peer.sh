#!/bin/bash
# Builds the peer for bench/decode_vs_ggml.py: ggml's own examples/gpt-2 (`gpt-2-ctx`, `gpt-2-quantize`),
# from a source snapshot OUTSIDE this tree, and writes random-weight GPT-2 124M files in its format
# (f32 and f16 by bench/ggml_gpt2_writer.py, q8_0 by ggml's gpt-2-quantize from the f32 file).
# Nothing is downloaded: the snapshot is a directory you already have, or a bare git directory
# (`git archive HEAD` is unpacked from it). No ggml code enters this repository.
#
#   bench/ggml_peer.sh [SNAPSHOT]        # SNAPSHOT: a ggml source dir or a bare git dir
#   PEERS=/work/peers bench/ggml_peer.sh /work/.mirror/ggerganov+ggml/repo
#
# Results (under $PEERS, default /work/peers):
#   ggml-src/                      the unpacked snapshot (when SNAPSHOT is a git dir)
#   ggml-build/bin/gpt-2-ctx       the example (ggml's GGML_NATIVE build: AVX2/FMA/F16C here)
#   ggml-models/gpt2-124M-{f32,f16,q8_0}.bin
# Everything runs under `nice -n 19` (shared machine); a step whose output exists is skipped.
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
PEERS="${PEERS:-/work/peers}"
SNAP="${1:-${GGML_SNAPSHOT:-/work/.mirror/ggerganov+ggml/repo}}"
SRC="$PEERS/ggml-src"
BUILD="$PEERS/ggml-build"
MODELS="$PEERS/ggml-models"
case "$(cd "$HERE/.." && pwd)/" in "$PEERS"/*) echo "ggml_peer.sh: PEERS must be outside the project" >&2; exit 2 ;; esac

if [ -f "$SNAP/CMakeLists.txt" ] && [ -d "$SNAP/examples/gpt-2" ]; then
  SRC="$SNAP"
elif [ ! -f "$SRC/examples/gpt-2/main-ctx.cpp" ]; then
  if ! git --git-dir="$SNAP" rev-parse HEAD > /dev/null 2>&1; then
    echo "ggml_peer.sh: '$SNAP' is neither a ggml source dir nor a git dir (get one with the fetch tool)" >&2
    exit 2
  fi
  mkdir -p "$SRC"
  git --git-dir="$SNAP" archive HEAD | tar -x -C "$SRC"
  git --git-dir="$SNAP" log -1 --format='%H %ci' > "$SRC/SNAPSHOT_COMMIT"
fi
echo "ggml source: $SRC $(cat "$SRC/SNAPSHOT_COMMIT" 2> /dev/null || true)"

if [ ! -x "$BUILD/bin/gpt-2-ctx" ] || [ ! -x "$BUILD/bin/gpt-2-quantize" ]; then
  nice -n 19 cmake -S "$SRC" -B "$BUILD" -DCMAKE_BUILD_TYPE=Release -DGGML_NATIVE=ON \
    -DGGML_BUILD_TESTS=OFF -DGGML_BUILD_EXAMPLES=ON > "$PEERS/ggml-cmake.log"
  nice -n 19 cmake --build "$BUILD" -j2 --target gpt-2-ctx gpt-2-quantize > "$PEERS/ggml-build.log"
fi

mkdir -p "$MODELS"
[ -f "$MODELS/gpt2-124M-f32.bin" ] ||
  nice -n 19 /usr/bin/python3 "$HERE/ggml_gpt2_writer.py" --ftype 0 --out "$MODELS/gpt2-124M-f32.bin"
[ -f "$MODELS/gpt2-124M-f16.bin" ] ||
  nice -n 19 /usr/bin/python3 "$HERE/ggml_gpt2_writer.py" --ftype 1 --out "$MODELS/gpt2-124M-f16.bin"
if [ ! -f "$MODELS/gpt2-124M-q8_0.bin" ]; then
  nice -n 19 "$BUILD/bin/gpt-2-quantize" "$MODELS/gpt2-124M-f32.bin" "$MODELS/gpt2-124M-q8_0.bin.tmp" q8_0 \
    > "$PEERS/ggml-quantize.log"
  mv "$MODELS/gpt2-124M-q8_0.bin.tmp" "$MODELS/gpt2-124M-q8_0.bin"
fi
ls -l "$BUILD/bin/gpt-2-ctx" "$MODELS"/*.bin
