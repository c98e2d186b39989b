#!/usr/bin/python3
"""llama.graph against chargpt.graph on Shakespeare: the same parameter count, the same time budget.

Both models train on data/tinyshakespeare.txt (characters, the last 10% held out) AT THE SAME TIME,
one thread each, so that they see the same machine load; each gets `--minutes` of training and is
then stopped with SIGTERM (the trainer saves a checkpoint and exits). The budget is the process's
own CPU time (user + system, /proc/PID/stat) from the start of its training loop, not the wall
clock: on a shared 2-core machine a process waits for a core at times (and the lead's benchmark
freezer stops niced processes outright), and one thread busy for 10 minutes is 10 minutes of CPU.
The wall time is reported beside it. Reported per model: steps done, the last validation loss
measured within the budget (and at which step and second), the last training loss, the CPU time
per step (the step lines' own milliseconds are wall time, which on a loaded machine says more
about the load than about the model).

The configuration is `gptc run --train`'s default for chargpt (L 4, C 128, NH 4, B 32, T 64, the
CPU-sized one) for both; llama's feed-forward width F is chosen so the parameter counts match
(F 360: 832,896 parameters against chargpt's 834,432, -0.2%; CS336's rule, 8/3 C rounded up to a
multiple of 64, would give 384 and +4.2%). chargpt runs without dropout (--set drop=0), as llama
does: the comparison is of the architectures, and dropout only slows a 10-minute run. Both use the
trainer's AdamW defaults, the same seed, the same batches (the windows depend on the seed, B and T
only), warmup then a constant learning rate (the number of steps is not known in advance, so no
decay schedule can end at the budget).

    nice -n 19 /usr/bin/python3 bench/llama_vs_chargpt.py                 # 10 minutes
    nice -n 19 /usr/bin/python3 bench/llama_vs_chargpt.py --minutes 1 --markdown

Left to others: the PyTorch step-time comparison (bench/llama_bench.py).
"""

import argparse
import os
import re
import signal
import statistics
import subprocess
import sys
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
COMMON = ["--set", "L=4", "C=128", "NH=4", "-b", "32", "-t", "64"]
MODELS = {
    "chargpt": ("models/chargpt.graph", ["--set", "drop=0"]),
    "llama": ("models/llama.graph", ["--set", "F=360"]),
}
TICK = os.sysconf("SC_CLK_TCK")
STEP = re.compile(r"^step (\d+)/\d+ \| loss ([0-9.]+)(?: \| val ([0-9.]+))? .* \| (\d+) ms \|")


def cpu_seconds(pid):
    """User + system CPU seconds of process `pid` so far (0 when it is gone)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / TICK  # utime, stime: fields 14 and 15
    except (OSError, IndexError, ValueError):
        return 0.0


def load():
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


class Run:
    def __init__(self, name, args, budget):
        model, extra = MODELS[name]
        self.name, self.budget = name, budget
        out = os.path.join(args.out, name)
        self.cmd = [args.gptc, "run", os.path.join(ROOT, model), "--train", "-i", args.data, "--threads", "1",
                    "--steps", "1000000", "--lr-schedule", "constant", "--val-every", str(args.val_every),
                    "--val-batches", str(args.val_batches), "--sample", "0", "--seed", str(args.seed),
                    "-o", out] + COMMON + extra
        if args.nice:
            self.cmd = ["nice", "-n", "19"] + self.cmd
        self.params = None
        self.start = None  # CPU seconds when the training loop started (the "train" line)
        self.wall0 = None
        self.steps, self.vals, self.times = [], [], []
        self.lines = []

    def launch(self):
        self.stopped = False
        self.proc = subprocess.Popen(self.cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                     env=dict(os.environ, OMP_NUM_THREADS="1"))
        self.reader = threading.Thread(target=self.read, daemon=True)
        self.reader.start()

    def read(self):
        for line in self.proc.stdout:
            now = cpu_seconds(self.proc.pid)
            line = line.rstrip("\n")
            self.lines.append(line)
            if line.startswith("model "):
                m = re.search(r"([0-9.]+)M params", line)
                self.params = m.group(1) if m else None
            if line.startswith("train ") and self.start is None:
                self.start, self.wall0 = now, time.monotonic()
            m = STEP.match(line)
            if m and self.start is not None:
                t = now - self.start
                if t > self.budget:
                    continue  # finished after the budget: not counted
                step, loss, val, ms = int(m.group(1)), float(m.group(2)), m.group(3), int(m.group(4))
                self.steps.append((step, loss, t))
                self.wall = time.monotonic() - self.wall0
                self.times.append(ms)
                if val is not None:
                    self.vals.append((step, float(val), t))

    def over(self):
        return self.start is not None and cpu_seconds(self.proc.pid) - self.start >= self.budget


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--gptc", default=os.path.join(ROOT, "build", "tools", "gptc"))
    ap.add_argument("--data", default=os.path.join(ROOT, "data", "tinyshakespeare.txt"))
    ap.add_argument("--minutes", type=float, default=10.0, help="training time per model")
    ap.add_argument("--val-every", type=int, default=50, help="steps between validations")
    ap.add_argument("--val-batches", type=int, default=8)
    ap.add_argument("--seed", type=int, default=1337)
    ap.add_argument("--out", default=os.path.join(ROOT, "out", "llama_vs_chargpt"))
    ap.add_argument("--no-nice", dest="nice", action="store_false", help="do not run gptc under nice -n 19")
    ap.add_argument("--markdown", action="store_true")
    args = ap.parse_args()
    if not os.path.exists(args.gptc):
        sys.exit(f"llama_vs_chargpt.py: no gptc at {args.gptc}")
    budget = args.minutes * 60
    cpu = re.search(r"model name\s*:\s*(.*)", open("/proc/cpuinfo").read())
    print(f"# {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, {cpu.group(1) if cpu else '?'}, "
          f"{os.cpu_count()} cores; {args.minutes:g} minutes each, 1 thread each, both at once; "
          f"load average before: {load()}", flush=True)
    runs = [Run(name, args, budget) for name in MODELS]
    for r in runs:
        print("# " + " ".join(r.cmd), flush=True)
        r.launch()
    loads = []
    while any(r.proc.poll() is None for r in runs):
        for r in runs:
            # Once: the trainer saves a checkpoint and exits after its step; its handler is
            # SA_RESETHAND, so a second SIGTERM while it saves would kill it (exit -15).
            if r.proc.poll() is None and not r.stopped and r.over():
                r.proc.send_signal(signal.SIGTERM)
                r.stopped = True
        loads.append(os.getloadavg()[0])
        time.sleep(1)
    for r in runs:
        r.reader.join()
        if r.proc.returncode not in (0, 130) or not r.steps:
            print("\n".join(r.lines[-20:]), file=sys.stderr)
            sys.exit(f"llama_vs_chargpt.py: {r.name} failed (exit {r.proc.returncode})")
    print(f"# load average after: {load()}; 1-minute load during the runs: min {min(loads):.2f}, "
          f"median {statistics.median(loads):.2f}, max {max(loads):.2f}")
    if args.markdown:
        print(f"| model | params | steps in {args.minutes:g} CPU min | wall | CPU per step | last val loss (step, CPU s) | last train loss |")
        print("|---|---:|---:|---:|---:|---:|---:|")
    for r in runs:
        step, loss, _ = r.steps[-1]
        val = r.vals[-1] if r.vals else None
        vtext = f"{val[1]:.4f} ({val[0]}, {val[2]:.0f} s)" if val else "—"
        per = r.steps[-1][2] / step * 1e3  # CPU ms per step, validations included
        if args.markdown:
            print(f"| {r.name} | {r.params}M | {step} | {r.wall:.0f} s | {per:.0f} ms | {vtext} | {loss:.4f} |")
        else:
            print(f"{r.name:8s} {r.params}M params: {step} steps ({r.wall:.0f} s wall), {per:.0f} CPU ms/step, last val {vtext}, "
                  f"last train loss {loss:.4f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
