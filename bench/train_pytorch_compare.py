#!/usr/bin/python3
"""gptc vs PyTorch: the same char-GPT trained the same way, side by side.

Same model (tests/reference/models.py's CharGPT mirrors models/chargpt.graph), same initial weights
(drawn here, handed to gptc with --init as a gptc checkpoint), same batches (runtime/text/token_data.cpp's
counter-based window sampler, reimplemented below), same schedule (runtime/train/lr_schedule.cpp), same
AdamW (betas 0.9/0.95, eps 1e-8, weight decay 0.1 on per-layer matrices, clipping at norm 1.0),
dropout off in both (counter-based masks would need the same hash on both sides); PyTorch runs on
its fused kernels and foreach AdamW unless --explicit-ops. Prints the
validation losses at every --val-every steps for both, their difference, and ms per step (median
over the run, each side timed alone: gptc first, then PyTorch, on the same threads).

    /usr/bin/python3 bench/train_pytorch_compare.py --steps 500           # the default config, L=4 C=128
    /usr/bin/python3 bench/train_pytorch_compare.py --steps 20 --tiny     # smoke test
"""
import argparse
import math
import os
import re
import struct
import subprocess
import sys
import time
import zlib

import torch

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tests", "reference"))
import models as M  # noqa: E402

MASK = (1 << 64) - 1
GOLDEN = 0x9E3779B97F4A7C15


def mix64(z):
    z &= MASK
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & MASK
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & MASK
    return z ^ (z >> 31)


def window_offsets(seed, step, B, n_tokens, T):
    """RandomBatchSampler::offset for rank 0: Lemire's multiply-shift of a SplitMix64 stream."""
    stream = mix64(mix64(seed + GOLDEN) + step * GOLDEN)
    rng = n_tokens - T
    return [(mix64(stream + r * GOLDEN) * rng) >> 64 for r in range(B)]


def batch(tokens, seed, step, B, T):
    offs = window_offsets(seed, step, B, len(tokens), T)
    idx = torch.tensor(offs).unsqueeze(1) + torch.arange(T + 1).unsqueeze(0)  # (B,T+1)
    rows = tokens[idx]
    return rows[:, :-1], rows[:, 1:]


def lr_at(step, max_lr, min_lr, warmup, total):
    if step < warmup:
        return max_lr * (step + 1) / warmup
    decay = total - 1 - warmup
    if decay <= 0:
        return max_lr if step < total else min_lr
    progress = min(1.0, (step - warmup) / decay)
    return min_lr + 0.5 * (1.0 + math.cos(math.pi * progress)) * (max_lr - min_lr)


def write_gptc_checkpoint(path, named):
    """docs/file-formats.md, "gptc checkpoint": magic, version, count, metadata, records, CRC-32."""
    meta = b"gptc-train-params 1"
    out = bytearray(b"GPTCCKPT" + struct.pack("<IIQ", 1, len(named), len(meta)) + meta)
    for name, t in named:
        data = t.detach().contiguous().float().numpy().tobytes()
        nb = name.encode()
        out += struct.pack("<I", len(nb)) + nb + struct.pack("<II", 1, t.dim())
        out += b"".join(struct.pack("<q", d) for d in t.shape) + struct.pack("<Q", len(data)) + data
    out += struct.pack("<I", zlib.crc32(out) & 0xFFFFFFFF)
    with open(path, "wb") as f:
        f.write(out)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--gptc", default=os.path.join(ROOT, "build", "tools", "gptc"))
    ap.add_argument("--data", default=os.path.join(ROOT, "data", "tinyshakespeare.txt"))
    ap.add_argument("--steps", type=int, default=500)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--warmup", type=int, default=100)
    ap.add_argument("--val-every", type=int, default=100)
    ap.add_argument("--val-batches", type=int, default=8)
    ap.add_argument("--seed", type=int, default=1337)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--tiny", action="store_true", help="L=1 C=32 NH=2 B=4 T=16 (a smoke test)")
    ap.add_argument("--explicit-ops", action="store_true",
                    help="PyTorch on the mirror's spelled-out ops (default: torch's fused kernels, foreach AdamW)")
    ap.add_argument("--out", default=os.path.join(ROOT, "out", "train_compare"))
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    if not args.explicit_ops:
        M.use_torch_kernels()  # idiomatic PyTorch: F.layer_norm, F.linear, F.cross_entropy, ...
    L, C, NH, B, T = (1, 32, 2, 4, 16) if args.tiny else (4, 128, 4, 32, 64)

    text = open(args.data, "rb").read()
    vocab = sorted(set(text))
    lut = {b: i for i, b in enumerate(vocab)}
    ids = torch.tensor([lut[b] for b in text], dtype=torch.long)
    n_val = int(len(ids) * 0.1)
    train, val = ids[: len(ids) - n_val], ids[len(ids) - n_val :]
    val_seed = args.seed ^ 0x76616C6964

    cfg = M.CharGPTConfig(V=65, maxT=256, L=L, NH=NH, C=C, drop=0.0, B=B, T=T)
    model = M.CharGPT(cfg)
    model.init_like_graph(torch.Generator().manual_seed(args.seed))
    os.makedirs(args.out, exist_ok=True)
    init = os.path.join(args.out, "init.ckpt")
    write_gptc_checkpoint(init, [(n, getattr(model, n)) for n, *_ in model.specs])

    # ---- gptc -----------------------------------------------------------------------------------
    cmd = [args.gptc, "run", "--train", "--data", args.data, "--set", f"L={L}", f"C={C}",
           f"NH={NH}", "drop=0", "-b", str(B), "-t", str(T), "--steps", str(args.steps),
           "--lr", str(args.lr), "--warmup", str(args.warmup), "--val-every", str(args.val_every),
           "--val-batches", str(args.val_batches), "--seed", str(args.seed), "--init", init,
           "--threads", str(args.threads), "--sample", "0", "-n", "0", "-o",
           os.path.join(args.out, "gptc")]
    print("gptc:", " ".join(cmd), flush=True)
    t0 = time.perf_counter()
    res = subprocess.run(cmd, capture_output=True, text=True)
    gptc_wall = time.perf_counter() - t0
    if res.returncode != 0:
        print(res.stdout[-2000:], res.stderr, file=sys.stderr)
        return 1
    gptc_ms = [float(m) for m in re.findall(r"\| (\d+) ms \|", res.stdout)]
    gptc_val = {}
    for line in open(os.path.join(args.out, "gptc", "main.log")):
        m = re.match(r"s:(\d+) tel:([-\d.e+]+)", line)
        if m:
            gptc_val[int(m.group(1))] = float(m.group(2))

    # ---- PyTorch --------------------------------------------------------------------------------
    decay = model.decay_mask()
    named = list(model.named_parameters())
    opt = torch.optim.AdamW(
        [{"params": [p for n, p in named if decay[n]], "weight_decay": 0.1},
         {"params": [p for n, p in named if not decay[n]], "weight_decay": 0.0}],
        lr=args.lr, betas=(0.9, 0.95), eps=1e-8, foreach=not args.explicit_ops)
    val_batches = [batch(val, val_seed, k, B, T) for k in range(args.val_batches)]

    def validate():
        model.eval()
        with torch.no_grad():
            return sum(float(model(x, y)[1]) for x, y in val_batches) / len(val_batches)

    torch_val, torch_ms = {}, []
    for s in range(args.steps):
        if args.val_every > 0 and s % args.val_every == 0:
            torch_val[s] = validate()
        model.train()
        x, y = batch(train, args.seed, s, B, T)
        lr = lr_at(s, args.lr, args.lr * 0.1, args.warmup, args.steps)
        for g in opt.param_groups:
            g["lr"] = lr
        t0 = time.perf_counter()
        opt.zero_grad(set_to_none=True)
        _, loss = model(x, y)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        torch_ms.append((time.perf_counter() - t0) * 1e3)
    torch_val[args.steps] = validate()

    def median(v):
        v = sorted(v)
        return v[len(v) // 2] if v else float("nan")

    print(f"\nchargpt L={L} C={C} NH={NH} B={B} T={T}, {args.steps} steps, lr {args.lr}, "
          f"warmup {args.warmup}, seed {args.seed}, dropout off, {args.threads} threads")
    print(f"{'step':>6} {'gptc val':>10} {'torch val':>10} {'diff':>8}")
    worst = 0.0
    for s in sorted(torch_val):
        g = gptc_val.get(s, float("nan"))
        worst = max(worst, abs(g - torch_val[s]))
        print(f"{s:>6} {g:>10.4f} {torch_val[s]:>10.4f} {g - torch_val[s]:>+8.4f}")
    print(f"largest |diff| {worst:.4f} nats")
    gm, tm = median(gptc_ms), median(torch_ms)
    ratio = f"ratio PyTorch/gptc {tm / gm:.2f}" if gm >= 1 else "(gptc prints whole ms: under 1 ms)"
    print(f"ms/step (median)  gptc {gm:.0f}   PyTorch {tm:.1f}   {ratio}")
    print(f"(gptc wall time {gptc_wall:.1f} s incl. compiling; PyTorch {sum(torch_ms) / 1e3:.1f} s of steps)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
