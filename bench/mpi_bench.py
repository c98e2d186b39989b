#!/usr/bin/python3
"""Data-parallel training on one machine (issue #18): GPT-2 124M, B 4 T 64 per rank.

    /usr/bin/python3 bench/mpi_bench.py [--gptc build/tools/gptc] [--steps 6] [--zero]

Runs, one after the other on the same machine:
  * 2 ranks x 1 thread:  mpirun -np 2 gptc run --train models/gpt2.graph -b 4 -t 64 --threads 1
  * 1 rank  x 2 threads: gptc run --train models/gpt2.graph -b 8 -t 64 --threads 2
(the same global batch of 8 x 64 tokens per step, so the same training), and prints per run:
tokens/s (global batch tokens / median step time, the first step left out), the share of step
time each rank spent inside MPI collectives (GPTC_MPI_STATS=1: runtime/exec/mpi_comm.cpp sums the time
in its collective calls; divided by the sum of the step times the trainer prints), and every
rank's peak RSS (/usr/bin/time). With --zero, a third run adds `--zero 1` to the 2-rank one.

The data is a GPT-2 BPE shard of data/tinyshakespeare.txt, made once with `gptc tokenize`.
Prints the CPU and the load average before and after each run: on a shared 2-core machine the
2-rank run competes with whatever else runs; compare the runs side by side, not across days.
"""
import argparse
import os
import re
import statistics
import subprocess
import sys
import tempfile


def cpu_name():
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return "?"


def load():
    return " ".join(open("/proc/loadavg").read().split()[:3])


def run(cmd, env=None):
    print("$ " + " ".join(cmd), flush=True)
    print(f"  load before: {load()}", flush=True)
    p = subprocess.run(cmd, capture_output=True, text=True, env=env)
    print(f"  load after:  {load()}", flush=True)
    if p.returncode != 0:
        print(p.stdout[-2000:], p.stderr[-4000:], file=sys.stderr)
        sys.exit(f"failed with exit code {p.returncode}")
    return p.stdout, p.stderr


def summarize(label, stdout, stderr, tokens_per_step):
    ms = [float(m) for m in re.findall(r"\| (\d+) ms \|", stdout)]
    if len(ms) < 2:
        sys.exit(f"{label}: no step lines in\n{stdout}")
    steady = statistics.median(ms[1:])
    comm = [(int(r), float(s)) for r, s in re.findall(r"mpi: rank (\d+) of \d+: .* ([\d.]+) s", stderr)]
    rss = [int(k) for k in re.findall(r"^maxrss_kib (\d+)$", stderr, re.M)]
    line = f"{label}: {tokens_per_step / (steady / 1e3):,.0f} tokens/s (median step {steady:.0f} ms)"
    if comm:
        total = sum(ms) / 1e3
        line += "; communication " + ", ".join(
            f"rank {r} {s:.2f} s = {100 * s / total:.0f}% of step time" for r, s in sorted(comm))
    if rss:
        line += "; peak RSS " + ", ".join(f"{k / 1024:.0f} MiB" for k in rss)
    print(line, flush=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--gptc", default="build/tools/gptc")
    ap.add_argument("--steps", type=int, default=6)
    ap.add_argument("--zero", action="store_true", help="also run 2 ranks with --zero 1")
    args = ap.parse_args()
    gptc = os.path.abspath(args.gptc)
    print(f"CPU: {cpu_name()}, {os.cpu_count()} cores", flush=True)
    work = tempfile.mkdtemp(prefix="gptc_mpi_bench_")
    shard = os.path.join(work, "shk_train.bin")
    run([gptc, "tokenize", "data/tinyshakespeare.txt", "-o", os.path.join(work, "shk")])
    timed = ["/usr/bin/time", "-f", "maxrss_kib %M"]
    common = ["run", "models/gpt2.graph", "--train", "-i", shard, "-t", "64", "--steps",
              str(args.steps), "--sample", "0", "-n", "0", "--val-every", "0", "--val-batches", "1"]
    mpirun = ["mpirun", "--oversubscribe", "--allow-run-as-root", "-np", "2",
              "-x", "GPTC_MPI_STATS=1", "--bind-to", "none"]
    tokens = 8 * 64
    out, err = run(mpirun + timed + [gptc] + common + ["-b", "4", "--threads", "1", "-o",
                                                        os.path.join(work, "two")])
    summarize("2 ranks x 1 thread, B 4 each", out, err, tokens)
    if args.zero:
        out, err = run(mpirun + timed + [gptc] + common + ["-b", "4", "--threads", "1", "--zero", "1",
                                                            "-o", os.path.join(work, "zero")])
        summarize("2 ranks x 1 thread, B 4 each, --zero 1", out, err, tokens)
    out, err = run(timed + [gptc] + common + ["-b", "8", "--threads", "2", "-o",
                                               os.path.join(work, "one")])
    summarize("1 rank x 2 threads, B 8", out, err, tokens)


if __name__ == "__main__":
    main()
