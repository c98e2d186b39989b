#!/usr/bin/python3
"""PyTorch (eager, float32, CPU) timings of the three gptc models: the peer numbers gptc's own
benchmarks are compared against.

Measures, for 1 and 2 threads (torch.set_num_threads), the median over N repeats of
  - a training step (forward, backward, global-norm clipping at 1.0, AdamW with weight decay on
    per-layer matrices) for GPT-2 124M, chargpt and seq2seq at their .graph default sizes;
  - a GPT-2 124M forward pass (no grad), the inference figure.
The models are the mirrors in tests/reference/models.py, so the work is op for op what the .graph
files describe, with the graphs' own init. By default they run on torch's own fused kernels
(F.layer_norm, F.gelu, F.linear, torch.softmax, F.cross_entropy: `models.use_torch_kernels`), per-
layer views of the stacked parameters taken once per step, and AdamW's multi-tensor (foreach) path:
PyTorch as a practitioner would write it. --explicit-ops keeps the spelled-out forms the fixtures use.

    /usr/bin/python3 bench/pytorch_models.py                      # everything, 5 repeats
    /usr/bin/python3 bench/pytorch_models.py --only chargpt_train --threads 2 --repeats 3
    /usr/bin/python3 bench/pytorch_models.py --json out.json      # also write the results

Left to others: gptc's side of the comparison and the report that sets the two side by side.
"""

import argparse
import json
import os
import statistics
import sys
import time

import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "tests", "reference"))
import models as M  # noqa: E402


def lm_batch(cfg, gen):
    tokens = torch.randint(0, cfg.V, (cfg.B, cfg.T), generator=gen)
    targets = torch.randint(0, cfg.V, (cfg.B, cfg.T), generator=gen)
    return (tokens, targets)


def sort_batch(cfg, gen):
    """Digit-sorting batch with mixed lengths, so the padding masks do real work."""
    src = torch.full((cfg.B, cfg.S), cfg.PAD, dtype=torch.long)
    tgt_in = torch.full((cfg.B, cfg.T), cfg.PAD, dtype=torch.long)
    tgt_out = torch.full((cfg.B, cfg.T), cfg.PAD, dtype=torch.long)
    longest = min(cfg.S - 1, cfg.T - 2)
    for b in range(cfg.B):
        n = int(torch.randint(1, longest + 1, (1,), generator=gen))
        digits = torch.randint(3, 13, (n,), generator=gen)
        ordered = torch.sort(digits).values
        src[b, :n], src[b, n] = digits, 2
        tgt_in[b, 0], tgt_in[b, 1 : n + 1], tgt_in[b, n + 1] = 1, ordered, 2
        tgt_out[b, :n], tgt_out[b, n] = ordered, 2
    return (src, tgt_in, tgt_out)


def make_optimizer(model):
    decay = model.decay_mask()
    named = list(model.named_parameters())
    groups = [
        {"params": [p for n, p in named if decay[n]], "weight_decay": 0.1},
        {"params": [p for n, p in named if not decay[n]], "weight_decay": 0.0},
    ]
    return torch.optim.AdamW(groups, lr=3e-4, betas=(0.9, 0.95), eps=1e-8, foreach=True)


def train_step_fn(model, batch):
    model.train()
    opt = make_optimizer(model)

    def step():
        opt.zero_grad(set_to_none=True)
        _, loss = model(*batch)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()

    return step


def forward_fn(model, batch):
    model.eval()

    def step():
        with torch.no_grad():
            model(batch[0])

    return step


def benchmarks(tiny, explicit_ops=False):
    """name -> (what, builder returning a zero-argument step function, tokens per step)."""
    if not explicit_ops:
        M.use_torch_kernels()
    gpt2 = M.GPT2Config(V=64, Vp=128, maxT=16, L=2, NH=2, C=32, B=2, T=8) if tiny else M.GPT2Config()
    char = M.CharGPTConfig(V=65, maxT=16, L=2, NH=2, C=32, B=2, T=8) if tiny else M.CharGPTConfig()
    s2s = M.Seq2SeqConfig(D=16, H=2, F=32, LE=2, LD=2, B=4, S=6, T=7) if tiny else M.Seq2SeqConfig()
    llama = M.LlamaConfig(V=65, L=2, NH=2, C=32, F=64, B=2, T=8) if tiny else M.LlamaConfig()
    gen = torch.Generator().manual_seed(0)
    return {
        "gpt2_train": (f"GPT-2 {describe(gpt2)} training step", lambda: train_step_fn(M.GPT2(gpt2), lm_batch(gpt2, gen)), gpt2.B * gpt2.T),
        "gpt2_forward": (f"GPT-2 {describe(gpt2)} forward", lambda: forward_fn(M.GPT2(gpt2), lm_batch(gpt2, gen)), gpt2.B * gpt2.T),
        "chargpt_train": (f"chargpt {describe(char)} training step", lambda: train_step_fn(M.CharGPT(char), lm_batch(char, gen)), char.B * char.T),
        "seq2seq_train": (f"seq2seq {describe(s2s)} training step", lambda: train_step_fn(M.Seq2Seq(s2s), sort_batch(s2s, gen)), s2s.B * s2s.T),
        "llama_train": (f"llama {describe(llama)} training step", lambda: train_step_fn(M.Llama(llama), lm_batch(llama, gen)), llama.B * llama.T),
    }


def describe(cfg):
    return "(" + ", ".join(f"{k}={v}" for k, v in vars(cfg).items()) + ")"


def measure(step, warmup, repeats):
    for _ in range(warmup):
        step()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        step()
        times.append(time.perf_counter() - t0)
    return times


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", type=int, nargs="+", default=[1, 2], help="torch.set_num_threads values")
    ap.add_argument("--repeats", type=int, default=5, help="timed runs per benchmark (median reported)")
    ap.add_argument("--warmup", type=int, default=1, help="untimed runs first")
    ap.add_argument("--only", nargs="+", default=None, help="subset of: gpt2_train gpt2_forward chargpt_train seq2seq_train llama_train")
    ap.add_argument("--tiny", action="store_true", help="the fixtures' tiny sizes (a smoke test of this script)")
    ap.add_argument("--json", default=None, help="also write the results here")
    ap.add_argument("--explicit-ops", action="store_true", help="the mirrors' spelled-out ops instead of torch's fused kernels")
    args = ap.parse_args()
    if args.repeats < 1 or args.warmup < 0 or any(t < 1 for t in args.threads):
        print("pytorch_models.py: --repeats and --threads must be >= 1, --warmup >= 0", file=sys.stderr)
        return 2
    table = benchmarks(args.tiny, args.explicit_ops)
    names = args.only or list(table)
    unknown = [n for n in names if n not in table]
    if unknown:
        print(f"pytorch_models.py: unknown benchmark {unknown[0]!r}; known: {' '.join(table)}", file=sys.stderr)
        return 2

    torch.manual_seed(0)
    results = []
    print(f"torch {torch.__version__}, float32, median of {args.repeats} after {args.warmup} warmup")
    for name in names:
        what, build, tokens = table[name]
        step = build()
        for threads in args.threads:
            torch.set_num_threads(threads)
            times = measure(step, args.warmup, args.repeats)
            med = statistics.median(times)
            results.append({"name": name, "what": what, "threads": threads, "median_s": med, "times_s": times, "tokens_per_s": tokens / med})
            print(f"{name:14s} threads {threads}: {med * 1e3:10.2f} ms  ({tokens / med:10.0f} tokens/s)  min {min(times) * 1e3:.2f} max {max(times) * 1e3:.2f}", flush=True)
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"torch": torch.__version__, "repeats": args.repeats, "warmup": args.warmup, "results": results}, f, indent=2)
            f.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
