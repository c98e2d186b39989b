#!/usr/bin/python3
"""How much slower gptc gets when another program takes part of the machine (issue #16).

Each workload runs quiet and beside one busy process (a `while` loop in Python that stops by itself
after a time limit, the kind of load an editor's indexer or a browser tab makes), in interleaved
pairs so that both halves of a pair see the same background; the figure is the median of each side
and their ratio. Workloads (all with --threads, default 2):

  chargpt   default `gptc run --train` (chargpt), median ms per step over --steps steps
  gpt2      GPT-2 124M training step, fixed batch (`--train --tokens F`), median s per step
  decode    GPT-2 124M greedy decode, batch 1, tokens/s (`--generate --stats`), random weights

    /usr/bin/python3 bench/contention.py                       # all three, 2 rounds
    /usr/bin/python3 bench/contention.py --only decode --rounds 3 --markdown
    /usr/bin/python3 bench/contention.py --baseline /work/main/build/tools/gptc   # old vs new

--baseline runs a second gptc binary in the same interleaved rounds (quiet and busy; which binary
goes first alternates), for the "no slower on a quiet machine" check: the ratio of the medians and
the median of each round's ratio. --quiet-only leaves the busy runs out (more quiet rounds in the
same time). --pin N pins the busy loop to CPU N (default: not pinned,
the scheduler places it). "same results" says whether every run of a binary (quiet and busy) printed the same losses, or
decoded the same tokens: the side load must not change a bit. The machine's load average before each round is printed: on a shared
machine, other people's builds are a second side load this script cannot remove.
"""

import argparse
import os
import platform
import re
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def cpu_name():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def token_file(vocab, tmp):
    """Random uint16 tokens below `vocab` (raw format), enough for a few GPT-2 batches."""
    import random

    path = os.path.join(tmp, f"tokens_{vocab}.bin")
    if not os.path.exists(path):
        rng = random.Random(0)
        with open(path, "wb") as f:
            f.write(b"".join(rng.randrange(vocab).to_bytes(2, "little") for _ in range(40000)))
    return path


class BusyLoop:
    """A Python `while` loop in a subprocess that ends by itself after `seconds` (and is stopped when
    the measured run ends); pinned to one CPU with `pin`."""

    def __init__(self, seconds, pin=None):
        code = f"import time\nt = time.time() + {seconds}\nwhile time.time() < t:\n    pass\n"
        pre = (lambda: os.sched_setaffinity(0, {pin})) if pin is not None else None
        self.p = subprocess.Popen([sys.executable, "-c", code], preexec_fn=pre)
        time.sleep(0.2)  # let it start spinning

    def stop(self):
        if self.p.poll() is None:
            self.p.kill()
        self.p.wait()


def median_after_first(pattern, text):
    """Median of every match's number, the first dropped (it warms pages and caches)."""
    v = [float(m.group(1)) for m in re.finditer(pattern, text, re.M)]
    return statistics.median(v[1:] if len(v) > 1 else v) if v else None


def losses(s):
    """The run's results, for the bit-identity check: every printed loss and gradient norm."""
    return " ".join(re.findall(r"(?:loss|norm|grad_norm) +([0-9.e+-]+)", s))


def workload_cmd(name, gptc, threads, a, tmp):
    """(command, parser, results) of one workload; the parser returns one figure (lower is better:
    ms/step, or s per token for decode, reported as tokens/s); results returns the printed results
    (losses, or the decoded tokens), which must not depend on the side load."""
    base = [gptc, "run"]
    if name == "chargpt":
        out = os.path.join(tmp, "chargpt_run")
        cmd = base + ["--train", "--steps", str(a.steps), "--threads", str(threads), "-o", out,
                      "--sample", "0", "--val-every", "0"]
        return cmd, lambda s: median_after_first(r"\| ([0-9.]+) ms \|", s), losses
    if name == "gpt2":
        cmd = base + [os.path.join(ROOT, "models/gpt2.graph"), "--train", "--tokens", token_file(50257, tmp),
                      "--steps", str(a.gpt2_steps), "--threads", str(threads)]
        return cmd, lambda s: median_after_first(r"^step\s+\d+ .* ([0-9.]+) ms$", s), losses
    if name == "decode":
        cmd = base + [os.path.join(ROOT, "models/gpt2.graph"), "--generate", "--prompt-ids", "0", "-n",
                      str(a.tokens), "--greedy", "--stats", "--threads", str(threads)]

        def ms_per_token(s):
            m = re.search(r"generated \d+ x \d+ tokens in ([0-9.]+) ms", s)
            return float(m.group(1)) / a.tokens if m else None

        def tokens(s):  # the decoded ids: stdout's lines of integers
            return " ".join(l for l in s.splitlines() if re.fullmatch(r"[0-9 ]+", l.strip() or "x"))

        return cmd, ms_per_token, tokens
    raise ValueError(name)


def run_once(name, gptc, threads, a, tmp, busy):
    cmd, parse, results = workload_cmd(name, gptc, threads, a, tmp)
    loop = BusyLoop(a.busy_limit, a.pin) if busy else None
    try:
        p = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True,
                           env=dict(os.environ, OMP_NUM_THREADS=str(threads)), timeout=a.busy_limit)
    finally:
        if loop:
            loop.stop()
    v = parse(p.stdout + "\n" + p.stderr) if p.returncode == 0 else None
    if v is None:
        sys.exit(f"contention.py: {' '.join(cmd)} failed (rc {p.returncode}):\n{p.stderr[-2000:]}")
    return v, results(p.stdout + "\n" + p.stderr)


UNITS = {"chargpt": ("ms/step", 1.0), "gpt2": ("s/step", 1e-3), "decode": ("tokens/s", None)}


def shown(name, v):
    unit, scale = UNITS[name]
    if scale is None:
        return f"{1000.0 / v:.1f}"
    return f"{v * scale:.1f}" if scale == 1.0 else f"{v * scale:.2f}"


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--gptc", default=os.path.join(ROOT, "build", "tools", "gptc"))
    ap.add_argument("--baseline", help="a second gptc binary, measured in the same rounds")
    ap.add_argument("--only", default="chargpt,gpt2,decode")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--rounds", type=int, default=2, help="quiet/busy pairs per workload")
    ap.add_argument("--steps", type=int, default=30, help="chargpt steps per run")
    ap.add_argument("--gpt2-steps", type=int, default=4, help="GPT-2 training steps per run (first dropped)")
    ap.add_argument("--tokens", type=int, default=48, help="decoded tokens per run")
    ap.add_argument("--pin", type=int, default=None, help="pin the busy loop to this CPU")
    ap.add_argument("--busy-limit", type=float, default=300, help="seconds after which a busy loop (and a run) stops")
    ap.add_argument("--markdown", action="store_true", help="print the table as Markdown")
    ap.add_argument("--quiet-only", action="store_true",
                    help="no busy loop: only the quiet rounds (with --baseline, the 'no slower' check)")
    a = ap.parse_args()

    binaries = [("gptc", a.gptc)] + ([("baseline", a.baseline)] if a.baseline else [])
    names = [n.strip() for n in a.only.split(",") if n.strip()]
    print(f"# contention: {cpu_name()}, {os.cpu_count()} CPUs, --threads {a.threads}, busy loop "
          f"{'pinned to CPU %d' % a.pin if a.pin is not None else 'not pinned'}, {a.rounds} rounds; "
          f"load average at start {os.getloadavg()[0]:.2f}", flush=True)
    rows = []
    pairs = {}
    with tempfile.TemporaryDirectory() as tmp:
        for name in names:
            res = {b: {"quiet": [], "busy": []} for b, _ in binaries}
            seen = {b: set() for b, _ in binaries}  # each binary's results, quiet and busy
            for r in range(a.rounds):
                order = ["quiet"] if a.quiet_only else ["quiet", "busy"] if r % 2 == 0 else ["busy", "quiet"]
                # ABBA: the binaries alternate which goes first, so a drift in the machine's speed
                # during the run does not favour one of them
                for label, path in binaries if r % 2 == 0 else binaries[::-1]:
                    for mode in order:
                        load = os.getloadavg()[0]
                        v, result = run_once(name, path, a.threads, a, tmp, mode == "busy")
                        res[label][mode].append(v)
                        seen[label].add(result)
                        print(f"  {name:8s} {label:8s} round {r + 1} {mode:5s} {shown(name, v):>8s} "
                              f"{UNITS[name][0]} (load {load:.2f})", flush=True)
            if a.baseline:  # each round's pair ran minutes apart at most: their ratio, per round
                pairs[name] = [g / b for g, b in zip(res["gptc"]["quiet"], res["baseline"]["quiet"])]
            for label, _ in binaries:
                q = statistics.median(res[label]["quiet"])
                b = statistics.median(res[label]["busy"]) if res[label]["busy"] else float("nan")
                same = len(seen[label]) == 1 and "" not in seen[label]
                rows.append((name, label, q, b, "yes" if same else "NO"))
    head = ["workload", "binary", "unit", "quiet", "one busy process", "slowdown", "same results"]
    lines = [[n, l, UNITS[n][0], shown(n, q)] + (["-", "-"] if b != b else [shown(n, b), f"{b / q:.2f}x"]) + [same]
             for n, l, q, b, same in rows]
    if a.baseline:  # quiet-machine change, new vs baseline
        quiet = {(n, l): q for n, l, q, _, _ in rows}
        for n in names:
            r = pairs[n]
            print(f"# {n}: quiet time gptc / baseline = {quiet[(n, 'gptc')] / quiet[(n, 'baseline')]:.3f} "
                  f"(medians); per round {' '.join(f'{x:.3f}' for x in r)}, median {statistics.median(r):.3f}")
    if a.markdown:
        print("| " + " | ".join(head) + " |")
        print("|" + "---|" * len(head))
        for l in lines:
            print("| " + " | ".join(l) + " |")
    else:
        w = [max(len(h), *(len(l[i]) for l in lines)) for i, h in enumerate(head)]
        print("  ".join(h.ljust(w[i]) for i, h in enumerate(head)))
        for l in lines:
            print("  ".join(c.ljust(w[i]) for i, c in enumerate(l)))
    print(f"# load average at end {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
