"""PyTorch mirrors of models/gpt2.graph, models/chargpt.graph, models/seq2seq.graph and
models/llama.graph.

Each class computes exactly what its .graph file says, op by op, with the semantics written in
ir/ops.def: same parameter names, same stacked-over-layers layouts ([L, 3C, C] used as
x @ w[l]^T + b[l]), same q/k/v slicing order, same masks, same loss. Nothing here comes from
nn.Transformer or nn.MultiheadAttention: every op is spelled out so a reader can hold this file
next to the .graph file and check it line by line.

The modules are dtype-agnostic: make_fixtures.py runs them in float64 (the reference must be the
more accurate side); training and benchmark scripts run them in float32.

Left to others: the fixture files (make_fixtures.py), the optimizer and training loop (the caller;
`decay_mask` says which parameters get weight decay), and gptc's counter-based dropout hash, which
these mirrors do not reproduce: with drop > 0 and training=True they use torch's own dropout, which
is the same distribution but not the same mask. Every fixture uses drop = 0.
"""

import math
from dataclasses import dataclass, fields
from types import SimpleNamespace

import torch
import torch.nn as nn

# ---------------------------------------------------------------------------------------------
# The ops of ir/ops.def that need more than one torch call, each written the way the table says.
# ---------------------------------------------------------------------------------------------


def layernorm(x, w, b, eps=1e-5):
    """layernorm over the last axis, biased variance, eps inside the square root."""
    mean = x.mean(dim=-1, keepdim=True)
    var = ((x - mean) ** 2).mean(dim=-1, keepdim=True)  # biased: divide by C, not C-1
    return (x - mean) / torch.sqrt(var + eps) * w + b


def gelu(x):
    """gelu, tanh form: 0.5x(1+tanh(sqrt(2/pi)(x+0.044715x^3)))."""
    return 0.5 * x * (1.0 + torch.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * x**3)))


def linear(x, w, b):
    """linear: x[...,K] w[N,K] b[N] -> x @ w^T + b."""
    return x @ w.transpose(0, 1) + b


def split_heads(x, heads):
    """split_heads: [B,T,H*D] -> [B,T,H,D] -> [B,H,T,D]."""
    B, T, HD = x.shape
    return x.reshape(B, T, heads, HD // heads).transpose(1, 2)


def merge_heads(x):
    """merge_heads: [B,H,T,D] -> [B,T,H,D] -> [B,T,H*D]."""
    B, H, T, D = x.shape
    return x.transpose(1, 2).reshape(B, T, H * D)


def causal_mask(x, offset=0):
    """causal_mask: x[...,i,j] = -inf where j > i + offset (queries i, keys j)."""
    Tq, Tk = x.shape[-2], x.shape[-1]
    i = torch.arange(Tq).unsqueeze(1)
    j = torch.arange(Tk).unsqueeze(0)
    return x.masked_fill(j > i + offset, float("-inf"))


def mask_fill(x, keep, value=float("-inf")):
    """mask_fill: x where keep != 0, else value; keep broadcasts to x."""
    return x.masked_fill(keep == 0, value)


def softmax(x):
    """softmax over the last axis; a row of all -inf gives zeros (torch alone would give NaN)."""
    all_masked = torch.isneginf(x).all(dim=-1, keepdim=True)
    y = torch.softmax(x.masked_fill(all_masked, 0.0), dim=-1)
    return y.masked_fill(all_masked, 0.0)


def pad_mask(ids, pad, dtype):
    """pad_mask: 1 where ids != pad, 0 where == pad (in the float dtype the model computes in)."""
    return (ids != pad).to(dtype)


def sinusoidal(rows, dim, dtype):
    """sinusoidal: pe[p,2i] = sin(p / 10000^(2i/dim)), pe[p,2i+1] = cos(same)."""
    p = torch.arange(rows, dtype=torch.float64).unsqueeze(1)  # (rows,1)
    two_i = torch.arange(0, dim, 2, dtype=torch.float64)  # (dim/2,)
    angle = p / torch.pow(10000.0, two_i / dim)  # (rows,dim/2)
    pe = torch.zeros(rows, dim, dtype=torch.float64)
    pe[:, 0::2] = torch.sin(angle)
    pe[:, 1::2] = torch.cos(angle[:, : dim // 2])
    return pe.to(dtype)


def cross_entropy(logits, targets, ignore_index=-1, classes=0):
    """cross_entropy: mean over rows whose target != ignore_index of
    -log softmax(logits[..., :classes])[target]; classes 0 = all columns."""
    if classes:
        logits = logits[..., :classes]  # GPT-2's padded vocabulary: only the first V count
    logits = logits.reshape(-1, logits.shape[-1])  # (N,V)
    targets = targets.reshape(-1).long()  # (N,)
    counted = targets != ignore_index
    safe = torch.where(counted, targets, torch.zeros_like(targets))
    nll = torch.logsumexp(logits, dim=-1) - logits.gather(1, safe.unsqueeze(1)).squeeze(1)
    return (nll * counted).sum() / counted.sum()


def rmsnorm(x, w, eps=1e-5):
    """rmsnorm over the last axis: x / sqrt(mean(x^2) + eps) * w (no mean subtracted, no bias)."""
    return x / torch.sqrt((x * x).mean(dim=-1, keepdim=True) + eps) * w


def silu(x):
    """silu: x * sigmoid(x)."""
    return x * torch.sigmoid(x)


def swiglu(g, u):
    """swiglu: silu(g) * u."""
    return silu(g) * u


def rope(x, theta=10000.0, interleaved=False, pos=0):
    """rope over x[..., T, D]: row t at position pos + t; pair i (interleaved: x[2i], x[2i+1];
    else x[i], x[i + D/2], rotate_half) rotated by (pos + t) * theta^(-2i/D). The angle table in
    float64, rounded to x's dtype, as gptc does."""
    T, D = x.shape[-2], x.shape[-1]
    p = torch.arange(pos, pos + T, dtype=torch.float64).unsqueeze(1)  # (T,1)
    inv_freq = torch.pow(torch.tensor(theta, dtype=torch.float64), -torch.arange(0, D, 2, dtype=torch.float64) / D)
    angle = p * inv_freq  # (T,D/2)
    cos, sin = torch.cos(angle).to(x.dtype), torch.sin(angle).to(x.dtype)
    if interleaved:
        a, b = x[..., 0::2], x[..., 1::2]
        return torch.stack([a * cos - b * sin, b * cos + a * sin], dim=-1).flatten(-2)
    a, b = x[..., : D // 2], x[..., D // 2 :]
    return torch.cat([a * cos - b * sin, b * cos + a * sin], dim=-1)


def alibi(x, offset=0):
    """alibi: x[..., h, i, j] + m_h * (j - i - offset), m_h = 2^(-8(h+1)/H) rounded to x's dtype."""
    H, Tq, Tk = x.shape[-3], x.shape[-2], x.shape[-1]
    slopes = torch.tensor([2.0 ** (-8.0 * (h + 1) / H) for h in range(H)], dtype=torch.float32).to(x.dtype)
    dist = (torch.arange(Tk).unsqueeze(0) - torch.arange(Tq).unsqueeze(1) - offset).to(x.dtype)  # (Tq,Tk)
    return x + slopes.view(H, 1, 1) * dist


def dropout(x, p, training):
    """Stand-in for gptc's dropout (see the module docstring): identity when p == 0."""
    if p == 0.0 or not training:
        return x
    return torch.nn.functional.dropout(x, p=p, training=True)


def use_torch_kernels():
    """Rebinds layernorm, gelu, linear, softmax, cross_entropy and silu to torch's fused kernels
    (F.layer_norm, F.gelu(approximate="tanh"), F.linear, torch.softmax, F.cross_entropy, F.silu): the same
    math as the explicit forms above, written the way idiomatic PyTorch code is. bench/ runs the
    mirrors this way so PyTorch is measured at its best; the fixtures keep the explicit forms.
    (torch.softmax gives NaN on an all -inf row: no benchmark batch has one.)"""
    import torch.nn.functional as F

    def fused_cross_entropy(logits, targets, ignore_index=-1, classes=0):
        if classes:
            logits = logits[..., :classes]
        return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), targets.reshape(-1).long(), ignore_index=ignore_index)

    g = globals()
    g["layernorm"] = lambda x, w, b, eps=1e-5: F.layer_norm(x, (x.shape[-1],), w, b, eps)
    g["gelu"] = lambda x: F.gelu(x, approximate="tanh")
    g["linear"] = F.linear
    g["softmax"] = lambda x: torch.softmax(x, dim=-1)
    g["cross_entropy"] = fused_cross_entropy
    g["silu"] = F.silu  # swiglu calls silu by name (torch 1.13 has no fused RMSNorm: it stays explicit)


# ---------------------------------------------------------------------------------------------
# Shared machinery: configs are the .graph file's `const` lines; parameters are declared as
# (name, shape, init, stacked) rows in the .graph file's order.
# ---------------------------------------------------------------------------------------------


class GraphModel(nn.Module):
    """Base: owns the parameters, named exactly as the .graph file's `param` lines."""

    model_file = ""  # path of the .graph file this class mirrors, relative to the repo root

    def __init__(self, cfg):
        super().__init__()
        self.cfg = cfg
        self.specs = self.param_specs(cfg)  # [(name, shape, init, stacked)]
        for name, shape, _, _ in self.specs:
            self.register_parameter(name, nn.Parameter(torch.empty(shape)))
        self.init_like_graph()

    @torch.no_grad()
    def init_like_graph(self, generator=None):
        """The `init` clauses of the .graph file: normal(std), ones, zeros."""
        for name, _, init, _ in self.specs:
            p = getattr(self, name)
            if init == "ones":
                p.fill_(1.0)
            elif init == "zeros":
                p.zero_()
            else:
                p.normal_(0.0, init, generator=generator)

    def layer_views(self):
        """Every parameter by name, stacked ones split once into per-layer views (the `p` the layer
        methods read `p.qkvw[l]` from). Indexing the stacked parameter in every layer instead
        (`self.qkvw[l]`) is the same math, but autograd then builds a full-size zero gradient for
        every use and adds them (SelectBackward): O(L^2) memory traffic, 70% of a GPT-2 124M step.
        unbind's backward stacks the per-layer gradients once, as gptc's `stack` does."""
        return SimpleNamespace(
            **{name: getattr(self, name).unbind(0) if stacked else getattr(self, name) for name, _, _, stacked in self.specs}
        )

    def decay_mask(self):
        """name -> True for the parameters AdamW decays: nanoGPT's dim >= 2 rule applied to one
        layer's slice, so stacked [L,C] vectors are not decayed but [L,3C,C] matrices are."""
        out = {}
        for name, shape, _, stacked in self.specs:
            rank_per_layer = len(shape) - (1 if stacked else 0)
            out[name] = rank_per_layer >= 2
        return out

    def set_constants(self):
        """The `--set` constants the C++ side must pass for this configuration."""
        return {f.name: getattr(self.cfg, f.name) for f in fields(self.cfg)}


# ----------------------------------- GPT-2 (models/gpt2.graph) -------------------------------


@dataclass
class GPT2Config:
    V: int = 50257
    Vp: int = 50304
    maxT: int = 1024
    L: int = 12
    NH: int = 12
    C: int = 768
    B: int = 4
    T: int = 64


class GPT2(GraphModel):
    """models/gpt2.graph: learned positions, pre-LayerNorm, GELU-tanh, tied output weights,
    padded vocabulary (logits have Vp columns; the loss uses the first V)."""

    model_file = "models/gpt2.graph"

    @staticmethod
    def param_specs(c):
        L, C, resid = c.L, c.C, 0.02 / math.sqrt(2 * c.L)
        return [
            ("wte", (c.Vp, C), 0.02, False),
            ("wpe", (c.maxT, C), 0.02, False),
            ("ln1w", (L, C), "ones", True),
            ("ln1b", (L, C), "zeros", True),
            ("qkvw", (L, 3 * C, C), 0.02, True),
            ("qkvb", (L, 3 * C), "zeros", True),
            ("attprojw", (L, C, C), resid, True),
            ("attprojb", (L, C), "zeros", True),
            ("ln2w", (L, C), "ones", True),
            ("ln2b", (L, C), "zeros", True),
            ("fcw", (L, 4 * C, C), 0.02, True),
            ("fcb", (L, 4 * C), "zeros", True),
            ("fcprojw", (L, C, 4 * C), resid, True),
            ("fcprojb", (L, C), "zeros", True),
            ("lnfw", (C,), "ones", False),
            ("lnfb", (C,), "zeros", False),
        ]

    def layer(self, p, l, x):
        c = self.cfg
        C = c.C
        h = layernorm(x, p.ln1w[l], p.ln1b[l])  # (B,T,C)
        qkv = linear(h, p.qkvw[l], p.qkvb[l])  # (B,T,3C)
        q = split_heads(qkv[:, :, 0:C], c.NH)  # (B,NH,T,C/NH)
        k = split_heads(qkv[:, :, C : 2 * C], c.NH)  # (B,NH,T,C/NH)
        v = split_heads(qkv[:, :, 2 * C : 3 * C], c.NH)  # (B,NH,T,C/NH)
        att = (q @ k.transpose(-1, -2)) * (1.0 / math.sqrt(C / c.NH))  # (B,NH,T,T)
        w = softmax(causal_mask(att))  # (B,NH,T,T)
        y = merge_heads(w @ v)  # (B,T,C)
        x2 = x + linear(y, p.attprojw[l], p.attprojb[l])  # (B,T,C) residual
        h2 = layernorm(x2, p.ln2w[l], p.ln2b[l])  # (B,T,C)
        m = gelu(linear(h2, p.fcw[l], p.fcb[l]))  # (B,T,4C)
        return x2 + linear(m, p.fcprojw[l], p.fcprojb[l])  # (B,T,C) residual

    def forward(self, tokens, targets=None):
        p = self.layer_views()
        T = tokens.shape[1]
        x = self.wte[tokens.long()] + self.wpe[0:T]  # (B,T,C)
        for l in range(self.cfg.L):
            x = self.layer(p, l, x)
        hf = layernorm(x, self.lnfw, self.lnfb)  # (B,T,C)
        logits = hf @ self.wte.transpose(0, 1)  # (B,T,Vp) tied weights
        if targets is None:
            return logits, None
        return logits, cross_entropy(logits, targets, classes=self.cfg.V)


# --------------------------------- chargpt (models/chargpt.graph) ----------------------------


@dataclass
class CharGPTConfig:
    V: int = 65
    maxT: int = 256
    L: int = 6
    NH: int = 8
    C: int = 256
    drop: float = 0.1
    B: int = 16
    T: int = 256


class CharGPT(GraphModel):
    """models/chargpt.graph: like GPT-2 but ReLU FFN, no padded vocabulary, dropout on the
    embeddings, the attention weights and both residual branches."""

    model_file = "models/chargpt.graph"

    @staticmethod
    def param_specs(c):
        L, C, resid = c.L, c.C, 0.02 / math.sqrt(2 * c.L)
        return [
            ("wte", (c.V, C), 0.02, False),
            ("wpe", (c.maxT, C), 0.02, False),
            ("ln1w", (L, C), "ones", True),
            ("ln1b", (L, C), "zeros", True),
            ("qkvw", (L, 3 * C, C), 0.02, True),
            ("qkvb", (L, 3 * C), "zeros", True),
            ("projw", (L, C, C), resid, True),
            ("projb", (L, C), "zeros", True),
            ("ln2w", (L, C), "ones", True),
            ("ln2b", (L, C), "zeros", True),
            ("fcw", (L, 4 * C, C), 0.02, True),
            ("fcb", (L, 4 * C), "zeros", True),
            ("fc2w", (L, C, 4 * C), resid, True),
            ("fc2b", (L, C), "zeros", True),
            ("lnfw", (C,), "ones", False),
            ("lnfb", (C,), "zeros", False),
        ]

    def drop(self, x):
        return dropout(x, float(self.cfg.drop), self.training)

    def layer(self, p, l, x):
        c = self.cfg
        C = c.C
        h = layernorm(x, p.ln1w[l], p.ln1b[l])  # (B,T,C)
        qkv = linear(h, p.qkvw[l], p.qkvb[l])  # (B,T,3C)
        q = split_heads(qkv[:, :, 0:C], c.NH)  # (B,NH,T,C/NH)
        k = split_heads(qkv[:, :, C : 2 * C], c.NH)
        v = split_heads(qkv[:, :, 2 * C : 3 * C], c.NH)
        att = (q @ k.transpose(-1, -2)) * (1.0 / math.sqrt(C / c.NH))  # (B,NH,T,T)
        w = self.drop(softmax(causal_mask(att)))  # (B,NH,T,T)
        y = merge_heads(w @ v)  # (B,T,C)
        x2 = x + self.drop(linear(y, p.projw[l], p.projb[l]))  # (B,T,C)
        h2 = layernorm(x2, p.ln2w[l], p.ln2b[l])
        m = torch.relu(linear(h2, p.fcw[l], p.fcb[l]))  # (B,T,4C)
        return x2 + self.drop(linear(m, p.fc2w[l], p.fc2b[l]))  # (B,T,C)

    def forward(self, tokens, targets=None):
        p = self.layer_views()
        T = tokens.shape[1]
        x = self.drop(self.wte[tokens.long()] + self.wpe[0:T])  # (B,T,C)
        for l in range(self.cfg.L):
            x = self.layer(p, l, x)
        hf = layernorm(x, self.lnfw, self.lnfb)
        logits = hf @ self.wte.transpose(0, 1)  # (B,T,V) tied weights
        if targets is None:
            return logits, None
        return logits, cross_entropy(logits, targets)


# --------------------------------- llama (models/llama.graph) --------------------------------


@dataclass
class LlamaConfig:
    V: int = 65
    L: int = 6
    NH: int = 8
    C: int = 256
    F: int = 704
    theta: float = 10000
    B: int = 16
    T: int = 256


class Llama(GraphModel):
    """models/llama.graph: CS336's pre-norm TransformerLM. RMSNorm, rotary positions on q and k
    (half-split pairs), SwiGLU feed-forward W2(silu(x W1) * (x W3)), no biases, an untied LM head."""

    model_file = "models/llama.graph"

    @staticmethod
    def param_specs(c):
        L, C, F, resid = c.L, c.C, c.F, 0.02 / math.sqrt(2 * c.L)
        return [
            ("wte", (c.V, C), 0.02, False),
            ("ln1w", (L, C), "ones", True),
            ("wq", (L, C, C), 0.02, True),
            ("wk", (L, C, C), 0.02, True),
            ("wv", (L, C, C), 0.02, True),
            ("wo", (L, C, C), resid, True),
            ("ln2w", (L, C), "ones", True),
            ("w1", (L, F, C), 0.02, True),
            ("w3", (L, F, C), 0.02, True),
            ("w2", (L, C, F), resid, True),
            ("lnfw", (C,), "ones", False),
            ("lmw", (c.V, C), 0.02, False),
        ]

    def layer(self, p, l, x, pos=0):
        c = self.cfg
        h = rmsnorm(x, p.ln1w[l])  # (B,T,C)
        q = rope(split_heads(h @ p.wq[l].t(), c.NH), c.theta, pos=pos)  # (B,NH,T,C/NH)
        k = rope(split_heads(h @ p.wk[l].t(), c.NH), c.theta, pos=pos)
        v = split_heads(h @ p.wv[l].t(), c.NH)
        att = (q @ k.transpose(-1, -2)) * (1.0 / math.sqrt(c.C / c.NH))  # (B,NH,T,T)
        w = softmax(causal_mask(att))  # (B,NH,T,T)
        y = merge_heads(w @ v)  # (B,T,C)
        x2 = x + y @ p.wo[l].t()  # (B,T,C)
        h2 = rmsnorm(x2, p.ln2w[l])
        m = swiglu(h2 @ p.w1[l].t(), h2 @ p.w3[l].t())  # (B,T,F)
        return x2 + m @ p.w2[l].t()  # (B,T,C)

    def forward(self, tokens, targets=None):
        p = self.layer_views()
        x = self.wte[tokens.long()]  # (B,T,C)
        for l in range(self.cfg.L):
            x = self.layer(p, l, x)
        hf = rmsnorm(x, self.lnfw)
        logits = hf @ self.lmw.t()  # (B,T,V)
        if targets is None:
            return logits, None
        return logits, cross_entropy(logits, targets)


# --------------------------------- seq2seq (models/seq2seq.graph) ----------------------------


@dataclass
class Seq2SeqConfig:
    V: int = 13
    PAD: int = 0
    D: int = 64
    H: int = 4
    F: int = 256
    LE: int = 3
    LD: int = 3
    drop: float = 0.1
    B: int = 64
    S: int = 12
    T: int = 12


class Seq2Seq(GraphModel):
    """models/seq2seq.graph: post-LayerNorm encoder-decoder, sinusoidal positions, embeddings
    scaled by sqrt(D), key padding masks, causal decoder self-attention, cross-attention,
    loss averaged over the non-PAD targets."""

    model_file = "models/seq2seq.graph"

    @staticmethod
    def param_specs(c):
        V, D, F, LE, LD = c.V, c.D, c.F, c.LE, c.LD
        return [
            ("src_emb", (V, D), 0.02, False),
            ("tgt_emb", (V, D), 0.02, False),
            ("e_qkvw", (LE, 3 * D, D), 0.02, True),
            ("e_qkvb", (LE, 3 * D), "zeros", True),
            ("e_ow", (LE, D, D), 0.02, True),
            ("e_ob", (LE, D), "zeros", True),
            ("e_ln1w", (LE, D), "ones", True),
            ("e_ln1b", (LE, D), "zeros", True),
            ("e_f1w", (LE, F, D), 0.02, True),
            ("e_f1b", (LE, F), "zeros", True),
            ("e_f2w", (LE, D, F), 0.02, True),
            ("e_f2b", (LE, D), "zeros", True),
            ("e_ln2w", (LE, D), "ones", True),
            ("e_ln2b", (LE, D), "zeros", True),
            ("d_qkvw", (LD, 3 * D, D), 0.02, True),
            ("d_qkvb", (LD, 3 * D), "zeros", True),
            ("d_ow", (LD, D, D), 0.02, True),
            ("d_ob", (LD, D), "zeros", True),
            ("d_ln1w", (LD, D), "ones", True),
            ("d_ln1b", (LD, D), "zeros", True),
            ("d_cqw", (LD, D, D), 0.02, True),
            ("d_cqb", (LD, D), "zeros", True),
            ("d_ckvw", (LD, 2 * D, D), 0.02, True),
            ("d_ckvb", (LD, 2 * D), "zeros", True),
            ("d_cow", (LD, D, D), 0.02, True),
            ("d_cob", (LD, D), "zeros", True),
            ("d_ln2w", (LD, D), "ones", True),
            ("d_ln2b", (LD, D), "zeros", True),
            ("d_f1w", (LD, F, D), 0.02, True),
            ("d_f1b", (LD, F), "zeros", True),
            ("d_f2w", (LD, D, F), 0.02, True),
            ("d_f2b", (LD, D), "zeros", True),
            ("d_ln3w", (LD, D), "ones", True),
            ("d_ln3b", (LD, D), "zeros", True),
            ("out_w", (V, D), 0.02, False),
            ("out_b", (V,), "zeros", False),
        ]

    def drop(self, x):
        return dropout(x, float(self.cfg.drop), self.training)

    def attend(self, q, k, v, keep, causal):
        """Scaled dot-product attention on split heads; keep is [B,1,1,Tk] (1 = real key)."""
        c = self.cfg
        s = (q @ k.transpose(-1, -2)) * (1.0 / math.sqrt(c.D / c.H))  # (B,H,Tq,Tk)
        if causal:
            s = causal_mask(s)
        s = mask_fill(s, keep)  # -inf on PAD keys
        w = self.drop(softmax(s))
        return merge_heads(w @ v)  # (B,Tq,D)

    def encoder(self, p, l, x, skeep):
        c = self.cfg
        D, H = c.D, c.H
        qkv = linear(x, p.e_qkvw[l], p.e_qkvb[l])  # (B,S,3D)
        q = split_heads(qkv[:, :, 0:D], H)  # (B,H,S,D/H)
        k = split_heads(qkv[:, :, D : 2 * D], H)
        v = split_heads(qkv[:, :, 2 * D : 3 * D], H)
        a = linear(self.attend(q, k, v, skeep, causal=False), p.e_ow[l], p.e_ob[l])
        x1 = layernorm(x + self.drop(a), p.e_ln1w[l], p.e_ln1b[l])  # post-LN
        f = linear(torch.relu(linear(x1, p.e_f1w[l], p.e_f1b[l])), p.e_f2w[l], p.e_f2b[l])
        return layernorm(x1 + self.drop(f), p.e_ln2w[l], p.e_ln2b[l])  # (B,S,D)

    def decoder(self, p, l, y, mem, tkeep, skeep):
        c = self.cfg
        D, H = c.D, c.H
        qkv = linear(y, p.d_qkvw[l], p.d_qkvb[l])  # (B,T,3D)
        q = split_heads(qkv[:, :, 0:D], H)
        k = split_heads(qkv[:, :, D : 2 * D], H)
        v = split_heads(qkv[:, :, 2 * D : 3 * D], H)
        a = linear(self.attend(q, k, v, tkeep, causal=True), p.d_ow[l], p.d_ob[l])
        y1 = layernorm(y + self.drop(a), p.d_ln1w[l], p.d_ln1b[l])
        # cross-attention: queries from the decoder, keys and values from the encoder's output
        cq = split_heads(linear(y1, p.d_cqw[l], p.d_cqb[l]), H)  # (B,H,T,D/H)
        ckv = linear(mem, p.d_ckvw[l], p.d_ckvb[l])  # (B,S,2D)
        ck = split_heads(ckv[:, :, 0:D], H)  # (B,H,S,D/H)
        cv = split_heads(ckv[:, :, D : 2 * D], H)
        ca = linear(self.attend(cq, ck, cv, skeep, causal=False), p.d_cow[l], p.d_cob[l])
        y2 = layernorm(y1 + self.drop(ca), p.d_ln2w[l], p.d_ln2b[l])
        f = linear(torch.relu(linear(y2, p.d_f1w[l], p.d_f1b[l])), p.d_f2w[l], p.d_f2b[l])
        return layernorm(y2 + self.drop(f), p.d_ln3w[l], p.d_ln3b[l])  # (B,T,D)

    def forward(self, src, tgt_in, tgt_out=None):
        p = self.layer_views()
        c = self.cfg
        dtype = self.src_emb.dtype
        B, S = src.shape
        T = tgt_in.shape[1]
        skeep = pad_mask(src, c.PAD, dtype).reshape(B, 1, 1, S)  # 1 = a real source token
        tkeep = pad_mask(tgt_in, c.PAD, dtype).reshape(B, 1, 1, T)
        scale = math.sqrt(c.D)
        xs = self.src_emb[src.long()] * scale + sinusoidal(S, c.D, dtype)  # (B,S,D)
        mem = self.drop(xs)
        for l in range(c.LE):
            mem = self.encoder(p, l, mem, skeep)  # (B,S,D)
        ys = self.tgt_emb[tgt_in.long()] * scale + sinusoidal(T, c.D, dtype)  # (B,T,D)
        y = self.drop(ys)
        for l in range(c.LD):
            y = self.decoder(p, l, y, mem, tkeep, skeep)  # (B,T,D)
        logits = linear(y, self.out_w, self.out_b)  # (B,T,V)
        if tgt_out is None:
            return logits, None
        return logits, cross_entropy(logits, tgt_out, ignore_index=c.PAD)
