#!/usr/bin/python3
"""SIGKILL a training run at random moments, resume it each time, and check it ends bit for bit.

    scripts/kill_resume.py [--gptc build/tools/gptc] [--kills 50] [--steps 60] [--seed 1]

A tiny chargpt trains with a checkpoint after every step (`-n 1 --keep 2`, so every step also
prunes an old folder). First one uninterrupted reference run. Then the same run in another folder
is started, killed with SIGKILL at a moment drawn uniformly over the time it has left (startup,
JIT, steps, checkpoint writes, pruning: wherever it happens to be), and started again with
`--resume`; when a run reaches its end, a new one begins, until KILLS kills were made. Checked
after every kill and every resume:
  - main.log, as the killed process left it, is a byte prefix of the reference's main.log (every
    loss it logged before dying is the uninterrupted run's, digit for digit);
  - the newest `step_N` folder (not the `.step_N.tmp` a kill may leave mid-write) is the one that
    `--resume` says it continues from, and it loads (the resume would exit 2 otherwise);
  - a run that reaches the end (after any number of kills) has main.log, and the last step
    folder's model.bin and state.bin (parameters, AdamW moments, RNG position, loss curves),
    equal to the reference's byte for byte.
Prints one line per kill and a summary; exits 1 on the first mismatch. Runs gptc at nice 19.
"""
import argparse
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def train_args(gptc, out, steps):
    return ["nice", "-n", "19", gptc, "run", "--train",
            "--model", os.path.join(ROOT, "models/chargpt.graph"),
            "--data", os.path.join(ROOT, "data/tinyshakespeare.txt"),
            "--set", "L=1", "C=32", "NH=2", "maxT=16", "-b", "4", "-t", "16",
            "--steps", str(steps), "--warmup", "2", "--val-every", "8", "--val-batches", "2",
            "--sample", "0", "--threads", "2", "-n", "1", "--keep", "2", "-o", out]


def step_folders(out):
    d = os.path.join(out, "checkpoints")
    if not os.path.isdir(d):
        return [], []
    names = os.listdir(d)
    done = sorted(int(n[5:]) for n in names if re.fullmatch(r"step_\d+", n))
    tmp = [n for n in names if n.startswith(".step_")]
    return done, tmp


def read(path):
    with open(path, "rb") as f:
        return f.read()


def fail(msg):
    print("FAIL: " + msg, flush=True)
    sys.exit(1)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--gptc", default=os.path.join(ROOT, "build/tools/gptc"))
    ap.add_argument("--kills", type=int, default=50)
    ap.add_argument("--steps", type=int, default=60)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--work", default=os.path.join(ROOT, "build/kill_resume"))
    a = ap.parse_args()
    rng = random.Random(a.seed)
    shutil.rmtree(a.work, ignore_errors=True)
    os.makedirs(a.work)
    env = dict(os.environ, GPTC_CACHE_DIR=os.path.join(a.work, "cache"))

    ref = os.path.join(a.work, "reference")
    t0 = time.monotonic()
    r = subprocess.run(train_args(a.gptc, ref, a.steps), env=env, capture_output=True, text=True)
    if r.returncode != 0:
        fail("the reference run failed:\n" + r.stdout + r.stderr)
    # A second reference run, timed with a warm object cache: resumed runs hit it too.
    shutil.rmtree(ref)
    t0 = time.monotonic()
    r = subprocess.run(train_args(a.gptc, ref, a.steps), env=env, capture_output=True, text=True)
    full = time.monotonic() - t0
    if r.returncode != 0:
        fail("the reference run failed:\n" + r.stdout + r.stderr)
    ref_log = read(os.path.join(ref, "main.log"))
    last = "checkpoints/step_%08d" % a.steps
    ref_model = read(os.path.join(ref, last, "model.bin"))
    ref_state = read(os.path.join(ref, last, "state.bin"))
    print("reference: %d steps in %.2f s (warm cache), uptime: %s" %
          (a.steps, full, os.getloadavg()), flush=True)

    kills = mid_write = before_first = finished = 0
    resumed_from = []
    run_no = 0
    start = time.monotonic()
    while kills < a.kills:
        run_no += 1
        out = os.path.join(a.work, "run%d" % run_no)
        resume = False
        while True:
            done, _ = step_folders(out)
            args = train_args(a.gptc, out, a.steps) + (["--resume"] if resume else [])
            # Uniform over what is left of the run: its startup plus the remaining steps.
            left = full * (0.3 + 0.7 * (a.steps - (done[-1] if done else 0)) / a.steps)
            delay = rng.uniform(0, left)
            log = open(out + ".log", "w")
            p = subprocess.Popen(args, env=env, stdout=log, stderr=subprocess.STDOUT,
                                 start_new_session=True)
            try:
                rc = p.wait(timeout=delay)
            except subprocess.TimeoutExpired:
                os.killpg(p.pid, signal.SIGKILL)  # nice and gptc both
                p.wait()
                rc = None
            log.close()
            text = open(out + ".log").read()
            if resume:  # it said where it continues from: the newest complete step folder
                m = re.search(r"^resume  \S*step_(\d+): step (\d+)", text, re.M)
                if m is None and rc is None and "resume" not in text:
                    pass  # killed before it printed anything
                elif m is None or int(m.group(1)) != done[-1] or int(m.group(2)) != done[-1]:
                    fail("%s: resumed from %s, newest complete checkpoint is step %d\n%s" %
                         (out, m.group(0) if m else "?", done[-1], text))
                else:
                    resumed_from.append(done[-1])
            logged = read(os.path.join(out, "main.log")) if os.path.exists(
                os.path.join(out, "main.log")) else b""
            if not ref_log.startswith(logged):
                fail("%s: main.log differs from the reference's:\n%s" % (out, logged.decode()))
            if rc is not None:
                if rc != 0:
                    fail("%s: exit %d\n%s" % (out, rc, text))
                if read(os.path.join(out, "main.log")) != ref_log:
                    fail(out + ": main.log at the end differs from the reference's")
                if read(os.path.join(out, last, "model.bin")) != ref_model or \
                        read(os.path.join(out, last, "state.bin")) != ref_state:
                    fail(out + ": the last checkpoint differs from the reference's")
                finished += 1
                print("run %d finished, equal to the reference byte for byte" % run_no, flush=True)
                break
            kills += 1
            after, tmp = step_folders(out)
            mid_write += bool(tmp)
            before_first += not after
            print("kill %2d at %.3f s: newest checkpoint step %s%s" %
                  (kills, delay, after[-1] if after else "none",
                   ", a half-written %s left" % tmp[0] if tmp else ""), flush=True)
            resume = bool(after)
            if not after:
                shutil.rmtree(out, ignore_errors=True)  # nothing to resume: start again
            if kills >= a.kills:
                # Finish this run, without a kill, to compare its end with the reference.
                rc = subprocess.run(train_args(a.gptc, out, a.steps) + (["--resume"] if resume else []),
                                    env=env, capture_output=True, text=True)
                if rc.returncode != 0:
                    fail("%s: the last resume failed\n%s" % (out, rc.stdout + rc.stderr))
                if read(os.path.join(out, "main.log")) != ref_log or \
                        read(os.path.join(out, last, "model.bin")) != ref_model or \
                        read(os.path.join(out, last, "state.bin")) != ref_state:
                    fail(out + ": the resumed run's end differs from the reference's")
                finished += 1
                print("run %d finished, equal to the reference byte for byte" % run_no, flush=True)
                break
    print("summary: %d kills (%d before the first checkpoint, %d left a half-written "
          ".step_N.tmp folder), %d resumes each from the newest complete checkpoint, %d runs "
          "finished equal to the reference byte for byte; %.0f s, load %s" %
          (kills, before_first, mid_write, len(resumed_from), finished,
           time.monotonic() - start, os.getloadavg()), flush=True)


if __name__ == "__main__":
    main()
