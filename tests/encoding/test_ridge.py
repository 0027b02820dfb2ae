"""Tests of the ridge solver against scikit-learn and himalaya."""

from __future__ import annotations

import numpy as np
import pytest

from brainscore_speech.encoding import fit_ridge_cv, group_splits, ridge_cv_predict
from brainscore_speech.encoding.ridge import _Ops


def _problem(rng, n=240, d=15, t=60):
    X = rng.standard_normal((n, d))
    W = rng.standard_normal((d, t))
    noise = rng.standard_normal((n, t)) * np.logspace(-0.5, 1.5, t)
    return X, X @ W + noise


@pytest.mark.parametrize("alpha", [0.1, 10.0, 1e4])
def test_ridge_predictions_equal_sklearn_ridge_float64(rng, alpha):
    from sklearn.linear_model import Ridge

    X, Y = _problem(rng)
    Xt = rng.standard_normal((30, X.shape[1]))
    pred, best = ridge_cv_predict(X, Y, Xt, alphas=[alpha], ops=_Ops(dtype="float64"))
    ref = Ridge(alpha=alpha, fit_intercept=False).fit(X, Y).predict(Xt)
    np.testing.assert_allclose(pred, ref, rtol=1e-5, atol=1e-8)  # issue 3: 1e-5
    assert pred.dtype == np.float64 and np.all(best == 0)
    coef, _ = fit_ridge_cv(X, Y, alphas=[alpha], ops=_Ops(dtype="float64"))
    np.testing.assert_allclose(Xt @ coef, ref, rtol=1e-5, atol=1e-8)


def test_ridge_recovers_planted_weights_without_noise(rng):
    X = rng.standard_normal((200, 10))
    W = rng.standard_normal((10, 4))
    coef, _ = fit_ridge_cv(X, X @ W, alphas=[1e-6], ops=_Ops(dtype="float64"))
    np.testing.assert_allclose(coef, W, atol=1e-3)


def test_gcv_alphas_equal_sklearn_ridgecv(rng):
    from sklearn.linear_model import RidgeCV

    X, Y = _problem(rng)
    alphas = np.logspace(-1, 5, 7)
    _, best = fit_ridge_cv(X, Y, alphas=alphas, alpha_selection="gcv",
                           ops=_Ops(dtype="float64"))
    ref = RidgeCV(alphas=alphas, fit_intercept=False, alpha_per_target=True).fit(X, Y)
    assert np.mean(np.isclose(alphas[best], ref.alpha_)) >= 0.99


def test_inner_cv_alphas_and_predictions_equal_himalaya(rng):
    from himalaya.ridge import RidgeCV

    X, Y = _problem(rng, t=200)
    X, Y = X.astype(np.float32), Y.astype(np.float32)
    runs = np.repeat(np.arange(6), 40)
    splits = group_splits(runs)
    alphas = np.logspace(-1, 5, 7)
    coef, best = fit_ridge_cv(X, Y, alphas=alphas, splits=splits, target_batch_size=64)
    ref = RidgeCV(alphas=alphas, cv=splits, fit_intercept=False).fit(X, Y)
    agree = np.isclose(alphas[best], ref.best_alphas_)
    assert agree.mean() >= 0.99  # acceptance: >= 99% of targets
    np.testing.assert_allclose(coef[:, agree], np.asarray(ref.coef_)[:, agree],
                               rtol=1e-3, atol=1e-4)


def test_inner_cv_non_partition_splits_match_partition_path(rng):
    X, Y = _problem(rng)
    splits = group_splits(np.repeat(np.arange(4), 60))
    _, best = fit_ridge_cv(X, Y, alphas=np.logspace(-1, 5, 7), splits=splits)
    # drop 10 rows from each training set: the direct (non-subtraction) path
    trimmed = [(tr[10:], te) for tr, te in splits]
    _, best2 = fit_ridge_cv(X, Y, alphas=np.logspace(-1, 5, 7), splits=trimmed)
    assert np.mean(best == best2) > 0.8


def test_torch_backend_matches_numpy(rng):
    X, Y = _problem(rng)
    splits = group_splits(np.repeat(np.arange(4), 60))
    alphas = np.logspace(-1, 5, 7)
    c1, b1 = fit_ridge_cv(X, Y, alphas=alphas, splits=splits)
    c2, b2 = fit_ridge_cv(X, Y, alphas=alphas, splits=splits, ops=_Ops("torch"))
    assert np.mean(b1 == b2) >= 0.99
    same = b1 == b2
    np.testing.assert_allclose(c2[:, same], c1[:, same], rtol=1e-3, atol=1e-4)


@pytest.mark.parametrize(("alphas", "match"), [
    ([], r"'alphas' must be a non-empty array of finite values > 0"),
    ([1.0, -1.0], r"'alphas' must be a non-empty array of finite values > 0"),
    ([10.0, 1.0], r"'alphas' must be strictly increasing, got \[10.0, 1.0\]"),
])
def test_fit_ridge_cv_alpha_errors(rng, alphas, match):
    X, Y = _problem(rng, n=20, d=3, t=2)
    with pytest.raises(ValueError, match=match):
        fit_ridge_cv(X, Y, alphas=alphas)
