"""A scikit-learn estimator over the shared-eigendecomposition ridge solver.

:func:`~brainscore_speech.encoding.score_layers` is the pipeline's entry point
(outer run-wise CV, brain scores per layer). :class:`RunwiseRidgeCV` is the same
model as a scikit-learn regressor, for custom analyses: ``fit`` standardises X,
centres Y, picks one penalty per target by cross-validation over whole runs
(``runs``) and refits on all rows; ``predict`` works in the original units; it
can be cloned, put in a ``Pipeline`` or passed to ``cross_val_predict`` with a
group splitter.
"""

from __future__ import annotations

import numpy as np
from sklearn.base import BaseEstimator, RegressorMixin
from sklearn.utils.validation import check_is_fitted

from .cv import group_splits
from .ridge import ALPHA_SELECTIONS, _check_alphas, _Ops, fit_ridge_cv

__all__ = ["RunwiseRidgeCV"]

_DEFAULT_ALPHAS = tuple(np.logspace(-1, 8, 10))


class RunwiseRidgeCV(RegressorMixin, BaseEstimator):
    """Ridge regression with one penalty per target chosen over whole runs.

    Parameters
    ----------
    alphas : array-like of shape (n_alphas,), default=np.logspace(-1, 8, 10)
        Strictly increasing penalties (the paper's grid).
    inner_cv : int or None, default=None
        Folds for the penalty choice: None leaves one run out at a time; an int
        K uses K contiguous groups of runs (with a single run: K contiguous
        blocks of rows, 5 when None).
    alpha_selection : {"inner-cv", "gcv"}, default="inner-cv"
        Mean validation MSE over the run-wise folds, or generalised
        cross-validation (efficient leave-one-row-out, which ignores runs and
        favours small penalties on autocorrelated BOLD).
    target_batch_size : int, default=4096
        Targets solved at once (bounds memory).
    dtype : {"float32", "float64"}, default="float32"
        Precision of the solver.

    Attributes
    ----------
    coef_ : ndarray of shape (n_targets, n_features)
        Coefficients in the units of the input X and Y.
    intercept_ : ndarray of shape (n_targets,)
    alpha_ : ndarray of shape (n_targets,)
        Chosen penalty per target (in standardised-X units).
    best_alpha_index_ : ndarray of shape (n_targets,) of int
    n_features_in_ : int

    Notes
    -----
    ``score`` is scikit-learn's R^2; brain scores are Pearson correlations:
    ``pearson_r(Y_test, est.predict(X_test))``.

    Examples
    --------
    >>> est = RunwiseRidgeCV().fit(X_train, Y_train, runs=runs_train)  # doctest: +SKIP
    >>> r = pearson_r(Y_test, est.predict(X_test))  # doctest: +SKIP
    """

    def __init__(self, alphas=_DEFAULT_ALPHAS, *, inner_cv=None,
                 alpha_selection="inner-cv", target_batch_size=4096, dtype="float32"):
        self.alphas = alphas
        self.inner_cv = inner_cv
        self.alpha_selection = alpha_selection
        self.target_batch_size = target_batch_size
        self.dtype = dtype

    def fit(self, X, y, runs=None):
        """Choose the penalties and fit on all rows.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        y : array-like of shape (n_samples,) or (n_samples, n_targets)
        runs : array-like of shape (n_samples,), optional
            Run label of each row; None treats the rows as one run (contiguous
            blocks are then the inner folds).

        Returns
        -------
        self
        """
        X = self._check_X(X, fitting=True)
        Y = np.asarray(y, dtype=np.float64)
        self._single_target = Y.ndim == 1
        Y = Y[:, None] if Y.ndim == 1 else Y
        if Y.ndim != 2 or Y.shape[0] != X.shape[0]:
            raise ValueError(f"'y' must have shape (n_samples,) or (n_samples, "
                             f"n_targets) with n_samples = {X.shape[0]} (rows of X), "
                             f"got {Y.shape}.")
        if not np.all(np.isfinite(Y)):
            raise ValueError("'y' contains NaN or inf.")
        if self.alpha_selection not in ALPHA_SELECTIONS:
            raise ValueError(f"'alpha_selection' must be one of "
                             f"{list(ALPHA_SELECTIONS)}"
                             f", got {self.alpha_selection!r}.")
        if self.dtype not in ("float32", "float64"):
            raise ValueError(f"'dtype' must be 'float32' or 'float64', got "
                             f"{self.dtype!r}.")
        alphas = _check_alphas(self.alphas)
        runs = np.zeros(X.shape[0],
                        dtype=np.int64) if runs is None else np.asarray(runs)
        if runs.shape != (X.shape[0],):
            raise ValueError(f"'runs' must have shape (n_samples,) = ({X.shape[0]},), "
                             f"got {runs.shape}.")
        splits = None
        if self.alpha_selection == "inner-cv" and len(alphas) > 1:
            splits = group_splits(runs, self.inner_cv, what="runs")
        mean = X.mean(0)
        scale = X.std(0)
        scale[~(scale > 1e-12 * np.maximum(np.abs(mean), 1.0))] = 1.0
        y_mean = Y.mean(0)
        coef, best = fit_ridge_cv((X - mean) / scale, Y - y_mean, alphas=alphas,
                                  splits=splits, alpha_selection=self.alpha_selection,
                                  target_batch_size=self.target_batch_size,
                                  ops=_Ops(dtype=self.dtype))
        self.coef_ = (np.asarray(coef, dtype=np.float64) / scale[:, None]).T
        self.intercept_ = y_mean - self.coef_ @ mean
        self.alpha_ = alphas[best]
        self.best_alpha_index_ = best
        return self

    def predict(self, X):
        """Predicted targets.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        ndarray of shape (n_samples, n_targets), or (n_samples,) when fitted on
        a 1-D ``y``
        """
        check_is_fitted(self, "coef_")
        X = self._check_X(X)
        pred = X @ self.coef_.T + self.intercept_
        return pred[:, 0] if self._single_target else pred

    def _check_X(self, X, fitting: bool = False) -> np.ndarray:
        X = np.asarray(X, dtype=np.float64)
        if X.ndim != 2:
            raise ValueError(f"'X' must be a 2-D array (n_samples, n_features), got "
                             f"shape {X.shape}.")
        if not np.all(np.isfinite(X)):
            raise ValueError("'X' contains NaN or inf.")
        if fitting:
            self.n_features_in_ = X.shape[1]
        elif X.shape[1] != self.n_features_in_:
            raise ValueError(f"'X' has {X.shape[1]} features but the model was fitted "
                             f"with {self.n_features_in_}.")
        return X
