"""Makes the fixtures of issue 10 item 4 (`--dynamic` as wide as static): Hugging Face decoders
traced the way a new user traces them (ids only: transformers' mask helper then calls
`aten::diff` on the position ids), and one small module per op family whose rule used to need
static shapes, each exported static and dynamic by tests/dynamic_breadth.rs.

Run from the repository root with the project venv (./dev fixtures does this):
    python models/make_dynamic_breadth.py
Writes models/dynamic/breadth/. No downloads: the decoders are built from tiny configs with fixed
seeds and random weights.
"""
import os
import warnings
from typing import List

import torch
import torch.nn as nn
import torch.nn.functional as F

HERE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "dynamic", "breadth")

warnings.filterwarnings("ignore")


def save(module, name):
    path = os.path.join(HERE, name)
    torch.jit.save(module, path)
    print("wrote", os.path.relpath(path))


class IdsLM(nn.Module):
    """A causal LM called with ids only (no mask, no cache): logits out."""

    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, input_ids):
        return self.model(input_ids=input_ids, use_cache=False)[0]


def make_decoders():
    from transformers import (GPT2Config, GPT2LMHeadModel, LlamaConfig, LlamaForCausalLM,
                              Qwen2Config, Qwen2ForCausalLM)

    vocab = 100
    ids = torch.randint(0, vocab, (2, 8), generator=torch.Generator().manual_seed(4))
    small = dict(vocab_size=vocab, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                 num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=64,
                 bos_token_id=0, eos_token_id=0, pad_token_id=0, torchscript=True,
                 attn_implementation="sdpa")
    models = {
        "gpt2": lambda: GPT2LMHeadModel(GPT2Config(
            vocab_size=vocab, n_positions=64, n_embd=32, n_layer=2, n_head=4, bos_token_id=0,
            eos_token_id=0, torchscript=True, attn_implementation="sdpa")),
        "llama": lambda: LlamaForCausalLM(LlamaConfig(**small)),
        "qwen2": lambda: Qwen2ForCausalLM(Qwen2Config(**small)),
    }
    for seed, (name, make) in enumerate(models.items()):
        torch.manual_seed(20 + seed)
        wrapper = IdsLM(make()).eval()
        with torch.no_grad():
            traced = torch.jit.trace(wrapper, (ids,), strict=False)
        save(traced, f"{name}_ids.pt")


def main():
    os.makedirs(HERE, exist_ok=True)
    make_decoders()


if __name__ == "__main__":
    main()
