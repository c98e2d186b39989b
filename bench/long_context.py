#!/usr/bin/python3
"""GPT-2 124M training at a long context, gptc beside PyTorch 1.13: step time and peak RSS.

One training step workload (forward, backward, global-norm clipping, AdamW), B and T given
(default B 4, T 1024), each in a fresh process under /usr/bin/time -v:
  gptc            `gptc run models/gpt2.graph --set B=.. T=.. --train --tokens F --steps N`
                  --fused-attention (no T×T weights anywhere in the step)
  gptc unfused    the same with --no-fused-attention (the T×T weights kept for the backward)
  gptc head       fused attention and the fused, chunked LM head + loss (--fused-lm-head)
  gptc budget     fused, with --memory-budget SIZE (when --budget is given)
  torch           tests/reference/models.py's GPT-2 mirror on torch's kernels, foreach AdamW
                  (bench/pytorch_models.py's step), N steps
  torch ckpt      the same with torch.utils.checkpoint around every block (use_reentrant=False),
                  as a practitioner saves memory in PyTorch
Step time: the median of steps 2..N (gptc's own per-step lines; torch timed in-process). Peak
RSS: GNU time's maximum resident set size of the whole process. Rounds alternate the variants
so they see the same machine load; the load average before and after is printed.

    /usr/bin/python3 bench/long_context.py --gptc build/tools/gptc            # B 4, T 1024
    /usr/bin/python3 bench/long_context.py --gptc build/tools/gptc --batch 16 --only gptc
    /usr/bin/python3 bench/long_context.py --gptc build/tools/gptc --budget 3GiB --steps 3

This is slow on a 2-core machine (a GPT-2 step at T 1024 is minutes); run it niced when others
measure. Left to others: the planned-memory table (bench/memory_vs_context.py).
"""

import argparse
import os
import re
import statistics
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

TORCH_STEP = r"""
import math, os, sys, time, statistics
import torch
import torch.utils.checkpoint as ckpt
sys.path.insert(0, os.path.join(ROOT, "tests", "reference"))
sys.path.insert(0, os.path.join(ROOT, "bench"))
import models as M
import pytorch_models as P
M.use_torch_kernels()
torch.set_num_threads(THREADS)
cfg = M.GPT2Config(B=BATCH, T=SEQ, maxT=max(SEQ, 1024))
model = M.GPT2(cfg)
if CHECKPOINT:
    plain = model.layer
    model.layer = lambda p, l, x: ckpt.checkpoint(lambda y: plain(p, l, y), x, use_reentrant=False)
gen = torch.Generator().manual_seed(0)
step = P.train_step_fn(model, P.lm_batch(cfg, gen))
times = []
for _ in range(STEPS):
    t0 = time.perf_counter(); step(); times.append(time.perf_counter() - t0)
print("steps", " ".join(f"{t:.3f}" for t in times))
"""


def token_file(tmp, vocab=50257):
    import random

    path = os.path.join(tmp, "tokens.bin")
    rng = random.Random(0)
    with open(path, "wb") as f:
        f.write(b"".join(rng.randrange(vocab).to_bytes(2, "little") for _ in range(200000)))
    return path


def timed(cmd, env=None):
    """(stdout, peak RSS bytes) of cmd under GNU time."""
    out = subprocess.run(["/usr/bin/time", "-v"] + cmd, capture_output=True, text=True, env=env)
    m = re.search(r"Maximum resident set size \(kbytes\): (\d+)", out.stderr)
    if out.returncode != 0 or not m:
        sys.exit(f"long_context.py: {' '.join(cmd[:6])} ... failed:\n{out.stdout[-1500:]}\n{out.stderr[-2000:]}")
    return out.stdout, int(m.group(1)) * 1024


def gptc_run(args, tokens, extra):
    cmd = [args.gptc, "run", os.path.join(ROOT, "models/gpt2.graph"), "--set", f"B={args.batch}",
           f"T={args.seq}", "--train", "--tokens", tokens, "--steps", str(args.steps), "--threads",
           str(args.threads)] + extra
    out, rss = timed(cmd)
    steps = [float(m.group(1)) / 1e3 for m in re.finditer(r"^step\s+\d+ .* ([0-9.]+) ms$", out, re.M)]
    return steps, rss


def torch_run(args, checkpoint):
    code = (TORCH_STEP.replace("ROOT", repr(ROOT)).replace("THREADS", str(args.threads))
            .replace("BATCH", str(args.batch)).replace("SEQ", str(args.seq))
            .replace("STEPS", str(args.steps)).replace("CHECKPOINT", str(bool(checkpoint))))
    env = dict(os.environ, OMP_NUM_THREADS=str(args.threads), OPENBLAS_NUM_THREADS=str(args.threads))
    out, rss = timed(["/usr/bin/python3", "-c", code], env)
    m = re.search(r"^steps (.*)$", out, re.M)
    return [float(t) for t in m.group(1).split()], rss


def load():
    with open("/proc/loadavg") as f:
        return f.read().split()[0]


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--gptc", default=os.path.join(ROOT, "build/tools/gptc"))
    ap.add_argument("--batch", type=int, default=4)
    ap.add_argument("--seq", type=int, default=1024)
    ap.add_argument("--steps", type=int, default=2, help="steps per process (the first is not timed when > 1)")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--rounds", type=int, default=1)
    ap.add_argument("--budget", default=None, help="also run gptc with --memory-budget SIZE")
    ap.add_argument("--only", nargs="+", default=None,
                    help="subset of: gptc gptc_unfused gptc_head gptc_budget torch torch_ckpt")
    args = ap.parse_args()
    variants = {
        "gptc": lambda tok: gptc_run(args, tok, ["--fused-attention"]),
        "gptc_unfused": lambda tok: gptc_run(args, tok, ["--no-fused-attention"]),
        "gptc_head": lambda tok: gptc_run(args, tok, ["--fused-attention", "--fused-lm-head"]),
        "torch": lambda tok: torch_run(args, False),
        "torch_ckpt": lambda tok: torch_run(args, True),
    }
    if args.budget:
        variants["gptc_budget"] = lambda tok: gptc_run(args, tok, ["--fused-attention", "--memory-budget", args.budget])
    names = args.only or list(variants)
    cpu = open("/proc/cpuinfo").read()
    model = re.search(r"model name\s*:\s*(.*)", cpu).group(1)
    print(f"GPT-2 124M training, B {args.batch}, T {args.seq}, {args.threads} threads, {model}; load before {load()}")
    results = {n: ([], []) for n in names}
    with tempfile.TemporaryDirectory() as tmp:
        tokens = token_file(tmp)
        for _ in range(args.rounds):
            for n in names:
                steps, rss = variants[n](tokens)
                timed_steps = steps[1:] if len(steps) > 1 else steps
                results[n][0].extend(timed_steps)
                results[n][1].append(rss)
                print(f"  {n}: steps {' '.join(f'{s:.2f}' for s in steps)} s, peak RSS {rss / 2**30:.2f} GiB", flush=True)
    print(f"load after {load()}")
    print("| | median step | peak RSS |\n|---|---:|---:|")
    for n in names:
        t, r = results[n]
        print(f"| {n} | {statistics.median(t):.2f} s | {max(r) / 2**30:.2f} GiB |")


if __name__ == "__main__":
    sys.exit(main())
