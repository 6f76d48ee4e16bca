"""Makes the fixtures of in-place writes through views (issue 13 item 5): models that write
into a view of a tensor (`t[:, :d] = v`, `t.diagonal().fill_(s)`, `t.t()[0] += 1`, a write
through `view`, a write through a chain of two views) and then read the tensor or another view
of it. torch2air puts each write back into the tensor it is a view of, static and `--dynamic`.

Run from the repository root with the project venv (./dev fixtures does this):
    python models/make_inplace_views.py
Deterministic (fixed seeds).
"""
import os

import torch
import torch.nn as nn

HERE = os.path.dirname(os.path.abspath(__file__))


def save(module, name):
    os.makedirs(os.path.join(HERE, "inplace_views"), exist_ok=True)
    path = os.path.join(HERE, "inplace_views", name)
    torch.jit.save(module, path)
    print("wrote", os.path.relpath(path))


# --- DeepSeek-V3 attention's key/query assembly (HF modeling_deepseek): the rope and no-rope
# parts written into a new_empty tensor through slices of its last dim, the single rope head
# broadcast over the heads by the copy.
class ExpandKV(nn.Module):
    def __init__(self, d: int = 16, heads: int = 2, nope: int = 6, rope: int = 4):
        super().__init__()
        self.heads, self.nope, self.rope = heads, nope, rope
        self.q = nn.Linear(d, heads * (nope + rope))
        self.kv = nn.Linear(d, heads * nope)
        self.k_pe = nn.Linear(d, rope)

    def forward(self, x):
        b, s, _ = x.size()
        h = self.heads
        q = self.q(x).view(b, s, h, self.nope + self.rope).transpose(1, 2)
        q_nope, q_pe = torch.split(q, [self.nope, self.rope], dim=-1)
        k_nope = self.kv(x).view(b, s, h, self.nope).transpose(1, 2)
        k_pe = self.k_pe(x).view(b, s, 1, self.rope).transpose(1, 2)
        query = k_pe.new_empty(b, h, s, self.nope + self.rope)
        query[:, :, :, : self.nope] = q_nope
        query[:, :, :, self.nope :] = q_pe
        key = k_pe.new_empty(b, h, s, self.nope + self.rope)
        key[:, :, :, : self.nope] = k_nope
        key[:, :, :, self.nope :] = k_pe
        att = torch.softmax(query @ key.transpose(-1, -2), dim=-1)
        return att @ key, key


# --- A kv cache grown by the new keys: the past and the new ones written into slices of a
# zeros tensor (positions from the sizes), the cache read whole and through a narrow view taken
# before the writes.
class KVCache(nn.Module):
    def forward(self, past, new):
        b, h, p, d = past.size()
        n = new.size(2)
        cache = past.new_zeros(b, h, p + n, d)
        head = cache.narrow(2, 0, 1)
        cache[:, :, :p] = past
        cache[:, :, p : p + n] = new * 2.0
        scores = torch.softmax(new @ cache.transpose(-1, -2), dim=-1)
        return scores, cache, head + 1.0


# --- `x.diagonal().fill_()` and a write into an offset diagonal of a batch of matrices (of a
# copy made by empty_like + copy_).
class DiagonalFill(nn.Module):
    def forward(self, x, s):
        y = torch.empty_like(x)
        y.copy_(x)
        y.diagonal(0, -2, -1).fill_(s)
        y.diagonal(1, -2, -1).add_(10.0)
        return y * 2.0


# --- `x.t()[0] += 1`: a write through a select of a transpose; the transpose read afterwards.
class TransposeRow(nn.Module):
    def forward(self, x):
        y = x.clone()
        w = y.t()
        w[0] += 1.0
        w[-1].mul_(3.0)
        return y - 0.5, w.sum(0)


# --- A write through `view` (and `unsqueeze`), then reading the tensor viewed.
class ViewWrite(nn.Module):
    def forward(self, x):
        y = x.clone()
        v = y.view(-1, x.size(-1))
        v[:, 0] = 0.0
        u = y.unsqueeze(0)
        u[0, 0].add_(5.0)
        return y * 1.0, v.sum(-1)


# --- Writes through chains of two views (transpose then slice, split then select), with other
# views of the same tensor read afterwards.
class TwoViews(nn.Module):
    def forward(self, x, z):
        y = x.clone()
        row = y[0]
        y.transpose(0, 1)[1:, 0].copy_(z[1:])
        a, b = y.split([1, y.size(1) - 1], dim=1)
        b.select(1, 0).mul_(-1.0)
        y.permute(1, 0)[:, 1:].narrow(0, 0, 1).fill_(7.0)
        return y + 0.0, row * 1.0, a + 0.0, b.sum(1)


# --- A view taken, then its tensor transposed in place (t_), then written through: the view no
# longer follows from the tensor by view ops, so with dynamic dims reading it is refused, naming
# the write (static exports put the write back by element positions).
class ShapeChangedThenWritten(nn.Module):
    def forward(self, x):
        y = x.clone()
        row = y[0]
        y.t_()
        y[0] += 1.0
        return row * 2.0, y + 0.0


# --- The same, returning the view itself: forward's outputs are checked like any read.
class ReturnsBrokenView(nn.Module):
    def forward(self, x):
        y = x.clone()
        row = y[0]
        y.t_()
        y[0] += 1.0
        return row


def main():
    torch.manual_seed(0)
    save(torch.jit.script(ExpandKV().eval()), "expand_kv.pt")
    save(torch.jit.script(KVCache()), "kv_cache.pt")
    save(torch.jit.script(DiagonalFill()), "diagonal_fill.pt")
    save(torch.jit.script(TransposeRow()), "transpose_row.pt")
    save(torch.jit.script(ViewWrite()), "view_write.pt")
    save(torch.jit.script(TwoViews()), "two_views.pt")
    save(torch.jit.script(ShapeChangedThenWritten()), "shape_changed_then_written.pt")
    save(torch.jit.script(ReturnsBrokenView()), "returns_broken_view.pt")


if __name__ == "__main__":
    main()
