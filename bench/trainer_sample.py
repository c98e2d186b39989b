#!/usr/bin/python3
"""The sample at the end of `gptc run --train`, before and after issue #23, on GPT-2 124M.

    /usr/bin/python3 bench/trainer_sample.py --old /work/main/build/tools/gptc \
        --new build/tools/gptc [--sample 200] [--threads 2]

Both binaries run the issue's command on a GPT-2 BPE shard of tinyshakespeare (made once with the
new binary's `gptc tokenize`):

    gptc run models/gpt2.graph --train -i shk_train.bin --steps 1 -b 1 -t 1024 --sample 200 \
        -m 1 -n 0 --threads 2

Each stdout line is time-stamped as it arrives (stdbuf -oL: the old binary does not flush before
it samples). The **sample phase** is from the `wrote` line to the process's exit: all that is left
then is copying the weights into the sampling step and sampling. The **final save** is from the
`final` line to the `wrote` line (the old binary wrote model.ckpt and the step folder there, the new
one the step folder and a small model.ckpt). The old binary samples by recomputing the whole
T = 1024 forward per token (runtime/generate/sampling.cpp); the new one uses the KV-cache decode step of
`gptc run --generate`. Prints the CPU and the load average before and after each run.

Measured (2026-12-06, AMD EPYC Zen 3, 2 cores shared with other engineers' builds): see the
figures recorded in docs/training.md.
"""
import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time


def cpu_name():
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return "?"


def load():
    return open("/proc/loadavg").read().split()[:3]


def run(binary, shard, out, args):
    cmd = ["stdbuf", "-oL", binary, "run", "models/gpt2.graph", "--train", "-i", shard,
           "--steps", "1", "-b", "1", "-t", "1024", "--sample", str(args.sample), "-m", "1",
           "-n", "0", "--threads", str(args.threads), "-o", out]
    print("$ " + " ".join(cmd), flush=True)
    before = load()
    t0 = time.monotonic()
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    stamps = {}
    lines = []
    for line in p.stdout:
        now = time.monotonic() - t0
        lines.append((now, line.rstrip("\n")))
        for key in ("engine", "final", "wrote", "sample"):
            if line.startswith(key) and key not in stamps:
                stamps[key] = now
    err = p.stderr.read()
    p.wait()
    end = time.monotonic() - t0
    if p.returncode != 0:
        sys.exit(f"{binary} exited {p.returncode}: {err.strip()}")
    for t, l in lines:
        if not l.startswith("step") or "1/1" in l:
            print(f"  {t:8.1f} s  {l[:110]}")
    size = 0
    for root, _, files in os.walk(out):
        size += sum(os.path.getsize(os.path.join(root, f)) for f in files)
    r = {
        "sample": end - stamps["wrote"],
        "save": stamps["wrote"] - stamps["final"],
        "total": end,
        "disk": size / 2**30,
        "load": (before, load()),
    }
    print(f"  sample phase {r['sample']:.1f} s, final save {r['save']:.1f} s, total {end:.1f} s, "
          f"out folder {r['disk']:.2f} GiB, load {' '.join(before)} -> {' '.join(r['load'][1])}",
          flush=True)
    return r


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--old", default="/work/main/build/tools/gptc")
    ap.add_argument("--new", default="build/tools/gptc")
    ap.add_argument("--sample", type=int, default=200)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--only", choices=["old", "new"], help="run one side only")
    args = ap.parse_args()
    print(f"CPU {cpu_name()}, {os.cpu_count()} cores; load {' '.join(load())}")
    tmp = tempfile.mkdtemp(prefix="gptc_trainer_sample_")
    try:
        subprocess.run([args.new, "tokenize", "data/tinyshakespeare.txt", "-o",
                        os.path.join(tmp, "shk")], check=True, stdout=subprocess.DEVNULL)
        shard = os.path.join(tmp, "shk_train.bin")
        res = {}
        for side in ("old", "new"):
            if args.only and side != args.only:
                continue
            res[side] = run(getattr(args, side), shard, os.path.join(tmp, "out_" + side), args)
            shutil.rmtree(os.path.join(tmp, "out_" + side), ignore_errors=True)
        if len(res) == 2:
            o, n = res["old"], res["new"]
            print(f"sample phase: old {o['sample']:.1f} s, new {n['sample']:.1f} s "
                  f"({o['sample'] / n['sample']:.0f}x); final save: old {o['save']:.1f} s, "
                  f"new {n['save']:.1f} s; out folder: old {o['disk']:.2f} GiB, "
                  f"new {n['disk']:.2f} GiB")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
