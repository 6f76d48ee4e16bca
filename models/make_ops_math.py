"""Makes models/ops/math.pt, the fixture of the pointwise math, activation and extra loss ops
(atan2, hypot, logaddexp/logaddexp2, logit, log_sigmoid, frac, sinc, deg2rad/rad2deg, copysign,
signbit, isfinite, heaviside, fmax/fmin, celu, hardshrink/softshrink, threshold, rrelu in eval
mode, lerp, addcmul/addcdiv, isclose, count_nonzero; poisson_nll_loss, soft_margin_loss,
margin_ranking_loss, hinge_embedding_loss, cosine_embedding_loss), and models/ops/math_refused.pt,
calls torch2air refuses with an error (poisson_nll_loss with full=True, rrelu in training mode).

Run from the repository root with the project venv:
    python models/make_ops_math.py
and verify with
    torch2air verify models/ops/math.pt --input f32[4,6] --input f32[4,6]
Edge values (zeros of both signs, NaN, ±inf, 0 and 1 for logit) are buffers appended to the
random inputs inside the module, so every run of verify sees them.
"""
import os
from typing import List

import torch
import torch.nn as nn
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
NAN, INF = float("nan"), float("inf")


class OpsMath(nn.Module):
    def __init__(self):
        super().__init__()
        # Appended to x and y (two rows each): zeros of both signs, NaN, ±inf, equal pairs.
        self.register_buffer(
            "ex",
            torch.tensor([[0.0, -0.0, NAN, INF, -INF, 1.0], [0.5, -2.0, NAN, 0.0, 3.0, -INF]]),
        )
        self.register_buffer(
            "ey",
            torch.tensor([[1.0, 2.0, NAN, INF, -INF, -0.0], [NAN, 0.0, 1.0, -INF, 3.0, 2.0]]),
        )
        # Appended to probabilities: the ends of logit's domain and values near them.
        self.register_buffer("ep", torch.tensor([[0.0, 1.0, 0.5, 1e-4, 0.9999, 0.25]]))

    def forward(self, x, y):
        out: List[torch.Tensor] = []
        X, Y = torch.cat([x, self.ex]), torch.cat([y, self.ey])
        P = torch.cat([torch.sigmoid(x), self.ep])
        ti = (x * 3.0).to(torch.int64)
        tj = (y * 3.0).to(torch.int64)
        xb, yb = X.to(torch.bfloat16), Y.to(torch.bfloat16)
        # Binary and special math.
        out.append(torch.atan2(X, Y))
        out.append(torch.atan2(ti, tj))
        out.append(torch.hypot(X, Y))
        out.append(torch.logaddexp(X, Y))
        out.append(torch.logaddexp2(X, Y))
        out.append(torch.logit(P))
        out.append(torch.logit(P, 1e-3))
        out.append(torch.logit(X, -1.0))
        out.append(torch.frac(X * 2.5))
        out.append(torch.sinc(X))
        out.append(torch.deg2rad(X * 90.0))
        out.append(torch.deg2rad(ti))
        out.append(torch.rad2deg(X))
        out.append(torch.copysign(X, Y))
        out.append(torch.copysign(X, -0.0))
        out.append(torch.copysign(X, 2))
        out.append(torch.copysign(xb, yb))
        out.append(torch.signbit(X))
        out.append(torch.signbit(ti))
        out.append(torch.signbit(xb))
        out.append(torch.isfinite(X))
        out.append(torch.isfinite(ti))
        out.append(torch.heaviside(X, Y))
        out.append(torch.heaviside(ti, tj))
        out.append(torch.fmax(X, Y))
        out.append(torch.fmin(X, Y))
        out.append(torch.fmax(ti, tj))
        out.append(torch.fmin(xb, yb))
        # Activations.
        out.append(F.logsigmoid(X))
        out.append(F.celu(X, 0.5))
        out.append(F.celu(X))
        out.append(F.hardshrink(X, 0.3))
        out.append(F.softshrink(X, 0.3))
        out.append(F.softshrink(X))
        out.append(F.threshold(X, 0.1, 2.0))
        out.append(F.threshold(xb, -0.5, 0.0))
        out.append(F.rrelu(X, 0.1, 0.3, False))
        # Interpolation and fused multiply-adds.
        out.append(torch.lerp(x, y, 0.3))
        out.append(torch.lerp(x, y, 0.7))
        out.append(torch.lerp(x, y, torch.sigmoid(y)))
        out.append(torch.addcmul(x, x, y, value=0.5))
        out.append(torch.addcmul(x, x, y))
        out.append(torch.addcdiv(x, x, y.abs() + 0.5, value=-2.0))
        # Closeness and counting.
        Z = X + 1e-4 * Y
        out.append(torch.isclose(X, Y))
        out.append(torch.isclose(X, Z))
        out.append(torch.isclose(X, Z, 1e-3, 1e-4, True))
        out.append(torch.isclose(X, X, equal_nan=True))
        out.append(torch.isclose(ti, tj, 0.0, 1.0))
        out.append(torch.count_nonzero(X, [1]))
        out.append(torch.count_nonzero(X))
        out.append(torch.count_nonzero(F.relu(x), 0))
        out.append(torch.count_nonzero(ti, [0, 1]))
        # Losses.
        yp = y.abs()
        sy = torch.sign(y)
        out.append(F.poisson_nll_loss(x, yp))
        out.append(F.poisson_nll_loss(torch.sigmoid(x), yp, log_input=False, reduction="sum"))
        out.append(F.poisson_nll_loss(x, yp, reduction="none", eps=1e-4))
        out.append(F.soft_margin_loss(x, sy))
        out.append(F.soft_margin_loss(x, sy, reduction="none"))
        out.append(F.margin_ranking_loss(x, y, sy, margin=0.1))
        out.append(F.margin_ranking_loss(x[0], y[0], sy[1], reduction="none"))
        out.append(F.hinge_embedding_loss(x, sy))
        out.append(F.hinge_embedding_loss(x, sy, margin=0.5, reduction="sum"))
        out.append(F.cosine_embedding_loss(x, y, sy[:, 0]))
        out.append(F.cosine_embedding_loss(x, y, sy[:, 1], margin=0.2, reduction="none"))
        out.append(F.cosine_embedding_loss(x[0], y[0], sy[0, 0], margin=-0.5))
        out.append(torch.xlogy(X, Y))
        out.append(torch.xlogy(X, 2.5))
        return out


# `which` picks a call: 0, poisson_nll_loss with full=True (refused once, lowered since); 1, rrelu
# in training mode, which torch2air refuses with an error naming the fix.
class OpsMathRefused(nn.Module):
    def forward(self, x, which: int):
        if which == 0:
            return F.poisson_nll_loss(x, x.abs(), full=True)
        return F.rrelu(x, 0.1, 0.3, True)


if __name__ == "__main__":
    torch.manual_seed(0)
    path = os.path.join(HERE, "ops", "math.pt")
    torch.jit.save(torch.jit.script(OpsMath()), path)
    print("wrote", os.path.relpath(path))
    path = os.path.join(HERE, "ops", "math_refused.pt")
    torch.jit.save(torch.jit.script(OpsMathRefused()), path)
    print("wrote", os.path.relpath(path))
