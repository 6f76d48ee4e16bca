"""Makes the fixtures of torchvision's detection ops (tests/torchvision_ops.rs): TorchScript files
that call `torchvision::roi_align`, `torchvision::nms` and `torchvision::deform_conv2d`. Loading
them needs torchvision's op library (`--load-library .../torchvision/_C.so`).

Run from the repository root with the project venv and torchvision installed
(`pip install torchvision==0.28.0 pillow`, the release that pairs with torch 2.13):
    python models/make_torchvision.py

torchvision/roi_align.pt    roi_align, aligned False and True, sampling_ratio 2 and 0 (adaptive),
                            spatial_scale 0.5, rois over two images, one past the image edge.
torchvision/nms.pt          nms, then the kept boxes and scores gathered (a data-dependent size).
torchvision/deform_conv.pt  deform_conv2d with a mask (DCNv2) and without (DCNv1), stride 2,
                            padding 1, offsets from a conv of the input, as real models make them.
torchvision/detector.pt     a small two-stage head: conv features, roi_align, a linear classifier.
"""
import os

import numpy as np
import torch
import torchvision
from torchvision.ops import deform_conv2d, nms, roi_align

HERE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "torchvision")


class RoiAlign(torch.nn.Module):
    def forward(self, x, rois):
        a = roi_align(x, rois, (3, 3), spatial_scale=0.5, sampling_ratio=2, aligned=False)
        b = roi_align(x, rois, (2, 4), spatial_scale=0.5, sampling_ratio=0, aligned=True)
        c = roi_align(x, rois, 2, spatial_scale=1.0, sampling_ratio=1, aligned=True)
        return a, b, c


class Nms(torch.nn.Module):
    def forward(self, boxes, scores):
        keep = nms(boxes, scores, 0.5)
        return keep, boxes[keep], scores[keep] * 2


class DeformConv(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.offset = torch.nn.Conv2d(4, 2 * 3 * 3, 3, stride=2, padding=1)
        self.mask = torch.nn.Conv2d(4, 3 * 3, 3, stride=2, padding=1)
        self.weight = torch.nn.Parameter(torch.randn(6, 4, 3, 3) * 0.2)
        self.bias = torch.nn.Parameter(torch.randn(6) * 0.1)
        self.weight2 = torch.nn.Parameter(torch.randn(6, 2, 3, 3) * 0.2)

    def forward(self, x):
        off = self.offset(x) * 2.0
        mask = torch.sigmoid(self.mask(x))
        v2 = deform_conv2d(x, off, self.weight, self.bias, stride=2, padding=1, mask=mask)
        # DCNv1 with two weight groups, no bias.
        v1 = deform_conv2d(x, off, self.weight2, None, stride=2, padding=1)
        return v2, v1


class Detector(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.backbone = torch.nn.Sequential(
            torch.nn.Conv2d(3, 8, 3, padding=1), torch.nn.ReLU(), torch.nn.Conv2d(8, 8, 3, stride=2, padding=1)
        )
        self.cls = torch.nn.Linear(8 * 2 * 2, 5)

    def forward(self, image, rois):
        f = self.backbone(image)
        pooled = roi_align(f, rois, (2, 2), spatial_scale=0.5, sampling_ratio=2, aligned=True)
        return self.cls(pooled.flatten(1)).softmax(-1)


def save(name, module, inputs):
    """The traced module, and its inputs as <name>_<i>.npy (rois and boxes must be valid boxes, so
    the tests pass these rather than random SPECs)."""
    module.eval()
    with torch.no_grad():
        traced = torch.jit.trace(module, inputs, check_trace=False)
    traced.save(os.path.join(HERE, name + ".pt"))
    for i, t in enumerate(inputs):
        np.save(os.path.join(HERE, f"{name}_{i}.npy"), t.numpy())


def main():
    os.makedirs(HERE, exist_ok=True)
    torch.manual_seed(0)
    x = torch.randn(2, 4, 10, 12)
    rois = torch.tensor(
        [[0, 1.0, 1.0, 9.0, 7.0], [1, 0.0, 2.5, 21.0, 17.5], [0, 4.2, 3.1, 6.6, 5.9], [1, 18.0, 12.0, 30.0, 24.0]]
    )
    save("roi_align", RoiAlign(), (x, rois))
    boxes = torch.rand(12, 2) * 20
    boxes = torch.cat([boxes, boxes + torch.rand(12, 2) * 10 + 1], 1)
    boxes[5] = boxes[2] + 0.3  # overlaps: suppressed
    scores = torch.rand(12)
    save("nms", Nms(), (boxes, scores))
    save("deform_conv", DeformConv(), (torch.randn(1, 4, 9, 11),))
    image = torch.randn(1, 3, 12, 12)
    save("detector", Detector(), (image, torch.tensor([[0, 1.0, 1.0, 9.0, 9.0], [0, 2.0, 0.0, 11.0, 6.0]])))
    print("wrote", HERE, "with torchvision", torchvision.__version__)


if __name__ == "__main__":
    main()
