"""Makes models/ops/index.pt, the index / scatter / order-statistic / view-scatter fixture of
torch2air's tests, and models/ops/index_nonzero.pt (argwhere and masked_select, whose output
sizes depend on the data: tests export it for one input and run it with another).

Covers as_strided, select/slice/diagonal/as_strided_scatter, diag_embed, diagflat, unfold,
trace; scatter_reduce (every reduction, with and without self), index_reduce, index_copy,
index_fill, put, take_along_dim, embedding_bag, segment_reduce, _unsafe_masked_index(_put_accumulate);
argsort, msort, median(), nanmedian, searchsorted with a sorter, vector norms of order
±inf/0/<0 and with dtype=, narrow at a tensor start, x[mask] = values, quantile/nanquantile (every interpolation), mode;
nansum, nanmean; float_power, frexp, angle, isreal; trapezoid/trapz/cumulative_trapezoid,
gradient, cov, corrcoef, dist, pdist, renorm, histc, histogram, combinations, isin, linspace/logspace with
tensor bounds, _chunk_cat; nonzero, argwhere, nonzero_static, masked_select, unique,
unique_consecutive, repeat_interleave with tensor repeats, tensor_split at tensor positions,
hsplit/vsplit/dsplit.
Run from the repository root with the project venv:
    python models/make_ops_index.py
Verify with:
    torch2air verify models/ops/index.pt --input f32[6,5] --input f32[4,5,3] --input i64[7]:0..6
The modules have no weights, so re-running rewrites identical models (up to torch.jit.save's
archive layout).
"""
import os
from typing import List, Optional

import torch
import torch.nn as nn
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))


class OpsIndex(nn.Module):
    """x: [6, 5] ~ N(0, 1), y: [4, 5, 3] ~ N(0, 1), ids: [7] ints in [0, 6)."""

    def forward(self, x, y, ids) -> List[torch.Tensor]:
        out: List[torch.Tensor] = []
        # Views and the scatters writing them.
        out.append(torch.as_strided(x, [3, 4], [5, 1], 2))
        out.append(torch.as_strided(y, [2, 2, 3], [15, 3, 1]))
        out.append(torch.select_scatter(x, y[0, :, 0], 0, 2))
        out.append(torch.slice_scatter(x, x[:, 1:5:2] * 2.0, 1, 1, 5, 2))
        out.append(torch.diagonal_scatter(x, x[:5, 0] + 1.0, -1))
        out.append(torch.as_strided_scatter(x, y[0, :2, :2], [2, 2], [5, 2], 1))
        out.append(torch.diag_embed(y[0], 1))
        out.append(torch.diag_embed(x[:2], -1, 0, 2))
        out.append(torch.diagflat(x[:2, :3], 2))
        out.append(x.unfold(1, 2, 2))
        out.append(y.unfold(0, 3, 1))
        out.append(torch.trace(x))
        out.append(torch.as_strided_copy(x, [2, 2], [1, 2], 3))
        out.append(torch.unfold_copy(x, 0, 2, 3))
        # Reducing scatters: index rows of x by ids (with repeats).
        idx = ids[:5].reshape(5, 1).expand(5, 5) % 6
        src = x.flip(0) * 3.0
        for reduce in ["sum", "prod", "mean", "amax", "amin"]:
            out.append(torch.scatter_reduce(x, 0, idx, src, reduce))
            out.append(torch.scatter_reduce(x, 0, idx, src, reduce, include_self=False))
        for reduce in ["prod", "mean", "amax", "amin"]:
            out.append(torch.index_reduce(x, 0, ids[:4] % 6, y[:, :, 0], reduce))
            out.append(torch.index_reduce(x.t(), 1, ids[:4] % 6, y[:, :, 1].t(), reduce, include_self=False))
        out.append(torch.index_copy(x, 0, torch.tensor([4, 1, 0]), y[:3, :, 2]))
        out.append(torch.index_fill(x, 1, torch.tensor([-1, 2]), -2.5))
        out.append(torch.put(x, ids - 3, y.flatten()[:7], accumulate=True))
        out.append(torch.put(x, torch.tensor([29, -1, 3]), y[0, 0]))
        out.append(torch.take_along_dim(x, ids[:5].reshape(1, 5) % 6, 0))
        out.append(torch.take_along_dim(x, torch.argsort(x, 1), 1))
        out.append(torch.take_along_dim(x, ids % 30))
        table = y.reshape(12, 5)
        out.append(F.embedding_bag(ids, table, torch.tensor([0, 3, 3]), mode="mean"))
        out.append(F.embedding_bag(ids, table, torch.tensor([0, 2, 7]), mode="sum",
                                   per_sample_weights=x.flatten()[:7], include_last_offset=True))
        lengths = torch.tensor([2, 0, 3, 1])
        for reduce in ["sum", "mean", "max", "min", "prod"]:
            out.append(torch.segment_reduce(x, reduce, lengths=lengths))
        out.append(torch.segment_reduce(x, "mean", lengths=lengths, initial=1.5))
        out.append(torch.segment_reduce(x, "max", offsets=torch.tensor([0, 2, 2, 6]), initial=0.5))
        rows = (ids[:4] % 6).reshape(4, 1)
        cols = (ids[3:] % 7).reshape(1, 4)
        keep = (x[:4, :4] > -0.3)
        at: List[Optional[torch.Tensor]] = [rows, cols]
        out.append(torch.ops.aten._unsafe_masked_index(x, keep, at, 0.25))
        out.append(torch.ops.aten._unsafe_masked_index_put_accumulate(x, keep, at, x[:4, 1:5] * 2.0))
        # Order statistics (NaN put in where x is largest in rows 0 and 3).
        hole = (x == x.amax(1, keepdim=True)) & (torch.arange(6) % 3 == 0).unsqueeze(1)
        xn = torch.where(hole, torch.full_like(x, float("nan")), x)
        out.append(torch.argsort(x, 1))
        out.append(torch.argsort(x, 0, descending=True))
        out.append(torch.argsort(torch.round(x), stable=True, dim=1))
        out.append(torch.msort(y))
        out.append(torch.median(x))
        out.append(torch.median(xn))
        out.append(torch.nanmedian(xn))
        v, i = torch.nanmedian(xn, 1)
        out.append(v)
        out.append(i)
        v, i = torch.nanmedian(xn, 0, keepdim=True)
        out.append(v)
        out.append(i)
        for mode in ["linear", "lower", "higher", "midpoint", "nearest"]:
            out.append(torch.quantile(x, 0.3, 1, interpolation=mode))
            out.append(torch.quantile(xn, 0.65, 0, True, interpolation=mode))
            out.append(torch.nanquantile(xn, 0.4, 1, interpolation=mode))
        out.append(torch.quantile(x, 0.5))
        out.append(torch.nanquantile(xn, 0.9))
        t = torch.round(x * 1.5)
        v, i = torch.mode(t, 1)
        out.append(v)
        out.append(i)
        v, i = torch.mode(t, 0, True)
        out.append(v)
        out.append(i)
        out.append(torch.searchsorted(x[0], x[1:3], sorter=torch.argsort(x[0])))
        out.append(torch.linalg.vector_norm(x, float("inf"), 1))
        out.append(torch.linalg.vector_norm(x, float("-inf")))
        out.append(torch.linalg.vector_norm(torch.round(x), 0, 0, True))
        out.append(torch.linalg.vector_norm(x, -1.5, 1))
        out.append(torch.linalg.vector_norm(x, 2.0, 1, dtype=torch.float64))
        out.append(torch.narrow(x, 1, ids[0] % 3, 2))
        rows_on = x[:, 0] > 0.0
        z = x.clone()
        z[rows_on] = x[rows_on] * 2.0
        out.append(z)
        z2 = x.clone()
        z2[rows_on] = y[0, :, 0]
        out.append(z2)
        out.append(torch.nansum(xn))
        out.append(torch.nansum(xn, 1, keepdim=True))
        out.append(torch.nanmean(xn, 0))
        out.append(torch.nanmean(xn))
        # Real-number math.
        out.append(torch.float_power(x, y[0, :, 0]))
        out.append(torch.float_power(x.abs(), 1.5))
        m, e = torch.frexp(torch.cat([x * 100.0, torch.tensor([[0.0, 1.0, 0.5, -8.0, float("inf")]])]))
        out.append(m)
        out.append(e)
        out.append(torch.angle(xn))
        out.append(torch.isreal(x))
        # Integration, statistics, distances.
        out.append(torch.trapezoid(x, dim=0))
        out.append(torch.trapezoid(x, x.cumsum(1).abs(), dim=1))
        out.append(torch.trapz(y, torch.tensor([0.0, 0.5, 2.0]), dim=-1))
        out.append(torch.trapz(x, dx=0.25))
        out.append(torch.cumulative_trapezoid(x, dim=0))
        out.append(torch.cumulative_trapezoid(y, torch.tensor([0.0, 1.5, 2.0, 4.0, 4.5]), dim=1))
        out.extend(torch.gradient(x))
        out.extend(torch.gradient(y, spacing=0.5, dim=1, edge_order=2))
        out.append(torch.cov(x))
        out.append(torch.cov(x, correction=0, fweights=ids[:5] % 3 + 1, aweights=x[0].abs()))
        out.append(torch.corrcoef(x))
        out.append(torch.dist(x, y[0, :, :1].t(), 3))
        out.append(torch.dist(x, x.flip(0), float("inf")))
        out.append(torch.dist(x, x.flip(1), 0))
        out.append(torch.pdist(x))
        out.append(torch.pdist(x, 1.0))
        out.append(torch.renorm(y, 2.0, 0, 3.0))
        out.append(torch.renorm(x, 1.0, 1, 2.5))
        out.append(torch.histc(x, 7, -1.0, 1.5))
        out.append(torch.histc(y, 10))
        h, e = torch.histogram(x, 4)
        out.append(h)
        out.append(e)
        h, e = torch.histogram(x, 5, range=[-1.0, 1.0], weight=x.abs(), density=True)
        out.append(h)
        out.append(e)
        h, e = torch.histogram(y, torch.tensor([-2.0, -0.5, 0.0, 0.25, 3.0]))
        out.append(h)
        out.append(e)
        out.append(torch.combinations(x[0], 2))
        out.append(torch.combinations(x[1, :4], 3, True))
        out.append(torch.isin(torch.round(x), torch.round(y[0, 0])))
        out.append(torch.isin(torch.round(x), torch.round(y[1, 1]), invert=True))
        out.append(torch.linspace(x[0, 0], x[1, 1], 7))
        out.append(torch.logspace(x[0, 0], 2.0, 5, 2.0))
        out.append(torch.linspace(1.0, x[0, 0], 4))
        out.append(torch.linspace(x[0, 0], 1.0, 4))
        out.append(torch.logspace(x[0, 0], x[1, 1], 3))
        out.append(torch.logspace(0.0, x[0, 0], 3))
        out.append(torch.ops.aten._chunk_cat([x, x[:, :3] * 2.0], 1, 2))
        # Sizes that depend on the data (specialised to this sample, with a guard).
        out.append(torch.nonzero(x > 0.5))
        out.append(torch.argwhere(y > 1.0))
        out.extend(torch.ops.aten.nonzero_numpy(x > 0.5))
        out.append(torch.nonzero_static(x > 0.5, size=5, fill_value=-7))
        out.append(torch.nonzero_static(x > 0.0, size=40))
        out.append(torch.masked_select(x, x > 0.0))
        out.append(torch.masked_select(x, y[0, :, :1].t() > 0.0))
        u, inv, cnt = torch.unique(ids, return_inverse=True, return_counts=True)
        out.append(u)
        out.append(inv)
        out.append(cnt)
        out.append(torch.unique(torch.round(x)))
        u, inv, cnt = torch.unique_consecutive(torch.sort(ids)[0], return_inverse=True, return_counts=True)
        out.append(u)
        out.append(inv)
        out.append(cnt)
        out.append(torch.repeat_interleave(x, ids[:6] % 3, 0))
        out.append(torch.repeat_interleave(y[0], ids[2:5] % 2 + 1, 1))
        out.extend(torch.tensor_split(x, ids[:2] % 6, 0))
        out.extend(torch.tensor_split(y, [1, 4], 1))
        out.extend(torch.tensor_split(y, 3, 2))
        out.extend(torch.hsplit(y, [1, 3]))
        out.extend(torch.vsplit(x, 3))
        out.extend(torch.dsplit(y, 3))
        return out


class OpsIndexNonzero(nn.Module):
    """x: [8]: argwhere and masked_select, whose sizes are the sample's."""

    def forward(self, x):
        return torch.argwhere(x > 0.0).float().sum() + torch.masked_select(x, x > 0.0).sum()


def save(module, name):
    path = os.path.join(HERE, "ops", name)
    torch.jit.save(torch.jit.script(module), path)
    print("wrote", os.path.relpath(path))


def main():
    save(OpsIndex(), "index.pt")
    save(OpsIndexNonzero(), "index_nonzero.pt")


if __name__ == "__main__":
    main()
