#!/usr/bin/python3
"""gptc against PyTorch on the same workloads, side by side, alternating, in one run.

Workloads (the .graph files' default sizes; PyTorch runs the mirrors in tests/reference/models.py
through bench/pytorch_models.py, op for op the same model, same init convention):
  gpt2_train     GPT-2 124M training step, B 4, T 64 (forward, backward, clip, AdamW)
  gpt2_forward   GPT-2 124M forward, B 4, T 64
  chargpt_train  chargpt training step, B 16, T 256
  seq2seq_train  seq2seq training step, B 64
  llama_train    llama.graph training step, B 16, T 256 (only with --only; bench/llama_bench.py)
each with 1 and 2 threads. gptc runs as a subprocess (`gptc run MODEL --train --tokens F --steps N`
or `--eval --repeat N`) and reports its own per-step times; PyTorch runs bench/pytorch_models.py,
also one process per (workload, threads), with OMP_NUM_THREADS = OPENBLAS_NUM_THREADS = threads. Each
round runs every (workload, threads) pair once on each side, gptc first, so both see the same
machine load; the medians over all rounds are reported with the ratio gptc/PyTorch (< 1: gptc is
faster). With --unfused, gptc also runs each workload with the fuse pass disabled
(`--disable-pass fuse`) in the same rounds: the before/after-fusion columns. With --rss, the peak
resident memory of one GPT-2 training step of each (/usr/bin/time -v, a fresh process each) is
measured too.

PyTorch runs the mirrors on torch's fused kernels (F.layer_norm, F.gelu, F.linear, softmax,
F.cross_entropy), per-layer views of the stacked parameters taken once per step, and foreach
AdamW (bench/pytorch_models.py): idiomatic PyTorch, not the spelled-out ops of the fixtures.

    /usr/bin/python3 bench/compare.py                       # everything, 2 rounds
    /usr/bin/python3 bench/compare.py --only seq2seq_train --threads 2 --rounds 3
    /usr/bin/python3 bench/compare.py --unfused --rss --markdown   # the README table

The machine load matters (this box has 2 cores shared with builds): the load average before and
after is printed with the table; compare ratios, not absolute times, when it is high.
Left to others: the per-shape matmul comparison (bench/matmul_bench.cpp, against OpenBLAS).
"""

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "bench"))

# name -> (model file, mode, vocabulary of the token file, steps per gptc process)
WORKLOADS = {
    "gpt2_train": ("models/gpt2.graph", "train", 50257, 3),
    "gpt2_forward": ("models/gpt2.graph", "eval", 50257, 4),
    "chargpt_train": ("models/chargpt.graph", "train", 65, 4),
    "seq2seq_train": ("models/seq2seq.graph", "train", 13, 12),
    "llama_train": ("models/llama.graph", "train", 65, 4),
}


def token_file(vocab, tmp):
    """Random uint16 tokens below `vocab` (raw format; enough for one batch of any workload)."""
    import random

    path = os.path.join(tmp, f"tokens_{vocab}.bin")
    if not os.path.exists(path):
        rng = random.Random(0)
        data = bytearray()
        for _ in range(20000):
            data += rng.randrange(vocab).to_bytes(2, "little")
        with open(path, "wb") as f:
            f.write(data)
    return path


def gptc_command(gptc, name, threads, tmp, steps=None, unfused=False):
    model, mode, vocab, default_steps = WORKLOADS[name]
    n = steps or default_steps
    cmd = [gptc, "run", os.path.join(ROOT, model), "--threads", str(threads)]
    if unfused:
        cmd += ["--disable-pass", "fuse"]
    if mode == "train":
        cmd += ["--train", "--tokens", token_file(vocab, tmp), "--steps", str(n)]
    else:
        cmd += ["--eval", "--repeat", str(n)]
    return cmd


def run_gptc(gptc, name, threads, tmp, unfused=False):
    """Per-step seconds of one gptc process (the first step excluded: it warms pages)."""
    cmd = gptc_command(gptc, name, threads, tmp, unfused=unfused)
    out = subprocess.run(cmd, capture_output=True, text=True, env=dict(os.environ, OMP_NUM_THREADS=str(threads)))
    if out.returncode != 0:
        sys.exit(f"compare.py: {' '.join(cmd)} failed:\n{out.stderr}")
    steps = [float(m.group(1)) / 1e3 for m in re.finditer(r"^step\s+\d+ .* ([0-9.]+) ms$", out.stdout, re.M)]
    if steps:
        return steps[1:] if len(steps) > 1 else steps
    m = re.search(r"^time\s+([0-9.]+) s", out.stdout, re.M)
    if not m:
        sys.exit(f"compare.py: cannot read a time from gptc's output:\n{out.stdout}")
    return [float(m.group(1))]


def peak_rss(cmd, env=None):
    """Peak resident set size of `cmd` in bytes (GNU time's "Maximum resident set size", KiB)."""
    out = subprocess.run(["/usr/bin/time", "-v"] + cmd, capture_output=True, text=True, env=env)
    m = re.search(r"Maximum resident set size \(kbytes\): (\d+)", out.stderr)
    if out.returncode != 0 or not m:
        sys.exit(f"compare.py: {' '.join(cmd)} failed:\n{out.stderr[-2000:]}")
    return int(m.group(1)) * 1024


def torch_command(name, threads, repeats, warmup, explicit_ops):
    """bench/pytorch_models.py for one workload and thread count, and the environment it needs: a
    process per thread count, because Debian's torch does its matmuls in OpenBLAS's own pthread
    pool, which torch.set_num_threads does not size and which reads OPENBLAS_NUM_THREADS only at
    start (left alone, "1 thread" ran its matmuls on 2 and "2 threads" ran 4 threads on 2 cores)."""
    cmd = [sys.executable, os.path.join(ROOT, "bench", "pytorch_models.py"), "--only", name, "--threads",
           str(threads), "--repeats", str(repeats), "--warmup", str(warmup)]
    if explicit_ops:
        cmd.append("--explicit-ops")
    return cmd, dict(os.environ, OMP_NUM_THREADS=str(threads), OPENBLAS_NUM_THREADS=str(threads))


def run_torch(name, threads, repeats, explicit_ops, tmp):
    """Per-step seconds of one PyTorch process after one warm-up step."""
    out_json = os.path.join(tmp, f"torch_{name}_{threads}.json")
    cmd, env = torch_command(name, threads, repeats, 1, explicit_ops)
    cmd += ["--json", out_json]
    res = subprocess.run(cmd, capture_output=True, text=True, env=env)
    if res.returncode != 0:
        sys.exit(f"compare.py: {' '.join(cmd)} failed:\n{res.stderr}")
    with open(out_json) as f:
        return json.load(f)["results"][0]["times_s"]


def load():
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--gptc", default=os.path.join(ROOT, "build", "tools", "gptc"))
    # llama_train is bench/llama_bench.py's: the README table keeps its four rows unless asked.
    ap.add_argument("--only", nargs="+", default=[w for w in WORKLOADS if w != "llama_train"], choices=list(WORKLOADS))
    ap.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--rounds", type=int, default=2, help="alternations of gptc and PyTorch per pair")
    ap.add_argument("--torch-steps", type=int, default=3, help="timed PyTorch steps per round (after 1 warm-up)")
    ap.add_argument("--rss", action="store_true", help="also peak RSS of one GPT-2 training step of each")
    ap.add_argument("--markdown", action="store_true", help="print the table as markdown")
    ap.add_argument("--unfused", action="store_true", help="also gptc with the fuse pass disabled (train workloads)")
    ap.add_argument("--explicit-ops", action="store_true", help="PyTorch on the mirrors' spelled-out ops (as the fixtures)")
    args = ap.parse_args()
    if not os.path.exists(args.gptc):
        sys.exit(f"compare.py: no gptc at {args.gptc} (build it: make -C build gptc)")

    try:
        import torch
    except ImportError:
        sys.exit("compare.py: no PyTorch for this python (Debian's: apt-get install python3-torch; run with /usr/bin/python3)")

    tmp = tempfile.mkdtemp(prefix="gptc-bench-")
    cpu = open("/proc/cpuinfo").read()
    model_name = re.search(r"model name\s*:\s*(.*)", cpu)
    print(f"# {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, {model_name.group(1) if model_name else '?'}, "
          f"{os.cpu_count()} cores, torch {torch.__version__}; load average before: {load()}", flush=True)

    results = {}
    for r in range(args.rounds):
        for name in args.only:
            for threads in args.threads:
                g = run_gptc(args.gptc, name, threads, tmp)
                u = run_gptc(args.gptc, name, threads, tmp, unfused=True) if args.unfused and name.endswith("_train") else []
                t = run_torch(name, threads, args.torch_steps, args.explicit_ops, tmp)
                res = results.setdefault((name, threads), ([], [], []))
                res[0].extend(g)
                res[1].extend(t)
                res[2].extend(u)
                unf = f"unfused {statistics.median(u) * 1e3:9.1f} ms  " if u else ""
                print(f"# round {r + 1} {name:14s} threads {threads}: gptc {statistics.median(g) * 1e3:9.1f} ms  {unf}"
                      f"torch {statistics.median(t) * 1e3:9.1f} ms  (load {load()})", flush=True)

    rss = {}
    if args.rss:
        cmd, env = torch_command("gpt2_train", 2, 1, 0, args.explicit_ops)
        rss["gptc"] = peak_rss(gptc_command(args.gptc, "gpt2_train", 2, tmp, steps=1), env)
        rss["torch"] = peak_rss(cmd, env)

    print(f"# load average after: {load()}")
    if args.markdown:
        print("| workload | threads | gptc (median) | gptc, fuse off | PyTorch 1.13 (median) | gptc / PyTorch |")
        print("|---|---:|---:|---:|---:|---:|")
    for (name, threads), (g, t, u) in results.items():
        mg, mt = statistics.median(g), statistics.median(t)
        mu = f"{statistics.median(u) * 1e3:.1f} ms" if u else "—"
        if args.markdown:
            print(f"| {name} | {threads} | {mg * 1e3:.1f} ms | {mu} | {mt * 1e3:.1f} ms | {mg / mt:.2f} |")
        else:
            print(f"{name:14s} threads {threads}: gptc {mg * 1e3:9.1f} ms  (fuse off {mu})  torch {mt * 1e3:9.1f} ms  "
                  f"ratio {mg / mt:5.2f}  ({len(g)} / {len(t)} samples)")
    if rss:
        gib = 1024.0**3
        if args.markdown:
            print(f"| gpt2_train peak RSS | 2 | {rss['gptc'] / gib:.2f} GiB | — | {rss['torch'] / gib:.2f} GiB | "
                  f"{rss['gptc'] / rss['torch']:.2f} |")
        else:
            print(f"gpt2_train peak RSS (2 threads): gptc {rss['gptc'] / gib:.2f} GiB  torch {rss['torch'] / gib:.2f} GiB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
