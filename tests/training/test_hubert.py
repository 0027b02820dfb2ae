"""HuBERT / WavLM masked prediction: model, criterion, mixing, health checks."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from brainscore_speech.exceptions import CollapseError
from brainscore_speech.training import CollapseWarning
from brainscore_speech.training.hubert import (
    MaskedHealthMonitor,
    build_masked_prediction_model,
    check_masked_health,
    interior_mask,
    make_masked_config,
    masked_prediction_loss,
    mix_utterances,
    unit_perplexity,
)


def _fairseq_nce(x, pos, negs, temp):
    """fairseq HubertModel.compute_nce: [pos; negs] cosine / temp, -inf on neg==pos."""
    neg_is_pos = (pos == negs).all(-1)
    targets = torch.cat([pos.unsqueeze(0), negs], dim=0)
    logits = torch.cosine_similarity(x.float(), targets.float(), dim=-1) / temp
    logits[1:][neg_is_pos] = float("-inf")
    return logits.transpose(0, 1)  # (n, 1 + n_classes), target index 0


def test_loss_equals_the_fairseq_nce_formulation(rng):
    torch.manual_seed(0)
    b, t, d, k = 2, 30, 16, 12
    proj = torch.randn(b, t, d)
    embs = torch.rand(k, d)
    labels = torch.from_numpy(rng.integers(0, k, (b, t)))
    mask = torch.from_numpy(rng.random((b, t)) < 0.5)
    loss, logs = masked_prediction_loss(proj, embs, labels, mask, logit_temperature=0.1,
                                        pred_nomask_weight=0.5)
    ref = {}
    for name, sel in (("m", mask), ("u", ~mask)):
        x, y = proj[sel], labels[sel]
        logits = _fairseq_nce(x, embs[y], embs[:, None].expand(k, len(y), d), 0.1)
        ref[name] = F.cross_entropy(logits, torch.zeros(len(y), dtype=torch.long),
                                    reduction="sum")
        correct = (logits.argmax(-1) == 0).sum()
        assert logs[f"n_correct_{name}"] == int(correct)
    np.testing.assert_allclose(logs["loss_m_sum"], float(ref["m"]), rtol=1e-5)
    np.testing.assert_allclose(logs["loss_u_sum"], float(ref["u"]), rtol=1e-5)
    np.testing.assert_allclose(float(loss), float(ref["m"] + 0.5 * ref["u"]), rtol=1e-5)
    assert logs["n_masked"] == int(mask.sum())
    assert logs["n_unmasked"] == int((~mask).sum())
    assert logs["pred_counts"].sum() == logs["n_masked"] == logs["target_counts"].sum()
    np.testing.assert_array_equal(logs["target_counts"],
                                  np.bincount(labels[mask].numpy(), minlength=k))


def test_loss_weights_and_feature_penalty(rng):
    torch.manual_seed(1)
    proj, embs = torch.randn(1, 20, 8), torch.rand(5, 8)
    labels = torch.from_numpy(rng.integers(0, 5, (1, 20)))
    mask = torch.zeros(1, 20, dtype=torch.bool)
    mask[0, 5:12] = True
    conv = torch.randn(1, 4, 20)
    base, logs = masked_prediction_loss(proj, embs, labels, mask)
    pen, _ = masked_prediction_loss(proj, embs, labels, mask, conv_features=conv,
                                    feature_penalty_weight=10.0)
    np.testing.assert_allclose(float(pen - base), 7 * 10 * float(conv.pow(2).mean()),
                               rtol=1e-5)
    # unmasked frames do not enter the loss at the reference weight 0
    np.testing.assert_allclose(float(base), logs["loss_m_sum"], rtol=1e-6)
    # a perfect predictor: projections equal to the target embeddings
    perfect, lp = masked_prediction_loss(embs[labels] * 3.0, embs, labels, mask,
                                         logit_temperature=0.01)
    assert lp["n_correct_m"] == 7 or len(set(labels[mask].tolist())) < 7


def test_gradient_reaches_encoder_and_label_embeddings():
    model = build_masked_prediction_model("hubert", "tiny", num_clusters=10, seed=0)
    x = torch.randn(2, 16000)
    mask = torch.zeros(2, 49, dtype=torch.bool)
    mask[:, 10:25] = True
    labels = torch.randint(0, 10, (2, 49))
    loss, _ = masked_prediction_loss(model(x, mask_time_indices=mask), model.label_embs,
                                     labels, mask)
    loss.backward()
    assert model.label_embs.grad.abs().sum() > 0
    conv0 = model.hubert.feature_extractor.conv_layers[0].conv
    assert conv0.weight.grad.abs().sum() > 0
    assert model.hubert.masked_spec_embed.grad.abs().sum() > 0


@pytest.mark.parametrize("objective", ["hubert", "wavlm"])
def test_model_saves_loadable_by_plain_transformers(objective, tmp_path):
    from transformers import HubertModel, WavLMModel

    model = build_masked_prediction_model(objective, "tiny", num_clusters=20, seed=3)
    again = build_masked_prediction_model(objective, "tiny", num_clusters=20, seed=3)
    assert all(torch.equal(a, b) for a, b in zip(model.state_dict().values(),
                                                 again.state_dict().values()))
    embs = model.label_embs.detach()
    assert 0.0 <= float(embs.min()) and float(embs.max()) < 1.0
    model.save_pretrained(tmp_path)
    cls = HubertModel if objective == "hubert" else WavLMModel
    plain = cls.from_pretrained(tmp_path).eval()
    model.eval()
    x = torch.randn(1, 24000)
    with torch.no_grad():
        a = model.base_model(x, output_hidden_states=True).hidden_states
        b = plain(x, output_hidden_states=True).hidden_states
    assert len(a) == 4
    for u, v in zip(a, b):
        np.testing.assert_allclose(u.numpy(), v.numpy(), rtol=1e-6, atol=1e-6)
    if objective == "wavlm":  # gated relative position bias (HF architecture)
        attn = plain.encoder.layers[0].attention
        assert attn.gru_rel_pos_const.shape == (1, 4, 1, 1)
        assert attn.rel_attn_embed.num_embeddings == 320


def test_masked_config_is_the_wav2vec2_encoder():
    from brainscore_speech.training.model import make_model_config

    w = make_model_config("base")
    h = make_masked_config("hubert", "base", num_clusters=500)
    for key in ("conv_dim", "conv_stride", "conv_kernel", "hidden_size",
                "num_hidden_layers", "num_attention_heads", "intermediate_size",
                "feat_extract_norm", "do_stable_layer_norm", "layerdrop"):
        assert (tuple(np.atleast_1d(getattr(h, key)))
                == tuple(np.atleast_1d(getattr(w, key)))), key
    assert (h.mask_time_prob, h.mask_time_length, h.final_dim, h.num_clusters,
            h.logit_temperature) == (0.8, 10, 256, 500, 0.1)
    v = make_masked_config("wavlm", "base", num_clusters=500)
    assert (v.model_type, v.num_buckets, v.max_bucket_distance) == ("wavlm", 320, 800)
    with pytest.raises(ValueError, match=r"'objective' must be one of \['hubert', "
                                         r"'wavlm'\], got 'wav2vec2'"):
        make_masked_config("wav2vec2", "base", num_clusters=10)


def test_mix_utterances_overlap_and_energy(rng):
    x = rng.standard_normal((4, 16000)).astype(np.float32)
    x[1] *= 3.0
    mixed, is_mixed = mix_utterances(x, np.random.default_rng(0), mix_prob=1.0,
                                     max_ratio=0.5, energy_db=(5.0, 5.0))
    assert is_mixed.all()
    for b in range(4):
        diff = np.flatnonzero(np.abs(mixed[b] - x[b]) > 0)
        assert 0 < len(diff) <= 8000  # at most half the crop
        seg = slice(diff[0], diff[-1] + 1)
        added = mixed[b, seg] - x[b, seg]
        ratio_db = 10 * np.log10(np.mean(x[b, seg] ** 2) / np.mean(added ** 2))
        np.testing.assert_allclose(ratio_db, 5.0, atol=1e-3)
    again, _ = mix_utterances(x, np.random.default_rng(0), mix_prob=1.0,
                              energy_db=(5.0, 5.0))
    np.testing.assert_array_equal(again, mixed)  # a pure function of the generator
    none, flags = mix_utterances(x, np.random.default_rng(0), mix_prob=0.0)
    np.testing.assert_array_equal(none, x)
    assert not flags.any()
    # a single crop can only be mixed with noise
    one, flag = mix_utterances(x[:1], np.random.default_rng(1), mix_prob=1.0)
    assert flag.all() and not np.array_equal(one, x[:1])


def test_unit_perplexity():
    np.testing.assert_allclose(unit_perplexity(np.array([5, 5, 5, 5])), 4.0, rtol=1e-12)
    np.testing.assert_allclose(unit_perplexity(np.array([9, 0, 0])), 1.0, rtol=1e-12)


HEALTHY = {"loss": 3.0, "accuracy": 0.2, "chance": 0.05, "pred_max_share": 0.1,
           "target_perplexity": 50.0, "grad_norm": 1.0}
KW = dict(collapse_unit_share=0.95, grad_norm_band=(1e-6, 1e3))


@pytest.mark.parametrize("change,match", [
    ({"pred_max_share": 1.0, "accuracy": 0.05},
     r"100% of masked predictions are one unit \(target perplexity 50.0\)"),
    ({"loss": float("nan")}, r"non-finite loss nan"),
    ({"grad_norm": 1e-9}, r"grad norm 1.00e-09 below"),
])
def test_check_masked_health_collapse_signs(change, match):
    collapse, _ = check_masked_health({**HEALTHY, **change}, **KW)
    assert any(__import__("re").search(match, c) for c in collapse), collapse


def test_check_masked_health_one_unit_above_chance_is_not_collapse():
    # one dominant prediction that still beats the majority baseline is learning
    assert check_masked_health({**HEALTHY, "pred_max_share": 0.99}, **KW) == ([], [])
    collapse, other = check_masked_health({**HEALTHY, "target_perplexity": 1.5}, **KW)
    assert collapse == [] and "degenerate codebook" in other[0]


def test_masked_monitor_raises_after_patience():
    mon = MaskedHealthMonitor(0.95, (1e-6, 1e3), patience=2, grace=3)
    bad = {**HEALTHY, "pred_max_share": 1.0, "accuracy": 0.05}
    for step in (1, 2, 3):  # an untrained model predicts one unit: not counted yet
        assert mon.update(step, bad) == [] and mon.streak == 0
    with pytest.warns(CollapseWarning, match=r"Training health at step 4: 100% of "
                                             r"masked predictions are one unit"):
        mon.update(4, bad)
    with pytest.raises(CollapseError, match=r"Training collapsed at step 5: 100% of "
                                            r"masked predictions are one unit .* for 2 "
                                            r"consecutive updates"):
        mon.update(5, bad)


def test_interior_mask_excludes_frames_near_unmasked_ones():
    mask = np.array([[0, 1, 1, 1, 1, 1, 1, 1, 0, 0, 1, 1]], dtype=bool)
    # distance 2: a masked frame needs 2 masked frames (or the crop's end) each side
    want = np.array([[0, 0, 0, 1, 1, 1, 0, 0, 0, 0, 0, 0]], dtype=bool)
    np.testing.assert_array_equal(interior_mask(mask, 2), want)
    # beyond the crop counts as masked: the last two frames are interior at distance 1
    np.testing.assert_array_equal(interior_mask(mask, 1)[0, 10:], [False, True])
    np.testing.assert_array_equal(interior_mask(mask, 0), mask)
    with pytest.raises(ValueError, match=r"'distance' must be >= 0, got -1"):
        interior_mask(mask, -1)


def test_loss_logs_interior_accuracy(rng):
    from brainscore_speech.training.hubert import MFCC_REACH_FRAMES
    from brainscore_speech.training.targets import compute_mfcc

    # the reach of an MFCC target: audio of frame i + MFCC_REACH_FRAMES (which
    # starts at sample 320 (i + 5)) changes frame i's target, frame i + 6 does not
    x = rng.standard_normal(16000) * 0.1
    i, reach = 20, MFCC_REACH_FRAMES
    ref = compute_mfcc(x)[i]
    for first, changes in ((320 * (i + reach), True), (320 * (i + reach + 1), False)):
        y = x.copy()
        y[first:] = 0.0
        assert np.allclose(compute_mfcc(y)[i], ref, atol=1e-6) != changes, first
    k, t = 5, 12
    labels = torch.from_numpy(rng.integers(0, k, size=(1, t)))
    emb = torch.eye(k)
    proj = F.one_hot(labels, k).float()  # predicts every frame right ...
    proj[0, 4] = emb[(labels[0, 4] + 1) % k]  # ... but one interior frame
    mask = torch.ones(1, t, dtype=torch.bool)
    mask[0, 0] = False
    inner = torch.from_numpy(interior_mask(mask.numpy(), 3))
    _, logs = masked_prediction_loss(proj, emb, labels, mask, interior=inner)
    assert logs["n_interior"] == int(inner.sum()) == t - 4
    assert logs["n_correct_interior"] == t - 5
    assert logs["n_correct_m"] == t - 2
