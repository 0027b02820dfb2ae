"""MFCC baseline and the synthetic ABX item set."""

from __future__ import annotations

import numpy as np
import pytest

from brainscore_speech.behaviour import (
    compute_mfcc,
    extract_mfcc,
    make_synthetic_abx,
    mel_filterbank,
    read_items,
)
from brainscore_speech.containers import read_activation_layer


def test_mel_filterbank_triangles():
    fb = mel_filterbank(23)
    assert fb.shape == (23, 257)
    assert fb.min() >= 0 and np.allclose(fb.max(axis=1), 1.0, atol=0.2)
    # centres increase with the filter index
    assert np.all(np.diff(np.argmax(fb, axis=1)) > 0)


def test_compute_mfcc_shapes_times_and_tone(rng):
    sr = 16000
    t = np.arange(sr) / sr
    low = compute_mfcc(np.sin(2 * np.pi * 300 * t), cmvn=False, deltas=False)
    high = compute_mfcc(np.sin(2 * np.pi * 3000 * t), cmvn=False, deltas=False)
    feats, times = compute_mfcc(rng.standard_normal(sr))
    assert feats.shape == (98, 39) and feats.dtype == np.float32
    np.testing.assert_allclose(times[:2], [0.0125, 0.0225], rtol=1e-12)
    np.testing.assert_allclose(feats.mean(0), 0, atol=1e-5)
    # a low and a high tone give different spectral envelopes (c1 sign flips:
    # energy in the low vs the high filters)
    assert low[0][:, 1].mean() > 0 > high[0][:, 1].mean()
    with pytest.raises(ValueError, match="'wave' must be 1-D with at least 400"):
        compute_mfcc(np.zeros(100))


def test_extract_mfcc_and_synthetic_set(tmp_path):
    items_path = make_synthetic_abx(tmp_path / "s", n_speakers=2, vowels=("a", "i"),
                                    consonants=("s",), n_tokens=2)
    items = read_items(items_path)
    assert len(items) == 2 * 2 * 1 * 1 * 2
    assert set(items.table["phone"]) == {"a", "i"}
    files = sorted((tmp_path / "s" / "audio").glob("*.wav"))
    paths = extract_mfcc(files, tmp_path / "act")
    data, times = read_activation_layer(paths[0], "mfcc")
    assert data.shape[1] == 39 and len(times) == len(data)
    stamp = paths[0].stat().st_mtime_ns
    extract_mfcc(files, tmp_path / "act")  # up to date: not rewritten
    assert paths[0].stat().st_mtime_ns == stamp
    with pytest.raises(ValueError, match=r"Unknown vowel\(s\) \['y'\]"):
        make_synthetic_abx(tmp_path / "t", vowels=("y",))
    with pytest.raises(ValueError, match="'n_speakers' and 'n_tokens' must be >= 1"):
        make_synthetic_abx(tmp_path / "t", n_speakers=0)


def test_make_minimal_pair_abx(tmp_path):
    from brainscore_speech.behaviour import MINIMAL_PAIRS, make_minimal_pair_abx
    from brainscore_speech.data.synth import speech_available

    if not speech_available():
        pytest.skip("espeak-ng (espeakng-loader) is not installed")
    items = read_items(make_minimal_pair_abx(tmp_path / "fr", "fr",
                                             speakers={"a": (30, 160),
                                                       "b": (70, 190)}))
    n_words = sum(len(w) for w in MINIMAL_PAIRS["fr"].values())
    assert len(items) == 2 * n_words
    assert set(items.table["phone"]) == {"i", "y", "u", "a"}
    t = items.table
    # the word lies inside its file, silences excluded
    assert (t["onset"] > 0).all() and (t["offset"] > t["onset"] + 0.1).all()
    with pytest.raises(ValueError, match="'language' must be one of"):
        make_minimal_pair_abx(tmp_path / "de", "de")
