"""Makes the fixtures of tests/ops_families.rs: real-usage modules for the op families of issue 13
items 2 and 3 (3-D CNN, UNet-style upsampler, any-scale resizing, pooling with indices, special
functions, losses, decomposed norms, padding).

Run from the repository root with the project venv (./dev fixtures does this):
    python models/make_ops_families.py
For each module it saves `models/families/<name>.pt` (traced or scripted), the sample inputs
`<name>.in<k>.npy` and the eager outputs `<name>.out<k>.npy`. Deterministic (fixed seeds).
"""
import os

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "families")


def save(module, name, inputs, script=False):
    module = module.eval()
    with torch.no_grad():
        m = torch.jit.script(module) if script else torch.jit.trace(module, inputs)
        outs = module(*inputs)
    if isinstance(outs, torch.Tensor):
        outs = [outs]
    path = os.path.join(OUT, name + ".pt")
    torch.jit.save(m, path)
    print("wrote", os.path.relpath(path))
    for k, t in enumerate(inputs):
        np.save(os.path.join(OUT, f"{name}.in{k}.npy"), t.numpy())
    for k, t in enumerate(outs):
        np.save(os.path.join(OUT, f"{name}.out{k}.npy"), t.detach().numpy())


class Cnn3d(nn.Module):
    """A small video/volume classifier: Conv3d ('same' padding), BatchNorm3d, max and average
    3-D pooling, a transposed 3-D conv, trilinear upsampling and an adaptive 3-D pool."""

    def __init__(self):
        super().__init__()
        self.c1 = nn.Conv3d(2, 4, 3, padding="same")
        self.bn = nn.BatchNorm3d(4)
        self.c2 = nn.Conv3d(4, 6, (2, 3, 3), stride=(1, 2, 2), padding=1, dilation=(1, 1, 1))
        self.up = nn.ConvTranspose3d(6, 4, 2, stride=2)
        self.head = nn.Linear(4 * 2 * 3 * 3, 5)

    def forward(self, x):
        y = F.relu(self.bn(self.c1(x)))
        y = F.max_pool3d(y, 2, stride=2, padding=1, dilation=1)
        y = F.avg_pool3d(y, (1, 2, 2), stride=1, padding=(0, 1, 1), count_include_pad=False)
        y = F.relu(self.c2(y))
        y = self.up(y)
        y = F.interpolate(y, scale_factor=(1.5, 0.75, 1.3), mode="trilinear", align_corners=False)
        y = F.adaptive_avg_pool3d(y, (2, 3, 3))
        return self.head(y.flatten(1))


class UNetUp(nn.Module):
    """A UNet-style decoder: max pooling with indices down, max_unpool2d and resizes up
    (bicubic, nearest-exact, bilinear with antialias, nearest with a non-integer scale)."""

    def __init__(self):
        super().__init__()
        self.enc = nn.Conv2d(3, 8, 3, padding="valid")
        self.dec = nn.Conv2d(16, 4, 1)

    def forward(self, x):
        e = torch.relu(self.enc(x))
        p, idx = F.max_pool2d(e, 2, stride=2, return_indices=True)
        u = torch.ops.aten.max_unpool2d(p, idx, [12, 10])
        skip = F.interpolate(e, scale_factor=1.7, mode="bicubic", align_corners=False)
        skip = F.interpolate(skip, size=(12, 10), mode="bilinear", antialias=True)
        y = self.dec(torch.cat([u, skip], 1))
        a = F.interpolate(y, scale_factor=1.6, mode="nearest-exact")
        b = F.interpolate(y, scale_factor=0.6, mode="nearest")
        c = F.interpolate(y, scale_factor=(1.25, 2.5), mode="bilinear", align_corners=False)
        return a, b, c


class Pools(nn.Module):
    """Dilated max pooling, 1-D/3-D pooling with indices, adaptive max pooling and the
    gradient of max pooling."""

    def forward(self, x2, x3):
        a = F.max_pool2d(x2, 3, stride=1, dilation=2)
        b, bi = F.max_pool1d(x2.flatten(2), 4, stride=3, return_indices=True)
        c, ci = F.max_pool3d(x3, 2, stride=2, ceil_mode=True, return_indices=True)
        d, di = F.adaptive_max_pool1d(x2.flatten(2), 7, return_indices=True)
        e, ei = F.adaptive_max_pool3d(x3, (2, 3, 2), return_indices=True)
        f = torch.ops.aten.max_unpool3d(c, ci, [5, 6, 4], [2, 2, 2], [0, 0, 0])
        v, i = torch.ops.aten.max_pool2d_with_indices(x2, [2, 2], [2, 2], [0, 0], [1, 1], False)
        g = torch.ops.aten.max_pool2d_with_indices_backward(
            torch.ones_like(v), x2, [2, 2], [2, 2], [0, 0], [1, 1], False, i
        )
        return a, b, bi, c, ci, d, di, e, ei, f, g


class Special(nn.Module):
    """The gamma family (composed) and the special functions with CANN prototypes."""

    def forward(self, x, a, u):
        return (
            torch.lgamma(x),
            torch.digamma(x),
            torch.polygamma(1, x),
            torch.polygamma(3, x),
            torch.mvlgamma(a, 3),
            torch.igamma(a, u * 4),
            torch.igammac(a, u * 4),
            torch.erfinv(u * 1.98 - 0.99),
            torch.i0(x),
            torch.special.i0e(x),
            torch.nextafter(x, a),
        )


class SpecialEdges(nn.Module):
    """The composed gamma family at the edges of its domain: ±inf, ±0, poles (negative
    integers), NaN, huge and tiny arguments, where a series or a reflection can give NaN for
    inf or the wrong sign."""

    def forward(self, x):
        return (
            torch.lgamma(x),
            torch.digamma(x),
            torch.polygamma(1, x),
            torch.polygamma(2, x),
            torch.mvlgamma(x.abs() + 1.5, 2),
        )


class Losses(nn.Module):
    """Losses that were missing: probability-target cross entropy (label smoothing), margin
    losses, triplet loss with swap, ctc_loss, poisson_nll_loss with the Stirling term."""

    def forward(self, logits, probs, cls, multi, a, p, n, lp, tg, pin, ptg):
        return (
            F.cross_entropy(logits, probs, label_smoothing=0.1),
            F.multi_margin_loss(logits, cls, p=2, margin=0.5),
            F.multilabel_margin_loss(logits, multi, reduction="none"),
            F.triplet_margin_loss(a, p, n, margin=0.3, p=3, swap=True),
            F.ctc_loss(lp, tg, [12, 10, 12], [4, 5, 3], reduction="mean"),
            F.poisson_nll_loss(pin, ptg, log_input=False, full=True, reduction="sum"),
        )


class Norms(nn.Module):
    """Decomposed norm ops as frozen/decomposed graphs have them, batch norm in training mode,
    and vector norms of every order."""

    def __init__(self):
        super().__init__()
        self.w = nn.Parameter(torch.randn(6))
        self.b = nn.Parameter(torch.randn(6))
        self.register_buffer("rm", torch.randn(6))
        self.register_buffer("rv", torch.rand(6) + 0.5)

    def forward(self, x):
        ln = torch.ops.aten.native_layer_norm(x, [5], None, None, 1e-5)
        gn = torch.ops.aten.native_group_norm(x, self.w, self.b, 4, 6, 5, 3, 1e-5)
        bn = torch.ops.aten.native_batch_norm(x, self.w, self.b, self.rm, self.rv, False, 0.1, 1e-5)
        bt = F.batch_norm(x, None, None, self.w, self.b, True, 0.1, 1e-5)
        return (
            ln[0], ln[1], ln[2], gn[0], gn[1], gn[2], bn[0], bt,
            torch.linalg.vector_norm(x, float("inf"), dim=1),
            torch.linalg.vector_norm(x, 0, dim=(1, 2)),
            torch.linalg.vector_norm(x, -1.5, dim=2),
            torch.linalg.vector_norm(x, dtype=torch.float64),
        )


class Misc(nn.Module):
    """Circular and negative padding, softplus with a low threshold, bilinear, grid_sample 3-D,
    softmax's gradient."""

    def __init__(self):
        super().__init__()
        self.bil = nn.Bilinear(5, 4, 3)

    def forward(self, x, y, vol, grid, g):
        s = torch.softmax(x, -1)
        return (
            F.pad(x, (2, 1, 1, 0), mode="circular"),
            F.pad(x, (-1, 3, 2, -2), mode="replicate"),
            F.pad(x, (-2, 1), mode="constant", value=0.5),
            F.softplus(x, beta=2, threshold=1.5),
            self.bil(x, y),
            F.grid_sample(vol, grid, mode="bilinear", padding_mode="border", align_corners=True),
            torch.ops.aten._softmax_backward_data(g, s, -1, torch.float32),
        )


class Extras(nn.Module):
    """The ATen ops above as decomposed or scripted graphs name them: the batch-norm variants,
    the antialiased bicubic / nearest-exact / 3-D nearest resizes, conv3d and conv_transpose3d,
    grid_sampler_2d/3d, native_dropout_backward, modified_bessel_i0."""

    def __init__(self):
        super().__init__()
        self.g = nn.Parameter(torch.randn(2))
        self.b = nn.Parameter(torch.randn(2))
        self.register_buffer("rm", torch.randn(2))
        self.register_buffer("rv", torch.rand(2) + 0.5)
        self.w3 = nn.Parameter(torch.randn(4, 2, 3, 3, 3))
        self.wt = nn.Parameter(torch.randn(2, 3, 2, 2, 2))

    def forward(self, x, v, mask, grid2, grid3):
        bu = torch.ops.aten._batch_norm_with_update(
            x, self.g, self.b, self.rm.clone(), self.rv.clone(), 0.1, 1e-5
        )
        bl = torch.ops.aten._native_batch_norm_legit(
            x, self.g, self.b, self.rm.clone(), self.rv.clone(), True, 0.1, 1e-5
        )
        bn = torch.ops.aten._native_batch_norm_legit_no_training(
            x, self.g, self.b, self.rm, self.rv, 0.1, 1e-5
        )
        return (
            bu[0], bu[1], bu[2], bl[0], bl[2], bn[0],
            torch.ops.aten._upsample_bicubic2d_aa(x, [5, 9], False, None, None),
            torch.ops.aten._upsample_nearest_exact1d(x.flatten(2), [17], None),
            torch.ops.aten._upsample_nearest_exact3d(v, [5, 7, 4], None, None, None),
            torch.ops.aten.upsample_nearest3d(v, [6, 3, 9], None, None, None),
            F.conv3d(v, self.w3, None, 1, 1),
            F.conv_transpose3d(v, self.wt, None, 2),
            torch.grid_sampler_2d(x, grid2, 0, 0, False),
            torch.grid_sampler_3d(v, grid3, 1, 2, True),
            torch.ops.aten.native_dropout_backward(x, mask, 2.0),
            torch.special.modified_bessel_i0(x),
        )


def main():
    os.makedirs(OUT, exist_ok=True)
    torch.manual_seed(0)
    save(Cnn3d(), "cnn3d", (torch.randn(2, 2, 6, 9, 8),))
    torch.manual_seed(1)
    save(UNetUp(), "unet_up", (torch.randn(1, 3, 14, 12),))
    torch.manual_seed(2)
    save(Pools(), "pools", (torch.randn(2, 3, 9, 10), torch.randn(1, 2, 5, 6, 4)))
    torch.manual_seed(3)
    x = torch.randn(4, 6) * 4  # negative and positive arguments
    a = torch.rand(4, 6) * 5 + 1.2
    u = torch.rand(4, 6)
    save(Special(), "special", (x, a, u))
    inf, nan = float("inf"), float("nan")
    edges = [inf, -inf, 0.0, -0.0, nan, -1.0, -2.0, -3.5, 1.0, 2.0, 0.5, 1e-30, -1e-30, 1e30,
             -1e30, 3e38, 1e-7, 7.25, -7.25, 100.0]
    save(SpecialEdges(), "special_edges", (torch.tensor(edges, dtype=torch.float32),))
    torch.manual_seed(4)
    logits = torch.randn(3, 5)
    probs = torch.softmax(torch.randn(3, 5), 1)
    cls = torch.tensor([1, 4, 0])
    multi = torch.tensor([[3, 0, -1, 1, 2], [1, 2, 3, 4, 0], [4, -1, 0, 0, 0]])
    tri = [torch.randn(3, 8) for _ in range(3)]
    lp = torch.randn(12, 3, 6).log_softmax(2)
    tg = torch.randint(1, 6, (3, 5))
    pin = torch.rand(7) + 0.1
    ptg = torch.randint(0, 5, (7,)).float()
    save(Losses(), "losses", (logits, probs, cls, multi, *tri, lp, tg, pin, ptg))
    torch.manual_seed(5)
    save(Norms(), "norms", (torch.randn(4, 6, 5),))
    torch.manual_seed(7)
    save(
        Extras(),
        "extras",
        (
            torch.randn(2, 2, 6, 7),
            torch.randn(1, 2, 4, 5, 6),
            torch.rand(2, 2, 6, 7) > 0.5,
            torch.rand(2, 3, 4, 2) * 2.2 - 1.1,
            torch.rand(1, 2, 3, 4, 3) * 2.2 - 1.1,
        ),
        script=True,
    )
    torch.manual_seed(6)
    grid = torch.rand(2, 3, 4, 5, 3) * 2.2 - 1.1
    save(
        Misc(),
        "misc",
        (torch.randn(2, 6, 5), torch.randn(2, 6, 4), torch.randn(2, 3, 4, 5, 6), grid, torch.randn(2, 6, 5)),
    )


if __name__ == "__main__":
    main()
