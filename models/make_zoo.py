"""Makes the model zoo: more Hugging Face architectures than the issue-5 fixtures, each from a tiny
random config (no downloads), traced the way users trace them, to check that torch2air takes
models it was not written against.

Run from the repository root with the project venv (./dev fixtures does this):
    python models/make_zoo.py
Writes models/zoo/: NAME.pt (torch.jit.trace), and its sample inputs: NAME_ids.npy and
NAME_mask.npy (text; the mask right-pads the second row), plus NAME_decoder_ids.npy
(encoder-decoder), NAME_audio.npy (audio) or NAME_pixels.npy (vision); NAME_f16.pt and
NAME_bf16.pt for the HALF variants (text ones take NAME's ids and mask); NAME_labels.npy for
the models traced with labels, which return their loss.
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
    "clip_text": (
        T.CLIPTextConfig,
        T.CLIPTextModel,
        dict(vocab_size=VOCAB, hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=4, max_position_embeddings=16),
    ),
    "deberta_v2": (T.DebertaV2Config, T.DebertaV2Model, TEXT),
    "t5_encoder": (
        T.T5Config,
        T.T5EncoderModel,
        dict(vocab_size=VOCAB, d_model=32, d_kv=8, d_ff=64, num_layers=2, num_heads=4),
    ),
}

# Encoder-decoder models: ids, mask, and decoder ids in; the decoder's last hidden state out.
SEQ2SEQ_MODELS = {
    "bart": (
        T.BartConfig,
        T.BartModel,
        dict(
            vocab_size=VOCAB,
            d_model=32,
            encoder_layers=2,
            decoder_layers=2,
            encoder_attention_heads=4,
            decoder_attention_heads=4,
            encoder_ffn_dim=64,
            decoder_ffn_dim=64,
            max_position_embeddings=32,
        ),
    ),
    "t5": (
        T.T5Config,
        T.T5Model,
        dict(vocab_size=VOCAB, d_model=32, d_kv=8, d_ff=64, num_layers=2, num_heads=4),
    ),
}

# Audio encoders: wav2vec2 takes a raw waveform, whisper's encoder log-mel features.
# name: (config class, model class, config arguments, input shape, trace only the encoder)
AUDIO_MODELS = {
    "wav2vec2": (
        T.Wav2Vec2Config,
        T.Wav2Vec2Model,
        dict(
            hidden_size=32,
            num_hidden_layers=2,
            num_attention_heads=4,
            intermediate_size=64,
            conv_dim=(16, 16),
            conv_stride=(5, 2),
            conv_kernel=(10, 3),
            num_conv_pos_embeddings=16,
            num_conv_pos_embedding_groups=4,
        ),
        (2, 400),
        False,
    ),
    "whisper_encoder": (
        T.WhisperConfig,
        T.WhisperModel,
        dict(
            vocab_size=VOCAB,
            pad_token_id=0,
            bos_token_id=1,
            eos_token_id=2,
            decoder_start_token_id=1,
            d_model=32,
            encoder_layers=2,
            decoder_layers=1,
            encoder_attention_heads=4,
            decoder_attention_heads=4,
            encoder_ffn_dim=64,
            decoder_ffn_dim=64,
            num_mel_bins=16,
            max_source_positions=16,
            max_target_positions=16,
        ),
        (2, 16, 32),
        True,
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
    "beit": (
        T.BeitConfig,
        T.BeitModel,
        dict(
            image_size=32,
            patch_size=8,
            hidden_size=32,
            num_hidden_layers=2,
            num_attention_heads=4,
            intermediate_size=64,
            use_relative_position_bias=True,
        ),
    ),
    "clip_vision": (
        T.CLIPVisionConfig,
        T.CLIPVisionModel,
        dict(hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=4, image_size=32, patch_size=8),
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


class Seq2Seq(nn.Module):
    """Ids, padding mask and decoder ids in, the decoder's last hidden state out; no KV cache."""

    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, input_ids, attention_mask, decoder_input_ids):
        return self.model(
            input_ids=input_ids,
            attention_mask=attention_mask,
            decoder_input_ids=decoder_input_ids,
            use_cache=False,
        )[0]


class Audio(nn.Module):
    """A waveform or features in, the last hidden state out."""

    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, audio):
        return self.model(audio)[0]


class Vision(nn.Module):
    """Pixels in, the last hidden state out."""

    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, pixel_values):
        return self.model(pixel_values=pixel_values)[0]


# Half-precision variants: (name, dtype suffix). They reuse the f32 model's sample inputs
# (pixels are saved again in float16).
HALF = [
    ("qwen2", "f16"),
    ("qwen2", "bf16"),
    ("gemma", "bf16"),
    ("t5_encoder", "f16"),
    ("swin", "f16"),
]
DTYPES = {"f16": torch.float16, "bf16": torch.bfloat16}


def build(config_class, model_class, args):
    """The model in eval mode, with PyTorch's SDPA attention where the architecture has it."""
    config = config_class(**args)
    if getattr(model_class, "_supports_sdpa", False):
        config._attn_implementation = "sdpa"
    return model_class(config).eval()


def save(traced, name, inputs):
    torch.jit.save(traced, os.path.join(HERE, name + ".pt"))
    for suffix, t in inputs.items():
        np.save(os.path.join(HERE, f"{name}_{suffix}.npy"), t.numpy())
    print("wrote", os.path.relpath(os.path.join(HERE, name + ".pt")))


def make_half():
    for name, suffix in HALF:
        dtype = DTYPES[suffix]
        if name in TEXT_MODELS:
            torch.manual_seed(500)
            model = Text(build(*TEXT_MODELS[name])).to(dtype)
            ids = torch.from_numpy(np.load(os.path.join(HERE, f"{name}_ids.npy")))
            mask = torch.from_numpy(np.load(os.path.join(HERE, f"{name}_mask.npy")))
            with torch.no_grad():
                traced = torch.jit.trace(model, (ids, mask), strict=False)
            save(traced, f"{name}_{suffix}", {})
        else:
            torch.manual_seed(500)
            model = Vision(build(*VISION_MODELS[name])).to(dtype)
            pixels = torch.from_numpy(np.load(os.path.join(HERE, f"{name}_pixels.npy"))).to(dtype)
            with torch.no_grad():
                traced = torch.jit.trace(model, (pixels,), strict=False)
            save(traced, f"{name}_{suffix}", {"pixels": pixels})


class WithLabels(nn.Module):
    """Ids, padding mask and labels in, (loss, logits) out: the model computes its own loss."""

    def __init__(self, model):
        super().__init__()
        self.model = model
        self.causal = type(model).__name__.endswith("ForCausalLM")

    def forward(self, input_ids, attention_mask, labels):
        extra = {"use_cache": False} if self.causal else {}
        out = self.model(input_ids=input_ids, attention_mask=attention_mask, labels=labels, **extra)
        return out.loss, out.logits


def make_losses():
    """Models given labels, so that the traced graph holds the loss Hugging Face computes:
    a causal LM (shifted cross entropy, padding labelled -100), and sequence classifiers with
    single-label (cross entropy), multi-label (BCE with logits) and regression (MSE) heads."""
    cls = dict(TEXT, num_labels=3)
    cases = [
        ("qwen2_lm_loss", T.Qwen2Config, T.Qwen2ForCausalLM, dict(TEXT, num_key_value_heads=2), "lm"),
        ("roberta_cls_loss", T.RobertaConfig, T.RobertaForSequenceClassification, cls, "cls"),
        (
            "roberta_multilabel_loss",
            T.RobertaConfig,
            T.RobertaForSequenceClassification,
            dict(cls, problem_type="multi_label_classification"),
            "multi",
        ),
        ("roberta_regression_loss", T.RobertaConfig, T.RobertaForSequenceClassification, dict(cls, num_labels=1), "reg"),
    ]
    for k, (name, config_class, model_class, args, kind) in enumerate(cases):
        torch.manual_seed(600 + k)
        model = WithLabels(build(config_class, model_class, args))
        ids = torch.randint(0, VOCAB, (2, 8))
        mask = torch.ones(2, 8, dtype=torch.int64)
        mask[1, 6:] = 0
        if kind == "lm":
            labels = ids.masked_fill(mask == 0, -100)
        elif kind == "cls":
            labels = torch.tensor([2, 0])
        elif kind == "multi":
            labels = torch.tensor([[1.0, 0.0, 1.0], [0.0, 0.0, 1.0]])
        else:
            labels = torch.tensor([0.5, -1.25])
        with torch.no_grad():
            traced = torch.jit.trace(model, (ids, mask, labels), strict=False)
        save(traced, name, {"ids": ids, "mask": mask, "labels": labels})


def main():
    os.makedirs(HERE, exist_ok=True)
    for k, (name, spec) in enumerate(TEXT_MODELS.items()):
        torch.manual_seed(100 + k)
        model = Text(build(*spec))
        ids = torch.randint(0, VOCAB, (2, 8))
        mask = torch.ones(2, 8, dtype=torch.int64)
        mask[1, 6:] = 0
        with torch.no_grad():
            traced = torch.jit.trace(model, (ids, mask), strict=False)
        save(traced, name, {"ids": ids, "mask": mask})
    for k, (name, spec) in enumerate(SEQ2SEQ_MODELS.items()):
        torch.manual_seed(300 + k)
        model = Seq2Seq(build(*spec))
        ids = torch.randint(0, VOCAB, (2, 8))
        mask = torch.ones(2, 8, dtype=torch.int64)
        mask[1, 6:] = 0
        decoder_ids = torch.randint(0, VOCAB, (2, 5))
        with torch.no_grad():
            traced = torch.jit.trace(model, (ids, mask, decoder_ids), strict=False)
        save(traced, name, {"ids": ids, "mask": mask, "decoder_ids": decoder_ids})
    for k, (name, (config_class, model_class, args, shape, encoder)) in enumerate(AUDIO_MODELS.items()):
        torch.manual_seed(400 + k)
        model = build(config_class, model_class, args)
        model = Audio(model.get_encoder() if encoder else model)
        audio = torch.randn(*shape)
        with torch.no_grad():
            traced = torch.jit.trace(model, (audio,), strict=False)
        save(traced, name, {"audio": audio})
    for k, (name, spec) in enumerate(VISION_MODELS.items()):
        torch.manual_seed(200 + k)
        model = Vision(build(*spec))
        pixels = torch.randn(2, 3, 32, 32)
        with torch.no_grad():
            traced = torch.jit.trace(model, (pixels,), strict=False)
        save(traced, name, {"pixels": pixels})
    make_half()
    make_losses()


if __name__ == "__main__":
    main()
