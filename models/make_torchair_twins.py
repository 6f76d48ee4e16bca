"""Makes the twins of TorchAir's single-op graphs (tests/torchair_graphs/ops/): the same PyTorch
module each graph was exported from, rebuilt from the source column of
tests/torchair_graphs/README.md and traced on the case's own inputs (in_<k>.npy), so that
torch2air's export of it can be run on those inputs against eager PyTorch's expected outputs and
its graph compared node for node with TorchAir's.

    python models/make_torchair_twins.py        (./dev fixtures runs it)
Writes tests/torchair_graphs/twins/<case>.pt.
"""
import os
import re

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "torchair_graphs")
OUT = os.path.join(ROOT, "twins")


class Twin(nn.Module):
    def __init__(self, fn, **mods):
        super().__init__()
        self.fn = fn
        for k, v in mods.items():
            setattr(self, k, v)

    def forward(self, *args):
        return self.fn(self, *args)


def main():
    os.makedirs(OUT, exist_ok=True)
    readme = open(os.path.join(ROOT, "README.md")).read()
    g = torch.Generator().manual_seed(0)
    env = dict(torch=torch, nn=nn, F=F, g=g, r=lambda *s: torch.randn(*s, generator=g), mk=Twin)
    for name, src in re.findall(r"^\| `(\w+)` \| [^|]* \| `(.*)` \|$", readme, re.M):
        case = os.path.join(ROOT, "ops", name)
        if not os.path.isdir(case):
            continue
        module, _ = eval("(mk(" + src, env)
        module.eval()
        ins = []
        k = 0
        while os.path.exists(os.path.join(case, f"in_{k}.npy")):
            ins.append(torch.from_numpy(np.load(os.path.join(case, f"in_{k}.npy"))))
            k += 1
        with torch.no_grad():
            traced = torch.jit.trace(module, tuple(ins), check_trace=False)
        path = os.path.join(OUT, f"{name}.pt")
        torch.jit.save(traced, path)
        print("wrote", os.path.relpath(path))


if __name__ == "__main__":
    main()
