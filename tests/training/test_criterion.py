"""Masks, negatives and the loss, against HF's Wav2Vec2ForPreTraining loss."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from brainscore_speech.training import (
    FeatureTap,
    build_model,
    perplexity,
    sample_masks,
    sample_negatives,
    wav2vec2_loss,
)


def test_sample_masks_equal_counts_and_spans():
    rng = np.random.default_rng(0)
    mask = sample_masks(8, 99, mask_prob=0.5, mask_length=5, rng=rng)
    assert mask.shape == (8, 99) and mask.dtype == bool
    counts = mask.sum(1)
    assert (counts == counts[0]).all()
    # about p*M*T spans of M frames minus overlaps: between 25% and 55% of frames
    assert 0.25 < counts[0] / 99 < 0.55


def test_sample_masks_deterministic_and_min_masks():
    a = sample_masks(2, 30, mask_prob=0.0, mask_length=5,
                     rng=np.random.default_rng(1))
    b = sample_masks(2, 30, mask_prob=0.0, mask_length=5,
                     rng=np.random.default_rng(1))
    np.testing.assert_array_equal(a, b)
    assert (a.sum(1) >= 5).all()  # min_masks=2 spans even with p=0


def test_sample_masks_too_short():
    with pytest.raises(ValueError, match=r"Crops give 4 frames, fewer than one mask "
                                         r"span of 5"):
        sample_masks(1, 4, mask_prob=0.5, mask_length=5, rng=np.random.default_rng(0))


def test_sample_negatives_from_other_masked_frames_of_same_row():
    rng = np.random.default_rng(0)
    mask = sample_masks(4, 60, mask_prob=0.5, mask_length=5, rng=rng)
    negs = sample_negatives(mask, 20, rng)
    pos = np.flatnonzero(mask.ravel())
    assert negs.shape == (len(pos), 20)
    assert (negs != pos[:, None]).all()  # never the frame itself
    assert mask.ravel()[negs].all()  # only masked frames
    assert ((negs // 60) == (pos // 60)[:, None]).all()  # same utterance


def test_sample_negatives_needs_two_masked():
    mask = np.zeros((1, 10), dtype=bool)
    mask[0, 3] = True
    with pytest.raises(ValueError, match=r"Row 0 has 1 masked frame\(s\); negatives "
                                         r"need >= 2"):
        sample_negatives(mask, 5, np.random.default_rng(0))


def test_perplexity_bounds():
    g, v = 2, 8
    uniform = torch.full((50, g, v), 1.0 / v)
    np.testing.assert_allclose(float(perplexity(uniform)), g * v, rtol=1e-6)
    onehot = torch.zeros(50, g, v)
    onehot[:, :, 3] = 1.0
    np.testing.assert_allclose(float(perplexity(onehot)), g, rtol=1e-6)


def _hf_negatives(negs, mask, n_frames):
    """Our (n_masked, K) flat indices -> HF's (B, T, K) sampled_negative_indices."""
    b = mask.shape[0]
    out = np.zeros((b, n_frames, negs.shape[1]), dtype=np.int64)
    out.reshape(-1, negs.shape[1])[np.flatnonzero(mask.ravel())] = negs
    return out


def test_loss_matches_hf_reference():
    torch.manual_seed(0)
    model = build_model("tiny", seed=0, diversity_loss_weight=0.02)
    tap = FeatureTap(model)
    rng = np.random.default_rng(0)
    x = torch.randn(3, 16000)
    mask = sample_masks(3, 49, mask_prob=0.5, mask_length=5, rng=rng)
    negs = sample_negatives(mask, model.config.num_negatives, rng)
    model.eval()  # deterministic quantizer so both passes see the same codes
    with torch.no_grad():
        out = model(x, mask_time_indices=torch.from_numpy(mask),
                    sampled_negative_indices=torch.from_numpy(
                        _hf_negatives(negs, mask, 49)))
        loss, logs = wav2vec2_loss(
            out, torch.from_numpy(mask), torch.from_numpy(negs),
            conv_features=tap.conv_features, code_logits=tap.code_logits,
            num_groups=2, num_vars=32, logit_temperature=0.1,
            diversity_loss_weight=0.02, feature_penalty_weight=0.0)
    # same math as HF (summed over masked frames): float32 tolerance
    np.testing.assert_allclose(logs["contrastive_sum"], float(out.contrastive_loss),
                               rtol=1e-5)
    np.testing.assert_allclose(float(loss), float(out.loss), rtol=1e-5)
    n = int(mask.sum())
    assert logs["n_masked"] == n
    # at init the per-frame loss is near chance ln(K+1)
    assert abs(logs["contrastive_sum"] / n - math.log(21)) < 0.5
    # eval mode: hard codes -> prob and code perplexity coincide
    np.testing.assert_allclose(logs["code_perplexity"], logs["prob_perplexity"],
                               rtol=1e-5)


def test_loss_feature_penalty_and_neg_is_pos():
    model = build_model("tiny", seed=0)
    tap = FeatureTap(model)
    rng = np.random.default_rng(0)
    x = torch.randn(2, 16000)
    mask = sample_masks(2, 49, mask_prob=0.5, mask_length=5, rng=rng)
    negs = sample_negatives(mask, 20, rng)
    model.eval()
    with torch.no_grad():
        out = model(x, mask_time_indices=torch.from_numpy(mask))
        kw = dict(conv_features=tap.conv_features, code_logits=tap.code_logits,
                  num_groups=2, num_vars=32, diversity_loss_weight=0.0)
        l0, logs = wav2vec2_loss(out, torch.from_numpy(mask), torch.from_numpy(negs),
                                 feature_penalty_weight=0.0, **kw)
        l1, _ = wav2vec2_loss(out, torch.from_numpy(mask), torch.from_numpy(negs),
                              feature_penalty_weight=10.0, **kw)
        pen = float(tap.conv_features.pow(2).mean())
        np.testing.assert_allclose(float(l1 - l0), 10.0 * pen * logs["n_masked"],
                                   rtol=1e-4)
        # planted collapse: every quantized target identical -> all negatives == pos
        out.projected_quantized_states = torch.ones_like(out.projected_quantized_states)
        _, logs = wav2vec2_loss(out, torch.from_numpy(mask), torch.from_numpy(negs),
                                feature_penalty_weight=0.0, **kw)
    assert logs["n_neg_is_pos"] == logs["n_negatives"]
    assert logs["contrastive_sum"] == pytest.approx(0.0, abs=1e-6)
