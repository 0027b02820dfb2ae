"""The (B, T, C) strided-GEMM feature encoder equals the HF conv blocks."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from brainscore_speech.features import (
    extract_activations,
    make_random_model,
    make_tiny_config,
)
from brainscore_speech.features._fastconv import (
    fast_feature_encoder,
    supports_fast_encoder,
)


def _hf_blocks(encoder, x):
    outs = []
    hooks = [lay.register_forward_hook(lambda m, i, o: outs.append(o.transpose(1, 2)))
             for lay in encoder.feature_extractor.conv_layers]
    try:
        final = encoder.feature_extractor(x)
    finally:
        for h in hooks:
            h.remove()
    return outs, final


def _model(kind):
    from transformers import HubertConfig, HubertModel, WavLMConfig, WavLMModel

    tiny = dict(hidden_size=32, num_hidden_layers=1, num_attention_heads=2,
                intermediate_size=64, conv_dim=(16,) * 7, num_conv_pos_embeddings=8,
                num_conv_pos_embedding_groups=2)
    torch.manual_seed(0)
    builders = {
        "wav2vec2-group": lambda: make_random_model(make_tiny_config(),
                                                    seed=0).wav2vec2,
        "wav2vec2-group-bias": lambda: make_random_model(
            make_tiny_config(conv_bias=True), seed=2).wav2vec2,
        "wav2vec2-layer-bias": lambda: make_random_model(make_tiny_config(
            feat_extract_norm="layer", conv_bias=True), seed=1).wav2vec2,
        "hubert": lambda: HubertModel(HubertConfig(**tiny)),
        "wavlm-layer": lambda: WavLMModel(WavLMConfig(feat_extract_norm="layer",
                                                      conv_bias=True, **tiny)),
    }
    return builders[kind]()


@pytest.mark.parametrize("kind", ["wav2vec2-group", "wav2vec2-group-bias",
                                  "wav2vec2-layer-bias", "hubert", "wavlm-layer"])
def test_fast_blocks_equal_hf_blocks(kind, rng):
    model = _model(kind).eval()
    # batch of 2 of an odd length (partial last frames in every block)
    x = torch.from_numpy(rng.standard_normal((2, 16000 + 123)).astype(np.float32))
    with torch.inference_mode():
        ref, ref_final = _hf_blocks(model, x)
        got = []
        with fast_feature_encoder(model, lambda i, h: got.append((i, h.clone()))):
            final = model.feature_extractor(x)
            full = model(x, output_hidden_states=True).hidden_states
        ref_full = model(x, output_hidden_states=True).hidden_states
    assert [i for i, _ in got[:7]] == list(range(7))
    for (_, h), r in zip(got, ref):
        assert h.shape == r.shape
        torch.testing.assert_close(h, r, rtol=1e-5, atol=1e-5 * float(r.abs().max()))
    assert final.shape == ref_final.shape  # HF layout (B, C, T)
    for a, b in zip(full, ref_full):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-4)


def test_forward_is_restored_after_an_error(rng):
    model = _model("wav2vec2-group").eval()
    x = torch.from_numpy(rng.standard_normal((1, 8000)).astype(np.float32))

    def boom(i, h):
        raise RuntimeError("stop")

    with pytest.raises(RuntimeError, match="stop"), torch.inference_mode():
        with fast_feature_encoder(model, boom):
            model.feature_extractor(x)
    assert "forward" not in vars(model.feature_extractor)
    with torch.inference_mode():  # the HF forward again: hooks fire
        ref, _ = _hf_blocks(model, x)
    assert len(ref) == 7


def test_bfloat16_autocast_is_close(rng):
    model = _model("wav2vec2-group").eval()
    x = torch.from_numpy(rng.standard_normal((1, 16000)).astype(np.float32))
    with torch.inference_mode():
        ref, _ = _hf_blocks(model, x)
        got = []
        with torch.autocast("cpu", dtype=torch.bfloat16), \
                fast_feature_encoder(model, lambda i, h: got.append(h.float())):
            model.feature_extractor(x)
    for h, r in zip(got, ref):
        corr = np.corrcoef(h.flatten().numpy(), r.flatten().numpy())[0, 1]
        assert corr > 0.999


def test_non_standard_blocks_are_refused():
    model = _model("wav2vec2-group")
    assert supports_fast_encoder(model)
    model.feature_extractor.conv_layers[2].conv.padding = (1,)
    assert not supports_fast_encoder(model)
    with pytest.raises(ValueError,
                       match="non-standard conv blocks; use the HF forward"):
        with fast_feature_encoder(model):
            pass
    assert not supports_fast_encoder(torch.nn.Linear(2, 2))


def test_extraction_falls_back_to_hooks_for_non_standard_blocks(noise):
    # an unknown norm module on conv6 (non-standard, inert in the HF forward):
    # extraction must use the HF forward and hooks
    fast = make_random_model(make_tiny_config(), seed=0)
    slow = make_random_model(make_tiny_config(), seed=0)
    for m in (fast, slow):
        m.eval()
    slow.wav2vec2.feature_extractor.conv_layers[6].layer_norm = torch.nn.Identity()
    assert not supports_fast_encoder(slow.wav2vec2)
    a = extract_activations(fast, noise, window_s=2.0, stride_s=1.0)
    b = extract_activations(slow, noise, window_s=2.0, stride_s=1.0)
    for name in a.layer_order:
        np.testing.assert_allclose(a.layers[name], b.layers[name], rtol=1e-4,
                                   atol=1e-5)
    # nothing left behind: hooks removed, the HF forward back in place
    assert all(not lay._forward_hooks
               for lay in slow.wav2vec2.feature_extractor.conv_layers)
    assert "forward" not in vars(fast.wav2vec2.feature_extractor)
