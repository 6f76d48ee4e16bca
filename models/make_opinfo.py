"""Generates the OpInfo cases: PyTorch's own operator test database (op_db), float32 samples.

    python models/make_opinfo.py OUT_DIR [--samples N] [--only SUBSTR[,SUBSTR...]]

For each OpInfo entry of the installed torch, the first N float32 CPU samples are traced into a
small module whose forward takes the sample's tensor leaves (in the order they appear in
input, args, kwargs) and calls the op with every non-tensor argument baked in. Each case is
written to OUT_DIR/cases/<case id>/ as model.pt plus in0.npy, in1.npy, ... and listed in
OUT_DIR/index.json with the entries that were skipped and why (random, uninitialized memory,
sparse, complex-only, CUDA-only, no float32). A case the trace cannot make is listed with the reason (not run).
One process: the machine has few cores.
"""
import json
import os
import re
import sys
import warnings

import numpy as np
import torch
from torch.utils import _pytree as pytree

warnings.filterwarnings("ignore")
torch.set_num_threads(1)

OUT_OF_SCOPE = ("linalg.", "special.", "fft.")
OUT_OF_SCOPE_NAMES = ("stft", "istft")


def entry_id(op):
    return op.name + ("." + op.variant_test_name if op.variant_test_name else "")


def in_scope(op):
    return not (op.name.startswith(OUT_OF_SCOPE) or op.name in OUT_OF_SCOPE_NAMES)


def skip_reason(op):
    """Why an entry is not run at all, or None."""
    name = op.name
    if "sparse" in name or name.startswith("to_sparse"):
        return "sparse"
    if "jiterator" in name:
        return "CUDA-only"
    if "empty" in name:
        return "uninitialized memory"
    cpu = op.supported_dtypes("cpu")
    if torch.float32 in cpu:
        return None
    if torch.float32 in op.supported_dtypes("cuda"):
        return "CUDA-only"
    if cpu and all(d.is_complex for d in cpu):
        return "complex-only"
    return "no float32"


def case_name(eid, i):
    return re.sub(r"[^A-Za-z0-9_.-]", "_", eid) + "-" + str(i)


class Case(torch.nn.Module):
    """Calls `fn` on the sample's structure with the tensor leaves taken from forward's inputs."""

    def __init__(self, fn, spec, leaves, is_tensor):
        super().__init__()
        self.fn = fn
        self.spec = spec
        self.leaves = leaves
        self.is_tensor = is_tensor

    def forward(self, *tensors):
        it = iter(tensors)
        leaves = [next(it) if t else v for v, t in zip(self.leaves, self.is_tensor)]
        inp, args, kwargs = pytree.tree_unflatten(leaves, self.spec)
        out = self.fn(inp, *args, **kwargs)
        return as_traceable(out)


def as_traceable(out):
    """Tensor outputs as a tuple of tensors (namedtuples, lists and nested tuples flattened)."""
    if isinstance(out, torch.Tensor):
        return out
    flat = pytree.tree_leaves(out)
    if not flat or not all(isinstance(t, torch.Tensor) for t in flat):
        raise TypeError("the op returns a non-tensor value: " + type(out).__name__)
    return tuple(flat)


def run_same(fn, a, b):
    """Whether two calls give the same outputs (random ops do not)."""
    ta, tb = pytree.tree_leaves(a), pytree.tree_leaves(b)
    if len(ta) != len(tb):
        return False
    for x, y in zip(ta, tb):
        if isinstance(x, torch.Tensor) and isinstance(y, torch.Tensor):
            if x.shape != y.shape or not torch.equal(torch.nan_to_num(x), torch.nan_to_num(y)):
                return False
    return True


DROPOUTS = ("aten::dropout", "aten::feature_dropout", "aten::alpha_dropout", "aten::feature_alpha_dropout")


def node_random(node):
    """Whether a traced node draws random numbers (dropout only in training with p > 0)."""
    if not node.isNondeterministic():
        return False
    ins = list(node.inputs())

    def const(i, value):
        v = ins[i] if i < len(ins) else None
        return v is not None and v.node().kind() == "prim::Constant" and v.toIValue() == value

    if node.kind() in DROPOUTS:
        return not (const(2, False) or const(1, 0.0))
    if node.kind() == "aten::scaled_dot_product_attention":
        return not const(4, 0.0)
    return True


def make_case(op, sample, case_dir):
    """Traces one sample; returns (inputs, outputs) descriptions or raises with the reason."""
    structure = (sample.input, tuple(sample.args), dict(sample.kwargs))
    leaves, spec = pytree.tree_flatten(structure)
    is_tensor = [isinstance(v, torch.Tensor) for v in leaves]
    tensors = [v.detach().clone() for v, t in zip(leaves, is_tensor) if t]
    for t in tensors:
        if t.is_sparse or t.layout != torch.strided:
            raise ValueError("a sparse tensor input")
        if t.is_complex():
            raise ValueError("a complex tensor input")
    baked = [None if t else v for v, t in zip(leaves, is_tensor)]
    m = Case(op.op, spec, baked, is_tensor).eval()
    with torch.no_grad():
        torch.manual_seed(0)
        ref = m(*[t.clone() for t in tensors])
        torch.manual_seed(1)
        again = m(*[t.clone() for t in tensors])
        if not run_same(op.op, ref, again):
            raise RuntimeError("random: two runs differ")
        traced = torch.jit.trace(m, tuple(t.clone() for t in tensors), check_trace=False)
        for node in traced.inlined_graph.nodes():
            if node_random(node):
                raise RuntimeError("random: " + node.kind())
        torch.manual_seed(0)
        ref_traced = traced(*[t.clone() for t in tensors])
        torch.manual_seed(1)
        if not run_same(op.op, ref_traced, traced(*[t.clone() for t in tensors])):
            raise RuntimeError("random: two runs of the trace differ")
    outs = ref if isinstance(ref, tuple) else (ref,)
    for o in outs:
        if o.is_complex():
            raise ValueError("a complex output")
    os.makedirs(case_dir, exist_ok=True)
    torch.jit.save(traced, os.path.join(case_dir, "model.pt"))
    inputs = []
    for k, t in enumerate(tensors):
        arr = t.contiguous().numpy()
        np.save(os.path.join(case_dir, f"in{k}.npy"), arr)
        inputs.append(f"{str(t.dtype).replace('torch.', '')}{list(t.shape)}")
    return inputs, [f"{str(o.dtype).replace('torch.', '')}{list(o.shape)}" for o in outs]


def main():
    args = sys.argv[1:]
    if not args or args[0].startswith("-"):
        sys.exit(__doc__)
    out = args[0]
    n = 4
    only = None
    i = 1
    while i < len(args):
        if args[i] == "--samples":
            n = int(args[i + 1])
            i += 2
        elif args[i] == "--only":
            only = args[i + 1].split(",")
            i += 2
        else:
            sys.exit(f"unknown argument {args[i]}")
    from torch.testing._internal.common_methods_invocations import op_db

    index = {"torch": torch.__version__, "samples": n, "entries": []}
    os.makedirs(os.path.join(out, "cases"), exist_ok=True)
    for op in op_db:
        eid = entry_id(op)
        if only and not any(s == eid or s == op.name for s in only):
            continue
        entry = {"entry": eid, "in_scope": in_scope(op), "cases": []}
        index["entries"].append(entry)
        why = skip_reason(op)
        if why:
            entry["skipped"] = why
            continue
        try:
            samples = op.sample_inputs("cpu", torch.float32, requires_grad=False)
            samples = [s for _, s in zip(range(n), samples)]
        except Exception as e:  # noqa: BLE001 - the entry's own sample code failed
            entry["skipped"] = "samples: " + first_line(e)
            continue
        randoms = 0
        for k, s in enumerate(samples):
            cid = case_name(eid, k)
            case = {"id": cid}
            try:
                case["inputs"], case["outputs"] = make_case(op, s, os.path.join(out, "cases", cid))
            except Exception as e:  # noqa: BLE001 - recorded as a case the trace cannot make
                msg = first_line(e)
                if msg.startswith("random"):
                    randoms += 1
                case["not_made"] = msg
            entry["cases"].append(case)
        if samples and randoms == len(samples):
            entry["skipped"] = "random"
            entry["cases"] = []
        print(f"{eid}: {len(entry['cases'])} case(s)" + (f" skipped ({entry['skipped']})" if "skipped" in entry else ""),
              flush=True)
    with open(os.path.join(out, "index.json.tmp"), "w") as f:
        json.dump(index, f, indent=1)
    os.replace(os.path.join(out, "index.json.tmp"), os.path.join(out, "index.json"))


def first_line(e):
    text = (str(e).strip().splitlines() or [type(e).__name__])[0]
    return text[:200]


if __name__ == "__main__":
    main()
