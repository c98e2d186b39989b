#!/usr/bin/python3
"""GPT-2 124M generation with f32, bf16 and int8 weights (`--weights`), the user's path: a text prompt
through `gptc run --generate --prompt TEXT --greedy --stats`, prefill included. Runs are interleaved
(for each repeat: every thread count x weights x prompt length), medians reported.

Per (threads, weights, prompt of P tokens), two runs: -n 1 and -n N. The generate loop's time
(`--stats`, compile excluded) of -n 1 is the prefill plus one step; of -n N, the prefill plus N steps.
  decode tokens/s  = (N - 1) / (t_N - t_1)        (steady state: prefill and first token left out)
  prefill tokens/s = P / (t_1 - t_step)           (t_step = one decode step from the line above)
The prompt is " the" repeated P times: P GPT-2 BPE tokens of text. Random weights (speed does not
depend on them). Bytes per token: docs/generation.md's table.

    /usr/bin/python3 bench/weights_bench.py                          # P 16,128,512; N 33; 1 repeat
    /usr/bin/python3 bench/weights_bench.py --prompts 16 --tokens 17 --threads 2 --repeats 3
"""

import argparse
import os
import re
import statistics
import subprocess

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
LINE = re.compile(r"generated (\d+) x \d+ tokens in ([0-9.]+) ms")


def run(gptc, weights, threads, prompt_tokens, n):
    cmd = [gptc, "run", os.path.join(ROOT, "models", "gpt2.graph"), "--generate", "--greedy", "--stats",
           "--prompt", " the" * prompt_tokens, "-n", str(n), "--threads", str(threads), "--weights", weights]
    p = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT)
    m = LINE.search(p.stderr)
    if p.returncode != 0 or not m:
        raise SystemExit(f"{' '.join(cmd[:4])} ... failed:\n{p.stderr[-2000:]}")
    return float(m.group(2))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--gptc", default=os.path.join(ROOT, "build", "tools", "gptc"))
    ap.add_argument("--weights", default="f32,bf16,int8")
    ap.add_argument("--threads", default="1,2")
    ap.add_argument("--prompts", default="16,128,512")
    ap.add_argument("--tokens", type=int, default=33, help="N: tokens of the long run")
    ap.add_argument("--repeats", type=int, default=1)
    a = ap.parse_args()
    weights = a.weights.split(",")
    threads = [int(t) for t in a.threads.split(",")]
    prompts = [int(p) for p in a.prompts.split(",")]
    t1, tn = {}, {}
    for _ in range(a.repeats):
        for th in threads:
            for w in weights:
                for p in prompts:
                    t1.setdefault((th, w, p), []).append(run(a.gptc, w, th, p, 1))
                    tn.setdefault((th, w, p), []).append(run(a.gptc, w, th, p, a.tokens))
    print(f"uptime: {os.popen('uptime').read().strip()}")
    print("| threads | weights | prompt tokens | prefill tokens/s | decode tokens/s |")
    print("|---|---|---|---|---|")
    for th in threads:
        for w in weights:
            for p in prompts:
                one, many = statistics.median(t1[(th, w, p)]), statistics.median(tn[(th, w, p)])
                step = (many - one) / (a.tokens - 1)
                decode = 1000.0 / step if step > 0 else float("nan")
                prefill = p * 1000.0 / (one - step) if one > step else float("nan")
                print(f"| {th} | {w} | {p} | {prefill:.0f} | {decode:.1f} |")


if __name__ == "__main__":
    main()
