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


# --- One module per op family. Inputs: see tests/dynamic_breadth.rs.
class Rnn(nn.Module):
    """LSTM (2 layers, batch_first) and a bidirectional GRU over x [B, T, 4]: unrolled, so the
    sequence dim is pinned; the batch dim stays dynamic."""

    def __init__(self):
        super().__init__()
        self.lstm = nn.LSTM(4, 8, num_layers=2, batch_first=True)
        self.gru = nn.GRU(4, 6, bidirectional=True)

    def forward(self, x):
        y, (h, c) = self.lstm(x)
        g, hg = self.gru(x.transpose(0, 1))
        return y, h, c, g, hg


class ConvTranspose(nn.Module):
    """ConvTranspose2d on x [B, 3, H, W] and ConvTranspose1d on y [B, 3, L]: output sizes from
    the input's."""

    def __init__(self):
        super().__init__()
        self.up2 = nn.ConvTranspose2d(3, 4, 3, stride=2, padding=1, output_padding=1)
        self.up2d = nn.ConvTranspose2d(3, 2, (2, 3), stride=(1, 3), padding=(0, 1), dilation=2)
        self.up1 = nn.ConvTranspose1d(3, 5, 4, stride=3, padding=2, output_padding=1)

    def forward(self, x, y):
        return self.up2(x), self.up2d(x), self.up1(y), self.up1(y[0])


class Diff(nn.Module):
    """torch.diff along a dynamic dim: n=1, n=2 with prepend/append, on bools."""

    def forward(self, x):
        a = torch.diff(x, dim=1)
        b = torch.diff(x, n=2, dim=-1, prepend=x[:, :, :1] - 1.0, append=x[:, :, :1] * 2.0)
        c = torch.diff(x > 0, dim=0)
        return a, b, c


class Layout(nn.Module):
    """Shuffles, repeats, rolls, unbinds and variances over x [B, 8, H, W] with B, H, W dynamic,
    and isfinite on an int tensor."""

    def forward(self, x, i):
        a, b = x[:, :2].unbind(1)
        r = torch.roll(x, 3)
        ri = x.repeat_interleave(2, dim=2)
        rf = x.repeat_interleave(3)
        ps = F.pixel_shuffle(x, 2)
        pu = F.pixel_unshuffle(ri.repeat_interleave(2, dim=3), 2)
        cs = F.channel_shuffle(x, 2)
        v = torch.var(x, dim=(2, 3))
        s = torch.std(x, dim=-1, unbiased=False)
        vm, m = torch.var_mean(x, 1, keepdim=True)
        bt = torch.broadcast_tensors(x[:, :1, :1], x[:1, 2:3, :, :1], x[:1, 3:4, :1])
        return a, b, r, ri, rf, ps, pu, cs, v, s, vm, m, torch.isfinite(i), bt[0], bt[1], bt[2]


class Index(nn.Module):
    """Writes by index and mask, scatter, take and masked_scatter on x [B, T, 4] (B, T dynamic)
    with idx [K] (K dynamic) of positions along T; the last dim is pinned by slices."""

    def forward(self, x, idx):
        # x[:, idx] = v written out of place (an in-place write through the x[:, ...] view is
        # put back into the graph only with static shapes).
        y = torch.index_put(x, [None, idx], torch.full([1], 0.5))
        z = x.clone()
        z[x > 0] = -1.0
        w = torch.index_put(x, [None, idx - 3], x[:, :1] * 2.0, accumulate=True)
        index = (x[:, :, :2].abs() * 10).long() % 2
        s1 = torch.scatter(x, 1, index, x * 3.0)
        s2 = x.scatter(1, index, 1.5)
        s3 = torch.scatter_add(x, 1, index, x)
        t = torch.take(x, idx - 1)
        m1 = x.masked_scatter(x > 0, x * 2.0)
        m2 = x.masked_scatter(x[:, :, :1] > 0, x * 3.0)
        return y, z, w, s1, s2, s3, t, m1, m2


class Linalg(nn.Module):
    """kron, diagonal, diag, block_diag, einsum and tensordot of x [N, M] and y [M, N] (dynamic),
    diag of v [K], and fold of f [B, 12, 4] (the batch dynamic)."""

    def forward(self, x, y, v, f):
        out = [torch.kron(x, y), torch.diagonal(x, 1), torch.diagonal(x, -1)]
        out.append(torch.diagonal(torch.stack([x, x * 2.0]), 0, 1, 2))
        out.append(torch.diag(x))
        out.append(torch.diag(v, 2))
        out.append(torch.diag(v > 0, -1))
        out.append(torch.block_diag(x, y, v))
        out.append(torch.einsum("ij,jk->ik", x, y))
        out.append(torch.tensordot(x, y.t(), dims=([0, 1], [0, 1])).reshape(1))
        out.append(F.fold(f, (3, 3), 2))
        return out


class Norms(nn.Module):
    """GroupNorm, eval BatchNorm2d, InstanceNorm2d and normalize on x [B, 3, H, W]: PyTorch's
    size checks (`if size_prods == 1: raise`) must not pin B, H, W."""

    def __init__(self):
        super().__init__()
        self.gn = nn.GroupNorm(1, 3)
        self.bn = nn.BatchNorm2d(3)
        self.inorm = nn.InstanceNorm2d(3, affine=True)
        self.bn3 = nn.BatchNorm3d(3)

    def forward(self, x):
        v = x.unsqueeze(2).expand(-1, -1, 2, -1, -1) * 0.5
        return self.gn(x), self.bn(x), self.inorm(x), F.normalize(x, dim=2), self.bn3(v), self.gn(v)


class ResizePad(nn.Module):
    """interpolate to a computed size and by integer scales, pads whose widths are computed from
    a dynamic dim, and topk with k from a dynamic dim, on x [B, 3, H, W]."""

    def forward(self, x):
        a = F.interpolate(x, size=(x.size(2) * 2, x.size(3) + 1), mode="bilinear", align_corners=False)
        b = F.interpolate(x, scale_factor=2.0, mode="nearest")
        c = F.interpolate(x, scale_factor=3.0, mode="bilinear", align_corners=True)
        d = F.interpolate(x.flatten(2), size=x.size(3) * 3, mode="linear", align_corners=False)
        e = F.pad(x, (0, x.size(3) % 2, 1, x.size(2) - 1))
        f = F.pad(x, (1, 1, x.size(2) % 2, 1), mode="reflect")
        g = F.pad(x, (x.size(3) % 3, 0, 0, 1), mode="replicate")
        v, i = torch.topk(x, x.size(3) - 1, dim=3)
        return a, b, c, d, e, f, g, v, i


class Misc(nn.Module):
    """Convolutions, pools, scans, gathers, selects, creators, reductions and activations on
    x [B, 3, H, W], every dim but the channels dynamic."""

    def __init__(self):
        super().__init__()
        self.c1 = nn.Conv2d(3, 4, 3, padding=1)
        self.c2 = nn.Conv2d(3, 4, 3, stride=2, padding="valid")
        self.c3 = nn.Conv2d(3, 3, 3, padding="same", groups=3)
        self.emb = nn.Embedding(10, 4)

    def forward(self, x):
        out = [self.c1(x), self.c2(x), self.c3(x)]
        out += [F.max_pool2d(x, 3, 2), F.avg_pool2d(x, 3, 1, 1), F.adaptive_avg_pool2d(x, 1)]
        out += [torch.cumsum(x, dim=2), torch.cumprod(x, 3), torch.flip(x, [2])]
        i = torch.argmax(x, dim=2, keepdim=True)
        out += [torch.gather(x, 2, i), x[:, :, -1], x[..., ::2], x[:, :, 1:-1]]
        out += [torch.where(x > 0, x, torch.zeros_like(x)), x.masked_fill(x > 0, 1.0)]
        out += [torch.full_like(x, 2.0), torch.ones(x.shape), torch.zeros(x.size(0), x.size(2))]
        out += [torch.tril(x), torch.triu(torch.ones(x.size(2), x.size(2)), 1)]
        out += [x + torch.arange(x.size(3)).to(x.dtype)]
        out += [self.emb((x.abs() * 3).long().clamp(0, 9))]
        out += [F.softmax(x, 2), F.log_softmax(x, 3), x.mean((2, 3)), x.amax(2)]
        out += [torch.logsumexp(x, 3), F.gelu(x), F.silu(x), torch.sigmoid(x).prod(2)]
        a, b = x.chunk(2, dim=1)[:2]
        out += [torch.cat([x, x * 2.0], 2), torch.stack([x, x], 1), x.repeat(1, 1, 2, 1), a * b[:, :1]]
        return out + [x * 3.0]


class StillRefused(nn.Module):
    """What a dynamic export used to refuse, now pinned with notes: Roll's shifts are an
    attribute (twice), and a non-integer scale factor maps pixels differently from GE's in/out
    at some sizes."""

    def forward(self, x):
        a = torch.roll(x, x.size(2) // 2, 2)
        b = torch.roll(x, x.size(3) - 1, 3)
        c = F.interpolate(x, scale_factor=1.5, mode="nearest")
        return a, b, c, x * 2.0


class Sdpa(nn.Module):
    """scaled_dot_product_attention with every dim dynamic, the head dim included (its default
    scale 1/sqrt(E) then comes from Shape), causal and with a float mask."""

    def forward(self, q, k, v):
        m = torch.zeros(q.size(2), k.size(2))
        return (F.scaled_dot_product_attention(q, k, v),
                F.scaled_dot_product_attention(q, k, v, is_causal=True),
                F.scaled_dot_product_attention(q, k, v, attn_mask=m))


class Split(nn.Module):
    """Splits of x [B, N, C]: by sizes computed from the dynamic N (kept dynamic), and into
    chunks or pieces of one size along B and C (their piece count follows the size: pinned)."""

    def forward(self, x):
        n = x.size(1)
        a, b = x.split([n // 2, n - n // 2], dim=1)
        c, d = x.chunk(2, dim=2)
        e = x.split(2, dim=0)
        return a.sum(1), b.sum(1), c, d, e[0]


class Losses(nn.Module):
    """cross_entropy over x [B, C, T] with label smoothing and nll_loss over x[:, :, 0], every
    dim dynamic, the classes C included."""

    def forward(self, x, t):
        a = F.cross_entropy(x, t, label_smoothing=0.1)
        b = F.cross_entropy(x, t, reduction="none", label_smoothing=0.2)
        c = F.nll_loss(F.log_softmax(x[:, :, 0], 1), t[:, 0], reduction="sum")
        return a, b, c


def make_families():
    torch.manual_seed(5)
    save(torch.jit.script(Rnn().eval()), "rnn.pt")
    torch.manual_seed(6)
    save(torch.jit.script(ConvTranspose().eval()), "conv_transpose.pt")
    save(torch.jit.script(Diff()), "diff.pt")
    save(torch.jit.script(Layout()), "layout.pt")
    save(torch.jit.script(Index()), "index.pt")
    save(torch.jit.script(Linalg()), "linalg.pt")
    torch.manual_seed(7)
    save(torch.jit.script(Norms().eval()), "norms.pt")
    save(torch.jit.script(ResizePad()), "resize_pad.pt")
    save(torch.jit.script(StillRefused()), "still_refused.pt")
    torch.manual_seed(8)
    save(torch.jit.script(Misc().eval()), "misc.pt")
    save(torch.jit.script(Sdpa()), "sdpa.pt")
    save(torch.jit.script(Split()), "split.pt")
    save(torch.jit.script(Losses()), "losses.pt")


def main():
    os.makedirs(HERE, exist_ok=True)
    make_decoders()
    make_families()


if __name__ == "__main__":
    main()
