"""Makes the transformer fixtures (issue 5): small random-config Hugging Face models, traced the
way users trace them, and one scripted module per op family the transformer rules lower.

Run from the repository root with the project venv (./dev fixtures does this):
    python models/make_transformers.py
Writes models/transformers/: for each model NAME, NAME.pt (torch.jit.trace), NAME_ids.npy and
NAME_mask.npy (the sample inputs) and NAME_out.npy (the eager model's output on them, as float32;
numpy has no bfloat16). The ops_*.pt modules are torch.jit.script'ed. No downloads: every model is
built from a config with fixed seeds.
"""
import os
import warnings
from typing import List, Optional

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

HERE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "transformers")

warnings.filterwarnings("ignore")


def save(module, name):
    path = os.path.join(HERE, name)
    torch.jit.save(module, path)
    print("wrote", os.path.relpath(path))


def save_npy(t, name):
    path = os.path.join(HERE, name)
    if t.dtype in (torch.bfloat16, torch.float16):
        t = t.float()
    np.save(path, t.detach().contiguous().numpy())
    print("wrote", os.path.relpath(path))


class CausalLM(nn.Module):
    """What users trace: the model called with ids and a padding mask, no KV cache, logits out."""

    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, input_ids, attention_mask):
        return self.model(input_ids=input_ids, attention_mask=attention_mask, use_cache=False)[0]


class Encoder(nn.Module):
    """BERT: the last hidden state and the pooled output."""

    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, input_ids, attention_mask):
        out = self.model(input_ids=input_ids, attention_mask=attention_mask)
        return out[0], out[1]


def sample_inputs(seed, vocab, batch=2, seq=8):
    g = torch.Generator().manual_seed(seed)
    ids = torch.randint(0, vocab, (batch, seq), generator=g)
    # Right padding on the second row (the usual batched-inference shape of a padding mask).
    mask = torch.ones(batch, seq, dtype=torch.int64)
    mask[1, seq - 2:] = 0
    return ids, mask


def trace_model(wrapper, name, ids, mask):
    wrapper.eval()
    with torch.no_grad():
        eager = wrapper(ids, mask)
        traced = torch.jit.trace(wrapper, (ids, mask), strict=False)
    save(traced, name + ".pt")
    save_npy(ids, name + "_ids.npy")
    save_npy(mask, name + "_mask.npy")
    outs = eager if isinstance(eager, tuple) else (eager,)
    for i, o in enumerate(outs):
        save_npy(o, name + ("_out.npy" if i == 0 else f"_out{i}.npy"))


def make_models():
    from transformers import (BertConfig, BertModel, GPT2Config, GPT2LMHeadModel, LlamaConfig,
                              LlamaForCausalLM)

    vocab = 100
    torch.manual_seed(10)
    gpt2 = GPT2LMHeadModel(GPT2Config(vocab_size=vocab, n_positions=32, n_embd=32, n_layer=2,
                                      n_head=4, bos_token_id=0, eos_token_id=0, torchscript=True,
                                      attn_implementation="sdpa"))
    trace_model(CausalLM(gpt2), "gpt2", *sample_inputs(1, vocab))

    torch.manual_seed(11)
    bert = BertModel(BertConfig(vocab_size=vocab, hidden_size=32, num_hidden_layers=2,
                                num_attention_heads=4, intermediate_size=64,
                                max_position_embeddings=32, torchscript=True,
                                attn_implementation="sdpa"))
    trace_model(Encoder(bert), "bert", *sample_inputs(2, vocab))

    # Llama-style: RMSNorm, rotary embeddings, SDPA, 4 query heads over 2 KV heads, SiLU MLP.
    torch.manual_seed(12)
    cfg = LlamaConfig(vocab_size=vocab, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                      num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=32,
                      bos_token_id=0, eos_token_id=0, pad_token_id=0, torchscript=True,
                      attn_implementation="sdpa")
    llama = LlamaForCausalLM(cfg)
    ids, mask = sample_inputs(3, vocab)
    trace_model(CausalLM(llama), "llama", ids, mask)
    import copy

    trace_model(CausalLM(copy.deepcopy(llama).half()), "llama_f16", ids, mask)
    trace_model(CausalLM(copy.deepcopy(llama).to(torch.bfloat16)), "llama_bf16", ids, mask)


# --- One scripted module per op family.
class OpsCompare(nn.Module):
    """Comparisons, logical and bitwise ops on bools, where/masked_fill, any/all."""

    def forward(self, a, b, i):
        out = []
        out.append(a == b)
        out.append(a != b)
        out.append(a < b)
        out.append(a <= b)
        out.append(a > b)
        out.append(a >= b)
        out.append(a > 0.5)
        out.append(a <= 0)
        out.append(i == 3)
        out.append(i != 2)
        out.append(i < 2.5)  # int tensor vs float: computed in float
        out.append(i >= a)  # int vs float tensor
        out.append(torch.eq(a, b))
        out.append(torch.gt(i, 4))
        m1 = a > 0
        m2 = b > 0
        out.append(torch.logical_and(m1, m2))
        out.append(torch.logical_or(m1, m2))
        out.append(torch.logical_not(m1))
        out.append(torch.logical_xor(m1, m2))
        out.append(torch.logical_and(a, i))  # non-bool inputs
        out.append(torch.logical_not(i))
        out.append(m1 & m2)
        out.append(m1 | m2)
        out.append(~m1)
        out.append(m1 ^ m2)
        out.append(torch.where(m1, a, b))
        out.append(torch.where(m1, a, 0.0))
        out.append(torch.where(m1, 1.0, b))
        out.append(torch.where(m1, i, a))  # int/float promote
        out.append(a.masked_fill(m2, -1e4))
        out.append(a.masked_fill(~m2, float("-inf")))
        out.append(i.masked_fill(m1, 7))
        out.append(a.masked_fill(m1[0], b[0, 0]))  # broadcast mask, 0-d tensor value
        out.append(m1.any())
        out.append(m1.all())
        out.append(m1.any(dim=1))
        out.append(m1.all(dim=0, keepdim=True))
        out.append(a.any())
        out.append(i.all(dim=1))
        return out


class OpsCreate(nn.Module):
    """arange/full/zeros/ones and their _like/new_ forms, type_as."""

    def forward(self, a, i):
        out = []
        n = a.size(1)
        out.append(torch.arange(n))
        out.append(torch.arange(2, n, 2) + i[0, :2])
        out.append(torch.arange(0.5, 3.0, 0.5, dtype=torch.float32) * a[0, 0])
        out.append(a + torch.arange(n))
        out.append(torch.zeros_like(a))
        out.append(torch.ones_like(a))
        out.append(torch.full_like(a, 2.5))
        out.append(torch.full_like(i, 3))
        out.append(torch.zeros_like(a, dtype=torch.int64))
        out.append(torch.ones_like(i, dtype=torch.float32) + a)
        out.append(a.new_zeros([2, 3]) + a[:2, :3])
        out.append(a.new_ones([4]))
        out.append(a.new_full([3], -2.0))
        out.append(a + torch.zeros(a.size()))
        out.append(a * torch.ones(a.size(0), 1))
        out.append(a + torch.full([1, n], 0.25))
        out.append(i.type_as(a) + a)
        out.append(a.type_as(i))
        return out


class OpsShape2(nn.Module):
    """split/chunk/stack/repeat/expand/expand_as/repeat_interleave, triu/tril, diff."""

    def forward(self, x, y):
        out = []
        p, q = x.split(2, dim=1)
        out.append(p)
        out.append(q)
        out.extend(x.split([1, 3], dim=-1))
        out.extend(torch.chunk(x, 3, dim=0))
        out.extend(x.chunk(2, dim=2))
        out.append(torch.stack([x, y], dim=0))
        out.append(torch.stack([x, y, x], dim=-1))
        out.append(x.repeat(2, 1, 1))
        out.append(x.repeat(1, 2, 1, 3))
        out.append(y[:, :1, :].expand(3, 4, 4))
        out.append(y[:, :1, :].expand(-1, 4, -1))
        out.append(x[0, :, :1].expand(2, 4, 4))
        out.append(y[:1].expand_as(x))
        out.append(x.repeat_interleave(2, dim=1))
        out.append(torch.repeat_interleave(x, 3, dim=-1))
        out.append(torch.triu(x))
        out.append(torch.tril(x, -1))
        out.append(x.triu(1))
        out.append(torch.tril(x, diagonal=2))
        out.append(torch.diff(x, dim=-1))
        out.append(torch.diff(x, n=2, dim=1))
        out.append(torch.diff(x[0, 0] > 0))
        return out


class OpsIndex(nn.Module):
    """gather/scatter/index (tensor indices)/index_put/index_select, cumsum."""

    def forward(self, x, idx, j, v):
        out = []
        out.append(torch.gather(x, 1, idx))
        out.append(x.gather(-1, idx.transpose(1, 2)[:, :, :2]))
        out.append(torch.scatter(x, 1, idx, v))
        out.append(x.scatter(2, idx.transpose(1, 2)[:, :, :2], 5.0))
        out.append(torch.scatter_add(x, 1, idx, v))
        out.append(x[j])
        out.append(x[:, j])
        out.append(x[j, j])
        out.append(x[:, :, j])
        out.append(x[j.unsqueeze(1), j])
        out.append(x.index_select(1, j))
        out.append(torch.index_select(x, 0, j[:1]))
        y = x.clone()
        y[j] = 0.5
        out.append(y)
        # `z[:, j] = v` writes through a slice view in TorchScript; the functional form keeps
        # the None slot without a view.
        idx2: List[Optional[torch.Tensor]] = [None, j[:2]]
        out.append(torch.index_put(x, idx2, v))
        out.append(torch.index_put(x, [j], v[0, 0], accumulate=True))
        out.append(x[j - 2])  # negative indices count from the end
        out.append(torch.index_put(x, [j - 2], v[0, 0]))
        w = x.clone()
        w[x < 0] = 0.0
        out.append(w)
        out.append(torch.cumsum(x, dim=1))
        out.append(x.cumsum(-1))
        out.append(idx.cumsum(0))
        out.append((x > 0).cumsum(dim=2))
        return out


class OpsSortReduce(nn.Module):
    """topk/sort/argmax/argmin/max.dim/min.dim, max/min over all."""

    def forward(self, x, i):
        out = []
        v, k = torch.topk(x, 3)
        out.append(v)
        out.append(k)
        v, k = x.topk(2, dim=1, largest=False)
        out.append(v)
        out.append(k)
        v, k = torch.sort(x)
        out.append(v)
        out.append(k)
        v, k = x.sort(dim=0, descending=True)
        out.append(v)
        out.append(k)
        out.append(torch.argmax(x))
        out.append(x.argmax(dim=1))
        out.append(x.argmax(dim=-1, keepdim=True))
        out.append(torch.argmin(x, dim=0))
        out.append(i.argmax(dim=1))
        v, k = x.max(dim=1)
        out.append(v)
        out.append(k)
        v, k = torch.min(x, dim=0, keepdim=True)
        out.append(v)
        out.append(k)
        out.append(x.max())
        out.append(x.min())
        out.append(torch.max(x, x * 0.5))
        out.append(torch.min(x, 0.25 - x))
        out.append(x.amax(dim=1))
        out.append(i.amin(dim=0, keepdim=True))
        return out


class OpsMath(nn.Module):
    """Unary math."""

    def forward(self, x, i):
        out = []
        p = x.abs() + 0.1
        out.append(torch.sin(x))
        out.append(torch.cos(x))
        out.append(torch.reciprocal(p))
        out.append(torch.floor(x * 3))
        out.append(torch.ceil(x * 3))
        out.append(torch.round(x * 3))
        out.append(torch.trunc(x * 3))
        out.append(torch.sign(x))
        out.append(torch.expm1(x))
        out.append(torch.log1p(p))
        out.append(torch.log2(p))
        out.append(torch.log10(p))
        out.append(torch.square(x))
        out.append(torch.tan(x * 0.5))
        out.append(torch.atan(x))
        out.append(torch.erfc(x))
        out.append(torch.exp2(x))
        out.append(torch.abs(i))
        out.append(torch.sin(i))
        out.append(torch.reciprocal(i + 10))
        out.append(torch.floor(i))
        out.append(torch.remainder(x, 0.7))
        out.append(torch.fmod(x, 0.7))
        out.append(torch.floor_divide(i, 3))
        out.append(i % 3)
        out.append(torch.maximum(x, x.flip(0)))
        out.append(torch.minimum(i, i.flip(1)))
        out.append(torch.isnan(x / x))
        return out


class OpsAttention(nn.Module):
    """scaled_dot_product_attention with and without masks, baddbmm, einsum."""

    def forward(self, q, k, v, mask, bias, kv):
        out = []
        out.append(F.scaled_dot_product_attention(q, k, v))
        out.append(F.scaled_dot_product_attention(q, k, v, is_causal=True))
        out.append(F.scaled_dot_product_attention(q, k, v, attn_mask=mask))
        out.append(F.scaled_dot_product_attention(q, k, v, attn_mask=bias))
        out.append(F.scaled_dot_product_attention(q, k, v, attn_mask=bias, scale=0.3))
        out.append(F.scaled_dot_product_attention(q, kv, kv, enable_gqa=True))
        out.append(F.scaled_dot_product_attention(q[:, :, :3], k, v, is_causal=True))
        b = q.flatten(0, 1)
        out.append(torch.baddbmm(b[:, :, :1], b, b.transpose(1, 2)))
        out.append(torch.baddbmm(b[:, :, :6], b, b.transpose(1, 2), beta=0.5, alpha=2.0))
        out.append(torch.einsum("bhqd,bhkd->bhqk", q, k))
        out.append(torch.einsum("ij,jk->ik", q[0, 0], k[0, 0].t()))
        return out


class BoolIndex(nn.Module):
    """x[mask] with a computed mask: the output shape depends on the data (guarded)."""

    def forward(self, x):
        return x[x > 0]


def make_ops():
    torch.manual_seed(20)
    save(torch.jit.script(OpsCompare()), "ops_compare.pt")
    save(torch.jit.script(OpsCreate()), "ops_create.pt")
    save(torch.jit.script(OpsShape2()), "ops_shape.pt")
    save(torch.jit.script(OpsIndex()), "ops_index.pt")
    save(torch.jit.script(OpsSortReduce()), "ops_sort.pt")
    save(torch.jit.script(OpsMath()), "ops_math.pt")
    save(torch.jit.script(OpsAttention()), "ops_attention.pt")
    save(torch.jit.script(BoolIndex()), "bool_index.pt")


def main():
    os.makedirs(HERE, exist_ok=True)
    make_models()
    make_ops()


if __name__ == "__main__":
    main()
