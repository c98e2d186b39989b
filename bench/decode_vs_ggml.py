#!/usr/bin/python3
"""GPT-2 124M batch-1 greedy decode after a text prompt: gptc vs ggml's own examples/gpt-2 (the peer that
bench/ggml_peer.sh builds outside this tree, on random-weight files it writes). Pairs, same prompt, same
number of tokens, interleaved in one run (for each repeat: every thread count x pair x engine):

    gptc --weights f32   vs  ggml f32     (4 bytes per weight)
    gptc --weights bf16  vs  ggml f16     (2 bytes per weight)
    gptc --weights int8  vs  ggml q8_0    (gptc 1 + 4/32 bytes: i8 and an f32 scale per 32;
                                           q8_0 34/32 bytes: i8 and an f16 scale per 32)

Steady state, first token left out on both sides: each engine runs -n 2 and -n N with the same prompt;
its own timer of the generate loop (gptc `--stats` "generated ... in X ms", ggml "predict time = X ms",
both without loading, compiling or sampling) gives
    decode tokens/s = (N - 2) / (t_N - t_2)
i.e. the prompt's processing and the first decode step cancel. The prompt is " the" x P (P GPT-2 BPE
tokens of text, tokenized by each engine); ggml processes it in one batch (-b P; over 128 tokens in
batches of 64, see GGML_MAX_BATCH).

Prefill (--prefill 16,128,512): each engine runs -n 1 after a prompt of P tokens; ggml's predict time
is then the prompt's batch alone, gptc's the prefill step plus one decode step (taken off with the
steady-state step time above):  prefill tokens/s = P / t_1 (ggml), P / (t_1 - t_step) (gptc).

Bytes per token: every weight a contraction reads once (the tied output layer included) plus the KV
cache rows each engine reads per step: both read the positions so far (K and V; gptc's scores are
cache_matmul over the rows written, its w·V GEMV skips the rows whose attention weight is exactly
0); the mean position over the timed steps is used. --baseline GPTC adds a third
engine, another gptc binary (e.g. main's, which read the whole 2 x L x 1024 x C cache every step),
run interleaved with the others on the same prompts.

    bench/ggml_peer.sh                                    # once: build the peer, write its models
    /usr/bin/python3 bench/decode_vs_ggml.py              # threads 1,2; P 16; N 34; 3 repeats
    /usr/bin/python3 bench/decode_vs_ggml.py --threads 2 --repeats 5 --nice 19
"""

import argparse
import os
import re
import statistics
import subprocess

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PEERS = os.environ.get("PEERS", "/work/peers")
GPTC_LINE = re.compile(r"generated (\d+) x \d+ tokens in ([0-9.]+) ms")
GGML_LINE = re.compile(r"predict time =\s*([0-9.]+) ms")
PAIRS = [("f32", "f32"), ("bf16", "f16"), ("int8", "q8_0")]
# gpt-2-ctx sizes its arena from a 4-token probe (mem_per_token x N x 1.1), which undershoots the
# attention scores (quadratic in the batch): at P = 512, -b 512, 256 and 128 abort ("not enough space
# in the context's memory pool"), -b 64 runs. Prompts over 128 tokens go in batches of 64.
GGML_MAX_BATCH = 64

# GPT-2 124M: L 12, C 768, ctx 1024; V 50257 (gptc pads the output layer's rows to 50304).
L, C = 12, 768
LAYER_WEIGHTS = L * (3 * C * C + C * C + 4 * C * C + 4 * C * C)
BYTES_PER_WEIGHT = {"f32": 4.0, "bf16": 2.0, "int8": 1.0 + 4.0 / 32, "f16": 2.0, "q8_0": 34.0 / 32}


def gptc_bytes(weights, mean_past):
    # the scores q·K read the K rows written so far (cache_matmul: codegen/lower_decode.cpp; before
    # it, the whole cache, sized by `gptc run --generate` to the prompt plus -n rounded up to 64);
    # w·V reads the rows written so far (the GEMV skips rows whose attention weight is exactly 0:
    # codegen/lower_gemv.cpp)
    return (LAYER_WEIGHTS + 50304 * C) * BYTES_PER_WEIGHT[weights] + 2 * L * mean_past * C * 4


def ggml_bytes(wtype, mean_past):
    return (LAYER_WEIGHTS + 50257 * C) * BYTES_PER_WEIGHT[wtype] + 2 * L * mean_past * C * 4


def run(cmd, pattern, nice):
    p = subprocess.run(["nice", "-n", str(nice)] + cmd, capture_output=True, text=True, cwd=ROOT)
    m = pattern.search(p.stderr + p.stdout)
    if p.returncode != 0 or not m:  # reported, and nan in the table: the other cells still count
        print(f"# {' '.join(cmd[:3])} ... {' '.join(cmd[-8:])} failed ({p.returncode}): "
              f"{(p.stderr + p.stdout)[-300:]!r}", flush=True)
        return float("nan")
    return float(m.groups()[-1])


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--gptc", default=os.path.join(ROOT, "build", "tools", "gptc"))
    ap.add_argument("--baseline", default="", help="another gptc binary, run as engine 'base'")
    ap.add_argument("--ggml", default=os.path.join(PEERS, "ggml-build", "bin", "gpt-2-ctx"))
    ap.add_argument("--models", default=os.path.join(PEERS, "ggml-models"))
    ap.add_argument("--threads", default="1,2")
    ap.add_argument("--pairs", default="f32,bf16,int8", help="gptc sides of the pairs to run")
    ap.add_argument("--prompt-tokens", type=int, default=16)
    ap.add_argument("--tokens", type=int, default=34, help="N: tokens of the long run")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--nice", type=int, default=0, help="run both engines under nice -n K")
    ap.add_argument("--prefill", default="", help="prompt lengths for a prefill table, e.g. 16,128,512")
    a = ap.parse_args()
    threads = [int(t) for t in a.threads.split(",")]
    pairs = [p for p in PAIRS if p[0] in a.pairs.split(",")]
    prompt = " the" * a.prompt_tokens
    for _, wt in pairs:
        path = os.path.join(a.models, f"gpt2-124M-{wt}.bin")
        if not os.path.exists(path):
            raise SystemExit(f"{path} missing: run bench/ggml_peer.sh first")

    def gptc(weights, th, n, exe=None):
        return run([exe or a.gptc, "run", os.path.join(ROOT, "models", "gpt2.graph"), "--generate", "--greedy",
                    "--stats", "--prompt", prompt, "-n", str(n), "--threads", str(th), "--weights", weights],
                   GPTC_LINE, a.nice)

    def ggml(wtype, th, n, p=None):
        p = p or a.prompt_tokens
        return run([a.ggml, "-m", os.path.join(a.models, f"gpt2-124M-{wtype}.bin"), "-p", " the" * p, "-n", str(n),
                    "-t", str(th), "--top_k", "1", "-b", str(p if p <= 128 else GGML_MAX_BATCH), "-s", "1"],
                   GGML_LINE, a.nice)

    def gptc_prefill(weights, th, p):
        return run([a.gptc, "run", os.path.join(ROOT, "models", "gpt2.graph"), "--generate", "--greedy",
                    "--stats", "--prompt", " the" * p, "-n", "1", "--threads", str(th), "--weights", weights],
                   GPTC_LINE, a.nice)

    prefills = [int(p) for p in a.prefill.split(",") if p]

    times = {}
    for _ in range(a.repeats):
        for th in threads:
            for gw, ew in pairs:
                engines = [("gptc", gptc, gw), ("ggml", ggml, ew)]
                if a.baseline:
                    engines.append(("base", lambda w, th, n: gptc(w, th, n, a.baseline), gw))
                for engine, fn, w in engines:
                    for n in (2, a.tokens):
                        times.setdefault((th, engine, w, n), []).append(fn(w, th, n))
                        print(f"# threads {th} {engine} {w} -n {n}: {times[(th, engine, w, n)][-1]:.1f} ms",
                              flush=True)
                for p in prefills:
                    times.setdefault((th, "gptc", gw, "p", p), []).append(gptc_prefill(gw, th, p))
                    times.setdefault((th, "ggml", ew, "p", p), []).append(ggml(ew, th, 1, p))

    steps = a.tokens - 2
    mean_past = a.prompt_tokens + 1 + (steps - 1) / 2.0
    load = os.popen("uptime").read().strip()
    cpu = [l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")][0]
    print(f"{cpu}; {os.cpu_count()} cpus; nice {a.nice}; prompt {a.prompt_tokens} tokens, N {a.tokens}, "
          f"{a.repeats} repeats (medians)\nuptime after: {load}")
    base = " base tok/s | gptc / base |" if a.baseline else ""
    print("| threads | gptc weights | gptc tok/s | gptc MB/token | ggml weights | ggml tok/s | ggml MB/token "
          "| gptc / ggml |" + base)
    print("|---|---|---|---|---|---|---|---|" + ("---|---|" if a.baseline else ""))
    step_ms = {}
    for th in threads:
        for gw, ew in pairs:
            rate = {}
            for engine, w in (("gptc", gw), ("ggml", ew)) + ((("base", gw),) if a.baseline else ()):
                t2 = statistics.median(times[(th, engine, w, 2)])
                tn = statistics.median(times[(th, engine, w, a.tokens)])
                rate[engine] = steps * 1000.0 / (tn - t2) if tn > t2 else float("nan")
                step_ms[(th, engine, w)] = (tn - t2) / steps
            extra = f" {rate['base']:.1f} | {rate['gptc'] / rate['base']:.2f} |" if a.baseline else ""
            print(f"| {th} | {gw} | {rate['gptc']:.1f} | {gptc_bytes(gw, mean_past) / 1e6:.0f} | {ew} "
                  f"| {rate['ggml']:.1f} | {ggml_bytes(ew, mean_past) / 1e6:.0f} | {rate['gptc'] / rate['ggml']:.2f} |"
                  + extra)
    if prefills:
        print("\n| threads | prompt tokens | gptc weights | gptc prefill tok/s | ggml weights | ggml prefill tok/s "
              "| gptc / ggml |")
        print("|---|---|---|---|---|---|---|")
        for th in threads:
            for p in prefills:
                for gw, ew in pairs:
                    t_g = statistics.median(times[(th, "gptc", gw, "p", p)]) - step_ms[(th, "gptc", gw)]
                    t_e = statistics.median(times[(th, "ggml", ew, "p", p)])
                    pg, pe = p * 1000.0 / t_g, p * 1000.0 / t_e
                    print(f"| {th} | {p} | {gw} | {pg:.0f} | {ew} | {pe:.0f} | {pg / pe:.2f} |")


if __name__ == "__main__":
    main()
