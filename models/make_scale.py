"""Makes the scale benchmark's models (issue 15): traced GPT-2-style decoders with random weights
(no download), called with token ids, logits out. Not committed (hundreds of MB to GB); the
benchmark (bench/scale.sh) makes them on first use into $TORCH2AIR_CACHE/scale/.

    python models/make_scale.py OUT_DIR SIZE...     SIZE: small (~0.5 GB fp32) or large (~3.1 GB)
Writes OUT_DIR/gpt2_SIZE.pt and OUT_DIR/gpt2_SIZE_ids.npy (the sample input).
"""
import os
import sys

import numpy as np
import torch
from transformers import GPT2Config, GPT2LMHeadModel

CONFIGS = {
    # GPT-2 small and large shapes: 124M and 774M parameters.
    "small": dict(n_layer=12, n_embd=768, n_head=12),
    "large": dict(n_layer=36, n_embd=1280, n_head=20),
}


class Logits(torch.nn.Module):
    def __init__(self, m):
        super().__init__()
        self.m = m

    def forward(self, ids):
        return self.m(input_ids=ids, use_cache=False).logits


def make(out, size):
    path = os.path.join(out, f"gpt2_{size}.pt")
    if os.path.exists(path):
        print("exists", path)
        return
    torch.manual_seed(0)
    cfg = GPT2Config(vocab_size=50257, n_positions=1024, attn_implementation="eager", **CONFIGS[size])
    m = GPT2LMHeadModel(cfg).eval()
    ids = torch.randint(0, cfg.vocab_size, (1, 16))
    with torch.no_grad():
        traced = torch.jit.trace(Logits(m), (ids,), check_trace=False)
    tmp = path + ".tmp"
    torch.jit.save(traced, tmp)
    os.replace(tmp, path)
    np.save(os.path.join(out, f"gpt2_{size}_ids.npy"), ids.numpy())
    print("wrote", path, os.path.getsize(path), "bytes")


if __name__ == "__main__":
    out = sys.argv[1]
    os.makedirs(out, exist_ok=True)
    for s in sys.argv[2:]:
        make(out, s)
