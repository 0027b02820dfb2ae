"""Build ``transformers.Wav2Vec2ForPreTraining`` from a preset (no hub access).

Presets (architecture only; the recipe is in :mod:`.config`):

- ``base``: fairseq wav2vec 2.0 BASE semantics (METHODS §3.3/§14.4): 7 conv blocks
  of 512 channels with GroupNorm in block 0 only, no conv bias, post-LN
  transformer with 12 blocks of 768 (FFN 3072, 12 heads), conv positional
  embedding 128/16, G = 2 x V = 320 codes, codevector / final dim 256, mask
  0.65 x 10, K = 100 negatives, logit temperature 0.1, dropout 0.1, attention
  dropout 0.1, activation dropout 0, input dropout 0.1, feature dropout 0.1,
  LayerDrop 0.05.
- ``large``: fairseq LARGE (LV-60): LayerNorm in every conv block with bias,
  pre-LN, 24 x 1024 (FFN 4096, 16 heads), codevector dim 768, final dim 768.
- ``tiny``: FINDINGS §1a (291 k parameters): conv 32 channels, 3 blocks of 96,
  4 heads, G = 2 x V = 32, K = 20, mask 0.5 x 5, no dropout.

This module knows nothing about losses. It only offers :class:`FeatureTap`,
forward hooks (registered in one place) that scale the conv-encoder gradient
(fairseq ``feature_grad_mult``) and expose the conv output and the quantizer
logits that the criterion needs.
"""

from __future__ import annotations

import copy
from typing import Any

import torch

from .._validation import check_option

__all__ = ["PRESET_ARCH", "FeatureTap", "build_model", "make_model_config",
           "make_feature_extractor"]

# shared by every preset: the conv front end (fairseq) and the loss/augmentation
_SHARED = dict(conv_stride=(5, 2, 2, 2, 2, 2, 2), conv_kernel=(10, 3, 3, 3, 3, 2, 2),
               hidden_act="gelu", num_codevector_groups=2,
               contrastive_logits_temperature=0.1, activation_dropout=0.0,
               final_dropout=0.0, apply_spec_augment=True, mask_feature_prob=0.0)

PRESET_ARCH: dict[str, dict[str, Any]] = {
    "base": dict(
        **_SHARED, conv_dim=(512,) * 7, conv_bias=False, feat_extract_norm="group",
        do_stable_layer_norm=False, hidden_size=768, num_hidden_layers=12,
        num_attention_heads=12, intermediate_size=3072,
        num_conv_pos_embeddings=128, num_conv_pos_embedding_groups=16,
        num_codevectors_per_group=320, codevector_dim=256, proj_codevector_dim=256,
        num_negatives=100, mask_time_prob=0.65, mask_time_length=10,
        hidden_dropout=0.1, attention_dropout=0.1, feat_proj_dropout=0.1,
        feat_quantizer_dropout=0.1, layerdrop=0.05),
    "large": dict(
        **_SHARED, conv_dim=(512,) * 7, conv_bias=True, feat_extract_norm="layer",
        do_stable_layer_norm=True, hidden_size=1024, num_hidden_layers=24,
        num_attention_heads=16, intermediate_size=4096,
        num_conv_pos_embeddings=128, num_conv_pos_embedding_groups=16,
        num_codevectors_per_group=320, codevector_dim=768, proj_codevector_dim=768,
        num_negatives=100, mask_time_prob=0.65, mask_time_length=10,
        hidden_dropout=0.0, attention_dropout=0.1, feat_proj_dropout=0.1,
        feat_quantizer_dropout=0.1, layerdrop=0.0),
    "tiny": dict(
        **_SHARED, conv_dim=(32,) * 7, conv_bias=False, feat_extract_norm="group",
        do_stable_layer_norm=False, hidden_size=96, num_hidden_layers=3,
        num_attention_heads=4, intermediate_size=192,
        num_conv_pos_embeddings=16, num_conv_pos_embedding_groups=4,
        num_codevectors_per_group=32, codevector_dim=64, proj_codevector_dim=32,
        num_negatives=20, mask_time_prob=0.5, mask_time_length=5,
        hidden_dropout=0.0, attention_dropout=0.0, feat_proj_dropout=0.0,
        feat_quantizer_dropout=0.0, layerdrop=0.0),
}


def make_model_config(preset: str, *, diversity_loss_weight: float = 0.1):
    """A fresh ``Wav2Vec2Config`` for ``preset`` (a new object every call).

    Parameters
    ----------
    preset : {"tiny", "base", "large"}
    diversity_loss_weight : float
        Stored in the config for the record (our criterion applies it).

    Returns
    -------
    transformers.Wav2Vec2Config
    """
    from transformers import Wav2Vec2Config

    check_option("preset", preset, tuple(PRESET_ARCH))
    kw = copy.deepcopy(PRESET_ARCH[preset])
    return Wav2Vec2Config(**kw, diversity_loss_weight=diversity_loss_weight,
                          architectures=["Wav2Vec2ForPreTraining"])


def build_model(preset: str, *, seed: int = 0, diversity_loss_weight: float = 0.1,
                attn_implementation: str = "sdpa"):
    """Randomly initialised ``Wav2Vec2ForPreTraining`` for ``preset``.

    Initialisation is deterministic given ``seed`` (the torch global generator is
    seeded here; callers that need their own stream re-seed afterwards).

    Parameters
    ----------
    preset : {"tiny", "base", "large"}
    seed : int
    diversity_loss_weight : float
    attn_implementation : {"sdpa", "eager"}

    Returns
    -------
    transformers.Wav2Vec2ForPreTraining
        In train mode, float32, on CPU.
    """
    from transformers import Wav2Vec2ForPreTraining

    config = make_model_config(preset, diversity_loss_weight=diversity_loss_weight)
    torch.manual_seed(seed)
    model = Wav2Vec2ForPreTraining._from_config(config,
                                                attn_implementation=attn_implementation)
    return model.train()


def make_feature_extractor(normalize: bool):
    """The ``Wav2Vec2FeatureExtractor`` saved with a checkpoint (16 kHz, mono).

    Parameters
    ----------
    normalize : bool
        Whether the waveform was z-scored in training (``do_normalize``).

    Returns
    -------
    transformers.Wav2Vec2FeatureExtractor
    """
    from transformers import Wav2Vec2FeatureExtractor

    return Wav2Vec2FeatureExtractor(feature_size=1, sampling_rate=16000,
                                    padding_value=0.0, do_normalize=bool(normalize),
                                    return_attention_mask=bool(normalize))


class _GradMultiply(torch.autograd.Function):
    """Identity forward; gradient scaled by ``scale`` (fairseq ``GradMultiply``)."""

    @staticmethod
    def forward(ctx, x, scale):
        ctx.scale = scale
        return x.view_as(x)

    @staticmethod
    def backward(ctx, grad):
        return grad * ctx.scale, None


class FeatureTap:
    """Forward hooks giving the criterion what HF does not return.

    After each forward pass:

    - ``conv_features``: output of the conv feature encoder, shape
      ``(batch, conv_dim[-1], n_frames)``, before the feature LayerNorm (for the
      fairseq feature L2 penalty);
    - ``code_logits``: quantizer logits, shape ``(batch, n_frames, G * V)`` (for
      the hard-assignment code perplexity).

    The conv output's gradient is multiplied by ``feature_grad_mult``.

    Parameters
    ----------
    model : Wav2Vec2ForPreTraining
        The unwrapped model (not the DDP wrapper).
    feature_grad_mult : float
    """

    def __init__(self, model, *, feature_grad_mult: float = 1.0) -> None:
        self.feature_grad_mult = float(feature_grad_mult)
        self.conv_features: torch.Tensor | None = None
        self.code_logits: torch.Tensor | None = None
        self._handles = [
            model.wav2vec2.feature_extractor.register_forward_hook(self._on_conv),
            model.quantizer.weight_proj.register_forward_hook(self._on_logits),
        ]

    def _on_conv(self, module, inputs, output):
        if self.feature_grad_mult != 1.0 and output.requires_grad:
            output = _GradMultiply.apply(output, self.feature_grad_mult)
        self.conv_features = output
        return output

    def _on_logits(self, module, inputs, output):
        self.code_logits = output.detach()

    def remove(self) -> None:
        """Remove the hooks."""
        for h in self._handles:
            h.remove()
        self._handles = []
