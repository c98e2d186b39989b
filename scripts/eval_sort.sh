#!/bin/sh
# Reproduces docs/generation.md's seq2seq figures: trains the digit sorter (models/seq2seq.graph,
# the trainer's task generator), then sorts 1000 random held-out sequences (lengths 1-10) with the
# KV-cache decoder, greedily and with beam search (4 beams, length-normalised), and prints the
# exact-match accuracy of each. Extra arguments go to the training run (e.g. --steps 3000).
set -e
cd "$(dirname "$0")/.."
export CCACHE_BASEDIR="${CCACHE_BASEDIR:-$(pwd)}"
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release >/dev/null
make -C build -j2 gptc >/dev/null
build/tools/gptc run models/seq2seq.graph --train --steps 2500 --warmup 100 --val-every 250 \
  --threads 1 "$@"
build/tools/gptc run models/seq2seq.graph --generate --init out/seq2seq/model.ckpt --eval-sort 1000
build/tools/gptc run models/seq2seq.graph --generate --init out/seq2seq/model.ckpt --eval-sort 1000 \
  --beam 4
