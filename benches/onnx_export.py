"""A peer for the scale benchmark (benches/scale.rs): PyTorch's legacy TorchScript-based ONNX
exporter (`torch.onnx.export(..., dynamo=False)`) on the same TorchScript file torch2air exports.
The benchmark runs it as a child process and takes its wall time and peak RSS from wait4.

    python benches/onnx_export.py MODEL.pt INPUT.npy OUT.onnx

Exit 0: OUT.onnx (and, where the exporter chose it, its external data files beside it) written.
Otherwise the exporter's own last error line is the last line on stderr (e.g. a model over
protobuf's 2 GB limit); the benchmark prints it as that peer's failure.
"""
import sys
import warnings

import numpy as np
import torch


def main():
    model, sample, out = sys.argv[1:4]
    warnings.simplefilter("ignore")
    m = torch.jit.load(model)
    ids = torch.from_numpy(np.load(sample))
    try:
        torch.onnx.export(m, (ids,), out, dynamo=False)
    except Exception as e:  # the benchmark reports the exporter's failure as such
        msg = " ".join(str(e).split())
        print(f"{type(e).__name__}: {msg[:300]}", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
