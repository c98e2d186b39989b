#!/usr/bin/python3
"""Planned memory of GPT-2 124M against the context length, with and without fused attention.

For T in 128, 256, 512, 1024 (and --batch B, default 4) runs `gptc compile models/gpt2.graph
--set B=.. T=..` for the forward (inference pipeline) and the training step (`--train`), once with
`--fused-attention` (the fuse-attention pass: no [B,NH,T,T] value anywhere) and once with
`--no-fused-attention`
(the unfused softmax chain), and reads the planned total
(parameters + state + inputs + arena) from the memory report. Planning only: nothing runs, so the
figures do not depend on the machine's load. Prints a markdown table and writes an SVG plot.

    /usr/bin/python3 bench/memory_vs_context.py --gptc build/tools/gptc --svg docs/img/memory_vs_context.svg
"""

import argparse
import os
import re
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
UNITS = {"B": 1, "KiB": 2**10, "MiB": 2**20, "GiB": 2**30}


def planned(gptc, batch, seq, train, fused):
    cmd = [gptc, "compile", os.path.join(ROOT, "models/gpt2.graph"), "--set", f"B={batch}", f"T={seq}",
           f"maxT={max(seq, 1024)}"]
    if train:
        cmd.append("--train")
    cmd.append("--fused-attention" if fused else "--no-fused-attention")
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
    top = max(max(r[1:]) for r in rows) / 2**30 * 1.1
    x = lambda i: L + (W - L - R) * i / (len(ts) - 1)
    y = lambda g: T + (H - T - B) * (1 - g / top)
    series = [("training, unfused", 4, "#d62728", "6,4"), ("training, fused attention", 3, "#d62728", ""),
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


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--gptc", default=os.path.join(ROOT, "build/tools/gptc"))
    ap.add_argument("--batch", type=int, default=4)
    ap.add_argument("--seqs", type=int, nargs="+", default=[128, 256, 512, 1024])
    ap.add_argument("--svg", default=None, help="write the plot here")
    args = ap.parse_args()
    rows = []
    for t in args.seqs:
        f_fwd = planned(args.gptc, args.batch, t, False, True)
        u_fwd = planned(args.gptc, args.batch, t, False, False)
        f_tr = planned(args.gptc, args.batch, t, True, True)
        u_tr = planned(args.gptc, args.batch, t, True, False)
        rows.append((t, f_fwd, u_fwd, f_tr, u_tr, args.batch))
    gib = lambda v: f"{v / 2**30:.2f} GiB"
    print(f"GPT-2 124M, B {args.batch}: planned total (parameters + state + inputs + arena)")
    print("| T | forward, fused | forward, unfused | training, fused | training, unfused |")
    print("|---:|---:|---:|---:|---:|")
    for t, a, b, c, d, _ in rows:
        print(f"| {t} | {gib(a)} | {gib(b)} | {gib(c)} | {gib(d)} |")
    if args.svg:
        svg(rows, args.svg)
        print(f"wrote {args.svg}")


if __name__ == "__main__":
    sys.exit(main())
