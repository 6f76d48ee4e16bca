"""Makes the model zoo: more Hugging Face architectures than the issue-5 fixtures, each from a tiny
random config (no downloads), traced the way users trace them, to check that torch2air takes
models it was not written against.

Run from the repository root with the project venv (./dev fixtures does this):
    python models/make_zoo.py
Writes models/zoo/: NAME.pt (torch.jit.trace), and its sample inputs: NAME_ids.npy and
NAME_mask.npy (text models; the mask right-pads the second row) or NAME_pixels.npy (vision).
tests/zoo.rs verifies each against the TorchScript module, static and with dynamic=true.
"""
import os
import warnings

import numpy as np
import torch
import torch.nn as nn
import transformers as T

HERE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "zoo")

warnings.filterwarnings("ignore")

VOCAB = 100
# hidden 32, 2 layers, 4 heads: the common shape of the text configs below.
TEXT = dict(
    vocab_size=VOCAB,
    hidden_size=32,
    num_hidden_layers=2,
    num_attention_heads=4,
    intermediate_size=64,
    max_position_embeddings=64,
)

# name: (config class, model class, config arguments)
TEXT_MODELS = {
    "qwen2": (T.Qwen2Config, T.Qwen2ForCausalLM, dict(TEXT, num_key_value_heads=2)),
    "mistral": (T.MistralConfig, T.MistralForCausalLM, dict(TEXT, num_key_value_heads=2)),
    "gemma": (T.GemmaConfig, T.GemmaForCausalLM, dict(TEXT, num_key_value_heads=2, head_dim=8)),
    "phi": (T.PhiConfig, T.PhiForCausalLM, TEXT),
    "gpt_neox": (T.GPTNeoXConfig, T.GPTNeoXForCausalLM, TEXT),
    "opt": (
        T.OPTConfig,
        T.OPTForCausalLM,
        dict(
            vocab_size=VOCAB,
            hidden_size=32,
            num_hidden_layers=2,
            ffn_dim=64,
            num_attention_heads=4,
            max_position_embeddings=64,
            word_embed_proj_dim=32,
        ),
    ),
    "roberta": (T.RobertaConfig, T.RobertaModel, TEXT),
    "electra": (T.ElectraConfig, T.ElectraModel, dict(TEXT, embedding_size=32)),
    "distilbert": (
        T.DistilBertConfig,
        T.DistilBertModel,
        dict(vocab_size=VOCAB, dim=32, n_layers=2, n_heads=4, hidden_dim=64, max_position_embeddings=64),
    ),
    "t5_encoder": (
        T.T5Config,
        T.T5EncoderModel,
        dict(vocab_size=VOCAB, d_model=32, d_kv=8, d_ff=64, num_layers=2, num_heads=4),
    ),
}

VISION_MODELS = {
    "convnext": (
        T.ConvNextConfig,
        T.ConvNextModel,
        dict(hidden_sizes=[8, 16], depths=[1, 1], num_stages=2, image_size=32),
    ),
    "swin": (
        T.SwinConfig,
        T.SwinModel,
        dict(image_size=32, patch_size=4, embed_dim=16, depths=[1, 1], num_heads=[2, 2], window_size=4),
    ),
    "deit": (
        T.DeiTConfig,
        T.DeiTModel,
        dict(image_size=32, patch_size=8, hidden_size=32, num_hidden_layers=2, num_attention_heads=4, intermediate_size=64),
    ),
    "regnet": (
        T.RegNetConfig,
        T.RegNetModel,
        dict(embedding_size=8, hidden_sizes=[8, 16], depths=[1, 1], groups_width=8),
    ),
    "segformer": (
        T.SegformerConfig,
        T.SegformerModel,
        dict(
            num_encoder_blocks=2,
            depths=[1, 1],
            sr_ratios=[2, 1],
            hidden_sizes=[8, 16],
            num_attention_heads=[1, 2],
            strides=[4, 2],
            patch_sizes=[7, 3],
            decoder_hidden_size=16,
        ),
    ),
}


class Text(nn.Module):
    """Ids and a padding mask in, the first output (logits or hidden states) out; no KV cache."""

    def __init__(self, model):
        super().__init__()
        self.model = model
        self.causal = type(model).__name__.endswith("ForCausalLM")

    def forward(self, input_ids, attention_mask):
        extra = {"use_cache": False} if self.causal else {}
        return self.model(input_ids=input_ids, attention_mask=attention_mask, **extra)[0]


class Vision(nn.Module):
    """Pixels in, the last hidden state out."""

    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, pixel_values):
        return self.model(pixel_values=pixel_values)[0]


def build(config_class, model_class, args, attn=None):
    config = config_class(**args)
    if attn:
        config._attn_implementation = attn
    return model_class(config).eval()


def save(traced, name, inputs):
    torch.jit.save(traced, os.path.join(HERE, name + ".pt"))
    for suffix, t in inputs.items():
        np.save(os.path.join(HERE, f"{name}_{suffix}.npy"), t.numpy())
    print("wrote", os.path.relpath(os.path.join(HERE, name + ".pt")))


def main():
    os.makedirs(HERE, exist_ok=True)
    for k, (name, spec) in enumerate(TEXT_MODELS.items()):
        torch.manual_seed(100 + k)
        model = Text(build(*spec, attn="sdpa"))
        ids = torch.randint(0, VOCAB, (2, 8))
        mask = torch.ones(2, 8, dtype=torch.int64)
        mask[1, 6:] = 0
        with torch.no_grad():
            traced = torch.jit.trace(model, (ids, mask), strict=False)
        save(traced, name, {"ids": ids, "mask": mask})
    for k, (name, spec) in enumerate(VISION_MODELS.items()):
        torch.manual_seed(200 + k)
        model = Vision(build(*spec))
        pixels = torch.randn(2, 3, 32, 32)
        with torch.no_grad():
            traced = torch.jit.trace(model, (pixels,), strict=False)
        save(traced, name, {"pixels": pixels})


if __name__ == "__main__":
    main()
