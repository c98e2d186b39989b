#!/usr/bin/python3
"""Fused attention against the unfused chain: training step time, side by side.

Two workloads (issue #17), each run as `gptc run MODEL --train --tokens F --steps N` (the
fixed-batch mode, the same batch every step) with and without the fused attention, in alternating
rounds (ABAB...) so both see the same machine load:
  chargpt   models/chargpt.graph at full size (L 6, C 256, NH 8, B 16, T 256: causal + dropout)
  gpt2      models/gpt2.graph at T 1024, B given by --batch (causal, D 64)
and, with --only, one layer's attention alone (bench/attention_layer.graph: the kernels with
little else in the step, so the load's noise on the rest does not hide them):
  layer       chargpt's shapes (B 16, NH 8, T 256, D 32, dropout 0.1)
  layer-gpt2  GPT-2's (B 1, NH 12, T 1024, D 64, no dropout)
and, with --defaults, the models at their cards' own sizes, as `gptc run MODEL --train` runs them
(fused attention is the default; this checks that no model's default step got slower):
  chargpt (as above), gpt2-64 (B 4, T 64), llama (B 16, T 256), seq2seq (B 64, its own digit data;
  its time is the median of the printed step times 2..N)
A variant's time is gptc's own "median ... ms per step" line (steps 2..N). Printed per workload:
min and median of each variant over the rounds, their ratio (fused / unfused; < 1: fused is
faster), the CPU and the load average before and after. --profile adds the per-kernel-kind table
of the last round of each variant.

    /usr/bin/python3 bench/fused_attention.py --gptc build/tools/gptc                 # both
    /usr/bin/python3 bench/fused_attention.py --gptc build/tools/gptc --only chargpt --rounds 5
    /usr/bin/python3 bench/fused_attention.py --gptc build/tools/gptc --only gpt2 --batch 4
    /usr/bin/python3 bench/fused_attention.py --gptc build/tools/gptc --only layer-gpt2 --rounds 3
    /usr/bin/python3 bench/fused_attention.py --gptc build/tools/gptc --defaults --rounds 4

Run it niced when others measure. The fused variant passes --fused-attention and the unfused one
--no-fused-attention, so it compares the two whatever the default is.
"""

import argparse
import os
import random
import re
import statistics
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def token_file(path, vocab, n=20000):
    rng = random.Random(0)
    with open(path, "wb") as f:
        for _ in range(n):
            f.write(rng.randrange(vocab).to_bytes(2, "little"))


def cpu():
    for line in open("/proc/cpuinfo"):
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return "?"


def load():
    return " ".join(open("/proc/loadavg").read().split()[:3])


def run(args, cmd):
    out = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT)
    if out.returncode != 0:
        sys.exit(f"failed ({out.returncode}): {' '.join(cmd)}\n{out.stderr[-2000:]}")
    m = re.search(r"median\s+([0-9.]+) ms per step", out.stdout)
    if m:
        return float(m.group(1)), out.stdout
    # Without --tokens (seq2seq makes its own data) there is no median line: the step lines'
    # times, steps 2..N (step 1 also runs the first validation).
    steps = [float(t) for i, t in re.findall(r"^step (\d+)/\d+ \|.*?\| ([0-9.]+) ms \|",
                                             out.stdout, re.M) if int(i) >= 2]
    if not steps:
        sys.exit(f"no step times in the output of {' '.join(cmd)}")
    return statistics.median(steps), out.stdout


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--gptc", default=os.path.join(ROOT, "build", "tools", "gptc"))
    ap.add_argument("--only", choices=["chargpt", "gpt2", "layer", "layer-gpt2", "gpt2-64",
                                       "llama", "seq2seq"])
    ap.add_argument("--defaults", action="store_true",
                    help="the four models at their cards' sizes: chargpt, gpt2-64, llama, seq2seq")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--steps", type=int, default=0, help="steps per run (default 6 chargpt, 3 gpt2)")
    ap.add_argument("--batch", type=int, default=1, help="GPT-2's batch (default 1)")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--profile", action="store_true")
    args = ap.parse_args()

    tmp = tempfile.mkdtemp(prefix="fused_attention_")
    work = {
        "chargpt": (["models/chargpt.graph", "--set", "L=6", "C=256", "NH=8", "B=16", "T=256"],
                    65, args.steps or 6),
        "gpt2": (["models/gpt2.graph", "--set", f"B={args.batch}", "T=1024"], 50257,
                 args.steps or 3),
        "layer": (["bench/attention_layer.graph"], 65, args.steps or 4),
        "layer-gpt2": (["bench/attention_layer.graph", "--set", "B=1", "NH=12", "T=1024", "D=64",
                        "drop=0"], 65, args.steps or 4),
        "gpt2-64": (["models/gpt2.graph"], 50257, args.steps or 6),
        "llama": (["models/llama.graph"], 65, args.steps or 6),
        "seq2seq": (["models/seq2seq.graph"], None, args.steps or 12),
    }
    selected = ({args.only} if args.only else
                {"chargpt", "gpt2-64", "llama", "seq2seq"} if args.defaults else {"chargpt", "gpt2"})
    print(f"cpu     {cpu()}, {args.threads} threads")
    for name, (model, vocab, steps) in work.items():
        if name not in selected:
            continue
        # the fixed-batch mode (--tokens) writes nothing; a run on the card's data writes a run
        # folder, kept out of the source tree
        data = ["--out", os.path.join(tmp, "out")]
        if vocab is not None:
            tokens = os.path.join(tmp, f"{name}.bin")
            token_file(tokens, vocab)
            data = ["--tokens", tokens] + (["--profile"] if args.profile else [])
        base = [args.gptc, "run", *model, "--train", *data, "--steps", str(steps), "--threads",
                str(args.threads)]
        variants = {"fused": base + ["--fused-attention"], "unfused": base + ["--no-fused-attention"]}
        times = {v: [] for v in variants}
        outs = {}
        before = load()
        for r in range(args.rounds):
            for v, cmd in variants.items():
                t, outs[v] = run(args, cmd)
                times[v].append(t)
                print(f"{name:8s}round {r + 1} {v:8s}{t:10.1f} ms/step  (load {load()})", flush=True)
        after = load()
        fm, um = statistics.median(times["fused"]), statistics.median(times["unfused"])
        fb, ub = min(times["fused"]), min(times["unfused"])
        print(f"{name:8s}fused   min {fb:.1f} median {fm:.1f} ms/step; unfused min {ub:.1f} "
              f"median {um:.1f}; fused/unfused: min {fb / ub:.3f}, median {fm / um:.3f} "
              f"({args.rounds} rounds, load {before} -> {after})")
        if args.profile:
            for v in variants:
                print(f"--- {name} {v}: last round's profile")
                print(outs[v][outs[v].find("kernel profile"):])


if __name__ == "__main__":
    main()
