"""ABX scores: exact against a brute-force reference, planted effects and nulls."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from brainscore_speech.behaviour import (
    abx_deltas,
    abx_error,
    held_out_best_layer,
    item_features,
    make_triplets,
    score_abx,
    slice_frames,
)
from brainscore_speech.exceptions import DataError

from .conftest import make_item_set
from .reference import brute_force_abx


@pytest.mark.parametrize("distance,normalization,convention", [
    ("cosine", "max_len", "millet-dunbar"), ("angular", "path_len", "zerospeech")])
def test_abx_error_exact_against_brute_force(rng, distance, normalization, convention):
    items, feats = make_item_set(rng, separation=0.4)
    trip = make_triplets(items, on="phone", by=["prev-phone", "next-phone"],
                         across="speaker")
    score = score_abx(feats, items, trip, on="phone", by=["prev-phone", "next-phone"],
                      across="speaker", distance=distance)
    t = items.table
    by = list(t["prev-phone"] + "|" + t["next-phone"])
    error, deltas = brute_force_abx(feats, list(t["phone"]), by, list(t["speaker"]),
                                    distance, normalization)
    assert score.convention == convention
    # same set of triplets, same deltas, same cell-averaged error
    got = {(int(a), int(b), int(x)): d for a, b, x, d in zip(
        score.deltas["tgt_item"], score.deltas["oth_item"], score.deltas["x_item"],
        score.deltas["delta"], strict=True)}
    assert set(got) == set(deltas)
    keys = sorted(deltas)
    np.testing.assert_allclose([got[k] for k in keys], [deltas[k] for k in keys],
                               rtol=1e-7, atol=1e-9)
    np.testing.assert_allclose(score.error, error, rtol=1e-12, atol=1e-12)
    assert score.n_triplets == len(deltas)
    np.testing.assert_allclose(score.accuracy,
                               np.mean([d > 0 for d in deltas.values()]), rtol=1e-12)


def test_abx_planted_effect_and_null(rng):
    # planted: phones far apart -> error ~ 0; null: no phone information -> ~ 0.5
    items, feats = make_item_set(rng, separation=3.0, tokens=3)
    trip = make_triplets(items, by=["prev-phone"], across="speaker")
    assert score_abx(feats, items, trip, by=["prev-phone"]).error < 0.02
    nulls = []
    for seed in range(4):
        items, feats = make_item_set(np.random.default_rng(seed), separation=0.0,
                                     tokens=3)
        trip = make_triplets(items, by=["prev-phone"], across="speaker")
        nulls.append(score_abx(feats, items, trip, by=["prev-phone"]).error)
    # ~ 1,300 triplets per seed, strongly dependent; the mean of 4 seeds is
    # within 0.05 of chance (the per-seed SD measured here is ~0.02)
    assert abs(np.mean(nulls) - 0.5) < 0.05, nulls


def test_abx_deltas_reuse_pairs(rng):
    feats = [rng.standard_normal((5, 3)) for _ in range(4)]
    d_t, d_o, delta = abx_deltas(feats, [0, 0], [1, 2], [3, 3])
    np.testing.assert_allclose(d_t[0], d_t[1], rtol=0, atol=0)
    np.testing.assert_allclose(delta, d_o - d_t, rtol=1e-12)


def test_slice_frames_inclusive_rule():
    times = (np.arange(10) * 320 + 200) / 16000  # 12.5 ms + 20 ms i
    data = np.arange(10)[:, None]
    # frames whose centre lies in [onset, offset], both ends included
    np.testing.assert_array_equal(slice_frames(data, times, 0.0325, 0.0925)[:, 0],
                                  [1, 2, 3, 4])


def test_item_features_errors_on_item_without_frames(item_set):
    items, _ = item_set
    table = items.table.copy()
    table.loc["0", "offset"] = 0.001
    from brainscore_speech.behaviour import Items

    short = Items(table=table, path="set.item")
    times = (np.arange(50) * 320 + 200) / 16000
    with pytest.raises(DataError, match=r"set.item, line 2: item '0' .* contains no "
                                        r"frame of layer 'transf0'"):
        item_features(short, lambda f: (np.ones((50, 2)), times), layer="transf0")


def test_score_abx_length_mismatch(item_set):
    items, feats = item_set
    trip = make_triplets(items)
    with pytest.raises(ValueError, match="'features' has 3 sequences but there are"):
        score_abx(feats[:3], items, trip)


def _layer_deltas(rng, means, *, contexts=5, per_cell=6, heavy=False, rho=0.0):
    """Per-triplet deltas of several layers: 2 vowels x 2 orders x ``contexts`` x 2
    speaker cells; layer ``k`` has mean delta ``means[k]`` (0 = no information).
    ``heavy``: Student-t noise (3 d.o.f.) instead of Gaussian. ``rho``: correlation
    of the layers' noise on one triplet (a component shared by all layers, as
    neighbouring layers of one network share most of their errors)."""
    n_cells = contexts * 4
    draw = ((lambda *s: rng.standard_t(3, s)) if heavy
            else (lambda *s: rng.standard_normal(s)))
    common = draw(n_cells, per_cell) if rho else 0.0
    rows = []
    for k, mu in enumerate(means):
        own = np.sqrt(rho) * common + np.sqrt(1 - rho) * draw(n_cells, per_cell)
        cell = iter(own)
        for c in range(contexts):
            for tgt, oth in (("a", "i"), ("i", "a")):
                for ab, x in (("s1", "s2"), ("s2", "s1")):
                    for d in mu + next(cell):
                        rows.append({"model": "m", "layer": f"L{k}", "on_tgt": tgt,
                                     "on_oth": oth, "by": f"c{c}", "across_ab": ab,
                                     "across_x": x, "delta": d})
    return pd.DataFrame(rows)


def test_held_out_best_layer_null_unbiased_where_in_sample_is_not(rng):
    # global null: 12 layers without information (heavy-tailed noise, not the
    # Gaussian of the planted test); the in-sample best layer is biased below
    # chance, the held-out choice is not
    in_sample, held_out = [], []
    for _ in range(30):
        d = _layer_deltas(rng, [0.0] * 12, heavy=True)
        in_sample.append(min(abx_error(g)[0] for _, g in d.groupby("layer")))
        held_out.append(held_out_best_layer(d)[0]["error"].iloc[0])
    # 120 triplets per layer: SD of one layer's error ~0.046, of the mean of 30
    # held-out estimates ~0.008; the minimum of 12 sits ~1.6 SD (0.07) low
    assert np.mean(in_sample) < 0.45, np.mean(in_sample)
    assert abs(np.mean(held_out) - 0.5) < 0.025, np.mean(held_out)


def test_held_out_best_layer_null_correlated_layers(rng):
    # global null with layers sharing most of their per-triplet errors (rho 0.8):
    # the held-out choice stays at chance; the in-sample minimum is biased less
    # than for independent layers but still below it
    in_sample, held_out = [], []
    for _ in range(30):
        d = _layer_deltas(rng, [0.0] * 12, rho=0.8)
        in_sample.append(min(abx_error(g)[0] for _, g in d.groupby("layer")))
        held_out.append(held_out_best_layer(d)[0]["error"].iloc[0])
    # the 12 layers move together: the SD of the mean of 30 is ~0.008
    assert abs(np.mean(held_out) - 0.5) < 0.025, np.mean(held_out)
    assert np.mean(in_sample) < np.mean(held_out), (np.mean(in_sample),
                                                    np.mean(held_out))


def test_held_out_best_layer_other_group_recomputes(rng):
    # a held-out column that is not a cell key (two halves of the contexts): the
    # errors of the other half are recomputed from its triplets
    d = _layer_deltas(rng, [0.0, 0.4, 0.2], contexts=4)
    d["half"] = np.where(d["by"].isin(["c0", "c1"]), "h0", "h1")
    summary, folds = held_out_best_layer(d, group="half")
    assert list(folds["held_out"]) == ["h0", "h1"]
    for _, fold in folds.iterrows():
        other = d[d["half"] != fold["held_out"]]
        train = {lay: abx_error(g)[0] for lay, g in other.groupby("layer")}
        assert fold["layer"] == min(train, key=train.get)
        test = d[(d["half"] == fold["held_out"]) & (d["layer"] == fold["layer"])]
        np.testing.assert_allclose(fold["error"], abx_error(test)[0], rtol=1e-12)
        assert fold["n_triplets"] == len(test) == 48  # 2 contexts x 4 cells x 6
    np.testing.assert_allclose(summary["error"].iloc[0], folds["error"].mean())


def test_held_out_best_layer_planted_and_single_layer(rng):
    d = _layer_deltas(rng, [0.0, 0.0, 1.0, 0.0, 0.3])
    summary, folds = held_out_best_layer(d)
    assert list(folds["layer"]) == ["L2"] * 5  # the informative layer, every fold
    assert list(folds["held_out"]) == [f"c{c}" for c in range(5)]
    assert set(folds["n_triplets"]) == {24}
    assert summary["n_folds"].iloc[0] == 5 and summary["layers"].iloc[0] == "L2"
    # one layer, balanced cells: the held-out mean is the ZeroSpeech error itself
    only = d[d["layer"] == "L2"]
    np.testing.assert_allclose(held_out_best_layer(only)[0]["error"].iloc[0],
                               abx_error(only)[0], rtol=1e-12)
    # several models are treated apart
    two = pd.concat([d, d.assign(model="z")])
    assert list(held_out_best_layer(two)[0]["model"]) == ["m", "z"]


def test_held_out_best_layer_errors(rng):
    d = _layer_deltas(rng, [0.0, 1.0], contexts=1)
    with pytest.raises(ValueError, match=r"'by' has 1 value\(s\) for model 'm'; "
                                         "holding one out needs at least two"):
        held_out_best_layer(d)
    with pytest.raises(ValueError, match=r"lacks the column\(s\) \['layer'\]"):
        held_out_best_layer(d.drop(columns="layer"))
