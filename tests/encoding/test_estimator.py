"""RunwiseRidgeCV: the ridge solver as a scikit-learn estimator."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.exceptions import NotFittedError

from brainscore_speech.encoding import RunwiseRidgeCV, pearson_r, score_layers

pytestmark = pytest.mark.filterwarnings("ignore:.*edge of the grid:UserWarning")


def _problem(rng, n_runs=6, per_run=60, d=12, t=40):
    X = rng.standard_normal((n_runs * per_run, d)) * rng.uniform(0.5, 20, d) + 3.0
    W = rng.standard_normal((d, t)) / 10
    noise_sd = np.logspace(-1, 1.5, t)
    Y = X @ W + 5.0 + rng.standard_normal((len(X), t)) * noise_sd
    return X, Y, np.repeat(np.arange(n_runs), per_run), noise_sd


def test_equals_sklearn_ridge_at_the_chosen_alpha(rng):
    from sklearn.linear_model import Ridge
    from sklearn.preprocessing import StandardScaler

    X, Y, runs, _ = _problem(rng)
    est = RunwiseRidgeCV(alphas=np.logspace(-1, 5, 7), dtype="float64").fit(X, Y, runs)
    Xt = rng.standard_normal((25, X.shape[1])) * 5 + 3
    pred = est.predict(Xt)
    assert pred.shape == (25, Y.shape[1]) and est.coef_.shape == (Y.shape[1],
                                                                  X.shape[1])
    sc = StandardScaler().fit(X)
    for t in range(Y.shape[1]):
        ref = Ridge(alpha=est.alpha_[t]).fit(sc.transform(X), Y[:, t])
        np.testing.assert_allclose(pred[:, t], ref.predict(sc.transform(Xt)),
                                   rtol=1e-6, atol=1e-8)


def test_noisier_targets_get_larger_penalties(rng):
    from scipy.stats import spearmanr

    X, Y, runs, noise_sd = _problem(rng, t=60)
    est = RunwiseRidgeCV(alphas=np.logspace(-2, 6, 17)).fit(X, Y, runs=runs)
    assert spearmanr(noise_sd, np.log(est.alpha_)).statistic > 0.8


def test_held_out_run_matches_score_layers(rng):
    X, Y, runs, _ = _problem(rng)
    alphas = np.logspace(-1, 5, 7)
    ls = score_layers({"x": X}, Y, runs, alphas=alphas)
    train, test = runs != 0, runs == 0
    est = RunwiseRidgeCV(alphas=alphas).fit(X[train], Y[train], runs=runs[train])
    r = pearson_r(Y[test], est.predict(X[test]))
    np.testing.assert_allclose(r, ls.scores[0, 0], atol=1e-4)
    np.testing.assert_allclose(est.alpha_, ls.best_alphas[0, 0])


def test_sklearn_protocol_and_single_target(rng):
    X, Y, runs, _ = _problem(rng, t=3)
    est = RunwiseRidgeCV(alphas=[1.0, 10.0], inner_cv=3)
    assert clone(est).get_params()["inner_cv"] == 3
    with pytest.raises(NotFittedError):
        est.predict(X)
    one = clone(est).fit(X, Y[:, 0], runs)
    assert one.predict(X).shape == (len(X),)
    # no runs: contiguous blocks are the inner folds; gcv needs no folds at all
    assert clone(est).fit(X, Y).predict(X).shape == Y.shape
    gcv = RunwiseRidgeCV(alpha_selection="gcv").fit(X, Y)
    assert np.isfinite(gcv.score(X, Y))  # R^2, scikit-learn's convention


def test_errors(rng):
    X, Y, runs, _ = _problem(rng, t=2)
    est = RunwiseRidgeCV()
    with pytest.raises(ValueError, match=r"'y' must have shape \(n_samples,\) or "
                                         r"\(n_samples, n_targets\) with n_samples = "
                                         r"360"):
        est.fit(X, Y[:10])
    with pytest.raises(ValueError, match=r"'runs' must have shape \(n_samples,\) = "
                                         r"\(360,\), got \(3,\)"):
        est.fit(X, Y, runs=[0, 1, 2])
    with pytest.raises(ValueError, match="'alpha_selection' must be one of"):
        RunwiseRidgeCV(alpha_selection="loo").fit(X, Y)
    with pytest.raises(ValueError, match="'dtype' must be 'float32' or 'float64'"):
        RunwiseRidgeCV(dtype="int8").fit(X, Y)
    bad = X.copy()
    bad[0, 0] = np.nan
    with pytest.raises(ValueError, match="'X' contains NaN or inf"):
        est.fit(bad, Y)
    with pytest.raises(ValueError, match="'y' contains NaN or inf"):
        est.fit(X, np.where(Y > 1e9, 0, np.nan))
    with pytest.raises(ValueError, match=r"'X' must be a 2-D array"):
        est.fit(X[:, 0], Y)
    est.fit(X, Y, runs)
    with pytest.raises(ValueError, match="'X' has 3 features but the model was fitted "
                                         "with 12"):
        est.predict(X[:, :3])
