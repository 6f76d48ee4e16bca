"""Makes the fixtures of dynamic exports (torch2air export --dynamic): models whose shapes are
computed from their inputs' sizes, so that one exported graph must serve every size.

Run from the repository root with the project venv (./dev fixtures does this):
    python models/make_dynamic.py
Deterministic (fixed seeds).
"""
import os

import torch
import torch.nn as nn

HERE = os.path.dirname(os.path.abspath(__file__))


def save(module, name):
    path = os.path.join(HERE, "dynamic", name)
    torch.jit.save(module, path)
    print("wrote", os.path.relpath(path))


# --- Self-attention that reshapes by x.size(): batch and sequence dynamic, heads fixed.
class Attention(nn.Module):
    def __init__(self, d: int = 16, heads: int = 4):
        super().__init__()
        self.heads = heads
        self.qkv = nn.Linear(d, 3 * d)
        self.proj = nn.Linear(d, d)

    def forward(self, x):
        b, s, d = x.size()
        h = self.heads
        qkv = self.qkv(x).view(b, s, 3, h, d // h).permute(2, 0, 3, 1, 4)
        q, k, v = qkv[0], qkv[1], qkv[2]
        att = torch.softmax(q @ k.transpose(-2, -1) * (d // h) ** -0.5, dim=-1)
        y = (att @ v).transpose(1, 2).reshape(b, s, d)
        # The last position, by a negative index on the dynamic sequence dim.
        return self.proj(y), y[:, -1]


# --- An MLP over tokens that flattens by computed sizes and averages by a dynamic count.
class FlattenMLP(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1 = nn.Linear(4, 8)
        self.fc2 = nn.Linear(8, 3)

    def forward(self, x):
        b, t = x.size(0), x.size(1)
        flat = x.view(b * t, x.numel() // (b * t))
        h = torch.relu(self.fc1(flat))
        h = h.view(b, t, h.size(-1))
        pooled = h.sum(1) / t
        tail = h[:, 1:].flatten(0, 1)
        return self.fc2(pooled), tail


# --- A traced module: the trace holds aten::size / prim::NumToTensor / view chains.
class TracedChain(nn.Module):
    def forward(self, x):
        b, s, d = x.shape
        y = x.view(b, s, 2, d // 2).transpose(1, 2)
        y = y.reshape(b * 2, s, d // 2).softmax(-1)
        return y.view(b, 2, s, -1).sum(1) * s


# --- Integer arithmetic on a dynamic size: //, %, max/min, subtraction, slice bounds from it.
class SizeArith(nn.Module):
    def forward(self, x):
        t = x.size(1)
        half = max(t // 2, 1)
        tail = t - min(t, 2)
        scale = t % 3 + 1
        return x[:, :half] * scale, x[:, tail:], x.view(-1, t).select(1, -1)


# --- Tensors made from dynamic sizes: arange, zeros/full, new_ones, *_like, expand, repeat,
# narrow (each must compute its size in the graph).
class Creators(nn.Module):
    def forward(self, x):
        b, t = x.size(0), x.size(1)
        pos = torch.arange(t)
        odd = torch.arange(1, t + 1, 2)
        filled = torch.zeros(b, t) + torch.full((b, 1), 2.0) + x.new_ones(b, t) + torch.ones(b, t)
        filled = torch.empty(b, t).copy_(filled * 2.0)
        col = x[:, :1]
        wide = col.expand(b, t) + col.expand(-1, t) + torch.ones_like(x)
        tiled = x.repeat(1, 2) + x.repeat(1, 2)
        mid = x.narrow(1, 1, t - 1)
        mask = pos.unsqueeze(0).expand(b, t) < t // 2
        return pos, odd, filled, wide, tiled, mid, x.masked_fill(mask, 0.0), x.clamp(-0.5, 0.5)


# --- Constant-bound slices of a dynamic dim: their lengths are fixed while the dim is long enough.
class Window(nn.Module):
    def forward(self, x):
        return x[:, :4] * 2.0, x[:, -2:]


# --- Squeezes dim 0, which is 1 in the sample: its rank would change with the batch size.
class SqueezeBatch(nn.Module):
    def forward(self, x):
        return x.squeeze(0) * 2.0


import torch.nn.functional as F  # noqa: E402 (here, so the fixtures above keep their line numbers)


# --- Losses and bucketize over a dynamic batch (classes fixed): F.mse_loss and friends
# broadcast their operands first, cross entropy flattens N-D logits by the class count.
class BatchLosses(nn.Module):
    def __init__(self):
        super().__init__()
        self.register_buffer("edges", torch.tensor([-1.0, 0.0, 0.5]))

    def forward(self, x):
        t = x.argmax(-1)
        x3 = torch.stack([x, x * 0.5, -x], 2)
        t3 = torch.stack([t, t.flip(0), t * 0], 1)
        return (
            F.mse_loss(x, x.flip(0)),
            F.smooth_l1_loss(x, x[:1]),
            F.l1_loss(x.mean(0, keepdim=True), x, reduction="none"),
            F.cross_entropy(x, t),
            F.cross_entropy(x3, t3, reduction="none"),
            F.nll_loss(F.log_softmax(x3, 1), t3),
            torch.bucketize(x, self.edges),
        )


# --- Strides and roundings that map n and n+1 to the same size (the probe's collisions): a
# stride-2 conv and a 2x2 max pool on an odd image size (9 and 10 both give 5, then 2), a step-2
# slice of an odd length (7 and 8 both give 4) and a slice to half an even length (8 and 9 both
# give 4). Traced, as users export vision models.
class Strided(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3, stride=2, padding=1)
        self.pool = nn.MaxPool2d(2)

    def forward(self, x, s, t):
        y = self.pool(self.conv(x))
        every_other = s[:, ::2]
        half = t[:, : t.size(1) // 2]
        return y.flatten(1), every_other * 2.0, half.sum(1), half


# --- A view whose dims each grow alone but not together: [50, 5] -> view(5, -1) (51x5 and 50x6
# divide by 5, 51x6 does not).
class ViewFive(nn.Module):
    def forward(self, x):
        return x.view(5, -1) * 2.0


# --- Broadcasting against size-1 dims: [3] with [1, 2, 1] and [5, 1, 1] (OpInfo's
# broadcast_tensors sample); the size-1 dims are static by default.
class BroadcastMany(nn.Module):
    def forward(self, a, b, c):
        x, y, z = torch.broadcast_tensors(a, b, c)
        return x + y * z


# --- Rules that need a size as a constant: an adaptive pool to x.size(2), a kthvalue along a
# dim, an instance norm over its channels. Those dims are pinned (with a note); the batch stays
# dynamic.
class Pinned(nn.Module):
    def forward(self, x):
        y = F.adaptive_avg_pool2d(x, [x.size(2), 4])
        k = torch.kthvalue(x, 3, dim=3).values
        n = F.instance_norm(x)
        return y, k, n


# --- A non-integer scale factor is exact at some sizes only: the spatial dims are pinned.
class ScaleHalf(nn.Module):
    def forward(self, x):
        return F.interpolate(x, scale_factor=1.5, mode="nearest")


def main():
    torch.manual_seed(0)
    save(torch.jit.script(Attention().eval()), "attention.pt")
    save(torch.jit.script(FlattenMLP().eval()), "flatten_mlp.pt")
    save(torch.jit.script(SizeArith()), "size_arith.pt")
    save(torch.jit.script(Creators()), "creators.pt")
    save(torch.jit.script(Window()), "window.pt")
    save(torch.jit.script(SqueezeBatch()), "squeeze_batch.pt")
    save(torch.jit.script(BatchLosses()), "batch_losses.pt")
    traced = torch.jit.trace(TracedChain(), (torch.randn(2, 5, 8),))
    save(traced, "traced_chain.pt")
    torch.manual_seed(0)
    strided = torch.jit.trace(
        Strided().eval(),
        (torch.randn(2, 3, 9, 9), torch.randn(2, 7, 4), torch.randn(2, 8, 4)),
    )
    save(strided, "strided.pt")
    save(torch.jit.script(ViewFive()), "view_five.pt")
    save(torch.jit.script(BroadcastMany()), "broadcast_many.pt")
    save(torch.jit.script(Pinned()), "pinned.pt")
    save(torch.jit.script(ScaleHalf()), "scale_half.pt")


if __name__ == "__main__":
    main()
