"""Presets built from config (no hub) and the feature tap."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from brainscore_speech.training import (
    FeatureTap,
    build_model,
    make_feature_extractor,
    make_model_config,
)


def test_tiny_preset_matches_findings():
    model = build_model("tiny", seed=0)
    n = sum(p.numel() for p in model.parameters())
    assert 280_000 < n < 300_000  # FINDINGS §1a: 291 k parameters
    assert model.training


def test_base_preset_is_fairseq_base():
    c = make_model_config("base")
    assert (c.feat_extract_norm, c.do_stable_layer_norm, c.conv_bias) == ("group",
                                                                          False,
                                                                          False)
    assert (c.hidden_size, c.num_hidden_layers, c.num_attention_heads,
            c.intermediate_size) == (768, 12, 12, 3072)
    assert (c.mask_time_prob, c.mask_time_length, c.num_negatives) == (0.65, 10, 100)
    assert (c.num_codevector_groups, c.num_codevectors_per_group,
            c.proj_codevector_dim) == (2, 320, 256)
    assert (c.layerdrop, c.feat_quantizer_dropout, c.activation_dropout) == (0.05, 0.1,
                                                                             0.0)
    large = make_model_config("large")
    assert (large.num_hidden_layers, large.hidden_size, large.do_stable_layer_norm) == (
        24, 1024, True)


def test_make_model_config_fresh_objects_and_unknown():
    assert make_model_config("tiny") is not make_model_config("tiny")
    with pytest.raises(ValueError, match=r"'preset' must be one of"):
        make_model_config("huge")


def test_build_model_seeded():
    a, b = build_model("tiny", seed=1), build_model("tiny", seed=1)
    c = build_model("tiny", seed=2)
    pa = torch.nn.utils.parameters_to_vector(a.parameters())
    assert torch.equal(pa, torch.nn.utils.parameters_to_vector(b.parameters()))
    assert not torch.equal(pa, torch.nn.utils.parameters_to_vector(c.parameters()))


def test_feature_tap_shapes_and_grad_mult():
    x = torch.randn(2, 16000)
    grads = {}
    for mult in (1.0, 0.1):
        model = build_model("tiny", seed=0)
        model.eval()  # deterministic (no Gumbel noise, no random masking)
        tap = FeatureTap(model, feature_grad_mult=mult)
        out = model(x)
        assert tap.conv_features.shape == (2, 32, 49)
        assert tap.code_logits.shape == (2, 49, 64)
        (out.projected_quantized_states.sum() + out.projected_states.sum()).backward()
        grads[mult] = model.wav2vec2.feature_extractor.conv_layers[0].conv.weight.grad
        tap.remove()
    # the conv encoder's gradient is scaled by 0.1 (fairseq feature_grad_mult), up to
    # float32 rounding of the backward pass through 7 conv blocks
    ref = 0.1 * grads[1.0].numpy()
    np.testing.assert_allclose(grads[0.1].numpy(), ref, rtol=1e-4,
                               atol=1e-5 * np.abs(ref).max())


def test_feature_extractor_normalize_flag():
    assert make_feature_extractor(True).do_normalize is True
    fe = make_feature_extractor(False)
    assert fe.do_normalize is False and fe.sampling_rate == 16000
