"""Makes models/ops/scan.pt, the scan, order-statistic and sampling fixture of torch2air's tests,
and models/ops/scan_refused.pt, a grid_sample whose mode is an argument (tests pass "bicubic",
which GridSampler2D lowering refuses with an error).

Covers cumprod, prod, std_mean/var_mean, median (dim), kthvalue, cummax/cummin (and median, with ties),
logcumsumexp, index_add, take, masked_scatter, adaptive_max_pool2d, grid_sample and affine_grid.
Run from the repository root with the project venv:
    python models/make_ops_scan.py
Verify with:
    torch2air verify models/ops/scan.pt --input f32[4,6] --input f32[2,3,5,7] \
        --input f32[2,4,6,2] --input i64[5]:-24..24
The module has no weights, so re-running rewrites an identical model (up to torch.jit.save's
archive layout).
"""
import os
from typing import List

import torch
import torch.nn as nn
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))


class OpsScan(nn.Module):
    """x: [4, 6] (NaN-free; NaNs are put in inside), img: [2, 3, 5, 7], g: [2, 4, 6, 2] (grid seeds), ids: [5] in
    [-24, 24) (take indices, negative ones count from the end)."""

    def forward(self, x, img, g, ids) -> List[torch.Tensor]:
        out: List[torch.Tensor] = []
        # Ties: half-steps in [-2, 2] repeat within each row.
        t = torch.round(x * 2.0) / 2.0
        out.append(torch.cumprod(x, 1))
        out.append(torch.cumprod(x, 0))
        out.append(torch.prod(x))
        out.append(torch.prod(x, 1))
        out.append(torch.prod(x, 0, keepdim=True))
        v, m = torch.var_mean(x, 1)
        out.append(v)
        out.append(m)
        s, m2 = torch.std_mean(x, [0, 1], correction=0, keepdim=True)
        out.append(s)
        out.append(m2)
        s1, m3 = torch.std_mean(x, 0, unbiased=True)
        out.append(s1)
        out.append(m3)
        mv, mi = torch.median(x, 1)
        out.append(mv)
        out.append(mi)
        mv0, mi0 = torch.median(x, 0, keepdim=True)
        out.append(mv0)
        out.append(mi0)
        # Equal values: PyTorch's median index is the first of them in sorted (stable) order.
        tv, ti = torch.median(t, 1)
        out.append(tv)
        out.append(ti)
        tv0, ti0 = torch.median(t, 0)
        out.append(tv0)
        out.append(ti0)
        # A row holding NaN: PyTorch's median is NaN, at the first NaN's index.
        # Rows 0 and 2 get a NaN at their max, row 0 a second one at its min; rows 1, 3 none.
        even = (torch.arange(4) % 2 == 0).unsqueeze(1)
        first = torch.arange(4).unsqueeze(1) == 0
        hole = ((x == x.amax(1, keepdim=True)) & even) | ((x == x.amin(1, keepdim=True)) & first)
        xn = torch.where(hole, torch.full_like(x, float("nan")), x)
        nv, ni = torch.median(xn, 1)
        out.append(nv)
        out.append(ni)
        nv0, ni0 = torch.median(xn, 0, keepdim=True)
        out.append(nv0)
        out.append(ni0)
        kv, ki = torch.kthvalue(x, 2, 1)
        out.append(kv)
        out.append(ki)
        kv0, ki0 = torch.kthvalue(x, 4, 0, keepdim=True)
        out.append(kv0)
        out.append(ki0)
        cv, ci = torch.cummax(t, 1)
        out.append(cv)
        out.append(ci)
        cv0, ci0 = torch.cummax(t, 0)
        out.append(cv0)
        out.append(ci0)
        nv, ni = torch.cummin(t, 1)
        out.append(nv)
        out.append(ni)
        out.append(torch.logcumsumexp(x, 1))
        out.append(torch.logcumsumexp(x, 0))
        src = x[:3] * 2.0
        idx = torch.tensor([2, 0, 2])
        out.append(x.index_add(0, idx, src))
        out.append(x.index_add(1, torch.tensor([5, 1]), x[:, :2], alpha=-0.5))
        out.append(torch.take(x, ids))
        mask = x > 0.2
        out.append(x.masked_scatter(mask, x.flip(0) * 10.0))
        out.append(torch.zeros(3, 4, 6).masked_scatter(mask, torch.arange(100.0)))
        out.append(F.adaptive_max_pool2d(img, (2, 3)))
        pv, pi = F.adaptive_max_pool2d(img, 3, return_indices=True)
        out.append(pv)
        out.append(pi)
        grid = torch.tanh(g) * 1.3
        for mode in ["bilinear", "nearest"]:
            for pad in ["zeros", "border", "reflection"]:
                for ac in [False, True]:
                    out.append(F.grid_sample(img, grid, mode=mode, padding_mode=pad, align_corners=ac))
        theta = torch.tanh(x[:2].reshape(2, 2, 3))
        out.append(F.affine_grid(theta, [2, 3, 4, 5], align_corners=False))
        ag = F.affine_grid(theta, [2, 3, 6, 4], align_corners=True)
        out.append(ag)
        out.append(F.grid_sample(img, ag, align_corners=True))
        return out


class ScanRefused(nn.Module):
    """grid_sample with the interpolation mode given as an argument (baked in at export)."""

    def forward(self, img, g, mode: str):
        return F.grid_sample(img, torch.tanh(g), mode=mode, align_corners=False)


def save(module, name):
    path = os.path.join(HERE, "ops", name)
    torch.jit.save(torch.jit.script(module), path)
    print("wrote", os.path.relpath(path))


def main():
    save(OpsScan(), "scan.pt")
    save(ScanRefused(), "scan_refused.pt")


if __name__ == "__main__":
    main()
