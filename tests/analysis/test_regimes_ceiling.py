"""Regime contrasts (native per participant) and the inter-subject noise ceiling."""

import numpy as np
import pytest

from brainscore_speech.analysis import (
    best_regime_map,
    compare_models,
    compute_noise_ceiling,
    make_synthetic_layer_scores,
    normalize_scores,
    regime_contrasts,
    regime_of,
)
from brainscore_speech.containers import BoldRuns

N = 300  # vertices per hemisphere


def _model(model_id, regime, lang, peak, seed, plang="en", n=8):
    meta = {"regime": regime, "language": lang, "participant_language": plang}
    return make_synthetic_layer_scores(n, effect="effect", n_vertices_per_hemi=N,
                                       model_id=model_id, model_meta=meta,
                                       peak_r=peak, random_state=seed)


@pytest.fixture(scope="module")
def models():
    rnd = make_synthetic_layer_scores(
        8, effect="null", n_vertices_per_hemi=N, model_id="random",
        model_meta={"regime": "random", "language": None, "participant_language": "en"},
        random_state=1)
    out = {"random": rnd, "sound": _model("sound", "sound", None, 0.15, 2),
           "en": _model("en", "speech", "en", 0.35, 3),
           "fr": _model("fr", "speech", "fr", 0.25, 4)}
    return {k: v[0] for k, v in out.items()}, out["en"][1]


def test_regime_of_uses_participant_language(models):
    m, _ = models
    assert regime_of(m["en"][0]) == "native"
    assert regime_of(m["fr"][0]) == "nonnative"
    assert regime_of(m["random"][0]) == "random"
    fr_for_french = _model("fr", "speech", "fr", 0.2, 9, plang="fr", n=2)[0][0]
    assert regime_of(fr_for_french) == "native"


def test_regime_contrasts_detect_planted_differences(models):
    m, truth = models
    eff = truth["effect_mask"]
    con = regime_contrasts(m)
    assert set(con) == {"trained-random", "speech-sound", "native-nonnative"}
    for key, gm in con.items():
        assert gm.n_subjects == 8
        assert gm.mask[eff].mean() > 0.8, key
        assert gm.mask[~eff].mean() < 0.1, key
        assert np.all(gm.statistic[gm.mask & eff] > 0)
    br = best_regime_map(m)
    assert br.extra["labels"] == ["sound", "nonnative", "native"]
    sig = br.mask
    assert sig[eff].mean() > 0.8
    # native (peak 0.35) wins over non-native (0.25) and sound (0.15) where planted
    assert (br.statistic[sig & eff] == 2).mean() > 0.95
    assert np.isnan(br.statistic[~sig]).all()


def test_compare_models_and_errors(models):
    m, truth = models
    gm = compare_models(m["en"], m["fr"], reduce="stage3", test="signflip",
                        n_permutations=256)
    assert gm.name == "en - fr" and gm.extra["subjects"][0] == "01"
    assert gm.mask[truth["effect_mask"]].mean() > 0.5
    with pytest.raises(ValueError, match="needs at least 2 subjects scored with both"):
        compare_models(m["en"][:2], m["fr"][2:4])
    with pytest.raises(ValueError, match="Layer 'nope' is missing from sub-01"):
        compare_models(m["en"], m["fr"], reduce="nope")
    with pytest.raises(ValueError, match="needs a random model"):
        best_regime_map({"en": m["en"]})
    with pytest.raises(ValueError, match="None of the regimes"):
        best_regime_map({"random": m["random"], "en": m["en"]}, labels=("x",))


def test_noise_ceiling_matches_analytic_value():
    rng = np.random.default_rng(0)
    n_sub, n_t, n_v, sigma = 6, 4000, 20, 1.5
    signal = rng.normal(size=(n_t, n_v))
    bold = {f"{i:02d}": signal + sigma * rng.normal(size=(n_t, n_v))
            for i in range(n_sub)}
    # method="isc" (the earlier default, behaviour changed by issue 12):
    # corr(s + e_i, s + mean of the other n-1 noises) for unit-variance s
    ceil = compute_noise_ceiling(bold, n_folds=5, method="isc")
    expected = 1 / np.sqrt((1 + sigma ** 2) * (1 + sigma ** 2 / (n_sub - 1)))
    got = np.mean([c.mean() for c in ceil.values()])
    np.testing.assert_allclose(got, expected, atol=0.02)  # ~4000 samples x 20 vertices
    # the default estimates what a perfect model reaches: corr(s, s + e_i)
    ceil = compute_noise_ceiling(bold)
    got = np.mean([c.mean() for c in ceil.values()])
    np.testing.assert_allclose(got, 1 / np.sqrt(1 + sigma ** 2), atol=0.02)


def test_noise_ceiling_from_boldruns_and_errors():
    rng = np.random.default_rng(1)
    sig = rng.normal(size=(60, 5))
    subs = [BoldRuns(subject=f"0{i}", runs={"1": sig[:30] + rng.normal(size=(30, 5)),
                                            "2": sig[30:] + rng.normal(size=(30, 5))},
                     tr_s=2.0, space="fsaverage5") for i in range(3)]
    ceil = compute_noise_ceiling(subs)
    assert set(ceil) == {"00", "01", "02"} and ceil["00"].shape == (5,)
    assert np.all(ceil["00"] > 0)
    with pytest.raises(ValueError, match="at least 2 subjects"):
        compute_noise_ceiling({"a": sig})
    with pytest.raises(ValueError, match="must have the same shape"):
        compute_noise_ceiling({"a": sig, "b": sig[:50]})
    with pytest.raises(ValueError, match="'n_folds' must be between 2"):
        compute_noise_ceiling({"a": sig, "b": sig}, n_folds=1, method="isc")
    with pytest.raises(ValueError, match="method='pairwise' needs at least 3 subj"):
        compute_noise_ceiling({"a": sig, "b": sig})
    with pytest.raises(ValueError, match="'method' must be one of"):
        compute_noise_ceiling({"a": sig, "b": sig}, method="splithalf")
    with pytest.raises(ValueError, match=r"'runs' must have shape \(60,\)"):
        compute_noise_ceiling({"a": sig, "b": sig}, runs=np.zeros(3))
    with pytest.raises(ValueError, match="at least 2 folds"):
        compute_noise_ceiling({"a": sig, "b": sig}, runs=np.zeros(60), method="isc")
    with pytest.raises(TypeError, match="sequence of BoldRuns"):
        compute_noise_ceiling([sig])
    other = BoldRuns(subject="09", runs={"1": sig[:30], "3": sig[30:]}, tr_s=2.0,
                     space="fsaverage5")
    with pytest.raises(ValueError, match="the noise ceiling needs the same runs"):
        compute_noise_ceiling([subs[0], other])


def test_normalize_scores_never_clips():
    r = np.array([0.1, 0.3, 0.2, 0.05])
    c = np.array([0.2, 0.2, 0.01, -0.3])
    norm, info = normalize_scores(r, c)
    np.testing.assert_allclose(norm[:2], [0.5, 1.5], rtol=1e-12)
    assert np.isnan(norm[2:]).all()  # unreliable ceilings give NaN, not inf
    assert info["fraction_above_1"] == 0.5 and info["n_low_ceiling"] == 2
