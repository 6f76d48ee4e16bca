"""Makes models/ops/linalg.pt, linalg_dynamic.pt and linalg_static.pt. linalg.pt: the linear-algebra products and data-movement ops torch2air
lowers (dot, mv, addmv, addbmm, inner, tensordot, kron, chain_matmul, linalg.multi_dot,
diagonal, diag, fliplr/flipud, rot90, atleast_*d, h/v/d/column_stack, meshgrid,
cartesian_prod, block_diag, pixel_unshuffle, channel_shuffle, cross, linalg.cross, cdist,
pairwise_distance), one output per case. linalg_dynamic.pt: the ops whose lowering keeps
dynamic dims (no static shape needed), for --dynamic exports. linalg_static.pt: ops whose
lowering needs static shapes (kron, diagonal, block_diag), which --dynamic refuses cleanly.

Run from the repository root with the project venv:
    python models/make_ops_linalg.py
Verify with:
    torch2air verify models/ops/linalg.pt --input f32[4,6] --input f32[4,6]
    torch2air verify models/ops/linalg_dynamic.pt --input f32[4,6] --input f32[4,6] --dynamic
The modules have no weights, so re-running rewrites the same model.
"""
import os
from typing import List

import torch
import torch.nn as nn
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))


class OpsLinalg(nn.Module):
    def forward(self, x, y):
        out: List[torch.Tensor] = []
        v, w = x[0], y[1]
        # Products.
        out.append(torch.dot(v, w))
        out.append(torch.mv(x, w))
        out.append(torch.addmv(v[:4], x, w, beta=0.5, alpha=2.0))
        out.append(torch.addmv(x[:, 0], x, w))
        out.append(torch.addbmm(x[:2, :2], x.reshape(2, 2, 6), y.reshape(2, 6, 2), beta=0.0))
        out.append(torch.addbmm(x[0, :2], x.reshape(2, 2, 6), y.reshape(2, 6, 2), alpha=-1.5))
        out.append(torch.inner(x, y))
        out.append(torch.inner(v, w))
        out.append(torch.inner(x.reshape(2, 2, 6), y[:3]))
        out.append(torch.inner(x, y[0, 0]))
        out.append(torch.tensordot(x, y, dims=([1], [1])))
        out.append(torch.tensordot(x.reshape(2, 3, 4), y.reshape(4, 2, 3), dims=([0, 1], [1, 2])))
        out.append(torch.tensordot(x.reshape(2, 3, 4), y.reshape(3, 4, 2), dims=([2], [1])))
        out.append(torch.kron(x[:2, :3], y[:2, :2]))
        out.append(torch.kron(v[:3], x[:2, :2]))
        out.append(torch.kron(x[:2, :2].to(torch.int64), y[:2, :2]))
        out.append(torch.chain_matmul(x, y.t(), x))
        out.append(torch.chain_matmul(x))
        out.append(torch.linalg.multi_dot([x, y.t(), x]))
        out.append(torch.linalg.multi_dot([v, x.t(), y]))
        out.append(torch.linalg.multi_dot([x[:2], y.t(), w[:4]]))
        out.append(torch.linalg.multi_dot([v, x.t(), y[:, 0]]))
        # Diagonals.
        out.append(torch.diagonal(x))
        out.append(torch.diagonal(x, 2))
        out.append(torch.diagonal(x, -1, 1, 0))
        out.append(torch.diagonal(x.reshape(2, 3, 4), 1, 0, 2))
        out.append(torch.diagonal(x.reshape(2, 3, 4), 0, -1, 1))
        out.append(torch.diag(v))
        out.append(torch.diag(v[:3], 2))
        out.append(torch.diag(v[:3], -1))
        out.append(torch.diag(x))
        out.append(torch.diag(x, -2))
        out.append(torch.diag(x, 3))
        # Flips and rotations.
        out.append(torch.fliplr(x))
        out.append(torch.flipud(x))
        out.append(torch.flipud(v))
        out.append(torch.rot90(x))
        out.append(torch.rot90(x, 2))
        out.append(torch.rot90(x, -1))
        out.append(torch.rot90(x, 7, [1, 0]))
        out.append(torch.rot90(x.reshape(2, 3, 4), 1, [0, 2]))
        out.append(torch.rot90(x, 0))
        # At least n dims and stacking.
        s = x[0, 0]
        out.append(torch.atleast_1d(s))
        out.append(torch.atleast_1d(v))
        out.append(torch.atleast_2d(s))
        out.append(torch.atleast_2d(v))
        out.append(torch.atleast_2d(x))
        out.append(torch.atleast_3d(s))
        out.append(torch.atleast_3d(v))
        out.append(torch.atleast_3d(x))
        out.append(torch.hstack([x, y]))
        out.append(torch.hstack([v, w, s]))
        out.append(torch.hstack([x, y.to(torch.float64)]))
        out.append(torch.vstack([x, y]))
        out.append(torch.vstack([v, w]))
        out.append(torch.vstack([s, v[:1]]))
        out.append(torch.dstack([x, y]))
        out.append(torch.dstack([v, w]))
        out.append(torch.column_stack([v, x.t(), s.expand(6)]))
        out.append(torch.column_stack([x, y]))
        # Grids.
        a, b = torch.meshgrid([v, w[:3]], indexing="ij")
        out.append(a)
        out.append(b)
        a, b, c = torch.meshgrid([v, w[:3], s], indexing="xy")
        out.append(a)
        out.append(b)
        out.append(c)
        out.append(torch.cartesian_prod(v, w[:3]))
        out.append(torch.cartesian_prod(v[:2], w[:3], v[3:]))
        out.append(torch.cartesian_prod(w))
        out.append(torch.block_diag(x, y[:2, :3]))
        out.append(torch.block_diag(s, v, x[:2, :2].to(torch.int64)))
        # Channel and pixel shuffles.
        out.append(F.pixel_unshuffle(x.reshape(1, 1, 4, 6), 2))
        out.append(F.pixel_unshuffle(torch.cat([x, y]).reshape(2, 4, 6), 2))
        out.append(F.channel_shuffle(x.reshape(1, 4, 6, 1), 2))
        out.append(F.channel_shuffle(x.reshape(2, 6, 2), 3))
        # Cross products and distances.
        out.append(torch.cross(x[:, :3], y[:, 3:], dim=1))
        out.append(torch.cross(x.reshape(3, 8), y.reshape(3, 8), dim=0))
        out.append(torch.linalg.cross(x[:, :3], y[:, 3:]))
        out.append(torch.linalg.cross(x.reshape(4, 2, 3), y[0, :3].reshape(1, 1, 3)))
        out.append(torch.cdist(x, y))
        out.append(torch.cdist(x, y[:3], p=1.0))
        out.append(torch.cdist(x.reshape(2, 2, 6), y.reshape(2, 2, 6), p=3.0))
        out.append(torch.cdist(x, y, p=float("inf")))
        out.append(F.pairwise_distance(x, y))
        out.append(F.pairwise_distance(x, y, p=1.0, eps=1e-3, keepdim=True))
        out.append(F.pairwise_distance(x, w, p=3.0))
        out.append(F.pairwise_distance(x.reshape(2, 2, 6), y.reshape(2, 2, 6), p=float("inf")))
        # cdist's matrix-product path (> 25 rows, or asked for): ATen's rounding, e.g. a small
        # nonzero distance of a point to itself.
        rows = torch.cat([x, y, x * 2.0, y - x, x + 1.0, y * 3.0, x - 2.0])
        out.append(torch.cdist(rows, rows))
        out.append(torch.cdist(x, y, compute_mode="use_mm_for_euclid_dist"))
        out.append(torch.cdist(x, y.round(), p=0.0))
        out.append(F.pairwise_distance(x, y.round(), p=0.0))
        # BOOL data moves as UINT8.
        out.append(torch.diag(x > 0, 1))
        out.append(torch.rot90(x > 0))
        out.append(torch.kron(x[:2, :2] > 0, y[:2, :3] > 0))
        # cross without dim: the first dim of self of size 3 (not of the broadcast result).
        out.append(torch.cross(x[:1, :3], y[:3, 3:]))
        return out


class OpsLinalgDynamic(nn.Module):
    def forward(self, x, y):
        out: List[torch.Tensor] = []
        out.append(torch.dot(x[:, 0], y[:, 1]))
        out.append(torch.mv(x, y[0]))
        out.append(torch.addmv(x[:, 1], x, y[0], beta=0.5, alpha=2.0))
        out.append(torch.chain_matmul(x, y.t(), x))
        out.append(torch.linalg.multi_dot([x[0], y.t(), x]))
        out.append(torch.rot90(x))
        out.append(torch.rot90(x, 3))
        out.append(torch.fliplr(x))
        out.append(torch.flipud(x))
        out.append(torch.atleast_3d(x[0]))
        out.append(torch.hstack([x, y]))
        out.append(torch.vstack([x, y]))
        out.append(torch.dstack([x, y]))
        out.append(torch.column_stack([x[:, 0], y]))
        out.append(torch.linalg.cross(x[:, :3], y[:, 3:6]))
        out.append(torch.cdist(x, y))
        out.append(torch.cdist(x, y[:2], p=1.0))
        out.append(F.pairwise_distance(x, y))
        out.append(F.pairwise_distance(x, y, p=3.0, keepdim=True))
        a, b = torch.meshgrid([x[:, 0], y[0]], indexing="xy")
        out.append(a)
        out.append(b)
        a, b, c = torch.meshgrid([y[:, 0], x[0, 0], y[0]], indexing="ij")
        out.append(a)
        out.append(b)
        out.append(c)
        out.append(torch.cartesian_prod(x[:, 0], y[0]))
        out.append(F.channel_shuffle(x[:, :4].unsqueeze(-1), 2))
        out.append(F.pixel_unshuffle(torch.cat([x[:, :4], y[:, :4]], 1).reshape(-1, 1, 2, 4), 2))
        out.append(torch.inner(x[:, :4], y[:, :4]))
        out.append(torch.tensordot(x[:, :4], y[:, :4].unsqueeze(0), dims=([1], [2])))
        return out


class OpsLinalgStatic(nn.Module):
    def forward(self, x, y):
        return [torch.kron(x, y), torch.diagonal(x, 1), torch.block_diag(x, y)]


if __name__ == "__main__":
    path = os.path.join(HERE, "ops", "linalg.pt")
    torch.jit.save(torch.jit.script(OpsLinalg()), path)
    print("wrote", os.path.relpath(path))
    path = os.path.join(HERE, "ops", "linalg_dynamic.pt")
    torch.jit.save(torch.jit.script(OpsLinalgDynamic()), path)
    print("wrote", os.path.relpath(path))
    path = os.path.join(HERE, "ops", "linalg_static.pt")
    torch.jit.save(torch.jit.script(OpsLinalgStatic()), path)
    print("wrote", os.path.relpath(path))
