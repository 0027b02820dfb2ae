"""A faster CPU forward for the wav2vec2 / HuBERT / WavLM convolutional feature encoder.

Two blocks of the HF feature encoder waste time on CPU (measured on 2 cores, one
10 s window of the BASE model; oneDNN's stride-2 convolutions themselves run at
~90 % of the machine's float32 matrix-product rate and are kept):

- **conv0 with GroupNorm** (wav2vec2 BASE, HuBERT BASE): a 1 -> 512 channel
  convolution over 32 000 frames followed by a per-channel normalisation over the
  window, ~92 ms of which only ~25 ms is arithmetic. conv0 is linear in the
  waveform frames ``F`` (n_frames, kernel), so each channel's mean and variance
  over the window follow exactly from the frames' mean and (kernel x kernel)
  covariance: ``mean_c = mean(F) . w_c`` and ``var_c = w_c' Cov(F) w_c``. The
  normalisation is then folded into the weights and the whole block is one
  matrix product plus the activation.
- **LayerNorm blocks** (wav2vec2 LARGE-LV60, HuBERT/WavLM LARGE): HF transposes
  (B, C, T) -> (B, T, C) around every LayerNorm. Here those blocks run in
  (B, T, C) layout as matrix products over strided views of the input (no im2col
  copy): output frame ``t`` is ``sum_k x[s t + k] @ W_k`` and ``x[s t + k]`` for
  all ``t`` is a view with row stride ``s * C_in``.

The numbers are those of the HF modules up to float rounding (tested to 1e-5
relative). Anything non-standard (padding, dilation, groups, another norm) uses
the HF forward.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator

import torch
from torch import nn

__all__ = ["fast_feature_encoder", "supports_fast_encoder"]


def _block_kind(layer: nn.Module) -> str | None:
    conv = getattr(layer, "conv", None)
    if not isinstance(conv, nn.Conv1d) or not callable(getattr(layer, "activation",
                                                               None)):
        return None
    if conv.groups != 1 or conv.dilation != (1,) or conv.padding not in ((0,), 0):
        return None
    norm = getattr(layer, "layer_norm", None)
    if norm is None:
        return "none"
    if isinstance(norm, nn.GroupNorm) and norm.num_groups == norm.num_channels:
        return "group"
    if isinstance(norm, nn.LayerNorm) and len(norm.normalized_shape) == 1:
        return "layer"
    return None


def supports_fast_encoder(model: nn.Module) -> bool:
    """Whether ``model.feature_extractor`` is made of standard conv blocks."""
    encoder = getattr(model, "feature_extractor", None)
    layers = getattr(encoder, "conv_layers", None)
    if layers is None or len(layers) == 0:
        return False
    kinds = [_block_kind(lay) for lay in layers]
    if None in kinds or "group" in kinds[1:]:
        return False
    return kinds[0] != "group" or layers[0].conv.in_channels == 1


def _conv_btc(x: torch.Tensor, conv: nn.Conv1d) -> torch.Tensor:
    """``conv`` applied to ``x`` of shape (B, T, C_in); returns (B, T_out, C_out)."""
    weight = conv.weight  # (C_out, C_in, K)
    c_out, c_in, k = weight.shape
    s = conv.stride[0]
    b, t, _ = x.shape
    t_out = (t - k) // s + 1
    if c_in == 1:
        # frames of the waveform as a view: (B, T_out, K), one small matrix product
        frames = x[..., 0].unfold(1, k, s)
        out = torch.matmul(frames, weight[:, 0, :].t().to(frames.dtype))
    else:
        x = x.contiguous()
        w = weight.permute(2, 1, 0)  # (K, C_in, C_out)
        out = None
        for j in range(k):
            rows = x.as_strided((b, t_out, c_in), (t * c_in, s * c_in, 1),
                                x.storage_offset() + j * c_in)
            w_j = w[j].to(rows.dtype)
            out = torch.matmul(rows, w_j) if out is None else out.add_(
                torch.matmul(rows, w_j))
    if conv.bias is not None:
        out = out + conv.bias.to(out.dtype)
    return out


def _group_conv0_bct(x: torch.Tensor, layer: nn.Module) -> torch.Tensor:
    """conv0 + per-channel GroupNorm + activation on waveforms (B, N) -> (B, C, T)."""
    with torch.autocast(x.device.type, enabled=False):  # cheap: keep it float32
        return layer.activation(_group_conv0_f32(x, layer))


def _group_conv0_f32(x: torch.Tensor, layer: nn.Module) -> torch.Tensor:
    conv, norm = layer.conv, layer.layer_norm
    weight = conv.weight[:, 0, :].float()  # (C, K)
    k, s = conv.kernel_size[0], conv.stride[0]
    frames = x.float().unfold(1, k, s)  # (B, T, K), a view
    mean_f = frames.mean(1)  # (B, K)
    centred = frames - mean_f[:, None]
    cov = centred.transpose(1, 2) @ centred / frames.shape[1]  # (B, K, K)
    var = torch.einsum("ck,bkl,cl->bc", weight, cov, weight).clamp_min(0)
    scale = torch.rsqrt(var + norm.eps)  # (B, C)
    mean = mean_f @ weight.t()  # conv bias cancels in (y - mean)
    if norm.affine:
        scale = scale * norm.weight.float()
        shift = norm.bias.float() - mean * scale
    else:
        shift = -mean * scale
    return torch.baddbmm(shift[:, :, None], weight[None] * scale[:, :, None],
                         frames.transpose(1, 2))


def _block_forward(layer: nn.Module, kind: str, x: torch.Tensor) -> torch.Tensor:
    """A LayerNorm (or no-norm) block in (B, T, C) layout."""
    h = _conv_btc(x, layer.conv)
    if kind == "layer":
        norm = layer.layer_norm
        h = torch.nn.functional.layer_norm(h, norm.normalized_shape, norm.weight,
                                           norm.bias, norm.eps)
    return layer.activation(h)


@contextlib.contextmanager
def fast_feature_encoder(model: nn.Module,
                         on_block: Callable[[int, torch.Tensor], None] | None = None
                         ) -> Iterator[None]:
    """Temporarily route ``model.feature_extractor`` through the (B, T, C) forward.

    Parameters
    ----------
    model : transformers model
        A wav2vec2 / HuBERT / WavLM model (with ``feature_extractor.conv_layers``)
        in eval mode; only used for inference.
    on_block : callable, optional
        Called as ``on_block(i, h)`` with each block's output ``h`` of shape
        (batch, n_frames_i, n_channels_i), as the forward hooks on
        ``conv_layers[i]`` would see it (transposed).

    Raises
    ------
    ValueError
        If the feature encoder has non-standard blocks (see
        :func:`supports_fast_encoder`).
    """
    if not supports_fast_encoder(model):
        raise ValueError("The model's feature encoder has non-standard conv blocks; "
                         "use the HF forward.")
    encoder = model.feature_extractor
    layers = list(encoder.conv_layers)
    kinds = [_block_kind(lay) for lay in layers]

    def forward(input_values: torch.Tensor) -> torch.Tensor:
        if kinds[0] == "group":  # BASE: conv0 folded, then oneDNN in (B, C, T)
            h = _group_conv0_bct(input_values, layers[0])
            for i, layer in enumerate(layers):
                if i:
                    h = layer(h)
                if on_block is not None:
                    on_block(i, h.transpose(1, 2))
            return h
        h = input_values[:, :, None]  # (B, T, 1)
        for i, (layer, kind) in enumerate(zip(layers, kinds)):
            h = _block_forward(layer, kind, h)
            if on_block is not None:
                on_block(i, h)
        return h.transpose(1, 2)  # HF layout (B, C, T), a view

    encoder.forward = forward
    try:
        yield
    finally:
        del encoder.forward  # back to the class's forward
