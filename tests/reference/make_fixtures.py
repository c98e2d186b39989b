#!/usr/bin/python3
"""Regenerates the PyTorch parity fixtures in tests/fixtures/reference/ (one command, same bytes
on every run):

    /usr/bin/python3 tests/reference/make_fixtures.py

For each model (gpt2, chargpt, seq2seq) at a tiny configuration it draws non-trivial random
parameters and one batch, runs the mirror in tests/reference/models.py in float64, and writes
<model>.fix (parameters, inputs, logits, loss, gradients, 10 AdamW steps; format in README.md)
and <model>.json (the model file, its --set constants, the optimizer settings, notes).

Before writing anything it checks itself: the primitives against torch's own functions, a few
gradient entries against central finite differences in float64, the loss of a near-zero model
against ln(V), the hand-written AdamW against torch.optim.AdamW, and the written file against a
re-read. Any failed check stops the script with a non-zero exit and writes nothing.

Left to others: reading the fixtures (tests/reference/fixture.h) and comparing gptc against them
(the interpreter, autodiff, JIT and trainer tests).
"""

import json
import math
import os
import struct
import sys

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import models as M  # noqa: E402

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
OUT_DIR = os.path.join(REPO, "tests", "fixtures", "reference")

# Parameters: normal(0, 0.02) * K for everything but layernorm weights (1 + normal(0, 0.1)).
# K = 10 makes the tiny models' activations O(1): attention is far from uniform and the loss far
# from ln(V), so a wrong scale, mask or bias shows up in the first digits, not the fifth.
PARAM_STD = 0.02
PARAM_K = 10.0
LN_WEIGHT_STD = 0.1

ADAMW = {
    "steps": 10,
    "lr": 1e-3,
    "beta1": 0.9,
    "beta2": 0.95,
    "eps": 1e-8,
    "weight_decay": 0.1,
    "clip_norm": 1.0,
    "clip_eps": 1e-6,
}

# The optimizer-flags fixture (gpt2_adamw_torch.fix): the gpt2 fixture's parameters and batch, 10
# steps of torch.optim.AdamW itself at settings other than gptc's defaults, as
# `gptc run --train --tokens F --weight-decay 0 --beta2 0.999 --grad-clip 0 --lr-schedule constant`
# asks for them: no weight decay, PyTorch's default betas, no clipping, a constant lr.
ADAMW_TORCH = {
    "steps": 10,
    "lr": 1e-3,
    "beta1": 0.9,
    "beta2": 0.999,
    "eps": 1e-8,
    "weight_decay": 0.0,
    "clip_norm": None,
}

F32, I32 = 0, 1


# --------------------------------------------- configs -----------------------------------------


def tiny_gpt2():
    return M.GPT2(M.GPT2Config(V=64, Vp=128, maxT=16, L=2, NH=2, C=32, B=2, T=8))


def tiny_chargpt():
    return M.CharGPT(M.CharGPTConfig(V=65, maxT=16, L=2, NH=2, C=32, drop=0, B=2, T=8))


def tiny_llama():
    return M.Llama(M.LlamaConfig(V=65, L=2, NH=2, C=32, F=64, theta=10000, B=2, T=8))


def tiny_seq2seq():
    return M.Seq2Seq(M.Seq2SeqConfig(V=13, PAD=0, D=16, H=2, F=32, LE=2, LD=2, drop=0, B=4, S=6, T=7))


# --------------------------------------------- inputs ------------------------------------------


def lm_batch(cfg, gen):
    """Random tokens and targets in [0, V) (independent: the model does not care)."""
    tokens = torch.randint(0, cfg.V, (cfg.B, cfg.T), generator=gen, dtype=torch.int32)
    targets = torch.randint(0, cfg.V, (cfg.B, cfg.T), generator=gen, dtype=torch.int32)
    return {"tokens": tokens, "targets": targets}


SOS, EOS, DIGIT0 = 1, 2, 3
SEQ2SEQ_LENGTHS = [5, 1, 3, 4]  # digits per row: one full row (no PAD at all), one of length 1


def seq2seq_batch(cfg, gen):
    """src = digits (tokens 3..12), EOS, PAD...; tgt_in = SOS, sorted digits, EOS, PAD...;
    tgt_out = sorted digits, EOS, PAD... (tgt_in shifted left by one)."""
    assert len(SEQ2SEQ_LENGTHS) == cfg.B
    src = torch.full((cfg.B, cfg.S), cfg.PAD, dtype=torch.int32)
    tgt_in = torch.full((cfg.B, cfg.T), cfg.PAD, dtype=torch.int32)
    tgt_out = torch.full((cfg.B, cfg.T), cfg.PAD, dtype=torch.int32)
    for b, n in enumerate(SEQ2SEQ_LENGTHS):
        assert n + 1 <= cfg.S and n + 2 <= cfg.T
        digits = torch.randint(0, 10, (n,), generator=gen, dtype=torch.int32) + DIGIT0
        ordered = torch.sort(digits).values
        src[b, :n] = digits
        src[b, n] = EOS
        tgt_in[b, 0] = SOS
        tgt_in[b, 1 : n + 1] = ordered
        tgt_in[b, n + 1] = EOS
        tgt_out[b, :n] = ordered
        tgt_out[b, n] = EOS
    return {"src": src, "tgt_in": tgt_in, "tgt_out": tgt_out}


# --------------------------------------------- parameters --------------------------------------


def draw_params(model, gen):
    """float32 values, in the .graph file's param order, from one generator."""
    out = {}
    for name, shape, init, _ in model.specs:
        if init == "ones":  # layernorm weights
            out[name] = 1.0 + torch.randn(shape, generator=gen, dtype=torch.float32) * LN_WEIGHT_STD
        else:
            out[name] = torch.randn(shape, generator=gen, dtype=torch.float32) * (PARAM_STD * PARAM_K)
    return out


@torch.no_grad()
def load_params(model, values):
    for name, v in values.items():
        getattr(model, name).copy_(v.to(torch.float64))


def run(model, inputs):
    """(logits, loss) on the batch; the model's own names for its inputs."""
    if isinstance(model, M.Seq2Seq):
        return model(inputs["src"], inputs["tgt_in"], inputs["tgt_out"])
    return model(inputs["tokens"], inputs["targets"])


def loss_and_grads(model, inputs):
    model.zero_grad(set_to_none=True)
    logits, loss = run(model, inputs)
    loss.backward()
    grads = {n: p.grad.detach().clone() for n, p in model.named_parameters()}
    return logits.detach(), loss.detach(), grads


# --------------------------------------------- AdamW -------------------------------------------


@torch.no_grad()
def adamw_steps(model, inputs, opt):
    """torch.optim.AdamW's update written out (decoupled decay, bias correction) with
    clip_grad_norm_ semantics in front: scale = min(1, max_norm / (norm + 1e-6))."""
    decay = model.decay_mask()
    params = dict(model.named_parameters())
    m = {n: torch.zeros_like(p) for n, p in params.items()}
    v = {n: torch.zeros_like(p) for n, p in params.items()}
    losses, norms = [], []
    for t in range(1, opt["steps"] + 1):
        with torch.enable_grad():
            _, loss, grads = loss_and_grads(model, inputs)
        norm = torch.sqrt(sum((g**2).sum() for g in grads.values()))  # before clipping
        losses.append(loss.item())
        norms.append(norm.item())
        clip = min(1.0, opt["clip_norm"] / (norm.item() + opt["clip_eps"]))
        bc1 = 1.0 - opt["beta1"] ** t
        bc2 = 1.0 - opt["beta2"] ** t
        for n, p in params.items():
            g = grads[n] * clip
            if decay[n]:
                p.mul_(1.0 - opt["lr"] * opt["weight_decay"])  # decoupled: before the Adam step
            m[n].mul_(opt["beta1"]).add_(g, alpha=1.0 - opt["beta1"])
            v[n].mul_(opt["beta2"]).addcmul_(g, g, value=1.0 - opt["beta2"])
            denom = v[n].sqrt() / math.sqrt(bc2) + opt["eps"]
            p.addcdiv_(m[n], denom, value=-opt["lr"] / bc1)
    return losses, norms, {n: p.detach().clone() for n, p in params.items()}


def adamw_with_torch(model, inputs, opt):
    """The same 10 steps with torch.optim.AdamW and clip_grad_norm_ (self-check only)."""
    decay = model.decay_mask()
    named = list(model.named_parameters())
    groups = [
        {"params": [p for n, p in named if decay[n]], "weight_decay": opt["weight_decay"]},
        {"params": [p for n, p in named if not decay[n]], "weight_decay": 0.0},
    ]
    o = torch.optim.AdamW(groups, lr=opt["lr"], betas=(opt["beta1"], opt["beta2"]), eps=opt["eps"])
    for _ in range(opt["steps"]):
        o.zero_grad(set_to_none=True)
        _, loss = run(model, inputs)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), opt["clip_norm"])
        o.step()
    return {n: p.detach().clone() for n, p in model.named_parameters()}


def torch_adamw_losses(model, inputs, opt):
    """torch.optim.AdamW's own 10 steps (clip_grad_norm_ only when opt["clip_norm"]): the loss and
    the gradient norm before each step, and the params after the last."""
    decay = model.decay_mask()
    named = list(model.named_parameters())
    groups = [
        {"params": [p for n, p in named if decay[n]], "weight_decay": opt["weight_decay"]},
        {"params": [p for n, p in named if not decay[n]], "weight_decay": 0.0},
    ]
    o = torch.optim.AdamW(groups, lr=opt["lr"], betas=(opt["beta1"], opt["beta2"]), eps=opt["eps"])
    losses, norms = [], []
    for _ in range(opt["steps"]):
        o.zero_grad(set_to_none=True)
        _, loss = run(model, inputs)
        loss.backward()
        with torch.no_grad():
            norm = torch.sqrt(sum((p.grad**2).sum() for _, p in named))
        losses.append(loss.item())
        norms.append(norm.item())
        if opt["clip_norm"]:
            torch.nn.utils.clip_grad_norm_(model.parameters(), opt["clip_norm"])
        o.step()
    return losses, norms, {n: p.detach().clone() for n, p in model.named_parameters()}


def make_adamw_torch(seed=1234):
    """gpt2_adamw_torch: the gpt2 fixture's draw (same seed, same order), then ADAMW_TORCH with
    torch.optim.AdamW in float64; self-checked against the written-out update (clip off = scale 1)."""
    torch.manual_seed(seed)
    gen = torch.Generator().manual_seed(seed)
    model = tiny_gpt2()
    values = draw_params(model, gen)
    inputs = lm_batch(model.cfg, gen)
    model = model.double()
    load_params(model, values)
    losses, norms, after = torch_adamw_losses(model, inputs, ADAMW_TORCH)
    twin = tiny_gpt2().double()
    load_params(twin, values)
    by_hand = dict(ADAMW_TORCH, clip_norm=math.inf, clip_eps=0.0)
    hand_losses, _, hand_after = adamw_steps(twin, inputs, by_hand)
    for a, b in zip(losses, hand_losses):
        check(abs(a - b) < 1e-12, f"torch.optim.AdamW loss {a} != written-out AdamW {b}")
    for n in after:
        check(torch.allclose(after[n], hand_after[n], rtol=1e-9, atol=1e-12), f"AdamW settings on {n}")
    check(losses[-1] < losses[0], f"AdamW did not lower the loss: {losses}")
    tensors = []
    for name, _, _, _ in model.specs:
        tensors.append((f"param.{name}", f32(values[name])))
    for name, t in inputs.items():
        tensors.append((f"input.{name}", t.numpy().astype(np.int32)))
    tensors.append(("adamw.losses", np.array(losses, dtype=np.float32)))
    tensors.append(("adamw.norms", np.array(norms, dtype=np.float32)))
    for name, _, _, _ in model.specs:
        tensors.append((f"adamw.param.{name}", f32(after[name])))
    meta = {
        "model": model.model_file,
        "set": model.set_constants(),
        "notes": "The gpt2 fixture's parameters and batch; 10 steps of torch.optim.AdamW (float64) "
        "at settings other than gptc's defaults. gptc gets them from --weight-decay 0 --beta2 0.999 "
        "--grad-clip 0 --lr-schedule constant (tests/parity/test_optimizer_flags.cpp).",
        "compute": "float64 reference from the float32 parameter values, results rounded to float32",
        "adamw": dict(ADAMW_TORCH, schedule="constant lr", clipping="none",
                      flags="--lr 1e-3 --weight-decay 0 --beta1 0.9 --beta2 0.999 --eps 1e-8 "
                      "--grad-clip 0 --lr-schedule constant"),
        "reference": {"adamw_losses": losses, "adamw_norms": norms},
        "tensors": {name: list(a.shape) for name, a in tensors},
    }
    return tensors, meta


# --------------------------------------------- self-checks -------------------------------------


class CheckFailed(Exception):
    pass


def check(cond, what):
    if not cond:
        raise CheckFailed(what)


def check_primitives():
    """Our spelled-out ops against torch's own where torch has one."""
    g = torch.Generator().manual_seed(7)
    x = torch.randn(3, 5, 8, generator=g, dtype=torch.float64)
    w = torch.randn(8, generator=g, dtype=torch.float64)
    b = torch.randn(8, generator=g, dtype=torch.float64)
    ref = torch.nn.functional.layer_norm(x, (8,), w, b, eps=1e-5)
    check(torch.allclose(M.layernorm(x, w, b), ref, rtol=0, atol=1e-12), "layernorm != F.layer_norm")
    ref = torch.nn.functional.gelu(x, approximate="tanh")
    check(torch.allclose(M.gelu(x), ref, rtol=0, atol=1e-12), "gelu != F.gelu(tanh)")
    logits = torch.randn(4, 6, 10, generator=g, dtype=torch.float64)
    targets = torch.randint(0, 7, (4, 6), generator=g)
    targets[0, :3] = 0
    ref = torch.nn.functional.cross_entropy(logits[..., :7].reshape(-1, 7), targets.reshape(-1), ignore_index=0)
    got = M.cross_entropy(logits, targets, ignore_index=0, classes=7)
    check(abs(got.item() - ref.item()) < 1e-12, "cross_entropy != F.cross_entropy")
    pe = M.sinusoidal(5, 6, torch.float64)
    for p in range(5):
        for i in range(3):
            check(abs(pe[p, 2 * i] - math.sin(p / 10000 ** (2 * i / 6))) < 1e-12, "sinusoidal sin")
            check(abs(pe[p, 2 * i + 1] - math.cos(p / 10000 ** (2 * i / 6))) < 1e-12, "sinusoidal cos")
    s = M.causal_mask(torch.zeros(1, 3, 3, dtype=torch.float64))
    check(torch.isneginf(s[0, 0, 1]) and s[0, 1, 0] == 0 and s[0, 2, 2] == 0, "causal_mask")
    y = M.softmax(torch.full((2, 4), float("-inf"), dtype=torch.float64))
    check(torch.equal(y, torch.zeros(2, 4, dtype=torch.float64)), "softmax of an all -inf row")
    check(torch.allclose(M.silu(x), torch.nn.functional.silu(x), rtol=0, atol=1e-12), "silu != F.silu")
    rms = torch.sqrt((x**2).sum(-1, keepdim=True) / 8 + 1e-5)
    check(torch.allclose(M.rmsnorm(x, w), x / rms * w, rtol=0, atol=1e-12), "rmsnorm")
    # rope, interleaved: Meta Llama's complex form, (x[2i] + i x[2i+1]) * e^(i p theta^(-2i/D))
    q = torch.randn(2, 5, 8, generator=g, dtype=torch.float64)
    freqs = 1.0 / (10000.0 ** (torch.arange(0, 8, 2, dtype=torch.float64) / 8))
    cis = torch.polar(torch.ones(5, 4, dtype=torch.float64), torch.outer(torch.arange(5, dtype=torch.float64), freqs))
    meta = torch.view_as_real(torch.view_as_complex(q.reshape(2, 5, 4, 2)) * cis).flatten(-2)
    check(torch.allclose(M.rope(q, interleaved=True), meta, rtol=0, atol=1e-12), "rope interleaved != complex form")
    # half-split: the same rotation of the pairs (x[i], x[i+D/2]) (HF Llama's rotate_half)
    perm = torch.tensor([0, 4, 1, 5, 2, 6, 3, 7])
    check(torch.allclose(M.rope(q)[..., perm], M.rope(q[..., perm], interleaved=True), rtol=0, atol=1e-12), "rope half-split")
    check(torch.allclose(M.rope(q, pos=3)[..., 0, :], M.rope(q[..., :4, :])[..., 3, :] * 0 + M.rope(q[..., :1, :], pos=3)[..., 0, :]), "rope pos")
    h = M.split_heads(torch.arange(2 * 3 * 4).reshape(2, 3, 4), 2)  # (B,H,T,D) = (2,2,3,2)
    check(h[0, 1, 2, 0].item() == 2 * 4 + 2, "split_heads layout")
    check(torch.equal(M.merge_heads(h), torch.arange(24).reshape(2, 3, 4)), "merge_heads inverts split")


def check_finite_differences(model, inputs, grads, gen):
    """Central differences in float64 on a few entries of several parameters (including a
    layernorm weight, a bias and an entry of the second layer), against autograd."""
    picks = [n for n, _, _, _ in model.specs]  # every parameter, two random entries each
    worst = 0.0
    h = 1e-6
    with torch.no_grad():
        for name in picks:
            p = getattr(model, name)
            for _ in range(2):
                flat = int(torch.randint(0, p.numel(), (1,), generator=gen))
                if name.startswith("wte") and flat >= model.cfg.V * model.cfg.C:
                    flat %= model.cfg.V * model.cfg.C  # padded rows have a zero gradient
                view = p.view(-1)
                old = view[flat].item()
                view[flat] = old + h
                lp = run(model, inputs)[1].item()
                view[flat] = old - h
                lm = run(model, inputs)[1].item()
                view[flat] = old
                fd = (lp - lm) / (2 * h)
                ad = grads[name].view(-1)[flat].item()
                # h = 1e-6 in float64: rounding adds ~1e-10 absolute, truncation ~1e-12 relative
                err = abs(fd - ad) / (1e-4 + abs(ad))
                worst = max(worst, err)
                check(abs(fd - ad) <= 1e-8 + 1e-6 * abs(ad), f"finite difference of {name}[{flat}]: fd {fd:.10g} vs autograd {ad:.10g}")
    return worst


@torch.no_grad()
def check_seq2seq_against_torch_layers(model, inputs):
    """An independent second opinion on the seq2seq mirror: the same weights loaded into torch's
    nn.TransformerEncoderLayer / nn.TransformerDecoderLayer (post-LN, ReLU, dropout 0), whose
    in_proj packs q, k, v in our order. Only a check: the mirror itself spells every op out."""
    c = model.cfg
    nn = torch.nn
    kw = dict(d_model=c.D, nhead=c.H, dim_feedforward=c.F, dropout=0.0, batch_first=True, dtype=torch.float64)
    enc = [nn.TransformerEncoderLayer(**kw) for _ in range(c.LE)]
    dec = [nn.TransformerDecoderLayer(**kw) for _ in range(c.LD)]
    P = {n: p.detach() for n, p in model.named_parameters()}
    for l, e in enumerate(enc):
        e.train()  # eval mode may take the nested-tensor fast path, which zeroes padded rows
        e.self_attn.in_proj_weight.copy_(P["e_qkvw"][l])
        e.self_attn.in_proj_bias.copy_(P["e_qkvb"][l])
        e.self_attn.out_proj.weight.copy_(P["e_ow"][l])
        e.self_attn.out_proj.bias.copy_(P["e_ob"][l])
        e.norm1.weight.copy_(P["e_ln1w"][l]), e.norm1.bias.copy_(P["e_ln1b"][l])
        e.linear1.weight.copy_(P["e_f1w"][l]), e.linear1.bias.copy_(P["e_f1b"][l])
        e.linear2.weight.copy_(P["e_f2w"][l]), e.linear2.bias.copy_(P["e_f2b"][l])
        e.norm2.weight.copy_(P["e_ln2w"][l]), e.norm2.bias.copy_(P["e_ln2b"][l])
    for l, d in enumerate(dec):
        d.train()
        d.self_attn.in_proj_weight.copy_(P["d_qkvw"][l])
        d.self_attn.in_proj_bias.copy_(P["d_qkvb"][l])
        d.self_attn.out_proj.weight.copy_(P["d_ow"][l])
        d.self_attn.out_proj.bias.copy_(P["d_ob"][l])
        d.norm1.weight.copy_(P["d_ln1w"][l]), d.norm1.bias.copy_(P["d_ln1b"][l])
        d.multihead_attn.in_proj_weight.copy_(torch.cat([P["d_cqw"][l], P["d_ckvw"][l]], 0))
        d.multihead_attn.in_proj_bias.copy_(torch.cat([P["d_cqb"][l], P["d_ckvb"][l]], 0))
        d.multihead_attn.out_proj.weight.copy_(P["d_cow"][l])
        d.multihead_attn.out_proj.bias.copy_(P["d_cob"][l])
        d.norm2.weight.copy_(P["d_ln2w"][l]), d.norm2.bias.copy_(P["d_ln2b"][l])
        d.linear1.weight.copy_(P["d_f1w"][l]), d.linear1.bias.copy_(P["d_f1b"][l])
        d.linear2.weight.copy_(P["d_f2w"][l]), d.linear2.bias.copy_(P["d_f2b"][l])
        d.norm3.weight.copy_(P["d_ln3w"][l]), d.norm3.bias.copy_(P["d_ln3b"][l])
    src, tgt_in = inputs["src"].long(), inputs["tgt_in"].long()
    S, T = src.shape[1], tgt_in.shape[1]
    src_pad = src == c.PAD  # True = ignore this key
    tgt_pad = tgt_in == c.PAD
    causal = torch.triu(torch.ones(T, T, dtype=torch.bool), diagonal=1)  # True = masked
    x = P["src_emb"][src] * math.sqrt(c.D) + M.sinusoidal(S, c.D, torch.float64)
    for e in enc:
        x = e(x, src_key_padding_mask=src_pad)
    y = P["tgt_emb"][tgt_in] * math.sqrt(c.D) + M.sinusoidal(T, c.D, torch.float64)
    for d in dec:
        y = d(y, x, tgt_mask=causal, tgt_key_padding_mask=tgt_pad, memory_key_padding_mask=src_pad)
    theirs = y @ P["out_w"].t() + P["out_b"]
    ours = run(model, inputs)[0]
    err = (theirs - ours).abs().max().item()
    check(err < 1e-10, f"seq2seq mirror vs nn.Transformer*Layer: max abs diff {err}")
    return err


@torch.no_grad()
def check_zero_model_loss(make_model, inputs, V):
    """With every parameter scaled to ~0 (layernorm weights too) the logits are ~0 and the loss
    must be ln(V) (GPT-2: the V real classes, not the Vp padded columns)."""
    model = make_model().double()
    for p in model.parameters():
        p.mul_(1e-6)
    loss = run(model, inputs)[1].item()
    check(abs(loss - math.log(V)) < 1e-6, f"near-zero model loss {loss} != ln({V}) = {math.log(V)}")
    return loss


# --------------------------------------------- file format -------------------------------------


def write_fix(path, tensors):
    """tensors: [(name, np.ndarray float32 or int32)]; format in README.md."""
    out = bytearray(b"GPTCFIX1")
    out += struct.pack("<I", len(tensors))
    for name, a in tensors:
        a = np.asarray(a, order="C")  # not ascontiguousarray: it turns a scalar into shape [1]
        dtype = {np.dtype(np.float32): F32, np.dtype(np.int32): I32}[a.dtype]
        raw = name.encode("utf-8")
        out += struct.pack("<I", len(raw)) + raw
        out += struct.pack("<II", dtype, a.ndim)
        out += struct.pack(f"<{a.ndim}q", *a.shape)
        out += a.astype(a.dtype.newbyteorder("<"), copy=False).tobytes()
    with open(path, "wb") as f:
        f.write(bytes(out))


def read_fix(path):
    """The inverse of write_fix (used by the self-check, and handy for poking at a fixture)."""
    data = open(path, "rb").read()
    check(data[:8] == b"GPTCFIX1", f"{path}: magic")
    (count,) = struct.unpack_from("<I", data, 8)
    pos, out = 12, {}
    for _ in range(count):
        (n,) = struct.unpack_from("<I", data, pos)
        name = data[pos + 4 : pos + 4 + n].decode("utf-8")
        pos += 4 + n
        dtype, rank = struct.unpack_from("<II", data, pos)
        pos += 8
        shape = struct.unpack_from(f"<{rank}q", data, pos)
        pos += 8 * rank
        numel = int(np.prod(shape)) if rank else 1
        np_dtype = np.dtype("<f4") if dtype == F32 else np.dtype("<i4")
        out[name] = np.frombuffer(data, np_dtype, numel, pos).reshape(shape)
        pos += 4 * numel
    check(pos == len(data), f"{path}: trailing bytes")
    return out


def f32(t):
    return t.detach().to(torch.float32).numpy()


# --------------------------------------------- one model ---------------------------------------


def key_bias_slices(key, cfg):
    """The bias entries that feed attention keys. Adding b to every key adds q.b to a whole row of
    scores, which softmax ignores, so their true gradient is exactly 0 (float64 gives ~1e-17).
    AdamW divides by sqrt(v) + eps, so in float32 (gradient ~1e-9 >> eps) these entries take
    noise-driven steps of up to lr each: parity tests must skip them in adamw.param.*."""
    if key == "seq2seq":
        D = cfg.D
        return [("e_qkvb", D, 2 * D), ("d_qkvb", D, 2 * D), ("d_ckvb", 0, D)]
    if key == "llama":
        return []  # no biases
    return [("qkvb", cfg.C, 2 * cfg.C)]


def check_key_bias_gradients(key, cfg, grads):
    worst = 0.0
    for name, start, end in key_bias_slices(key, cfg):
        g = grads[name][..., start:end].abs().max().item()
        scale = grads[name].abs().max().item()
        worst = max(worst, g / scale)
        check(g < 1e-12 * max(1.0, scale), f"key-bias gradient {name}[..., {start}:{end}] is {g}, not ~0")
    return worst



NOTES = {
    "gpt2": "Mirrors models/gpt2.graph: learned positions, pre-LayerNorm, GELU tanh, tied output "
    "weights (logits = hf @ wte^T over all Vp rows), loss over the first V columns only. "
    "wte rows V..Vp-1 are random but get a zero gradient (no token or loss reaches them); "
    "weight decay still shrinks them.",
    "chargpt": "Mirrors models/chargpt.graph with drop = 0 (every dropout is the identity, so the "
    "input seed does not matter): pre-LayerNorm, ReLU FFN, tied output weights, loss over all B*T "
    "positions.",
    "llama": "Mirrors models/llama.graph: pre-norm RMSNorm (eps 1e-5), rotary positions on q and k "
    "(half-split pairs, theta 10000, angle table in float64), SwiGLU feed-forward "
    "w2(silu(x w1^T) * (x w3^T))^T, no biases, untied LM head, final RMSNorm, loss over all B*T "
    "positions.",
    "seq2seq": "Mirrors models/seq2seq.graph with drop = 0: post-LayerNorm encoder-decoder, "
    "embeddings * sqrt(D) + sinusoidal positions, key padding masks (-inf on PAD keys), causal "
    "and target-padding mask in decoder self-attention, source padding mask in cross-attention, "
    "loss averaged over the non-PAD targets. Rows have 5, 1, 3 and 4 digits (row 0 has no PAD).",
}


def make_one(key, make_model, seed):
    torch.manual_seed(seed)
    gen = torch.Generator().manual_seed(seed)
    model = make_model()
    cfg = model.cfg
    values = draw_params(model, gen)
    inputs = seq2seq_batch(cfg, gen) if key == "seq2seq" else lm_batch(cfg, gen)
    feed = dict(inputs)
    if key in ("chargpt", "seq2seq"):
        feed["seed"] = torch.tensor(0, dtype=torch.int32)  # the graph's `input seed : i32[]`

    model = model.double()  # the reference runs in float64 from the float32 parameter values
    load_params(model, values)
    logits, loss, grads = loss_and_grads(model, inputs)

    fd_worst = check_finite_differences(model, inputs, grads, gen)
    check_key_bias_gradients(key, cfg, grads)
    zero_loss = check_zero_model_loss(make_model, inputs, cfg.V)
    if key == "seq2seq":
        check_seq2seq_against_torch_layers(model, inputs)

    losses, norms, after = adamw_steps(model, inputs, ADAMW)
    check(abs(losses[0] - loss.item()) < 1e-12, "AdamW step 1 loss != forward loss")
    twin = make_model().double()
    load_params(twin, values)
    after_torch = adamw_with_torch(twin, inputs, ADAMW)
    for n in after:
        check(torch.allclose(after[n], after_torch[n], rtol=1e-9, atol=1e-12), f"AdamW vs torch.optim.AdamW on {n}")
    check(losses[-1] < losses[0], f"AdamW did not lower the loss: {losses}")

    tensors = []
    for name, _, _, _ in model.specs:
        tensors.append((f"param.{name}", f32(values[name])))
    for name, t in feed.items():
        tensors.append((f"input.{name}", t.numpy().astype(np.int32)))
    tensors.append(("output.logits", f32(logits)))
    tensors.append(("output.loss", f32(loss)))
    for name, _, _, _ in model.specs:
        tensors.append((f"grad.{name}", f32(grads[name])))
    tensors.append(("adamw.losses", np.array(losses, dtype=np.float32)))
    tensors.append(("adamw.norms", np.array(norms, dtype=np.float32)))
    for name, _, _, _ in model.specs:
        tensors.append((f"adamw.param.{name}", f32(after[name])))

    decay = model.decay_mask()
    meta = {
        "model": model.model_file,
        "set": model.set_constants(),
        "notes": NOTES[key],
        "compute": "float64 reference from the float32 parameter values, results rounded to float32",
        "param_init": {
            "torch_seed": seed,
            "default": f"normal(0, {PARAM_STD}) * {PARAM_K:g}",
            "layernorm_weights": f"1 + normal(0, {LN_WEIGHT_STD})",
        },
        "adamw": dict(
            ADAMW,
            schedule="constant lr",
            clipping="global norm over all gradients; scale = min(1, clip_norm / (norm + clip_eps))",
            decay=[n for n in decay if decay[n]],
            no_decay=[n for n in decay if not decay[n]],
        ),
        "zero_gradient_slices": [
            {
                "param": name,
                "axis": -1,
                "start": start,
                "end": end,
                "why": "attention key biases: softmax ignores a per-row constant, so d loss / d b = 0 "
                "exactly; the fixture's grad there is float64 noise (~1e-17). In float32 AdamW turns "
                "the noise into steps of up to lr, so compare adamw.param.<name> without this slice.",
            }
            for name, start, end in key_bias_slices(key, cfg)
        ],
        "reference": {
            "loss": loss.item(),
            "adamw_losses": losses,
            "near_zero_model_loss": zero_loss,
            "ln_V": math.log(cfg.V),
            "finite_difference_worst_rel_err": fd_worst,
        },
        "tensors": {name: list(a.shape) for name, a in tensors},
    }
    return tensors, meta


def main():
    torch.set_num_threads(1)  # one thread: same reduction order, same bytes on every run
    check_primitives()
    jobs = [
        ("gpt2", tiny_gpt2, 1234),
        ("chargpt", tiny_chargpt, 2345),
        ("seq2seq", tiny_seq2seq, 3456),
        ("llama", tiny_llama, 4567),
    ]
    results = []
    try:
        for key, make_model, seed in jobs:
            results.append((key,) + make_one(key, make_model, seed))
        results.append(("gpt2_adamw_torch",) + make_adamw_torch())
    except CheckFailed as e:
        print(f"make_fixtures.py: self-check failed: {e}", file=sys.stderr)
        return 1
    os.makedirs(OUT_DIR, exist_ok=True)
    for key, tensors, meta in results:
        stem = os.path.join(OUT_DIR, key)
        write_fix(stem + ".fix", tensors)
        with open(stem + ".json", "w") as f:
            json.dump(meta, f, indent=2)
            f.write("\n")
        back = read_fix(stem + ".fix")
        for name, a in tensors:
            if not np.array_equal(back[name], a):
                print(f"make_fixtures.py: {stem}.fix: {name} did not read back", file=sys.stderr)
                return 1
        r = meta["reference"]
        if "loss" not in r:
            print(f"{key:8s} torch.optim.AdamW losses {r['adamw_losses'][0]:.6f} -> "
                  f"{r['adamw_losses'][-1]:.6f}, {os.path.getsize(stem + '.fix')} bytes")
            continue
        print(
            f"{key:8s} loss {r['loss']:.6f} (ln V {r['ln_V']:.4f}), loss before AdamW step 10 "
            f"{r['adamw_losses'][-1]:.6f}, fd worst rel err "
            f"{r['finite_difference_worst_rel_err']:.2e}, {os.path.getsize(stem + '.fix')} bytes"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
