#!/usr/bin/python3
"""How far an honest float32 run is from the float64 fixtures: runs the mirrors in float32 from the
fixture's parameters and prints the largest differences per tensor kind. Use the figures as a
guide for the tolerances of gptc's f32 parity tests (a correct f32 implementation differs from
the fixtures by about this much; a bug usually by orders of magnitude more).

    /usr/bin/python3 tests/reference/float32_gap.py
"""
import os
import sys

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import make_fixtures as mf  # noqa: E402


def main():
    torch.set_num_threads(1)
    for key, make_model in [("gpt2", mf.tiny_gpt2), ("chargpt", mf.tiny_chargpt), ("seq2seq", mf.tiny_seq2seq)]:
        fx = mf.read_fix(os.path.join(mf.OUT_DIR, key + ".fix"))
        model = make_model()  # float32
        with torch.no_grad():
            for n, p in model.named_parameters():
                p.copy_(torch.from_numpy(fx["param." + n].copy()))
        inputs = {k[6:]: torch.from_numpy(v.copy()) for k, v in fx.items() if k.startswith("input.") and k != "input.seed"}
        logits, loss, grads = mf.loss_and_grads(model, inputs)
        d_logits = np.abs(logits.numpy() - fx["output.logits"]).max()
        d_loss = abs(loss.item() - fx["output.loss"].item())
        # gradients: worst per-parameter max|diff| relative to that parameter's largest gradient
        d_grad = max(np.abs(grads[n].numpy() - fx["grad." + n]).max() / np.abs(fx["grad." + n]).max() for n in grads)
        losses, norms, after = mf.adamw_steps(model, inputs, mf.ADAMW)
        d_losses = np.abs(np.array(losses, dtype=np.float32) - fx["adamw.losses"]).max()
        d_norms = np.abs(np.array(norms, dtype=np.float32) / fx["adamw.norms"] - 1).max()
        diff = {n: np.abs(after[n].numpy() - fx["adamw.param." + n]) for n in after}
        d_after_all = max(d.max() for d in diff.values())
        for name, start, end in mf.key_bias_slices(key, model.cfg):
            diff[name][..., start:end] = 0  # zero-gradient slices: noise-driven in float32
        d_after = max(d.max() for d in diff.values())
        print(
            f"{key:8s} f32 vs fixture: logits max|d| {d_logits:.1e}, loss |d| {d_loss:.1e}, "
            f"grads max|d|/max|g| {d_grad:.1e}, adamw.losses max|d| {d_losses:.1e}, "
            f"adamw.norms max rel {d_norms:.1e}, adamw.param max|d| {d_after:.1e} "
            f"({d_after_all:.1e} with the zero-gradient slices)"
        )


if __name__ == "__main__":
    main()
