#!/usr/bin/python3
"""Greedy decoding speed, batch 1: gptc's KV-cache decode step (JIT) beside PyTorch 1.13 eager with
a KV cache of its own, run alternately in one session, for 1 and 2 threads; medians of tokens/s
and the ratio gptc / PyTorch.

Both sides use random weights (the graph's init; speed does not depend on the values) and the
GPT-2 124M configuration by default. PyTorch's step is the mirror in tests/reference/models.py
(the same ops as models/gpt2.graph, on torch's fused kernels unless --explicit-ops) with a cache that grows: attention reads pos+1 keys, the
output layer only the last position. gptc's attention reads the whole static cache (maxT
positions), masked past pos.

    /usr/bin/python3 bench/generate_bench.py                     # 124M, -n 64, 3 repeats
    /usr/bin/python3 bench/generate_bench.py --set L=2 --tokens 32 --repeats 1

Measured figure: tokens/s = n / (wall time of the n decode steps); gptc's comes from
`gptc run --generate --stats` (the generate loop only, after compiling).
"""

import argparse
import os
import re
import statistics
import subprocess
import sys
import time

import torch

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tests", "reference"))
import models as M  # noqa: E402


@torch.no_grad()
def torch_greedy(model, prompt, n):
    """Greedy decoding with a KV cache: one token per step, caches (L,B,NH,maxT,D) filled as we go."""
    c = model.cfg
    D = c.C // c.NH
    kc = torch.zeros(c.L, 1, c.NH, c.maxT, D)
    vc = torch.zeros(c.L, 1, c.NH, c.maxT, D)
    tok = prompt[0]
    out = []
    pos_end = len(prompt) + n - 1
    for pos in range(pos_end):
        x = model.wte[tok : tok + 1].unsqueeze(0) + model.wpe[pos : pos + 1]  # (1,1,C)
        for l in range(c.L):
            h = M.layernorm(x, model.ln1w[l], model.ln1b[l])
            qkv = M.linear(h, model.qkvw[l], model.qkvb[l])  # (1,1,3C)
            q = M.split_heads(qkv[:, :, 0 : c.C], c.NH)
            kc[l, :, :, pos : pos + 1] = M.split_heads(qkv[:, :, c.C : 2 * c.C], c.NH)
            vc[l, :, :, pos : pos + 1] = M.split_heads(qkv[:, :, 2 * c.C :], c.NH)
            att = (q @ kc[l, :, :, : pos + 1].transpose(-1, -2)) * (1.0 / (D**0.5))  # (1,NH,1,pos+1)
            y = M.merge_heads(torch.softmax(att, dim=-1) @ vc[l, :, :, : pos + 1])
            x = x + M.linear(y, model.attprojw[l], model.attprojb[l])
            h2 = M.layernorm(x, model.ln2w[l], model.ln2b[l])
            x = x + M.linear(M.gelu(M.linear(h2, model.fcw[l], model.fcb[l])), model.fcprojw[l], model.fcprojb[l])
        hf = M.layernorm(x, model.lnfw, model.lnfb)
        logits = hf[0, 0] @ model.wte.t()  # (Vp,)
        if pos + 1 < len(prompt):
            tok = prompt[pos + 1]
        else:
            tok = int(torch.argmax(logits[: c.V]))
            out.append(tok)
    return out


def run_torch(cfg, threads, n):
    torch.set_num_threads(threads)
    torch.manual_seed(0)
    model = M.GPT2(cfg)
    torch_greedy(model, [50256 % cfg.V], 4)  # warm-up
    t0 = time.perf_counter()
    torch_greedy(model, [50256 % cfg.V], n)
    return n / (time.perf_counter() - t0)


def run_gptc(gptc, sets, threads, n):
    cmd = [gptc, "run", "models/gpt2.graph", "--generate", "--prompt-ids", "0", "-n", str(n),
           "--greedy", "--stats", "--threads", str(threads)]
    for s in sets:
        cmd += ["--set", s]
    env = dict(os.environ, OMP_NUM_THREADS=str(threads))
    p = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, env=env)
    if p.returncode != 0:
        sys.exit(f"gptc failed: {p.stderr.strip()}")
    m = re.search(r"generated \d+ x \d+ tokens in ([0-9.]+) ms", p.stderr)
    return n * 1000.0 / float(m.group(1))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--gptc", default=os.path.join(ROOT, "build", "tools", "gptc"))
    ap.add_argument("--set", action="append", default=[], help="NAME=VALUE for gpt2.graph")
    ap.add_argument("--tokens", type=int, default=64)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--threads", default="1,2")
    ap.add_argument("--explicit-ops", action="store_true", help="PyTorch on the mirror's spelled-out ops")
    a = ap.parse_args()
    if not a.explicit_ops:
        M.use_torch_kernels()  # F.layer_norm, F.linear, F.gelu: PyTorch as a practitioner writes it
    cfg = M.GPT2Config(B=1, T=1)
    for s in a.set:
        k, v = s.split("=")
        setattr(cfg, k, int(v))
    print(f"GPT-2 L={cfg.L} C={cfg.C} NH={cfg.NH} maxT={cfg.maxT}, batch 1, greedy, {a.tokens} tokens, "
          f"random weights; torch {torch.__version__}; load {os.getloadavg()[0]:.1f}")
    print("| threads | gptc tokens/s | PyTorch tokens/s | gptc / PyTorch |")
    print("|---|---|---|---|")
    for t in [int(x) for x in a.threads.split(",")]:
        g, p = [], []
        for _ in range(a.repeats):  # alternate, so both see the same machine load
            g.append(run_gptc(a.gptc, a.set, t, a.tokens))
            p.append(run_torch(cfg, t, a.tokens))
        gm, pm = statistics.median(g), statistics.median(p)
        print(f"| {t} | {gm:.1f} | {pm:.1f} | {gm / pm:.2f} |", flush=True)


if __name__ == "__main__":
    main()
