#!/usr/bin/python3
"""llama.graph's training step beside PyTorch 1.13 running the same Llama-style model, side by side.

The model is models/llama.graph at its defaults (V 65, L 6, NH 8, C 256, F 704, B 16, T 256: the
size of chargpt.graph); PyTorch runs its mirror, tests/reference/models.py's Llama (the class the
parity fixtures come from: RMSNorm, rope, SwiGLU, no biases), with torch's own kernels where torch
1.13 has them (F.linear, F.silu, torch.softmax, F.cross_entropy; RMSNorm and rope are written out,
as they are in practice on 1.13), foreach AdamW, global-norm clipping. Same configuration, same
thread count (OMP_NUM_THREADS = OPENBLAS_NUM_THREADS = torch threads = gptc --threads).

Each round runs gptc, then PyTorch, for every thread count, so the two see the same machine load
(bench/compare.py's runners: gptc's per-step times after its first step; PyTorch's after one
warm-up step). The medians over all rounds and the ratio gptc / PyTorch (< 1: gptc is faster) are
printed with the CPU and the load average before and after.

    nice -n 19 /usr/bin/python3 bench/llama_bench.py                  # 1 and 2 threads, 2 rounds
    nice -n 19 /usr/bin/python3 bench/llama_bench.py --threads 1 --rounds 1 --markdown

Left to others: the other models (bench/compare.py), training curves (bench/llama_vs_chargpt.py).
"""

import argparse
import os
import re
import statistics
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "bench"))
import compare  # noqa: E402


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--gptc", default=os.path.join(ROOT, "build", "tools", "gptc"))
    ap.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--torch-steps", type=int, default=3, help="timed PyTorch steps per round (after 1 warm-up)")
    ap.add_argument("--markdown", action="store_true")
    args = ap.parse_args()
    if not os.path.exists(args.gptc):
        sys.exit(f"llama_bench.py: no gptc at {args.gptc}")
    try:
        import torch
    except ImportError:
        sys.exit("llama_bench.py: no PyTorch for this python (run with /usr/bin/python3)")
    tmp = tempfile.mkdtemp(prefix="gptc-llama-bench-")
    cpu = re.search(r"model name\s*:\s*(.*)", open("/proc/cpuinfo").read())
    print(f"# {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, {cpu.group(1) if cpu else '?'}, "
          f"{os.cpu_count()} cores, torch {torch.__version__}; load average before: {compare.load()}", flush=True)
    name = "llama_train"
    results = {}
    for r in range(args.rounds):
        for threads in args.threads:
            g = compare.run_gptc(args.gptc, name, threads, tmp)
            t = compare.run_torch(name, threads, args.torch_steps, False, tmp)
            res = results.setdefault(threads, ([], []))
            res[0].extend(g)
            res[1].extend(t)
            print(f"# round {r + 1} threads {threads}: gptc {statistics.median(g) * 1e3:9.1f} ms  "
                  f"torch {statistics.median(t) * 1e3:9.1f} ms  (load {compare.load()})", flush=True)
    print(f"# load average after: {compare.load()}")
    if args.markdown:
        print("| llama.graph training step (B 16, T 256, C 256, L 6) | threads | gptc (median) | PyTorch 1.13 (median) | gptc / PyTorch |")
        print("|---|---:|---:|---:|---:|")
    for threads, (g, t) in results.items():
        mg, mt = statistics.median(g), statistics.median(t)
        if args.markdown:
            print(f"| llama_train | {threads} | {mg * 1e3:.1f} ms | {mt * 1e3:.1f} ms | {mg / mt:.2f} |")
        else:
            print(f"llama_train threads {threads}: gptc {mg * 1e3:9.1f} ms  torch {mt * 1e3:9.1f} ms  ratio {mg / mt:5.2f}  "
                  f"({len(g)} / {len(t)} samples)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
