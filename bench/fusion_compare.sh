#!/bin/sh
# bench/fusion_compare.sh — the training step of GPT-2 124M and chargpt, with and without fusion,
# side by side with PyTorch 1.13 in one run, alternating (gptc fused, gptc unfused, PyTorch) so a
# change in machine load hits all three alike. Prints each median step time as it is measured; the
# numbers in docs/fusion.md come from this script.
#
#   bench/fusion_compare.sh [BUILD_DIR] [ROUNDS] [THREADS]      (defaults: build 2 2)
#
# gptc: `gptc run MODEL --train --tokens FILE --steps 4` (the median of steps 2..4, the first step
# warms pages and caches), once with every pass, once with --disable-pass fuse.
# PyTorch: bench/pytorch_models.py --only <model>_train --repeats 3 (median, after one warm-up).
# Tokens: a synthetic llm.c token shard of ids below 65 (both vocabularies accept them); the
# token values do not change the work.
set -eu
BUILD=${1:-build}
ROUNDS=${2:-2}
THREADS=${3:-2}
GPTC="$BUILD/tools/gptc"
TOK=$(mktemp /tmp/fusion_tokens.XXXXXX.bin)
trap 'rm -f "$TOK"' EXIT
/usr/bin/python3 - "$TOK" <<'PY'
import random, struct, sys
n = 20000
random.seed(1)
with open(sys.argv[1], "wb") as f:
    f.write(struct.pack("<256i", *([20240520, 1, n] + [0] * 253)))
    f.write(struct.pack("<%dH" % n, *[random.randrange(65) for _ in range(n)]))
PY
gptc_ms() { # model, extra flags -> median ms per step
  OMP_NUM_THREADS=$THREADS "$GPTC" run "models/$1" --train --tokens "$TOK" --steps 4 \
    --threads "$THREADS" $2 | awk '/^median/ {print $2}'
}
torch_ms() { # benchmark name -> median ms
  /usr/bin/python3 bench/pytorch_models.py --only "$1" --threads "$THREADS" --repeats 3 2>/dev/null |
    awk -v b="$1" '$0 ~ b {for (i = 1; i <= NF; ++i) if ($i ~ /^[0-9.]+$/ && $(i+1) == "ms") v = $i}
                   END {print v}'
}
echo "uptime: $(uptime)"
for model in gpt2 chargpt; do
  for r in $(seq "$ROUNDS"); do
    echo "$model round $r: gptc fused $(gptc_ms "$model.graph" "") ms"
    echo "$model round $r: gptc unfused $(gptc_ms "$model.graph" "--disable-pass fuse") ms"
    echo "$model round $r: pytorch $(torch_ms "${model}_train") ms"
  done
done
