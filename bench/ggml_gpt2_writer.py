#!/usr/bin/python3
"""Writes a random-weight GPT-2 124M model in the file format of ggml's examples/gpt-2 (the `ggml` magic,
hparams, the byte-level vocabulary, then tensors), so the peer benchmark downloads nothing.

The format is the one ggml's examples/gpt-2/convert-ckpt-to-ggml.py writes (read there, not copied):
  i32 magic 0x67676d6c; i32 n_vocab, n_ctx, n_embd, n_head, n_layer, ftype (0 f32, 1 f16);
  i32 n_vocab, then per token: i32 length, its bytes (encoder.json's key mapped back to bytes);
  per tensor: i32 n_dims, i32 name length, i32 type (0 f32, 1 f16), i32 ne[0..n_dims) innermost first,
  the name, the data (row-major, ne[0] contiguous).
With ftype 1 the 2-D weights (`model/wte`, `*/w`) are f16 and everything else f32; q8_0 is made from the
f32 file by ggml's own `gpt-2-quantize` (bench/ggml_peer.sh).

Weights are N(0, 0.02) with a fixed seed (speed does not depend on them), layer norms 1 and 0, and the
row of token 50256 (<|endoftext|>) is zero: the tied output layer then gives it logit 0, below the
argmax of the random others, so the peer's loop (which stops at 50256) always runs its full -n.

    /usr/bin/python3 bench/ggml_gpt2_writer.py --ftype 0 --out /work/peers/ggml-models/gpt2-124M-f32.bin
"""

import argparse
import json
import os
import struct

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def bytes_to_unicode():
    # GPT-2's byte <-> printable-character table (the same table as assets/gpt2_tokenizer's users).
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return dict(zip(bs, [chr(c) for c in cs]))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--ftype", type=int, choices=[0, 1], default=0, help="0: f32 weights, 1: f16 weights")
    ap.add_argument("--out", required=True)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--layers", type=int, default=12)
    a = ap.parse_args()
    n_vocab, n_ctx, n_embd, n_head, n_layer = 50257, 1024, 768, 12, a.layers
    with open(os.path.join(ROOT, "assets", "gpt2_tokenizer", "encoder.json"), encoding="utf-8") as f:
        encoder = json.load(f)
    assert len(encoder) == n_vocab
    decoder = {v: k for k, v in bytes_to_unicode().items()}
    rng = np.random.default_rng(a.seed)

    os.makedirs(os.path.dirname(os.path.abspath(a.out)), exist_ok=True)
    tmp = a.out + ".tmp"
    with open(tmp, "wb") as f:
        f.write(struct.pack("iiiiiii", 0x67676D6C, n_vocab, n_ctx, n_embd, n_head, n_layer, a.ftype))
        f.write(struct.pack("i", n_vocab))
        for key, _ in sorted(encoder.items(), key=lambda kv: kv[1]):
            text = bytes(decoder[c] for c in key)
            f.write(struct.pack("i", len(text)))
            f.write(text)

        def tensor(name, shape, kind):
            # shape is numpy's (outer..inner); ggml's ne is the reverse.
            if kind == "ones":
                data = np.ones(shape, np.float32)
            elif kind == "zeros":
                data = np.zeros(shape, np.float32)
            else:
                data = (rng.standard_normal(shape, dtype=np.float32) * 0.02).astype(np.float32)
            if name == "model/wte":
                data[50256, :] = 0.0
            half = a.ftype == 1 and len(shape) == 2 and (name == "model/wte" or name.endswith("/w"))
            if half:
                data = data.astype(np.float16)
            b = name.encode()
            f.write(struct.pack("iii", len(shape), len(b), 1 if half else 0))
            for d in reversed(shape):
                f.write(struct.pack("i", d))
            f.write(b)
            data.tofile(f)

        tensor("model/ln_f/g", (n_embd,), "ones")
        tensor("model/ln_f/b", (n_embd,), "zeros")
        tensor("model/wte", (n_vocab, n_embd), "normal")
        tensor("model/wpe", (n_ctx, n_embd), "normal")
        for i in range(n_layer):
            p = f"model/h{i}/"
            tensor(p + "ln_1/g", (n_embd,), "ones")
            tensor(p + "ln_1/b", (n_embd,), "zeros")
            tensor(p + "ln_2/g", (n_embd,), "ones")
            tensor(p + "ln_2/b", (n_embd,), "zeros")
            tensor(p + "attn/c_attn/w", (3 * n_embd, n_embd), "normal")
            tensor(p + "attn/c_attn/b", (3 * n_embd,), "zeros")
            tensor(p + "attn/c_proj/w", (n_embd, n_embd), "normal")
            tensor(p + "attn/c_proj/b", (n_embd,), "zeros")
            tensor(p + "mlp/c_fc/w", (4 * n_embd, n_embd), "normal")
            tensor(p + "mlp/c_fc/b", (4 * n_embd,), "zeros")
            tensor(p + "mlp/c_proj/w", (n_embd, 4 * n_embd), "normal")
            tensor(p + "mlp/c_proj/b", (n_embd,), "zeros")
    os.replace(tmp, a.out)
    print(f"wrote {a.out} ({os.path.getsize(a.out) / 1e6:.1f} MB, ftype {a.ftype})")


if __name__ == "__main__":
    main()
