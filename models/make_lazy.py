"""Fixtures of the lazy weights mode (--weights lazy, issue 15 item 3): tensors stored in the
ways the archive index must read (views with an offset into a larger storage, a transposed
buffer, a tied parameter, bf16 and f16, a 0-d buffer whose value forward reads), and a model
that needs a value the lazy walk cannot give (a branch on a tensor computed from a weight).

    python models/make_lazy.py      writes models/lazy/*.pt
"""
import os

import torch

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "lazy")


class Views(torch.nn.Module):
    def __init__(self):
        super().__init__()
        g = torch.Generator().manual_seed(0)
        self.w = torch.nn.Parameter(torch.randn(8, 16, generator=g))
        # The same parameter under a second name (tied weights).
        self.w_tied = self.w
        # A transposed (non-contiguous) buffer.
        self.register_buffer("wt", torch.randn(16, 12, generator=g).t())
        # A parameter that is a view at an offset into a larger storage.
        base = torch.randn(40, generator=g)
        self.a = torch.nn.Parameter(base[8:24].view(4, 4))
        # A strided view of every other column (non-contiguous, offset 1).
        grid = torch.randn(12, 10, generator=g)
        self.register_buffer("cols", grid[:, 1::2])
        self.register_buffer("bf16", torch.randn(8, generator=g).to(torch.bfloat16))
        self.register_buffer("f16", torch.randn(12, generator=g).to(torch.float16))
        # A 0-d buffer whose value forward reads (.item()): the lazy walk loads it.
        self.register_buffer("scale", torch.tensor(0.5))

    def forward(self, x):
        s = float(self.scale.item())
        y = x @ self.w.t() + self.bf16.float()
        z = x @ self.wt.t() + self.f16.float()
        u = (y[:, :4] @ self.a) * s
        v = self.cols.sum(0)[:4] + y[:, 4:] @ self.w_tied[:4, :4]
        return y, z, u, v


class NeedsValues(torch.nn.Module):
    def __init__(self):
        super().__init__()
        g = torch.Generator().manual_seed(1)
        self.w = torch.nn.Parameter(torch.randn(8, 16, generator=g))

    def forward(self, x):
        y = x @ self.w.t()
        if bool(y.sum() > 0):
            return y * 2
        return y


def main():
    os.makedirs(OUT, exist_ok=True)
    torch.jit.save(torch.jit.script(Views().eval()), os.path.join(OUT, "views.pt"))
    torch.jit.save(torch.jit.script(NeedsValues().eval()), os.path.join(OUT, "needs_values.pt"))
    print("wrote", OUT)


if __name__ == "__main__":
    main()
