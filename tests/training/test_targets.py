"""HuBERT targets: MFCC, deltas, k-means recipe, PNMI, codebook usage, targets dirs."""

from __future__ import annotations

import json

import numpy as np
import pytest

from brainscore_speech.exceptions import DataError
from brainscore_speech.training import load_corpus
from brainscore_speech.training.targets import (
    KMEANS_DEFAULTS,
    build_targets,
    codebook_usage,
    compute_deltas,
    compute_mfcc,
    fit_kmeans,
    frame_count,
    load_targets,
    pnmi,
    predict_units,
)

# small k-means settings for speed in tests (the recipe's are checked separately)
FAST_KM = {"n_init": 2, "batch_size": 512, "max_iter": 20}


def test_frame_count_matches_the_conv_encoder():
    from brainscore_speech.training.loop import n_frames
    from brainscore_speech.training.model import make_model_config

    cfg = make_model_config("tiny")
    for n in (400, 401, 719, 720, 16000, 32000, 48123, 160000):
        assert frame_count(n) == n_frames(cfg, n), n
    assert frame_count(399) == 0


def test_compute_deltas_matches_the_regression_formula(rng):
    x = rng.standard_normal((30, 4))
    d = compute_deltas(x)
    pad = np.pad(x, ((2, 2), (0, 0)), mode="edge")
    ref = np.array([(1 * (pad[t + 3] - pad[t + 1]) + 2 * (pad[t + 4] - pad[t])) / 10
                    for t in range(30)])
    np.testing.assert_allclose(d, ref, rtol=1e-12, atol=1e-12)
    ramp = np.arange(20.0)[:, None] * 3.0  # slope 3 per frame in the interior
    np.testing.assert_allclose(compute_deltas(ramp)[2:-2], 3.0, rtol=1e-12)


def test_compute_mfcc_shape_grid_and_tone(rng):
    sf = 16000
    t = np.arange(sf) / sf
    low = np.sin(2 * np.pi * 200 * t) * 0.3
    high = np.sin(2 * np.pi * 3000 * t) * 0.3
    m_low, m_high = compute_mfcc(low), compute_mfcc(high)
    assert m_low.shape == (frame_count(sf), 39) and m_low.dtype == np.float32
    # a stationary tone: deltas ~ 0 away from the edges; the two tones differ
    assert np.abs(m_low[5:-5, 13:]).max() < 1e-3 * np.abs(m_low[:, :13]).max()
    assert np.linalg.norm(m_low[10, :13] - m_high[10, :13]) > 5.0
    # frame i only sees samples [320 i, 320 i + 400): changing later audio keeps it
    y = low.copy()
    y[320 * 10 + 400:] = rng.standard_normal(sf - 3600)
    np.testing.assert_allclose(compute_mfcc(y, deltas=False)[:11],
                               compute_mfcc(low, deltas=False)[:11], rtol=1e-5,
                               atol=1e-5)


def test_compute_mfcc_bad_input():
    with pytest.raises(ValueError, match=r"'sfreq' must be 16000 Hz"):
        compute_mfcc(np.zeros(16000), sfreq=8000)
    with pytest.raises(ValueError, match=r"shorter than one frame \(400 samples\)"):
        compute_mfcc(np.zeros(300))


def test_pnmi_matches_sklearn_mutual_information(rng):
    from scipy.stats import entropy
    from sklearn.metrics import mutual_info_score

    phones = rng.integers(0, 12, 3000)
    units = phones * 3 + rng.integers(0, 3, 3000)  # units refine the phones...
    noisy = rng.random(3000) < 0.3  # ...except 30 % of frames, random units
    units[noisy] = rng.integers(0, 36, int(noisy.sum()))
    ref = mutual_info_score(phones, units) / entropy(np.bincount(phones))
    np.testing.assert_allclose(pnmi(phones, units), ref, rtol=1e-10)
    assert pnmi(phones, phones) == pytest.approx(1.0)
    # independent labels: MI ~ bias of the plug-in estimator only
    assert pnmi(phones, rng.integers(0, 40, 3000)) < 0.08
    with pytest.raises(ValueError, match="same non-zero length"):
        pnmi(phones, units[:10])


def test_codebook_usage():
    use = codebook_usage(np.array([0, 0, 1, 1, 2, 2]), 5)
    np.testing.assert_allclose(use["perplexity"], 3.0, rtol=1e-12)
    assert use["n_unused"] == 2
    np.testing.assert_allclose(use["max_share"], 1 / 3, rtol=1e-12)


def test_fit_kmeans_is_sklearn_with_the_recipe_settings(rng):
    from sklearn.cluster import MiniBatchKMeans

    assert KMEANS_DEFAULTS == {"init": "k-means++", "n_init": 20, "max_iter": 100,
                               "batch_size": 10000, "tol": 0.0,
                               "max_no_improvement": 100, "reassignment_ratio": 0.0,
                               "init_size": None, "compute_labels": False}
    feats = [rng.standard_normal((50, 3)) + 6 * (i % 4) for i in range(8)]
    centers = fit_kmeans(feats, 4, fraction=1.0, random_state=3, **FAST_KM)
    # the same call on sklearn directly (same data, settings and derived seed)
    r = np.random.default_rng(3)
    r.choice(8, 8, replace=False)  # the utterance draw (all 8 at fraction 1)
    km = MiniBatchKMeans(n_clusters=4, random_state=int(r.integers(2**31 - 1)),
                         **{**KMEANS_DEFAULTS, **FAST_KM}).fit(
        np.concatenate(feats).astype(np.float32))
    np.testing.assert_allclose(centers, km.cluster_centers_, rtol=1e-6, atol=1e-6)
    units = predict_units(np.concatenate(feats), centers)
    assert len(np.unique(units)) == 4
    with pytest.raises(ValueError, match=r"'fraction' must be in \(0, 1\]"):
        fit_kmeans(feats, 4, fraction=0.0)
    with pytest.raises(ValueError, match=r"Unknown k-means setting\(s\) \['n_inits'\]"):
        fit_kmeans(feats, 4, n_inits=3)
    with pytest.raises(ValueError, match=r"Only 50 frames for 100 clusters"):
        fit_kmeans(feats[:1], 100, fraction=1.0)


@pytest.fixture(scope="module")
def mfcc_targets(chirp_manifest, tmp_path_factory):
    out = tmp_path_factory.mktemp("tg") / "t"
    return build_targets([chirp_manifest], out, valid_corpus=[chirp_manifest],
                         n_clusters=8, fraction=1.0, seed=0, kmeans=FAST_KM)


def test_build_targets_layout_and_reload(mfcc_targets, chirp_manifest):
    t = mfcc_targets
    meta = json.loads((t.path / "targets.json").read_text())
    assert (meta["kind"], meta["iteration"], meta["label_rate"], meta["n_clusters"],
            meta["feature_dim"]) == ("mfcc", 1, 50.0, 8, 39)
    assert meta["kmeans"]["reassignment_ratio"] == 0.0 and meta["kmeans"]["n_init"] == 2
    assert {u["split"] for u in meta["utterances"]} == {"train", "valid"}
    assert meta["provenance"]["step"] == "targets"
    assert 1.0 <= meta["usage"]["train"]["perplexity"] <= 8.0
    corpus = load_corpus([chirp_manifest], crop_min_s=2.0)
    labels = t.for_corpus(corpus, frame_rate=50.0)
    assert [len(x) for x in labels] == [frame_count(n) for n in corpus.lengths]
    again = load_targets(t.path)
    assert all(np.array_equal(again.labels[k], t.labels[k]) for k in t.labels)
    assert "Targets mfcc iteration 1 K=8" in repr(t)


def test_targets_wrong_rate_or_length_named(mfcc_targets, chirp_manifest, tmp_path):
    import shutil

    corpus = load_corpus([chirp_manifest], crop_min_s=2.0)
    with pytest.raises(DataError, match=r"targets\.json have label rate 50 Hz but "
                                        r"the model's frames are at 100 Hz"):
        mfcc_targets.for_corpus(corpus, frame_rate=100.0)
    bad = tmp_path / "bad"
    shutil.copytree(mfcc_targets.path, bad)
    meta = json.loads((bad / "targets.json").read_text())
    # chirp00's labels at 100 Hz: twice too many
    labels = [np.repeat(v, 2) if u["path"].endswith("chirp00.wav") else v
              for u, v in zip(meta["utterances"],
                              (mfcc_targets.labels[u["path"]]
                               for u in meta["utterances"]))]
    for u, v in zip(meta["utterances"], labels):
        u["n_frames"] = len(v)
    offsets = np.concatenate([[0], np.cumsum([len(v) for v in labels])])
    np.savez(bad / "labels.npz", labels=np.concatenate(labels), offsets=offsets)
    (bad / "targets.json").write_text(json.dumps(meta))
    with pytest.raises(DataError, match=r"labels\.npz: .*chirp00\.wav has 298 labels, "
                                        r"expected 149 .* wrong label rate or length"):
        load_targets(bad).for_corpus(corpus, frame_rate=50.0)


def test_targets_missing_utterance_and_bad_dirs(mfcc_targets, noise_manifest, tmp_path):
    corpus = load_corpus([noise_manifest], crop_min_s=2.0)
    with pytest.raises(DataError,
                       match=r"labels\.npz have no labels for .*noise0\.wav"):
        mfcc_targets.for_corpus(corpus, frame_rate=50.0)
    with pytest.raises(FileNotFoundError, match=r"Not a targets directory: .*targets"
                                                r"\.json is missing"):
        load_targets(tmp_path)


def test_kmeans_file_for_another_dimension(mfcc_targets, chirp_manifest, tmp_path):
    km = tmp_path / "km.npz"
    np.savez(km, cluster_centers=np.zeros((8, 96), np.float32))
    with pytest.raises(DataError, match=r"K-means file .*km\.npz is for 96-dimensional "
                                        r"features, but MFCC features are "
                                        r"39-dimensional"):
        build_targets([chirp_manifest], tmp_path / "t2", kmeans_file=km)
    # reusing the right file gives the same labels as the fit it came from; a
    # killed run's temp files in the folder are removed, anything else is kept
    (tmp_path / "t3").mkdir()
    stale, other = tmp_path / "t3" / "labels.tmp-k1.npz", tmp_path / "t3" / "x.tmp-1"
    for p in (stale, other):
        p.write_bytes(b"half")
    t2 = build_targets([chirp_manifest], tmp_path / "t3",
                       kmeans_file=mfcc_targets.path / "kmeans.npz")
    assert not stale.exists() and other.exists()
    for k, v in t2.labels.items():
        np.testing.assert_array_equal(v, mfcc_targets.labels[k])


def test_iteration2_without_iteration1_model(chirp_manifest, tmp_path):
    with pytest.raises(FileNotFoundError, match=r"Iteration 2 needs an iteration-1 "
                                                r"model: .*nope is not a checkpoint"):
        build_targets([chirp_manifest], tmp_path / "t", from_model=tmp_path / "nope")
    with pytest.raises(ValueError, match=r"'layer' needs 'from_model'"):
        build_targets([chirp_manifest], tmp_path / "t", layer="transf1")
