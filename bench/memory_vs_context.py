#!/usr/bin/python3
"""Planned memory of GPT-2 124M against the context length, with and without fused attention.

For T in 128, 256, 512, 1024 (and --batch B, default 4) runs `gptc compile models/gpt2.graph
--set B=.. T=..` for the forward (inference pipeline) and the training step (`--train`), once with
`--fused-attention` (the fuse-attention pass: no [B,NH,T,T] value anywhere) and once with
`--no-fused-attention` (the unfused softmax chain), and for training also with `--fused-attention
--fused-lm-head` (the fuse-lm-head pass: no [B·T, V] logits), and reads the planned total
(parameters + state + inputs + arena) from the memory report. Planning only: nothing runs, so the
figures do not depend on the machine's load. Prints a markdown table and writes an SVG plot.

    /usr/bin/python3 bench/memory_vs_context.py --gptc build/tools/gptc --svg docs/img/memory_vs_context.svg

--run B T runs real training steps instead (`gptc run models/gpt2.graph --train --tokens F
--steps N` with --fused-attention --fused-lm-head and --memory-budget SIZE as given) under
/usr/bin/time -v, and prints the planned total, peak RSS, each step's time and loss:

    nice -n 19 /usr/bin/python3 bench/memory_vs_context.py --run 16 1024 --steps 3 --budget 3GiB
"""

import argparse
import os
import re
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
UNITS = {"B": 1, "KiB": 2**10, "MiB": 2**20, "GiB": 2**30}


def planned(gptc, batch, seq, train, fused, head=False, budget=None):
    cmd = [gptc, "compile", os.path.join(ROOT, "models/gpt2.graph"), "--set", f"B={batch}", f"T={seq}",
           f"maxT={max(seq, 1024)}"]
    if train:
        cmd.append("--train")
    cmd.append("--fused-attention" if fused else "--no-fused-attention")
    if head:
        cmd.append("--fused-lm-head")
    if budget:
        cmd += ["--memory-budget", budget]
    out = subprocess.run(cmd, capture_output=True, text=True)
    if out.returncode != 0:
        sys.exit(f"memory_vs_context.py: {' '.join(cmd)} failed:\n{out.stderr[-2000:]}")
    text = out.stdout + out.stderr
    total = 0
    for part in ("parameters", "state \\(moments…\\)", "inputs", "arena"):
        m = re.search(rf"^\s*{part}\s+([0-9.]+) (B|KiB|MiB|GiB)", text, re.M)
        if not m:
            sys.exit(f"memory_vs_context.py: no '{part}' line in the report of {' '.join(cmd)}:\n{text[-2000:]}")
        total += float(m.group(1)) * UNITS[m.group(2)]
    return total


def svg(rows, path):
    """Planned GiB against T, four lines (forward/training × fused/unfused), log2 x axis."""
    W, H, L, R, T, B = 560, 340, 60, 170, 20, 40
    ts = [r[0] for r in rows]
    top = max(max(r[1:5] + r[6:]) for r in rows) / 2**30 * 1.1
    x = lambda i: L + (W - L - R) * i / (len(ts) - 1)
    y = lambda g: T + (H - T - B) * (1 - g / top)
    series = [("training, unfused", 4, "#d62728", "6,4"), ("training, fused attention", 3, "#d62728", ""),
              ("training, + fused LM head", 6, "#2ca02c", ""),
              ("forward, unfused", 2, "#1f77b4", "6,4"), ("forward, fused attention", 1, "#1f77b4", "")]
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}" font-family="sans-serif" font-size="12">',
           f'<rect width="{W}" height="{H}" fill="white"/>',
           f'<line x1="{L}" y1="{H - B}" x2="{W - R}" y2="{H - B}" stroke="black"/>',
           f'<line x1="{L}" y1="{T}" x2="{L}" y2="{H - B}" stroke="black"/>',
           f'<text x="{(L + W - R) / 2}" y="{H - 8}" text-anchor="middle">context T (GPT-2 124M, B {rows[0][5]})</text>',
           f'<text x="14" y="{(T + H - B) / 2}" transform="rotate(-90 14 {(T + H - B) / 2})" text-anchor="middle">planned GiB</text>']
    for i, t in enumerate(ts):
        out.append(f'<text x="{x(i)}" y="{H - B + 16}" text-anchor="middle">{t}</text>')
    step = 1 if top < 8 else 2
    g = 0
    while g <= top:
        out.append(f'<text x="{L - 6}" y="{y(g) + 4}" text-anchor="end">{g}</text>')
        out.append(f'<line x1="{L}" y1="{y(g)}" x2="{W - R}" y2="{y(g)}" stroke="#ddd"/>')
        g += step
    for k, (name, col, color, dash) in enumerate(series):
        pts = " ".join(f"{x(i)},{y(r[col] / 2**30)}" for i, r in enumerate(rows))
        out.append(f'<polyline points="{pts}" fill="none" stroke="{color}" stroke-width="2" stroke-dasharray="{dash}"/>')
        ly = T + 16 * k + 10
        out.append(f'<line x1="{W - R + 10}" y1="{ly}" x2="{W - R + 34}" y2="{ly}" stroke="{color}" stroke-width="2" stroke-dasharray="{dash}"/>')
        out.append(f'<text x="{W - R + 38}" y="{ly + 4}">{name}</text>')
    out.append("</svg>")
    with open(path, "w") as f:
        f.write("\n".join(out) + "\n")


def token_file(vocab, path):
    """Random uint16 tokens below `vocab` (raw format), 200k of them."""
    import random

    if not os.path.exists(path):
        rng = random.Random(0)
        with open(path, "wb") as f:
            f.write(b"".join(rng.randrange(vocab).to_bytes(2, "little") for _ in range(200000)))
    return path


def run_steps(args):
    """Real steps under /usr/bin/time -v: planned total, peak RSS, step times and losses."""
    import tempfile

    batch, seq = args.run
    flags = ["--fused-attention", "--fused-lm-head"] if not args.unfused else []
    if args.budget:
        flags += ["--memory-budget", args.budget]
    plan = planned(args.gptc, batch, seq, True, not args.unfused, not args.unfused, args.budget)
    with tempfile.TemporaryDirectory() as tmp:
        cmd = ["/usr/bin/time", "-v", args.gptc, "run", os.path.join(ROOT, "models/gpt2.graph"), "--set",
               f"B={batch}", f"T={seq}", "--train", "--tokens", token_file(50257, os.path.join(tmp, "tok.bin")),
               "--steps", str(args.steps), "--threads", str(args.threads)] + flags
        out = subprocess.run(cmd, capture_output=True, text=True)
    if out.returncode != 0:
        sys.exit(f"memory_vs_context.py: {' '.join(cmd)} failed:\n{out.stderr[-3000:]}")
    rss = re.search(r"Maximum resident set size \(kbytes\): (\d+)", out.stderr)
    steps = re.findall(r"^step\s+(\d+)\s+loss ([0-9.]+)\s+grad_norm ([0-9.]+)\s+([0-9.]+) ms", out.stdout, re.M)
    print(f"GPT-2 124M training, B {batch}, T {seq}, {args.threads} threads, flags: {' '.join(flags) or '(none)'}")
    print(f"  planned total  {plan / 2**30:.2f} GiB")
    print(f"  peak RSS       {int(rss.group(1)) / 2**20:.2f} GiB" if rss else "  peak RSS       ?")
    for s, loss, norm, ms in steps:
        print(f"  step {s}  loss {loss}  grad_norm {norm}  {float(ms) / 1000:.1f} s")
    user = re.search(r"User time \(seconds\): ([0-9.]+)", out.stderr)
    wall = re.search(r"Elapsed \(wall clock\) time.*: (\S+)", out.stderr)
    print(f"  user time {user.group(1) if user else '?'} s, wall {wall.group(1) if wall else '?'}")


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--gptc", default=os.path.join(ROOT, "build/tools/gptc"))
    ap.add_argument("--batch", type=int, default=4)
    ap.add_argument("--seqs", type=int, nargs="+", default=[128, 256, 512, 1024])
    ap.add_argument("--svg", default=None, help="write the plot here")
    ap.add_argument("--run", type=int, nargs=2, metavar=("B", "T"), help="run training steps at B, T")
    ap.add_argument("--steps", type=int, default=3)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--budget", default=None, help="--memory-budget SIZE for --run")
    ap.add_argument("--unfused", action="store_true", help="--run without the fused attention and LM head")
    args = ap.parse_args()
    if args.run:
        return run_steps(args)
    rows = []
    for t in args.seqs:
        f_fwd = planned(args.gptc, args.batch, t, False, True)
        u_fwd = planned(args.gptc, args.batch, t, False, False)
        f_tr = planned(args.gptc, args.batch, t, True, True)
        u_tr = planned(args.gptc, args.batch, t, True, False)
        h_tr = planned(args.gptc, args.batch, t, True, True, True)
        rows.append((t, f_fwd, u_fwd, f_tr, u_tr, args.batch, h_tr))
    gib = lambda v: f"{v / 2**30:.2f} GiB"
    print(f"GPT-2 124M, B {args.batch}: planned total (parameters + state + inputs + arena)")
    print("| T | forward, fused | forward, unfused | training, fused | training, unfused "
          "| training, fused attention + LM head |")
    print("|---:|---:|---:|---:|---:|---:|")
    for t, a, b, c, d, _, e in rows:
        print(f"| {t} | {gib(a)} | {gib(b)} | {gib(c)} | {gib(d)} | {gib(e)} |")
    if args.svg:
        svg(rows, args.svg)
        print(f"wrote {args.svg}")


if __name__ == "__main__":
    sys.exit(main())
