"""Makes the TorchScript fixtures torch2air's tests and README use.

Run from the repository root with the project venv (./dev fixtures does this):
    python models/make_fixtures.py
Deterministic: every weight comes from a fixed seed, so re-running rewrites identical models
(up to torch.jit.save's archive layout).
"""
import os

import torch
import torch.nn as nn
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))


def save(module, name):
    path = os.path.join(HERE, name)
    torch.jit.save(module, path)
    print("wrote", os.path.relpath(path))


# --- The seed's single-card example (TorchAir docs): p1, p2 of shape (2, 4); x + y + p1 + p2.
class SeedSingle(nn.Module):
    def __init__(self):
        super().__init__()
        self.p1 = nn.Parameter(torch.randn(2, 4))
        self.p2 = nn.Parameter(torch.randn(2, 4))

    def forward(self, x, y):
        return x + y + self.p1 + self.p2


# --- TorchAir's doc example: two Linear(2, 2), ones-initialised; linear1(x) + linear2(y).
class DocLinear(nn.Module):
    def __init__(self):
        super().__init__()
        self.linear1 = nn.Linear(2, 2)
        self.linear2 = nn.Linear(2, 2)
        for p in self.parameters():
            nn.init.ones_(p)

    def forward(self, x, y):
        return self.linear1(x) + self.linear2(y)


# --- An MLP with LayerNorm, GELU and softmax.
class MLP(nn.Module):
    def __init__(self, d_in=16, d_hidden=32, d_out=8):
        super().__init__()
        self.fc1 = nn.Linear(d_in, d_hidden)
        self.norm = nn.LayerNorm(d_hidden)
        self.fc2 = nn.Linear(d_hidden, d_out)

    def forward(self, x):
        h = F.gelu(self.norm(self.fc1(x)))
        return torch.softmax(self.fc2(h), dim=-1)


# --- A scripted module with `if flag:` and `if x.size(0) > 1:` branches.
class Branchy(nn.Module):
    def __init__(self):
        super().__init__()
        self.scale = nn.Parameter(torch.full((4,), 2.0))

    def forward(self, x, flag: bool):
        if flag:
            y = torch.relu(x) * self.scale
        else:
            y = torch.tanh(x) - self.scale
        if x.size(0) > 1:
            y = y + y.mean(dim=0, keepdim=True)
        return y


# --- One small module per lowered op family, to check every rule against TorchScript.
class OpsElementwise(nn.Module):
    def forward(self, a, b):
        out = []
        out.append(a + b)
        out.append(torch.add(a, b, alpha=2.5))
        out.append(a + 1.5)
        out.append(a - b)
        out.append(torch.sub(a, b, alpha=0.5))
        out.append(2.0 - a)
        out.append(a * b)
        out.append(a * 3)
        out.append(a / (b.abs() + 1.0))
        out.append(a / 4)
        out.append(torch.div(a, b.abs() + 1.0, rounding_mode="floor"))
        out.append(torch.div(a, b.abs() + 1.0, rounding_mode="trunc"))
        out.append(-a)
        out.append(torch.relu(a))
        out.append(F.gelu(a))
        out.append(F.gelu(a, approximate="tanh"))
        out.append(torch.sigmoid(a))
        out.append(torch.tanh(a))
        out.append(F.silu(a))
        out.append(torch.pow(a, 2))
        out.append(torch.pow(a.abs() + 0.1, b))
        out.append(torch.sqrt(a.abs()))
        out.append(torch.rsqrt(a.abs() + 0.5))
        out.append(torch.exp(a))
        out.append(torch.log(a.abs() + 1.0))
        out.append(torch.erf(a))
        return out


class OpsInt(nn.Module):
    def forward(self, i, f):
        return i + 2, i * i, i.to(torch.float32) + f, (i / 2), f.to(torch.int64), i.sum(dim=1), f.to(torch.float64) * 2


class OpsShape(nn.Module):
    def forward(self, x, y):
        out = []
        out.append(x.transpose(0, 2))
        out.append(x.permute(2, 0, 1))
        out.append(x.view(6, 4))
        out.append(x.reshape(-1))
        out.append(torch.flatten(x, 1))
        out.append(x.unsqueeze(1))
        out.append(x.unsqueeze(-1))
        out.append(x[:, :1, :].squeeze(1))
        out.append(x.unsqueeze(0).squeeze())
        out.append(x.transpose(1, 2).contiguous())
        out.append(torch.cat([x, y], dim=1))
        out.append(torch.cat([x, y, x], dim=-2))
        out.append(x.to(torch.float16))
        out.append(x.mean(dim=[1, 2]))
        out.append(x.sum(dim=-1, keepdim=True))
        out.append(x.mean(1))
        out.append(x.sum())
        out.append(x[0].t())
        return out


class OpsNN(nn.Module):
    def __init__(self):
        super().__init__()
        self.emb = nn.Embedding(10, 6)
        self.lin = nn.Linear(6, 5)
        self.lin_nobias = nn.Linear(6, 3, bias=False)
        self.ln = nn.LayerNorm(6)
        self.ln_noaffine = nn.LayerNorm([4, 6], elementwise_affine=False)
        self.w = nn.Parameter(torch.randn(6, 6))
        self.bias = nn.Parameter(torch.randn(6))

    def forward(self, ids, x, m):
        out = []
        e = self.emb(ids)  # [2, 4, 6]
        out.append(e)
        out.append(self.lin(e))
        out.append(self.lin(x[0, 0]))  # 1-D linear
        out.append(self.lin_nobias(x))
        out.append(self.ln(e))
        out.append(self.ln_noaffine(e))
        out.append(torch.matmul(e, self.w))
        out.append(torch.matmul(m, m.t()))
        out.append(torch.matmul(x[0, 0], self.w))
        out.append(torch.matmul(self.w, x[0, 0]))
        out.append(torch.matmul(x[0, 0], x[0, 1]))
        out.append(torch.mm(m, m.t()))
        out.append(torch.addmm(self.bias, m, self.w))
        out.append(torch.addmm(self.bias, m, self.w, beta=0.5, alpha=2.0))
        out.append(torch.bmm(e, e.transpose(1, 2)))
        out.append(torch.softmax(e, dim=1))
        out.append(F.log_softmax(e, dim=-1))
        out.append(F.dropout(e, p=0.5, training=self.training))
        return out


# --- Uses ops torch2air does not lower (for the unsupported-op report).
class Unsupported(nn.Module):
    def forward(self, x):
        a = torch.linalg.matrix_exp(x)
        b = torch.linalg.matrix_exp(x * 2.0)
        c = torch.bincount(x[0, 0].long().abs()).sum()
        return a + b + c


# --- Writes into views of a tensor it reads afterwards: torch2air writes them back into it.
class InplaceView(nn.Module):
    def forward(self, x, y):
        z = x.clone()
        z[:, 1] = y
        z[1:, ::2] += 1.0
        w = z.t()
        w[0].mul_(3.0)
        return torch.relu_(z * 2.0), w


# --- Ops the fixtures above do not reach: inverse and hyperbolic math, bitwise, the private
# softmax forms, explicit convolution/padding ops, view_as/reshape_as, the unsafe and sized splits.
class OpsMore(nn.Module):
    def __init__(self):
        super().__init__()
        self.w = nn.Parameter(torch.randn(4, 3, 3, 3) * 0.3)
        self.b = nn.Parameter(torch.randn(4))
        self.drop = nn.Dropout2d(0.5)

    def forward(self, x, i, j):
        out = []
        out.append(torch._weight_norm(self.w, self.b.reshape(4, 1, 1, 1), 0))
        out.append(torch._weight_norm(self.w, self.b[0], -1))
        u = torch.tanh(x) * 0.9
        out.append(torch.acos(u))
        out.append(torch.asin(u))
        out.append(torch.atanh(u))
        out.append(torch.acosh(x.abs() + 1.0))
        out.append(torch.asinh(x))
        out.append(torch.cosh(x))
        out.append(torch.sinh(x))
        out.append(torch._softmax(x, 1, False))
        out.append(torch._log_softmax(x, -1, False))
        out.append(torch.bitwise_and(i, j))
        out.append(torch.bitwise_or(i, j))
        out.append(torch.bitwise_xor(i, j))
        out.append(torch.bitwise_and(i > 0, j > 0))
        out.append(torch.constant_pad_nd(x, [1, 2, 0, 1], 0.5))
        out.append(torch.convolution(x, self.w, self.b, [1, 2], [1, 0], [1, 1], False, [0, 0], 1))
        out.append(x.detach() * 3.0)
        out.append(self.drop(x))
        out.append(torch.isinf(x / (x > 0).to(torch.float32)))
        out.append(torch._C._nn.reflection_pad2d(x, [1, 2, 2, 1]))
        out.append(torch._C._nn.reflection_pad1d(x[0], [2, 1]))
        out.append(torch._C._nn.replication_pad2d(x, [2, 1, 1, 2]))
        out.append(torch._C._nn.replication_pad1d(x[0], [1, 3]))
        out.append(x.reshape_as(x.reshape(6, 30)))
        out.append(x.view_as(x.reshape(2, 90)))
        out.append(torch.rsub(x, 1.5, alpha=2.0))
        out.append(1.0 - x)
        out.extend(x.split_with_sizes([2, 4], 3))
        out.extend(x.unbind(1))
        out.append(x.unflatten(3, [2, 3]))
        out.extend(torch.unsafe_chunk(x, 2, 2))
        out.extend(torch.unsafe_split(x, 2, 3))
        return out


# --- Attention rows whose every key is masked: PyTorch gives zeros there (its safe softmax).
class SdpaMasked(nn.Module):
    def forward(self, q, k, v, keep):
        l, s = q.size(-2), k.size(-2)
        rows = torch.ones(l, s, dtype=torch.bool)
        rows[0] = False
        a = F.scaled_dot_product_attention(q, k, v, attn_mask=rows & keep)
        fm = torch.zeros(l, s)
        fm[1] = float("-inf")
        b = F.scaled_dot_product_attention(q, k, v, attn_mask=fm)
        return a, b

# --- More in-place writes: into a constant after it was used, fill_/zero_ of computed tensors.
class InplaceMore(nn.Module):
    def forward(self, x, s):
        c = torch.zeros(3)
        y = x + c
        c[0] = 5.0
        z = x.clone()
        z[0].fill_(2.5)
        w = (x * 2.0).zero_()
        v = x.clone().fill_(s)
        return y, x * c, z, w + 1.0, v


# --- Writes into a module buffer in forward: refused (weights are exported as their values before
# forward).
class BufferWrite(nn.Module):
    def __init__(self):
        super().__init__()
        self.register_buffer("count", torch.zeros(3))

    def forward(self, x):
        y = x + self.count
        self.count.add_(1.0)
        return y + self.count

from typing import Dict, List, Optional  # noqa: E402 (here, so the fixtures above keep their line numbers)


# --- Trailing arguments with defaults (None, float, bool, str), which --input may leave out.
class OptionalArgs(nn.Module):
    def forward(self, x, m: Optional[torch.Tensor] = None, scale: float = 2.0, relu: bool = True, act: str = "id"):
        if m is not None:
            x = x * m
        x = x * scale
        if relu:
            x = torch.relu(x)
        if act == "tanh":
            x = torch.tanh(x)
        return x


# --- A List[Tensor] argument, which no --input SPEC gives (refused with the fix).
class ListArg(nn.Module):
    def forward(self, xs: List[torch.Tensor]):
        return torch.stack(xs).sum(0)

# --- Dicts: built, updated, iterated and returned (the graph outputs the values in order).
class DictOut(nn.Module):
    def forward(self, x) -> Dict[str, torch.Tensor]:
        d: Dict[str, torch.Tensor] = {"logits": x * 2, "probs": torch.softmax(x, -1)}
        d["extra"] = x + 1
        d["logits"] = d["logits"] - 1
        out: Dict[str, torch.Tensor] = {}
        for k, v in d.items():
            if k != "extra":
                out[k] = v * float(len(d))
        if "probs" in out:
            out["sum"] = out["probs"].sum(-1)
        out["n"] = torch.tensor(float(len(list(out.keys()))))
        return out

# --- Norms, variances and other ops of common model code (F.normalize, torch.roll in shifted
# windows, pixel_shuffle in upsamplers, one_hot, glu, cosine_similarity, nan_to_num).
class OpsCommon(nn.Module):
    def forward(self, x, ids):
        out = []
        out.append(F.normalize(x, dim=-1))
        out.append(torch.norm(x, dim=1, keepdim=True))
        out.append(torch.linalg.vector_norm(x, ord=1.5, dim=[0, 2]))
        out.append(torch.linalg.vector_norm(x))
        out.append(torch.var(x, -1))
        out.append(torch.var(x, [0, 1], unbiased=False, keepdim=True))
        out.append(torch.std(x, 1))
        out.append(torch.std(x, dim=2, correction=0))
        out.append(torch.logsumexp(x, -1))
        out.append(torch.logsumexp(x, [0, 2], keepdim=True))
        out.append(torch.roll(x, 2, 1))
        out.append(torch.roll(x, (-1, 3), (0, 2)))
        out.append(torch.roll(x, 5))
        out.append(F.pixel_shuffle(x.reshape(2, 8, 3, 4), 2))
        a, b = torch.broadcast_tensors(x[:, :1], ids[0].to(torch.float32)[:1].reshape(1, 1, 1))
        out.append(a)
        out.append(b)
        out.append(torch.outer(x[0, 0], x[1, 1]))
        out.append(F.one_hot(ids, 7))
        out.append(F.glu(x, -1))
        out.append(F.cosine_similarity(x, x.flip(0), dim=-1))
        out.append(F.cosine_similarity(x, x * 0.0, dim=1))
        out.append(torch.nan_to_num(x / (x > 0).to(torch.float32)))
        out.append(torch.nan_to_num(torch.log(x), nan=0.5, posinf=9.0, neginf=-9.0))
        return out

# --- A frozen module (torch.jit.freeze): its weights are tensor constants of the graph.
class FrozenMLP(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1 = nn.Linear(64, 128)
        self.fc2 = nn.Linear(128, 4)

    def forward(self, x):
        return self.fc2(F.gelu(self.fc1(x)))


# --- Loss functions, as in a model that returns its loss (class-index cross entropy with and
# without weights and ignored targets, N-D NLL, BCE, KL, MSE/L1/smooth L1/Huber; a bf16 loss).
class OpsLoss(nn.Module):
    def __init__(self):
        super().__init__()
        self.register_buffer("w", torch.rand(5) + 0.5)

    def forward(self, x, y, t):
        out: List[torch.Tensor] = []
        p, q = torch.sigmoid(x), torch.sigmoid(y)
        t2 = torch.where(t == t[0], -100, t)  # at least one ignored target
        out.append(F.mse_loss(x, y))
        out.append(F.mse_loss(x, y, reduction="none"))
        out.append(F.l1_loss(x, y, reduction="sum"))
        out.append(F.smooth_l1_loss(x, y))
        out.append(F.smooth_l1_loss(x, y, beta=0.25, reduction="none"))
        out.append(F.smooth_l1_loss(x, y, beta=0.0))
        out.append(F.huber_loss(x, y, delta=0.5))
        out.append(F.binary_cross_entropy(p, q))
        out.append(F.binary_cross_entropy(p, q, weight=self.w, reduction="sum"))
        out.append(F.binary_cross_entropy_with_logits(x, q, pos_weight=self.w))
        out.append(F.binary_cross_entropy_with_logits(x, q, weight=self.w, reduction="none"))
        out.append(F.kl_div(F.log_softmax(x, -1), F.softmax(y, -1), reduction="batchmean"))
        out.append(F.kl_div(F.log_softmax(x, -1), F.log_softmax(y, -1), reduction="sum", log_target=True))
        out.append(F.cross_entropy(x, t))
        out.append(F.cross_entropy(x, t2, weight=self.w))
        out.append(F.cross_entropy(x, t2, reduction="none"))
        out.append(F.cross_entropy(x, t2, weight=self.w, reduction="sum"))
        out.append(F.cross_entropy(x, t, ignore_index=2))
        out.append(F.cross_entropy(x[0], t[0]))
        x3, t3 = x.reshape(2, 3, 5).transpose(1, 2), t.reshape(2, 3)
        out.append(F.nll_loss(F.log_softmax(x3, 1), t3))
        out.append(F.nll_loss(F.log_softmax(x3, 1), t3, reduction="none"))
        out.append(F.smooth_l1_loss(x.to(torch.bfloat16), y.to(torch.bfloat16)))
        out.append(F.cross_entropy(x, t2, label_smoothing=0.1))
        out.append(F.cross_entropy(x, t2, weight=self.w, label_smoothing=0.2))
        out.append(F.cross_entropy(x, t2, weight=self.w, reduction="sum", label_smoothing=0.3))
        out.append(F.cross_entropy(x3, t3, weight=self.w, reduction="none", label_smoothing=0.1))
        out.append(F.cross_entropy(x[1], t[1], label_smoothing=0.05))
        return out

# --- Sliding-window blocks (F.unfold, F.fold) and sorted-sequence search (bucketize,
# searchsorted), with float and integer values.
class OpsBlocks(nn.Module):
    def __init__(self):
        super().__init__()
        self.register_buffer("edges", torch.tensor([-1.0, -0.2, 0.0, 0.5, 1.5]))
        self.register_buffer("ticks", torch.tensor([2, 5, 5, 9, 15]))

    def forward(self, img, v, ids):
        out: List[torch.Tensor] = []
        out.append(F.unfold(img, 3))
        out.append(F.unfold(img, (2, 3), dilation=(2, 1), padding=1, stride=(2, 2)))
        out.append(F.unfold(img[0], 2))
        cols = F.unfold(img, 3, padding=1)
        out.append(F.fold(cols, (7, 8), 3, padding=1))
        out.append(F.fold(F.unfold(img, 2, stride=2), (6, 8), 2, stride=2))
        out.append(F.fold(cols[1], (7, 8), 3, padding=1))
        out.append(torch.bucketize(v, self.edges))
        out.append(torch.bucketize(v, self.edges, right=True, out_int32=True))
        out.append(torch.bucketize(ids, self.ticks))
        out.append(torch.bucketize(ids, self.ticks, right=True))
        out.append(torch.searchsorted(self.edges, v))
        out.append(torch.searchsorted(self.ticks, ids, side="right"))
        seq = torch.sort(v, -1)[0]
        out.append(torch.searchsorted(seq, v * 0.7))
        out.append(torch.searchsorted(seq, v[:, :2].contiguous(), right=True))
        out.append(torch.bucketize(torch.log(v), self.edges))  # NaN for v < 0: placed last
        return out


def main():
    torch.manual_seed(0)
    save(torch.jit.script(SeedSingle()), "seed_single.pt")

    doc = DocLinear().eval()
    example = (torch.randn(2, 2), torch.randn(2, 2))
    # torch.jit.trace stores example inputs with the module when asked to.
    save(torch.jit.trace(doc, example, _store_inputs=True), "doc_linear.pt")

    torch.manual_seed(1)
    mlp = MLP().eval()
    save(torch.jit.script(mlp), "mlp.pt")
    save(torch.jit.script(_copy(mlp).half()), "mlp_f16.pt")
    save(torch.jit.script(_copy(mlp).to(torch.bfloat16)), "mlp_bf16.pt")

    torch.manual_seed(2)
    save(torch.jit.script(Branchy().eval()), "branchy.pt")

    torch.manual_seed(3)
    os.makedirs(os.path.join(HERE, "ops"), exist_ok=True)
    save(torch.jit.script(OpsElementwise()), "ops/elementwise.pt")
    save(torch.jit.script(OpsInt()), "ops/int.pt")
    save(torch.jit.script(OpsShape()), "ops/shape.pt")
    save(torch.jit.script(OpsNN().eval()), "ops/nn.pt")
    save(torch.jit.script(OpsMore().eval()), "ops/more.pt")
    save(torch.jit.script(SdpaMasked()), "ops/sdpa_masked.pt")
    save(torch.jit.script(InplaceMore()), "inplace_more.pt")
    save(torch.jit.script(BufferWrite()), "buffer_write.pt")
    save(torch.jit.script(OptionalArgs()), "optional_args.pt")
    save(torch.jit.script(ListArg()), "list_arg.pt")
    save(torch.jit.script(DictOut()), "dict_out.pt")
    save(torch.jit.script(OpsCommon()), "ops/common.pt")
    save(torch.jit.script(OpsLoss()), "ops/loss.pt")
    save(torch.jit.script(OpsBlocks()), "ops/blocks.pt")
    save(torch.jit.freeze(torch.jit.script(FrozenMLP().eval())), "frozen_mlp.pt")
    save(torch.jit.script(Unsupported()), "unsupported.pt")
    save(torch.jit.script(InplaceView()), "inplace_view.pt")


def _copy(m):
    import copy

    return copy.deepcopy(m)


if __name__ == "__main__":
    main()
