"""Makes the fixtures of torch2air's hostile-input tests (tests/hostile.rs).

Run from the repository root with the project venv (./dev fixtures does this):
    python models/make_hostile.py

hostile/qlinear_dynamic.pt: a Linear quantized with torch.ao.quantization.quantize_dynamic, whose
forward calls quantized::linear_dynamic on packed weights (a TorchScript object): torch2air must
name that op as unsupported, not blame --input.
"""
import os
import warnings

import torch
import torch.nn as nn

HERE = os.path.dirname(os.path.abspath(__file__))


def main():
    torch.manual_seed(0)
    os.makedirs(os.path.join(HERE, "hostile"), exist_ok=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        q = torch.ao.quantization.quantize_dynamic(
            nn.Sequential(nn.Linear(4, 3)), {nn.Linear}, dtype=torch.qint8
        )
        path = os.path.join(HERE, "hostile", "qlinear_dynamic.pt")
        torch.jit.save(torch.jit.script(q), path)
    print("wrote", os.path.relpath(path))


if __name__ == "__main__":
    main()
