"""Makes the fixtures of torch2air's regression tests for issue-sized bugs (tests/regress.rs).

Run from the repository root with the project venv (./dev fixtures does this):
    python models/make_regress.py

regress/chunk_neg{3,4,2}.pt   traced `x.chunk(n, dim=-1)` (q, k, v splits): loading them with libtorch's
                              restore_shapes path corrupted the heap.
regress/dropout_train.pt      F.dropout / dropout2d / dropout3d with p=1.0, training=True: all zeros.
regress/dropout_half.pt       F.dropout(p=0.5, training=True): random, must be refused.
regress/zero_d.pt             index_select and prod/sum over dim 0 of 0-d tensors.
regress/guarded_loop.pt       `for t in range(x.size(1))`: a loop count that depends on a dim.
regress/odd_names.pt          parameters named '/tmp/torch2air_pwned/PWNED', ' x/y', 'a_b' next to a
                              submodule parameter 'a.b': weight files must stay plain names in the
                              export folder and distinct.
regress/refusals.pt           two refused attribute combinations and one op without a rule in one
                              forward: every one must be listed at once.
"""
import os

import torch
import torch.nn.functional as F

HERE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "regress")


class Chunk(torch.nn.Module):
    def __init__(self, n):
        super().__init__()
        self.n = n

    def forward(self, x):
        parts = x.chunk(self.n, dim=-1)
        return tuple(p * (i + 1) for i, p in enumerate(parts))


class DropoutTrain(torch.nn.Module):
    def forward(self, x):
        a = F.dropout(x, p=1.0, training=True)
        b = F.dropout2d(x.unsqueeze(0), 1.0, True)
        c = F.dropout3d(x.unsqueeze(0).unsqueeze(0), 1.0, True)
        return a, b, c, F.dropout(x, 0.0, True) + 1


class DropoutHalf(torch.nn.Module):
    def forward(self, x):
        return F.dropout(x, p=0.5, training=True)


class ZeroD(torch.nn.Module):
    def forward(self, x, i):
        return (
            torch.index_select(x, 0, i),
            torch.prod(x, 0),
            torch.prod(x, -1, keepdim=True),
            torch.sum(x, 0),
            torch.amax(x, 0),
        )


class GuardedLoop(torch.nn.Module):
    def forward(self, x):
        for t in range(x.size(1)):
            x = x + t
        return x


class Refusals(torch.nn.Module):
    def forward(self, x):
        a = F.dropout(x, 0.5, True)
        b = F.dropout(x * 2, 0.25, True)
        c = torch.bincount(x.long().abs().flatten())
        return a, b, c


class OddNames(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.a = torch.nn.Module()
        self.a.b = torch.nn.Parameter(torch.full((2, 3), 1.0))
        self.a_b = torch.nn.Parameter(torch.full((2, 3), 100.0))
        self.register_parameter("/tmp/torch2air_pwned/PWNED", torch.nn.Parameter(torch.full((2, 3), 7.0)))
        self.register_parameter(" x/y", torch.nn.Parameter(torch.full((2, 3), 3.0)))

    def forward(self, x):
        return (
            x * self.a.b
            + self.a_b
            + getattr(self, "/tmp/torch2air_pwned/PWNED") * 2
            + getattr(self, " x/y") * 5
        )


class ScalarsAndPads(torch.nn.Module):
    """What TorchAir writes leaner: a Python float added to an f32 tensor (a trace keeps it as an
    f64 tensor: one Const of f32, no Cast), and an F.pad of zero widths (no node)."""

    def forward(self, x):
        return F.pad(x, [0, 0, 0, 0]) * 0.5 + 1e-6


def main():
    torch.manual_seed(0)
    os.makedirs(HERE, exist_ok=True)
    for n, shape in [(3, (2, 6)), (4, (2, 8)), (2, (4, 4))]:
        torch.jit.trace(Chunk(n), torch.randn(*shape)).save(os.path.join(HERE, f"chunk_neg{n}.pt"))
    torch.jit.script(DropoutTrain()).save(os.path.join(HERE, "dropout_train.pt"))
    torch.jit.script(DropoutHalf()).save(os.path.join(HERE, "dropout_half.pt"))
    torch.jit.script(ZeroD()).save(os.path.join(HERE, "zero_d.pt"))
    torch.jit.script(GuardedLoop()).save(os.path.join(HERE, "guarded_loop.pt"))
    torch.jit.trace(OddNames(), torch.randn(2, 3)).save(os.path.join(HERE, "odd_names.pt"))
    torch.jit.script(Refusals()).save(os.path.join(HERE, "refusals.pt"))
    torch.jit.trace(ScalarsAndPads(), torch.randn(2, 3, 4)).save(os.path.join(HERE, "scalars_pads.pt"))
    print("wrote", os.path.relpath(HERE))


if __name__ == "__main__":
    main()
