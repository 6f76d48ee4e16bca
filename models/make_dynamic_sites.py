"""Makes the fixtures of issue 10 item 4's last refusal sites: rules that refused a dynamic dim
and now compute what they need from Shape in the graph (tests/dynamic_breadth.rs exports each
with every dim dynamic and runs it at other sizes against TorchScript).

Run from the repository root with the project venv (./dev fixtures does this):
    python models/make_dynamic_sites.py
Writes models/dynamic/sites/.
"""
import os
import warnings

import torch
import torch.nn as nn
import torch.nn.functional as F

HERE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "dynamic", "sites")

warnings.filterwarnings("ignore")


def save(module, name):
    path = os.path.join(HERE, name)
    torch.jit.save(module, path)
    print("wrote", os.path.relpath(path))


class IndexPut(nn.Module):
    """x[i[:, None], j] = values with index tensors of different dynamic shapes [P, 1] and [Q]
    (broadcast to [P, Q] in the graph), written and accumulated."""

    def forward(self, x, i, j, v):
        y = x.clone()
        y[i.unsqueeze(1), j] = 2.0
        z = x.index_put((i.unsqueeze(1), j), v[: i.size(0)].unsqueeze(1), accumulate=True)
        return y, z


class MaskedScatter(nn.Module):
    """masked_scatter where neither self [B, 1, C] nor the mask [T, C] has the result's shape
    [B, T, C]: both broadcast to a shape computed in the graph."""

    def forward(self, x, m, src):
        return x.masked_scatter(m > 0, src)


class ViewCopy(nn.Module):
    """view_copy (functionalization's copy of view) to a shape with two dynamic dims."""

    def forward(self, x):
        return torch.view_copy(x, [x.size(0) * x.size(1), x.size(2), -1]) * 2.0


class Resize(nn.Module):
    """Resizes by non-integer scale factors on dynamic sizes: PyTorch's floor(in * scale) and
    its own source indices, computed in the graph."""

    def forward(self, x):
        a = F.interpolate(x, scale_factor=1.5, mode="nearest")
        b = F.interpolate(x, scale_factor=(1.7, 0.6), mode="bilinear", align_corners=False)
        c = F.interpolate(x, scale_factor=2.5, mode="bilinear", align_corners=True)
        d = F.interpolate(x, scale_factor=0.6, mode="nearest-exact")
        e = F.interpolate(x.flatten(2), scale_factor=1.3, mode="linear")
        f = F.interpolate(x.unsqueeze(2), scale_factor=(1.0, 1.5, 2.0), mode="trilinear")
        g = F.interpolate(x.unsqueeze(2), scale_factor=(1.0, 0.7, 1.2), mode="nearest")
        h = F.interpolate(x, size=(x.size(2) + 3, x.size(3) * 2 - 1), mode="nearest-exact")
        # The 2-D nearest kernel copies where out == in and halves where out == 2 * in.
        i = F.interpolate(x, scale_factor=(2.2, 1.2), mode="nearest")
        return a, b, c, d, e, f, g, h, i


class Gqa(nn.Module):
    """scaled_dot_product_attention with enable_gqa and a dynamic number of heads: the repeat
    factor q_heads / kv_heads comes from Shape."""

    def forward(self, q, k, v):
        return (F.scaled_dot_product_attention(q, k, v, enable_gqa=True),
                F.scaled_dot_product_attention(q, k, v, is_causal=True, enable_gqa=True))


class Shuffles(nn.Module):
    """pixel_unshuffle, pixel_shuffle and channel_shuffle with dynamic channels (divided and
    multiplied in the graph), and r = 1 (nothing)."""

    def forward(self, x):
        u = F.pixel_unshuffle(x, 2)
        s = F.pixel_shuffle(u, 2)
        w = F.pixel_shuffle(x.repeat(1, 4, 1, 1), 2)
        c = F.channel_shuffle(x.repeat(1, 2, 1, 1), 2)
        return u, s * 2.0, w, c, F.pixel_shuffle(x, 1) + 1.0, F.pixel_unshuffle(x, 1) - 1.0


class ConvTranspose3d(nn.Module):
    """A small ConvTranspose3d: its dynamic export's far probe stays small."""

    def __init__(self):
        super().__init__()
        self.conv = nn.ConvTranspose3d(2, 3, 3, stride=2, padding=1)

    def forward(self, x):
        return self.conv(x)


def main():
    os.makedirs(HERE, exist_ok=True)
    save(torch.jit.script(IndexPut()), "index_put.pt")
    save(torch.jit.script(MaskedScatter()), "masked_scatter.pt")
    save(torch.jit.script(ViewCopy()), "view_copy.pt")
    save(torch.jit.script(Resize()), "resize.pt")
    save(torch.jit.script(Gqa()), "gqa.pt")
    save(torch.jit.script(Shuffles()), "shuffles.pt")
    torch.manual_seed(9)
    save(torch.jit.script(ConvTranspose3d().eval()), "conv_transpose3d.pt")


if __name__ == "__main__":
    main()
