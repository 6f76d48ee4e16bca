"""Makes the multi-card TorchScript fixtures and their expected outputs from a real
torch.distributed run (gloo on CPU, one process per rank).

Run from the repository root with the project venv (./dev fixtures does this):
    python models/make_multicard.py
Writes models/multicard/. Deterministic: weights and inputs come from fixed seeds.

How to write a model with collectives that TorchScript takes (torch 2.13): `dist.all_reduce(x)`
and its in-place friends can be neither scripted nor traced. Use the functional collectives,
which script fine and give the same result:
    y = torch.ops._c10d_functional.all_reduce(x, "sum", "0")
    y = torch.ops._c10d_functional.wait_tensor(y)
"0" is the default (world) group's name; `dist.new_group(ranks)` groups are named "1", "2", ...
in creation order (torch2air: declare them with --group 1=0,1).
"""
import os
import sys
from typing import List

import numpy as np
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
import torch.nn as nn

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "multicard")
F = torch.ops._c10d_functional


def save_model(module, name):
    path = os.path.join(OUT, name)
    torch.jit.save(module, path)
    print("wrote", os.path.relpath(path))


def save_npy(a, name):
    path = os.path.join(OUT, name)
    np.save(path, a.detach().numpy() if isinstance(a, torch.Tensor) else a)


# --- The seed's multi-card example (TorchAir docs), in the form TorchScript takes: int32 (2, 2)
# inputs, parameters p1 and p2, one all_reduce over the world group.
class SeedMP(nn.Module):
    def __init__(self):
        super().__init__()
        self.p1 = nn.Parameter(torch.tensor([[1.1, 1.1], [1.1, 1.1]]))
        self.p2 = nn.Parameter(torch.tensor([[2.2, 2.2], [3.3, 3.3]]))

    def forward(self, x, y):
        x = x + y + self.p1 + self.p2
        x = F.wait_tensor(F.all_reduce(x, "sum", "0"))
        return x


# --- Every collective over the world group of n ranks (n is a forward argument, baked in).
class Collectives(nn.Module):
    def forward(self, x, n: int):
        s = F.wait_tensor(F.all_reduce(x, "sum", "0"))
        m = F.wait_tensor(F.all_reduce(x, "max", "0"))
        g = F.wait_tensor(F.all_gather_into_tensor(x, n, "0"))
        rs = F.wait_tensor(F.reduce_scatter_tensor(x, "sum", n, "0"))
        b = F.wait_tensor(F.broadcast(x * 2.0, 1, "0"))
        splits: List[int] = [x.size(0) // n for _ in range(n)]
        a = F.wait_tensor(F.all_to_all_single(x + 1.0, splits, splits, "0"))
        return s, m, g, rs, b, a


# --- all_to_all_single with uneven splits over 2 ranks (rank 0 sends 1 row to itself and 3 to
# rank 1; rank 1 sends 3 to rank 0 and 1 to itself): torch2air writes HcomAllToAllV.
class AllToAllV(nn.Module):
    def forward(self, x, rank: int):
        splits: List[int] = [1, 3] if rank == 0 else [3, 1]
        return F.wait_tensor(F.all_to_all_single(x * 10.0, splits, splits, "0"))


# --- An n-way tensor-parallel MLP: column-parallel fc1 (rank r holds rows r of W1 and b1),
# ReLU, row-parallel fc2 (columns r of W2), all_reduce, then the full bias b2.
class TPMLP(nn.Module):
    def __init__(self, w1, b1, w2, b2):
        super().__init__()
        self.fc1 = nn.Linear(w1.shape[1], w1.shape[0])
        self.fc2 = nn.Linear(w2.shape[1], w2.shape[0], bias=False)
        self.b2 = nn.Parameter(b2.clone())
        with torch.no_grad():
            self.fc1.weight.copy_(w1)
            self.fc1.bias.copy_(b1)
            self.fc2.weight.copy_(w2)

    def forward(self, x):
        h = torch.relu(self.fc1(x))
        y = F.wait_tensor(F.all_reduce(self.fc2(h), "sum", "0"))
        return y + self.b2


# --- Sub-groups of 4 ranks: the world, then {0,1} (torch names it "1") or {2,3} ("2").
class SubGroups(nn.Module):
    def forward(self, x, rank: int):
        y = F.wait_tensor(F.all_reduce(x, "sum", "0"))
        if rank < 2:
            z = F.wait_tensor(F.all_reduce(y * 2.0, "sum", "1"))
        else:
            z = F.wait_tensor(F.all_reduce(y * 3.0, "max", "2"))
        return z


# --- Two levels of modules with a layer list, for nn_module_stack.
class Layer(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(4, 4)

    def forward(self, x):
        return torch.relu(self.fc(x)) + 1.0


class Stacked(nn.Module):
    def __init__(self):
        super().__init__()
        self.layer = nn.ModuleList([Layer(), Layer()])

    def forward(self, x):
        for l in self.layer:
            x = l(x)
        return x * 2.0


def x_for(rank):
    g = torch.Generator().manual_seed(100 + rank)
    return torch.randn(4, 3, generator=g)


def full_mlp():
    g = torch.Generator().manual_seed(7)
    w1, b1 = torch.randn(16, 8, generator=g), torch.randn(16, generator=g)
    w2, b2 = torch.randn(6, 16, generator=g), torch.randn(6, generator=g)
    x = torch.randn(3, 8, generator=g)
    return w1, b1, w2, b2, x


def tp_model(n, rank):
    w1, b1, w2, b2, _ = full_mlp()
    k = 16 // n
    rows = slice(rank * k, (rank + 1) * k)
    return TPMLP(w1[rows], b1[rows], w2[:, rows], b2)


def worker(rank, n, port):
    """One rank of the real torch.distributed run: runs the scripted fixtures, saves outputs."""
    os.environ["MASTER_ADDR"] = "127.0.0.1"
    os.environ["MASTER_PORT"] = str(port)
    dist.init_process_group("gloo", rank=rank, world_size=n)
    with torch.no_grad():
        coll = torch.jit.load(os.path.join(OUT, "collectives.pt"))
        for i, o in enumerate(coll(x_for(rank), n)):
            save_npy(o, f"collectives_w{n}_rank{rank}_out{i}.npy")
        if n == 2:
            a2av = torch.jit.load(os.path.join(OUT, "all_to_all_v.pt"))
            save_npy(a2av(x_for(rank), rank), f"all_to_all_v_rank{rank}_out0.npy")
        tp = torch.jit.load(os.path.join(OUT, f"tp_mlp_w{n}_rank{rank}.pt"))
        _, _, _, _, x = full_mlp()
        save_npy(tp(x), f"tp_mlp_w{n}_rank{rank}_out0.npy")
        if n == 4:
            g1 = dist.new_group([0, 1])
            g2 = dist.new_group([2, 3])
            mine = g1 if rank < 2 else g2
            assert mine.group_name == ("1" if rank < 2 else "2"), mine.group_name
            sub = torch.jit.load(os.path.join(OUT, "subgroups.pt"))
            save_npy(sub(x_for(rank), rank), f"subgroups_rank{rank}_out0.npy")
    dist.barrier()
    dist.destroy_process_group()


def main():
    os.makedirs(OUT, exist_ok=True)
    torch.manual_seed(0)
    save_model(torch.jit.script(SeedMP()), "seed_mp.pt")
    save_model(torch.jit.script(Collectives()), "collectives.pt")
    save_model(torch.jit.script(SubGroups()), "subgroups.pt")
    save_model(torch.jit.script(AllToAllV()), "all_to_all_v.pt")
    stacked = Stacked().eval()
    save_model(torch.jit.script(stacked), "stacked_scripted.pt")
    save_model(torch.jit.trace(stacked, torch.randn(2, 4)), "stacked_traced.pt")
    for rank in range(4):
        save_npy(x_for(rank), f"x_rank{rank}.npy")
    w1, b1, w2, b2, x = full_mlp()
    save_npy(x, "tp_x.npy")
    for n in (2, 4):
        for rank in range(n):
            save_model(torch.jit.script(tp_model(n, rank)), f"tp_mlp_w{n}_rank{rank}.pt")
    for n, port in ((2, 29531), (4, 29532)):
        mp.spawn(worker, args=(n, port), nprocs=n, join=True)
        print(f"ran the gloo reference with {n} ranks")
    # The tensor-parallel outputs must equal the unsplit MLP.
    full = torch.relu(x @ w1.T + b1) @ w2.T + b2
    for n in (2, 4):
        for rank in range(n):
            got = np.load(os.path.join(OUT, f"tp_mlp_w{n}_rank{rank}_out0.npy"))
            assert np.allclose(got, full.numpy(), atol=1e-5), (n, rank)
    print("tensor-parallel outputs equal the full MLP")


if __name__ == "__main__":
    sys.exit(main())
