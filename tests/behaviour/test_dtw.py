"""Vectorised batched DTW against textbook loops with scipy ``cdist``."""

from __future__ import annotations

import numpy as np
import pytest

from brainscore_speech.behaviour import (
    dtw_batch,
    frame_distances,
    pairwise_dtw,
    resolve_convention,
)

from .reference import dtw as ref_dtw
from .reference import frame_cost


@pytest.mark.parametrize("distance", ["cosine", "angular", "euclidean", "kl"])
def test_frame_distances_equal_scipy_cdist(rng, distance):
    x = np.abs(rng.standard_normal((7, 5))) + 0.01
    y = np.abs(rng.standard_normal((4, 5))) + 0.01
    np.testing.assert_allclose(frame_distances(x, y, distance),
                               frame_cost(x, y, distance), rtol=1e-7, atol=1e-7)


@pytest.mark.parametrize("distance,normalization", [
    ("cosine", "max_len"), ("angular", "path_len"), ("kl", "max_len"),
    ("euclidean", "none"), ("cosine", "path_len"), ("angular", "max_len")])
def test_pairwise_dtw_equals_textbook_dtw(rng, distance, normalization):
    # lengths 1..12, every ordered pair, several padded batches
    feats = [np.abs(rng.standard_normal((int(rng.integers(1, 13)), 4))) + 0.01
             for _ in range(25)]
    pairs = np.array([(i, j) for i in range(25) for j in range(25)])
    got = pairwise_dtw(feats, pairs, distance=distance, normalization=normalization,
                       batch_size=37)
    want = np.array([ref_dtw(feats[i], feats[j], distance, normalization)
                     for i, j in pairs])
    # arccos is ill-conditioned near cos = 1: float64 rounding of cos differs
    # between matmul and cdist by ~1e-16, i.e. ~1e-8 after arccos; the euclidean
    # distance uses |x|^2 + |y|^2 - 2 x.y, whose square root near 0 is ~1e-7
    atol = 1e-6 if distance == "euclidean" else 1e-7
    np.testing.assert_allclose(got, want, rtol=1e-7, atol=atol)


def test_dtw_batch_known_values():
    # identical sequences: zero cost; a 1 x 3 against 1 x 1: straight path
    d = np.zeros((1, 3, 3))
    np.testing.assert_allclose(dtw_batch(d, [3], [3]), [0.0], atol=1e-12)
    d = np.array([[[1.0, 2.0, 3.0]]])
    np.testing.assert_allclose(dtw_batch(d, [1], [3], normalization="none"), [6.0])
    np.testing.assert_allclose(dtw_batch(d, [1], [3], normalization="max_len"), [2.0])
    np.testing.assert_allclose(dtw_batch(d, [1], [3], normalization="path_len"),
                               [2.0])
    # a diagonal path of 2 cells in a 2 x 2 matrix: path length 2, max len 2
    d = np.array([[[1.0, 9.0], [9.0, 1.0]]])
    np.testing.assert_allclose(dtw_batch(d, [2], [2], normalization="path_len"), [1.0])


def test_resolve_convention_names_the_published_ones():
    assert resolve_convention("cosine") == ("cosine", "max_len", "millet-dunbar")
    assert resolve_convention("angular") == ("angular", "path_len", "zerospeech")
    assert resolve_convention("kl") == ("kl", "max_len", "millet-dunbar")
    assert resolve_convention("cosine", "path_len")[2] == "custom"


def test_dtw_errors():
    with pytest.raises(ValueError, match="'distance' must be one of"):
        resolve_convention("cosin")
    with pytest.raises(ValueError, match="'normalization' must be one of"):
        resolve_convention("cosine", "path")
    with pytest.raises(ValueError, match=r"'d' must have shape \(batch, n, m\)"):
        dtw_batch(np.zeros((3, 3)), [3], [3])
    with pytest.raises(ValueError, match=r"'len_x' and 'len_y' must have shape"):
        dtw_batch(np.zeros((2, 3, 3)), [3], [3])
    with pytest.raises(ValueError, match=r"Sequence lengths must lie in \[1, 3\]"):
        dtw_batch(np.zeros((1, 3, 3)), [4], [3])
    assert pairwise_dtw([np.ones((2, 2))], np.zeros((0, 2), int)).shape == (0,)
