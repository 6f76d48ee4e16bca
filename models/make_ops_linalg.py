"""Makes models/ops/linalg.pt, linalg_dynamic.pt, linalg_static.pt, linalg_gap.pt and decomp.pt. linalg.pt: the linear-algebra products and data-movement ops torch2air
lowers (dot, mv, addmv, addbmm, inner, tensordot, kron, chain_matmul, linalg.multi_dot,
diagonal, diag, fliplr/flipud, rot90, atleast_*d, h/v/d/column_stack, meshgrid,
cartesian_prod, block_diag, pixel_unshuffle, channel_shuffle, cross, linalg.cross, cdist,
pairwise_distance), one output per case. linalg_dynamic.pt: the ops whose lowering keeps
dynamic dims (no static shape needed), for --dynamic exports. linalg_static.pt: ops whose
lowering needs static shapes (kron, diagonal, block_diag), which --dynamic refuses cleanly.
linalg_gap.pt: ops CANN cannot express (hash_tensor, matrix_exp), which export refuses with the
reason. decomp.pt: matrix decompositions, determinants, inverses and solves (cholesky*, qr, svd, lu*,
eigh, det/slogdet/logdet, inv, solve*, triangular solves, pinv, matrix_rank, matrix_power,
vecdot, histogramdd), on well-conditioned matrices made from the inputs.

Run from the repository root with the project venv:
    python models/make_ops_linalg.py
Verify with:
    torch2air verify models/ops/linalg.pt --input f32[4,6] --input f32[4,6]
    torch2air verify models/ops/linalg_dynamic.pt --input f32[4,6] --input f32[4,6] --dynamic
    torch2air verify models/ops/decomp.pt --input f32[4,6] --input f32[4,6]
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


class OpsDecomp(nn.Module):
    def forward(self, x, y):
        out: List[torch.Tensor] = []
        eye = torch.eye(4)
        a = x[:, :4] + 4.0 * eye  # diagonally dominant: well conditioned
        b = y[:, :4] - 3.0 * eye
        spd = a @ a.t() + eye
        ab = torch.stack([a, b])  # [2, 4, 4]
        spds = torch.stack([spd, b @ b.t() + eye])
        rhs = y[:, 4:]  # [4, 2]
        # Cholesky and its solves.
        low = torch.linalg.cholesky(spd)
        out.append(low)
        out.append(torch.cholesky(spd, upper=True))
        out.append(torch.linalg.cholesky(spds, upper=True))
        l2, info = torch.linalg.cholesky_ex(spd)
        out.append(l2)
        out.append(info)
        out.append(torch.cholesky_inverse(low))
        out.append(torch.cholesky_inverse(torch.linalg.cholesky(spds, upper=True), upper=True))
        out.append(torch.cholesky_solve(rhs, low))
        out.append(torch.cholesky_solve(rhs, low.t(), upper=True))
        out.append(torch.cholesky_solve(torch.stack([rhs, rhs * 2.0]), low))
        # Triangular solves.
        s1, s2 = torch.triangular_solve(rhs, a)
        out.append(s1)
        out.append(s2)
        s1, s2 = torch.triangular_solve(rhs, a, upper=False, transpose=True, unitriangular=True)
        out.append(s1)
        out.append(s2)
        s1, s2 = torch.triangular_solve(torch.stack([rhs, -rhs]), a)
        out.append(s1)
        out.append(s2)
        out.append(torch.linalg.solve_triangular(a, rhs, upper=True))
        out.append(torch.linalg.solve_triangular(b, rhs.t(), upper=False, left=False))
        out.append(torch.linalg.solve_triangular(ab, rhs, upper=False, unitriangular=True))
        # Determinants and inverses.
        out.append(torch.det(a))
        out.append(torch.linalg.det(ab))
        sg, la = torch.slogdet(b)
        out.append(sg)
        out.append(la)
        sg, la = torch.linalg.slogdet(ab)
        out.append(sg)
        out.append(la)
        out.append(torch.logdet(spd))
        out.append(torch.logdet(ab))  # one negative determinant: NaN
        out.append(torch.inverse(a))
        out.append(torch.linalg.inv(ab))
        iv, info = torch.linalg.inv_ex(b)
        out.append(iv)
        out.append(info)
        # General solves.
        out.append(torch.linalg.solve(a, rhs))
        out.append(torch.linalg.solve(a, rhs[:, 0]))
        out.append(torch.linalg.solve(ab, rhs))
        out.append(torch.linalg.solve(ab, torch.stack([rhs[:, 0], rhs[:, 1]])))
        out.append(torch.linalg.solve(a, rhs.t(), left=False))
        sv, info = torch.linalg.solve_ex(b, rhs)
        out.append(sv)
        out.append(info)
        # QR, SVD, eigh (the runner takes LAPACK's signs, as ATen does).
        q, r = torch.qr(x)
        out.append(q)
        out.append(r)
        q, r = torch.qr(x.t(), some=False)
        out.append(q)
        out.append(r)
        q, r = torch.linalg.qr(ab, mode="complete")
        out.append(q)
        out.append(r)
        q, r = torch.linalg.qr(x.t(), mode="r")
        out.append(q)
        out.append(r)
        u, sv, v = torch.svd(x)
        out.append(u)
        out.append(sv)
        out.append(v)
        u, sv, v = torch.svd(x, compute_uv=False)
        out.append(u)
        out.append(sv)
        out.append(v)
        u, sv, vh = torch.linalg.svd(x.t())
        out.append(u)
        out.append(sv)
        out.append(vh)
        u, sv, vh = torch.linalg.svd(ab, full_matrices=False)
        out.append(u)
        out.append(sv)
        out.append(vh)
        out.append(torch.linalg.svdvals(x))
        w, v = torch.linalg.eigh(spd)
        out.append(w)
        out.append(v)
        out.append(torch.linalg.eigvalsh(spds, UPLO="U"))
        out.append(torch.linalg.eigvalsh(spd))
        # Pseudo-inverses and ranks.
        out.append(torch.pinverse(x))
        out.append(torch.pinverse(ab, rcond=0.1))
        out.append(torch.linalg.pinv(x.t()))
        out.append(torch.linalg.pinv(spd, hermitian=True))
        out.append(torch.linalg.pinv(x, atol=0.5))
        out.append(torch.linalg.pinv(ab, rtol=y[0, :2].abs()))
        low_rank = x[:, :2] @ y[:2, :]  # rank 2
        out.append(torch.linalg.pinv(low_rank))
        out.append(torch.linalg.matrix_rank(low_rank))
        out.append(torch.linalg.matrix_rank(ab))
        out.append(torch.linalg.matrix_rank(spd, hermitian=True, atol=5.0))
        # LU.
        lu, piv = torch.linalg.lu_factor(a)
        out.append(lu)
        out.append(piv)
        lu3, piv3, info3 = torch.linalg.lu_factor_ex(x)  # wide
        out.append(lu3)
        out.append(piv3)
        out.append(info3)
        lu4, piv4 = torch.linalg.lu_factor(x.t())  # tall
        out.append(lu4)
        out.append(piv4)
        lu5, piv5, info5 = torch._lu_with_info(ab)
        out.append(lu5)
        out.append(piv5)
        out.append(info5)
        out.append(torch.linalg.lu_factor_ex(a[:, :2] @ y[:2, :4])[2])  # singular: info > 0
        pp, ll, uu = torch.linalg.lu(x)
        out.append(pp)
        out.append(ll)
        out.append(uu)
        pp, ll, uu = torch.linalg.lu(x.t())
        out.append(pp)
        out.append(ll)
        out.append(uu)
        pp, ll, uu = torch.lu_unpack(lu, piv)
        out.append(pp)
        out.append(ll)
        out.append(uu)
        pp, ll, uu = torch.lu_unpack(lu3, piv3)
        out.append(pp)
        out.append(ll)
        out.append(uu)
        pp, ll, uu = torch.lu_unpack(lu4, piv4)
        out.append(pp)
        out.append(ll)
        out.append(uu)
        pp, ll, uu = torch.lu_unpack(lu5, piv5, unpack_data=False)
        out.append(pp)
        out.append(ll)
        out.append(uu)
        out.append(torch.lu_solve(rhs, lu, piv))
        out.append(torch.lu_solve(torch.stack([rhs, rhs * 0.5]), lu5, piv5))
        out.append(torch.linalg.lu_solve(lu, piv, rhs, adjoint=True))
        out.append(torch.linalg.lu_solve(lu, piv, rhs.t(), left=False))
        out.append(torch.linalg.lu_solve(lu5, piv5, rhs.t(), left=False, adjoint=True))
        # Householder QR and its reflectors.
        g, tau = torch.geqrf(a)
        out.append(g)
        out.append(tau)
        g2, tau2 = torch.geqrf(x.t())  # tall
        out.append(g2)
        out.append(tau2)
        g3, tau3 = torch.geqrf(x)  # wide
        out.append(g3)
        out.append(tau3)
        out.append(torch.linalg.householder_product(g, tau))
        out.append(torch.linalg.householder_product(g2, tau2))
        out.append(torch.linalg.householder_product(g2, tau2[:3]))
        out.append(torch.ormqr(g, tau, rhs))
        out.append(torch.ormqr(g, tau, rhs.t(), left=False, transpose=True))
        out.append(torch.ormqr(g2, tau2, y.t(), transpose=True))
        # Powers, vecdot, diagonal.
        out.append(torch.linalg.matrix_power(a, 0))
        out.append(torch.linalg.matrix_power(a, 3))
        out.append(torch.linalg.matrix_power(a * 0.5, 6))
        out.append(torch.linalg.matrix_power(ab, -2))
        out.append(torch.linalg.vecdot(x, y))
        out.append(torch.linalg.vecdot(x, y[0], dim=-1))
        out.append(torch.linalg.vecdot(x, y, dim=0))
        out.append(torch.linalg.diagonal(ab))
        out.append(torch.linalg.diagonal(x, offset=1))
        # Norms, condition numbers, Vandermonde matrices, tensor inverses.
        out.append(torch.linalg.matrix_norm(x))
        out.append(torch.linalg.matrix_norm(ab, "nuc", keepdim=True))
        out.append(torch.linalg.matrix_norm(x, 2))
        out.append(torch.linalg.matrix_norm(ab, -2, dim=(0, 2)))
        out.append(torch.linalg.matrix_norm(x, 1, keepdim=True))
        out.append(torch.linalg.matrix_norm(ab, float("-inf"), dim=(2, 1)))
        out.append(torch.linalg.matrix_norm(ab, -1, dim=(0, 1)))
        out.append(torch.linalg.norm(x))
        out.append(torch.linalg.norm(x, "fro"))
        out.append(torch.linalg.norm(x, float("inf")))
        out.append(torch.linalg.norm(ab, 2, dim=(1, 2), keepdim=True))
        out.append(torch.linalg.norm(x[0], 3.0))
        out.append(torch.linalg.norm(ab, dim=1))
        out.append(torch.linalg.cond(a))
        out.append(torch.linalg.cond(x, -2))
        out.append(torch.linalg.cond(ab, "fro"))
        out.append(torch.linalg.cond(ab, float("inf")))
        out.append(torch.linalg.cond(b, 1))
        out.append(torch.linalg.vander(x[0]))
        out.append(torch.linalg.vander(x[:, :3], N=5))
        out.append(torch.linalg.tensorinv(spd.reshape(2, 2, 4), ind=2))
        out.append(torch.linalg.tensorsolve(spd.reshape(2, 2, 2, 2), rhs.reshape(2, 2, 2)[0]))
        out.append(torch.linalg.tensorsolve(spd.reshape(4, 2, 2), rhs[:, 0], dims=(1,)))
        # histogramdd: data ranges, explicit ranges, tensor edges, weights, density.
        h, e = torch.histogramdd(x.reshape(-1, 2), [3, 4])
        out.append(h)
        out.append(e[0])
        out.append(e[1])
        h, e = torch.histogramdd(x.reshape(-1, 3), 2, range=[-1.0, 1.0, -2.0, 2.0, 0.0, 1.0], density=True)
        out.append(h)
        out.append(e[2])
        h, e = torch.histogramdd(x.reshape(-1, 2), [torch.tensor([-2.0, -0.5, 0.0, 2.0]), y[0, :3].sort()[0]], weight=y.reshape(-1, 2)[:, 0])
        out.append(h)
        out.append(e[1])
        return out


class OpsLinalgGap(nn.Module):
    def forward(self, x):
        return torch.hash_tensor(x), torch.linalg.matrix_exp(x), torch.linalg.matrix_exp(x * 2.0)


if __name__ == "__main__":
    path = os.path.join(HERE, "ops", "linalg.pt")
    torch.jit.save(torch.jit.script(OpsLinalg()), path)
    print("wrote", os.path.relpath(path))
    path = os.path.join(HERE, "ops", "linalg_dynamic.pt")
    torch.jit.save(torch.jit.script(OpsLinalgDynamic()), path)
    print("wrote", os.path.relpath(path))
    path = os.path.join(HERE, "ops", "decomp.pt")
    torch.jit.save(torch.jit.script(OpsDecomp()), path)
    print("wrote", os.path.relpath(path))
    path = os.path.join(HERE, "ops", "linalg_gap.pt")
    torch.jit.save(torch.jit.script(OpsLinalgGap()), path)
    print("wrote", os.path.relpath(path))
    path = os.path.join(HERE, "ops", "linalg_static.pt")
    torch.jit.save(torch.jit.script(OpsLinalgStatic()), path)
    print("wrote", os.path.relpath(path))
