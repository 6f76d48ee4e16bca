"""Makes the vision and recurrent model fixtures (issue 5) and one small module per op family.

Run from the repository root with the project venv (./dev fixtures does this):
    python models/make_vision.py
Tiny random configs, no downloads. Scripted where TorchScript can script the model, traced with
torch.jit.trace (as users do) where it cannot: the transformers models are traced. For each model it
saves `models/vision/<name>.pt`, the sample inputs `<name>.in<k>.npy` and the eager outputs
`<name>.out<k>.npy`. Deterministic: every weight and input comes from a fixed seed.
"""
import os

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "vision")


def save(module, name, inputs=None, outputs=None):
    path = os.path.join(OUT, name + ".pt")
    torch.jit.save(module, path)
    print("wrote", os.path.relpath(path))
    for k, t in enumerate(inputs or []):
        np.save(os.path.join(OUT, f"{name}.in{k}.npy"), t.numpy())
    for k, t in enumerate(outputs or []):
        np.save(os.path.join(OUT, f"{name}.out{k}.npy"), t.detach().numpy())


def flat(out):
    """Model outputs as a flat list of tensors (HF returns tuples with torchscript=True)."""
    if isinstance(out, torch.Tensor):
        return [out]
    res = []
    for o in out:
        res.extend(flat(o))
    return res


# --- Models ------------------------------------------------------------------------------------


def vit():
    from transformers import ViTConfig, ViTModel

    cfg = ViTConfig(
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=4,
        intermediate_size=64,
        image_size=16,
        patch_size=4,
        num_channels=3,
        torchscript=True,
        return_dict=False,
        attn_implementation="eager",
    )
    return ViTModel(cfg).eval(), (torch.randn(2, 3, 16, 16),)


def resnet():
    from transformers import ResNetConfig, ResNetModel

    cfg = ResNetConfig(
        num_channels=3,
        embedding_size=8,
        hidden_sizes=[8, 16],
        depths=[1, 2],
        layer_type="basic",
        torchscript=True,
        return_dict=False,
    )
    m = ResNetModel(cfg).eval()
    randomize_bn(m)
    return m, (torch.randn(2, 3, 32, 32),)


def randomize_bn(m):
    """Fresh BatchNorm running stats are 0/1, which hides mistakes; give them real values."""
    for mod in m.modules():
        if isinstance(mod, nn.modules.batchnorm._BatchNorm):
            mod.running_mean.uniform_(-0.5, 0.5)
            mod.running_var.uniform_(0.5, 1.5)
            if mod.affine:
                mod.weight.data.uniform_(0.5, 1.5)
                mod.bias.data.uniform_(-0.5, 0.5)


def mobilenet_v2():
    from transformers import MobileNetV2Config, MobileNetV2Model

    cfg = MobileNetV2Config(
        num_channels=3,
        image_size=32,
        depth_multiplier=0.25,
        min_depth=4,
        finegrained_output=False,
        torchscript=True,
        return_dict=False,
    )
    m = MobileNetV2Model(cfg).eval()
    randomize_bn(m)
    return m, (torch.randn(1, 3, 32, 32),)


class SqueezeExcite(nn.Module):
    def __init__(self, c, r=4):
        super().__init__()
        self.fc1 = nn.Conv2d(c, c // r, 1)
        self.fc2 = nn.Conv2d(c // r, c, 1)

    def forward(self, x):
        s = F.adaptive_avg_pool2d(x, 1)
        s = F.hardsigmoid(self.fc2(F.relu(self.fc1(s))))
        return x * s


class InvertedResidual(nn.Module):
    """MobileNetV3 block: 1x1 expand, depthwise kxk, optional squeeze-excite, 1x1 project."""

    def __init__(self, cin, cexp, cout, k, stride, se: bool, hs: bool):
        super().__init__()
        self.expand = nn.Sequential(nn.Conv2d(cin, cexp, 1, bias=False), nn.BatchNorm2d(cexp))
        self.dw = nn.Sequential(
            nn.Conv2d(cexp, cexp, k, stride, k // 2, groups=cexp, bias=False), nn.BatchNorm2d(cexp)
        )
        self.se = SqueezeExcite(cexp) if se else nn.Identity()
        self.project = nn.Sequential(nn.Conv2d(cexp, cout, 1, bias=False), nn.BatchNorm2d(cout))
        self.act = nn.Hardswish() if hs else nn.ReLU6()
        self.residual = stride == 1 and cin == cout

    def forward(self, x):
        y = self.act(self.expand(x))
        y = self.act(self.dw(y))
        y = self.project(self.se(y))
        if self.residual:
            y = y + x
        return y


class MobileNetV3Small(nn.Module):
    def __init__(self, classes=10):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(3, 8, 3, 2, 1, bias=False), nn.BatchNorm2d(8), nn.Hardswish())
        self.blocks = nn.Sequential(
            InvertedResidual(8, 16, 8, 3, 1, True, False),
            InvertedResidual(8, 24, 12, 3, 2, False, False),
            InvertedResidual(12, 32, 12, 5, 1, True, True),
            InvertedResidual(12, 48, 16, 5, 2, True, True),
        )
        self.head = nn.Sequential(nn.Linear(16, 32), nn.Hardswish(), nn.Dropout(0.2), nn.Linear(32, classes))

    def forward(self, x):
        x = self.blocks(self.stem(x))
        x = F.adaptive_avg_pool2d(x, 1).flatten(1)
        return self.head(x)


class EncoderModel(nn.Module):
    """nn.TransformerEncoder (2 layers) over embedded tokens, with a key padding mask."""

    def __init__(self, vocab=50, d=32, heads=4):
        super().__init__()
        self.emb = nn.Embedding(vocab, d)
        layer = nn.TransformerEncoderLayer(d, heads, dim_feedforward=64, dropout=0.1, batch_first=True)
        self.encoder = nn.TransformerEncoder(layer, 2, enable_nested_tensor=False)
        self.out = nn.Linear(d, 5)

    def forward(self, ids, src_key_padding_mask):
        h = self.encoder(self.emb(ids), src_key_padding_mask=src_key_padding_mask)
        return self.out(h)


class CausalEncoderModel(nn.Module):
    """Pre-norm GELU nn.TransformerEncoder with a causal src mask and a key padding mask."""

    def __init__(self, vocab=50, d=32, heads=4):
        super().__init__()
        self.emb = nn.Embedding(vocab, d)
        layer = nn.TransformerEncoderLayer(
            d, heads, dim_feedforward=64, dropout=0.1, activation="gelu", batch_first=True, norm_first=True
        )
        self.encoder = nn.TransformerEncoder(layer, 2, enable_nested_tensor=False)

    def forward(self, ids, src_key_padding_mask):
        n = ids.size(1)
        causal = torch.triu(torch.full((n, n), float("-inf")), diagonal=1)
        return self.encoder(self.emb(ids), mask=causal, src_key_padding_mask=src_key_padding_mask)


class GRUTagger(nn.Module):
    """embedding -> 2-layer bidirectional GRU (batch_first) -> linear, per-token tags."""

    def __init__(self, vocab=40, d=12, hidden=16, tags=7):
        super().__init__()
        self.emb = nn.Embedding(vocab, d)
        self.gru = nn.GRU(d, hidden, num_layers=2, batch_first=True, bidirectional=True)
        self.out = nn.Linear(2 * hidden, tags)

    def forward(self, ids):
        h, _ = self.gru(self.emb(ids))
        return self.out(h)


# --- One module per op family ------------------------------------------------------------------


class OpsConv(nn.Module):
    def __init__(self):
        super().__init__()
        self.c1 = nn.Conv2d(4, 6, 3)
        self.c2 = nn.Conv2d(4, 6, 3, stride=2, padding=1, bias=False)
        self.c3 = nn.Conv2d(4, 8, (3, 2), stride=(1, 2), padding=(2, 1), dilation=(2, 1), groups=2)
        self.dw = nn.Conv2d(4, 4, 3, padding=1, groups=4)
        self.same = nn.Conv2d(4, 4, 3, padding="same", dilation=2)
        self.same_even = nn.Conv2d(4, 3, (2, 4), padding="same")
        self.k1 = nn.Conv1d(4, 5, 3, stride=2, padding=1)
        self.k1g = nn.Conv1d(4, 6, 2, dilation=2, groups=2, bias=False)

    def forward(self, x, s):
        return (
            self.c1(x),
            self.c2(x),
            self.c3(x),
            self.dw(x),
            self.same(x),
            self.same_even(x),
            F.conv2d(x, self.c1.weight, None, 1, 0, 1, 1),
            self.k1(s),
            self.k1g(s),
        )


class OpsLSTM(nn.Module):
    """LSTM variants: one layer with (h0, c0); two bidirectional layers (batch_first); no biases."""

    def __init__(self):
        super().__init__()
        self.l1 = nn.LSTM(5, 6)
        self.l2 = nn.LSTM(5, 4, num_layers=2, batch_first=True, bidirectional=True)
        self.l3 = nn.LSTM(5, 3, bias=False)

    def forward(self, x, h0, c0):
        a, (ha, ca) = self.l1(x, (h0, c0))
        b, (hb, cb) = self.l2(x.transpose(0, 1))
        c, (hc, cc) = self.l3(x[:, 0])
        return a, ha, ca, b, hb, cb, c, hc, cc


class OpsMHA(nn.Module):
    """nn.MultiheadAttention self-attention (batch_first, eval: its fused inference path) with a
    padding mask and head-averaged weights, with per-head weights, and without weights."""

    def __init__(self):
        super().__init__()
        self.attn = nn.MultiheadAttention(16, 4, batch_first=True)

    def forward(self, x, pad):
        a, wa = self.attn(x, x, x, key_padding_mask=pad)
        b, wb = self.attn(x, x, x, average_attn_weights=False)
        c, _ = self.attn(x, x, x, need_weights=False)
        return a, wa, b, wb, c


class OpsConvTranspose(nn.Module):
    def __init__(self):
        super().__init__()
        self.t1 = nn.ConvTranspose2d(4, 6, 3)
        self.t2 = nn.ConvTranspose2d(4, 6, 3, stride=2, padding=1, output_padding=1, bias=False)
        self.t3 = nn.ConvTranspose2d(4, 4, (3, 2), stride=(2, 1), padding=(1, 0), dilation=(1, 2), groups=2)
        self.t1d = nn.ConvTranspose1d(4, 3, 4, stride=2, padding=1)

    def forward(self, x, s):
        return self.t1(x), self.t2(x), self.t3(x), self.t1d(s)


class OpsMisc(nn.Module):
    """1-D pools and resizes, and the less common activations."""

    def __init__(self):
        super().__init__()
        self.prelu = nn.PReLU(3)
        self.prelu1 = nn.PReLU()

    def forward(self, x, s):
        return (
            F.max_pool1d(s, 2),
            F.max_pool1d(s, 3, stride=2, padding=1, ceil_mode=True),
            F.avg_pool1d(s, 3, stride=2, padding=1),
            F.avg_pool1d(s, 3, stride=2, padding=1, count_include_pad=False),
            F.adaptive_avg_pool1d(s, 1),
            F.adaptive_avg_pool1d(s, 3),
            F.interpolate(s, scale_factor=2.0, mode="nearest"),
            F.interpolate(s, size=11, mode="linear", align_corners=False),
            F.interpolate(s, size=11, mode="linear", align_corners=True),
            F.interpolate(x, size=(7, 9), mode="nearest-exact"),
            self.prelu(x),
            self.prelu1(s),
            F.softplus(x * 10.0),
            F.softplus(x, beta=2.0),
            F.mish(x),
            F.selu(x),
        )


class BadResize(nn.Module):
    """scale_factor 1.5 on 5 pixels: ATen samples with 1/1.5, GE with 5/7 (ATen's indices are
    gathered instead; with --dynamic, computed in the graph)."""

    def forward(self, x):
        return F.interpolate(x, scale_factor=1.5, mode="nearest")


class OpsPool(nn.Module):
    def forward(self, x):
        return (
            F.max_pool2d(x, 2),
            F.max_pool2d(x, 3, stride=2, padding=1),
            F.max_pool2d(x, (3, 2), stride=(2, 1), padding=(1, 0)),
            F.max_pool2d(x, 3, stride=2, ceil_mode=True),
            F.avg_pool2d(x, 2),
            F.avg_pool2d(x, 3, stride=2, padding=1),
            F.avg_pool2d(x, 3, stride=2, padding=1, count_include_pad=False),
            F.avg_pool2d(x, 3, stride=2, ceil_mode=True),
            F.avg_pool2d(x, 2, divisor_override=3),
            F.adaptive_avg_pool2d(x, 1),
            F.adaptive_avg_pool2d(x, (3, 2)),
            F.adaptive_avg_pool2d(x, (1, 4)),
            F.max_pool2d(x[0], 2),
        )


class BadPool(nn.Module):
    """max_pool2d with dilation: GE's MaxPoolV3 has none (it runs on the 3-D pool with argmax)."""

    def forward(self, x):
        return F.max_pool2d(x, 3, dilation=2)


class OpsNorm(nn.Module):
    def __init__(self):
        super().__init__()
        self.bn = nn.BatchNorm2d(6)
        self.bn1 = nn.BatchNorm1d(6)
        self.bn_noaffine = nn.BatchNorm2d(6, affine=False)
        self.gn = nn.GroupNorm(3, 6)
        self.gn_noaffine = nn.GroupNorm(2, 6, affine=False)
        self.inorm = nn.InstanceNorm2d(6)
        self.inorm_affine = nn.InstanceNorm2d(6, affine=True)
        self.inorm1 = nn.InstanceNorm1d(6, affine=True)

    def forward(self, x, s):
        return (
            self.bn(x),
            self.bn1(s),
            self.bn1(s[:, :, 0]),
            self.bn_noaffine(x),
            self.gn(x),
            self.gn_noaffine(s),
            self.inorm(x),
            self.inorm_affine(x),
            self.inorm1(s),
        )


class OpsResizePad(nn.Module):
    def forward(self, x, s):
        return (
            F.interpolate(x, scale_factor=2.0, mode="nearest"),
            F.interpolate(x, size=(7, 3), mode="nearest"),
            F.interpolate(x, scale_factor=2.0, mode="bilinear", align_corners=False),
            F.interpolate(x, size=(7, 9), mode="bilinear", align_corners=True),
            F.interpolate(x, size=(3, 2), mode="bilinear", align_corners=False),
            F.pad(x, (1, 2)),
            F.pad(x, (1, 2, 0, 3), value=0.5),
            F.pad(s, (2, 1), value=-1.0),
            F.pad(x, (1, 2, 2, 1), mode="reflect"),
            F.pad(x, (1, 2, 2, 1), mode="replicate"),
            F.pad(s, (2, 1), mode="reflect"),
            F.pad(s, (2, 1), mode="replicate"),
            F.pad(x[0], (1, 1, 1, 1), mode="reflect"),
        )


class OpsAct(nn.Module):
    def forward(self, x):
        return (
            F.hardswish(x),
            F.hardsigmoid(x),
            F.relu6(x),
            F.hardtanh(x),
            F.hardtanh(x, -0.5, 2.0),
            F.leaky_relu(x),
            F.leaky_relu(x, 0.2),
            F.elu(x),
            F.elu(x, alpha=0.5),
            torch.clamp(x, -1.0, 0.5),
            torch.clamp(x, min=0.1),
            torch.clamp(x, max=0.2),
            torch.clamp_min(x, -0.3),
            torch.clamp_max(x, 0.3),
            x.clamp(min=x[0], max=x[1] + 1.0),
            (x * 2).to(torch.int64).clamp(min=-3),
            (x * 2).to(torch.int64).clamp(-2, 4),
            torch.clamp_max((x * 2).to(torch.int32), 1),
        )


class OpsGRU(nn.Module):
    """GRU variants: one layer with a given h0 (batch second), no biases, bidirectional."""

    def __init__(self):
        super().__init__()
        self.g1 = nn.GRU(5, 6)
        self.g2 = nn.GRU(5, 4, num_layers=2, bias=False, batch_first=True)
        self.g3 = nn.GRU(5, 3, bidirectional=True, batch_first=True)

    def forward(self, x, h0):
        a, ha = self.g1(x, h0)
        b, hb = self.g2(x.transpose(0, 1))
        c, hc = self.g3(x.transpose(0, 1))
        return a, ha, b, hb, c, hc


def main():
    os.makedirs(OUT, exist_ok=True)

    def scripted(name, seed, make, inputs):
        torch.manual_seed(seed)
        m = make().eval()
        randomize_bn(m)
        s = torch.jit.script(m)
        with torch.no_grad():
            outs = flat(m(*inputs))
        save(s, name, list(inputs), outs)

    def traced(name, seed, make):
        torch.manual_seed(seed)
        m, inputs = make()
        with torch.no_grad():
            t = torch.jit.trace(m, inputs, _store_inputs=True)
            outs = flat(m(*inputs))
        save(t, name, list(inputs), outs)

    traced("vit", 10, vit)
    traced("resnet", 11, resnet)
    traced("mobilenet_v2", 12, mobilenet_v2)
    torch.manual_seed(13)
    scripted("mobilenet_v3", 13, MobileNetV3Small, (torch.randn(2, 3, 32, 32),))
    torch.manual_seed(14)
    ids = torch.randint(0, 50, (2, 7))
    mask = torch.zeros(2, 7, dtype=torch.bool)
    mask[0, 5:] = True
    mask[1, 3:] = True
    scripted("transformer_encoder", 14, EncoderModel, (ids, mask))
    torch.manual_seed(16)
    ids = torch.randint(0, 50, (2, 7))
    scripted("transformer_encoder_causal", 16, CausalEncoderModel, (ids, mask))
    torch.manual_seed(15)
    scripted("gru_tagger", 15, GRUTagger, (torch.randint(0, 40, (3, 6)),))

    torch.manual_seed(20)
    ops = [
        ("ops_conv", OpsConv, (torch.randn(2, 4, 9, 8), torch.randn(2, 4, 11))),
        ("ops_pool", OpsPool, (torch.randn(2, 3, 9, 8),)),
        ("ops_norm", OpsNorm, (torch.randn(2, 6, 5, 4), torch.randn(2, 6, 7))),
        ("ops_resize_pad", OpsResizePad, (torch.randn(2, 3, 5, 4), torch.randn(2, 3, 7))),
        ("ops_act", OpsAct, (torch.randn(3, 4, 5) * 3,)),
        ("ops_gru", OpsGRU, (torch.randn(4, 3, 5), torch.randn(1, 3, 6))),
        ("ops_conv_transpose", OpsConvTranspose, (torch.randn(2, 4, 5, 6), torch.randn(2, 4, 7))),
        ("ops_misc", OpsMisc, (torch.randn(2, 3, 5, 4), torch.randn(2, 3, 7))),
        ("ops_lstm", OpsLSTM, (torch.randn(4, 3, 5), torch.randn(1, 3, 6), torch.randn(1, 3, 6))),
        ("ops_mha", OpsMHA, (torch.randn(2, 5, 16), torch.arange(5).expand(2, 5) >= torch.tensor([[5], [3]]))),
    ]
    for k, (name, make, inputs) in enumerate(ops):
        scripted(name, 20 + k, make, inputs)
    # Half precision: the same modules in f16/bf16 (no saved inputs: NumPy has no bf16; the
    # tests feed random inputs and compare with TorchScript at the dtype's tolerance).
    torch.manual_seed(13)
    save(torch.jit.script(MobileNetV3Small().eval().to(torch.bfloat16)), "mobilenet_v3_bf16")
    torch.manual_seed(11)
    m, inputs = resnet()
    m = m.half()
    with torch.no_grad():
        save(torch.jit.trace(m, (inputs[0].half(),), _store_inputs=True), "resnet_f16")
    for name, make in [("ops_norm", OpsNorm), ("ops_misc", OpsMisc), ("ops_pool", OpsPool)]:
        torch.manual_seed(40)
        m = make().eval()
        randomize_bn(m)
        save(torch.jit.script(m.to(torch.bfloat16)), name + "_bf16")
        save(torch.jit.script(m.half()), name + "_f16")
    save(torch.jit.script(BadPool()), "bad_pool_dilation")
    save(torch.jit.script(BadResize()), "bad_resize_scale")


if __name__ == "__main__":
    main()
