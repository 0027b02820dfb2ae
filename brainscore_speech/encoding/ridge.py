"""Ridge regression with one alpha per target, sharing one decomposition.

For a training set, the Gram matrix ``X'X`` is eigendecomposed once (float64,
``d x d``), and every alpha and every target reuses it:
``coef(alpha) = Q diag(1 / (lambda + alpha)) Q' X'Y``. Inner cross-validation
folds whose validation sets partition the training set get their Gram and
cross-product matrices by subtraction (``X'X - Xv'Xv``), so the
``n x d x n_targets`` product is computed once per outer fold rather than once
per inner fold. The big products run in float32; the ``d x d``
eigendecompositions run in float64.

The same code runs on numpy (CPU) or torch (CPU or CUDA); torch is imported
only when asked for.
"""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["ridge_cv_predict", "fit_ridge_cv", "ALPHA_SELECTIONS"]

ALPHA_SELECTIONS = ("inner-cv", "gcv")


class _Ops:
    """Minimal array backend (numpy, or torch on a device)."""

    def __init__(self, backend: str = "numpy", device: str = "cpu",
                 dtype: str = "float32"):
        self.backend = backend
        self.device = device
        self.np_dtype = np.dtype(dtype)
        if backend == "torch":
            import torch

            self.torch = torch
            self.f32 = getattr(torch, dtype)
            self.f64 = torch.float64
        else:
            self.f32 = np.dtype(dtype)
            self.f64 = np.dtype(np.float64)

    def asarray(self, x, dtype=None):
        dtype = self.f32 if dtype is None else dtype
        if self.backend == "torch":
            if isinstance(x, self.torch.Tensor):
                return x.to(device=self.device, dtype=dtype)
            return self.torch.as_tensor(np.ascontiguousarray(x), dtype=dtype,
                                        device=self.device)
        return np.asarray(x, dtype=dtype)

    def index(self, idx):
        if self.backend == "torch":
            return self.torch.as_tensor(np.asarray(idx), dtype=self.torch.long,
                                        device=self.device)
        return np.asarray(idx)

    def cast(self, x, dtype):
        return x.to(dtype) if self.backend == "torch" else x.astype(dtype, copy=False)

    def numpy(self, x) -> np.ndarray:
        if self.backend == "torch":
            return x.detach().cpu().numpy()
        return np.asarray(x)

    def eigh(self, g):
        if self.backend == "torch":
            lam, q = self.torch.linalg.eigh(g)
            return lam.clamp(min=0), q
        lam, q = np.linalg.eigh(g)
        return np.clip(lam, 0, None), q

    def zeros(self, shape, dtype=None):
        dtype = self.f64 if dtype is None else dtype
        if self.backend == "torch":
            return self.torch.zeros(shape, dtype=dtype, device=self.device)
        return np.zeros(shape, dtype=dtype)

    def flip0(self, x):
        return self.torch.flip(x, (0,)) if self.backend == "torch" else x[::-1]

    def where(self, cond, a, b):
        if self.backend == "torch":
            return self.torch.where(cond, a, b)
        return np.where(cond, a, b)


def _is_partition(splits, n: int) -> bool:
    tests = [np.asarray(te) for _, te in splits]
    if sum(len(t) for t in tests) != n:
        return False
    allt = np.concatenate(tests)
    if len(np.unique(allt)) != n:
        return False
    return all(len(tr) + len(te) == n for tr, te in splits)


class _Decomposition:
    """Eigendecomposition of one training set's Gram matrix."""

    def __init__(self, ops: _Ops, gram64, rows_eval):
        lam, q = ops.eigh(gram64)
        self.lam = lam
        self.q = ops.cast(q, ops.f32)
        # rows to predict, projected on the eigenvectors: (n_eval, d)
        self.a = rows_eval @ self.q if rows_eval is not None else None

    def gains(self, ops: _Ops, alphas64):
        """(d, n_alphas) float32 shrinkage 1 / (lambda + alpha)."""
        return ops.cast(1.0 / (self.lam[:, None] + alphas64[None, :]), ops.f32)


class _FoldSolver:
    """Decompositions of one training set, reused for every target batch.

    Parameters
    ----------
    ops : _Ops
    Xs : backend array of shape (n_train, n_features)
        Standardised training features.
    X_eval : backend array of shape (n_eval, n_features) or None
        Rows to predict with the refitted model (None: return coefficients).
    alphas64 : backend array of shape (n_alphas,)
    splits : list of (train, val) index arrays into the training rows, or None
    selection : {"inner-cv", "gcv"}
    """

    def __init__(self, ops, Xs, X_eval, alphas64, splits, selection):
        self.ops, self.Xs, self.alphas = ops, Xs, alphas64
        self.selection = selection
        X64 = ops.cast(Xs, ops.f64)
        gram = X64.T @ X64
        self.full = _Decomposition(ops, gram, X_eval)
        self.g_full = self.full.gains(ops, alphas64)
        self.inner = []
        self.partition = False
        if alphas64.shape[0] == 1:
            return
        if selection == "gcv":
            dec = _Decomposition(ops, gram, Xs)
            g = dec.gains(ops, alphas64)
            lev = ops.cast(dec.a, ops.f64) ** 2 @ ops.cast(g, ops.f64)
            self.gcv = (dec, g, lev)
            return
        n = Xs.shape[0]
        self.partition = _is_partition(splits, n)
        for train, val in splits:
            tr, va = ops.index(train), ops.index(val)
            if self.partition:
                xv64 = X64[va]
                g_i = gram - xv64.T @ xv64
            else:
                xt64 = X64[tr]
                g_i = xt64.T @ xt64
            dec = _Decomposition(ops, g_i, Xs[va])
            self.inner.append((tr, va, dec, dec.gains(ops, alphas64)))

    def best(self, Ys, cross):
        """Best alpha per target (mean validation MSE) and its validation score.

        Returns
        -------
        best : backend array of shape (n_targets,) of int
        inner : ndarray of shape (n_targets,), float64
            Validation R^2 at the chosen alpha, ``1 - MSE / mean(y^2)`` over the
            inner folds (GCV: the leave-one-out error); NaN with a single alpha.
            It depends only on the training rows, so it can choose between
            layers without touching the held-out scores.
        """
        ops, Xs = self.ops, self.Xs
        n_alphas = self.alphas.shape[0]
        if n_alphas == 1:
            return (ops.index(np.zeros(Ys.shape[1], dtype=np.int64)),
                    np.full(Ys.shape[1], np.nan))
        mse = ops.zeros((n_alphas, Ys.shape[1]))
        if self.selection == "gcv":
            dec, g, lev = self.gcv
            b = dec.q.T @ cross
            for k in range(n_alphas):
                resid = Ys - (dec.a * g[:, k]) @ b
                loo = ops.cast(resid, ops.f64) / (1.0 - lev[:, k:k + 1])
                mse[k] = (loo ** 2).mean(0)
            best = _best_index(ops, mse)
            y2 = ops.numpy((ops.cast(Ys, ops.f64) ** 2).mean(0))
            return best, _validation_r2(ops, mse, best, y2, offset=True)
        y2 = np.zeros(Ys.shape[1])
        for tr, va, dec, g in self.inner:
            yv = Ys[va]
            if self.partition:
                c_i = cross - Xs[va].T @ yv
            else:
                c_i = Xs[tr].T @ Ys[tr]
            b = dec.q.T @ c_i
            twice = yv + yv
            y2 += ops.numpy((ops.cast(yv, ops.f64) ** 2).mean(0))
            for k in range(n_alphas):
                # mean |yv - p|^2 less the alpha-independent mean |yv|^2:
                # p.(p - 2 yv) has the same argmin, without the large constant
                # whose float32 rounding breaks near-ties of flat error curves
                p = (dec.a * g[:, k]) @ b
                mse[k] += ops.cast((p * (p - twice)).mean(0), ops.f64)
        best = _best_index(ops, mse)
        return best, _validation_r2(ops, mse, best, y2, offset=False)

    def solve(self, Ys):
        """Return (predictions of X_eval or coefficients, best alpha index,
        validation R^2 at that alpha: see :meth:`best`)."""
        cross = self.Xs.T @ Ys
        best, inner = self.best(Ys, cross)
        b = self.full.q.T @ cross
        scaled = b * self.g_full[:, best]
        if self.full.a is not None:
            return self.full.a @ scaled, best, inner
        return self.full.q @ scaled, best, inner


def _validation_r2(ops, mse, best, y2, *, offset: bool) -> np.ndarray:
    """``1 - MSE[best] / y2`` per target; ``offset=False``: ``mse`` lacks ``y2``."""
    m = ops.numpy(mse)
    b = ops.numpy(best)
    at = m[b, np.arange(m.shape[1])]
    return partial_r2(at - y2 if offset else at, y2)


def partial_r2(err: np.ndarray, y2: np.ndarray) -> np.ndarray:
    """``1 - MSE / y2`` from ``err = MSE - y2`` (the error less the constant
    ``mean(y^2)``); NaN where ``y2`` is 0."""
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(y2 > 0, -err / np.where(y2 > 0, y2, 1.0), np.nan)


def r_from_sums(num: np.ndarray, sxx: np.ndarray, syy: np.ndarray) -> np.ndarray:
    """Pearson r from the centred sums ``sum(x y)``, ``sum(x^2)``, ``sum(y^2)``.

    NaN where the correlation is undefined: a relative threshold calls a
    column constant when its spread is float noise; clipped to [-1, 1].
    """
    den = np.sqrt(sxx * syy)
    scale = np.sqrt(sxx + 1e-300)
    with np.errstate(invalid="ignore", divide="ignore"):
        r = num / den
    r[(den <= 1e-12 * np.maximum(scale, 1e-300)) | ~np.isfinite(r)] = np.nan
    return np.clip(r, -1.0, 1.0)


def _best_index(ops, mse):
    """Argmin over alphas; exact ties go to the larger alpha (like himalaya)."""
    n_alphas = mse.shape[0]
    return (n_alphas - 1) - ops.flip0(mse).argmin(0)


def _check_alphas(alphas) -> np.ndarray:
    a = np.asarray(alphas, dtype=np.float64).ravel()
    if a.size == 0 or not np.all(np.isfinite(a)) or np.any(a <= 0):
        raise ValueError(
            f"'alphas' must be a non-empty array of finite values > 0, got {alphas!r}.")
    if len(np.unique(a)) != a.size or np.any(np.diff(a) <= 0):
        raise ValueError(f"'alphas' must be strictly increasing, got {a.tolist()}.")
    return a


def ridge_cv_predict(
    X_train: Any,
    Y_train: Any,
    X_test: Any,
    *,
    alphas: np.ndarray,
    splits: list[tuple[np.ndarray, np.ndarray]] | None = None,
    alpha_selection: str = "inner-cv",
    target_batch_size: int = 4096,
    ops: _Ops | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Pick one alpha per target on the training data and predict the test rows.

    The inputs must already be standardised (X) and centred (Y) with the
    training statistics; no intercept is fitted.

    Parameters
    ----------
    X_train : array of shape (n_train, n_features)
    Y_train : array of shape (n_train, n_targets)
    X_test : array of shape (n_test, n_features)
    alphas : array of shape (n_alphas,)
        Strictly increasing penalties.
    splits : list of (train_indices, val_indices), optional
        Inner CV splits into the training rows (for ``"inner-cv"``).
    alpha_selection : {"inner-cv", "gcv"}
        Mean validation MSE over ``splits``, or efficient leave-one-out (GCV,
        scikit-learn ``RidgeCV`` default).
    target_batch_size : int
        Targets processed at once (bounds memory).
    ops : _Ops, optional
        Backend (numpy float32 by default).

    Returns
    -------
    predictions : ndarray of shape (n_test, n_targets)
        In the backend's dtype (float32 by default).
    best : ndarray of shape (n_targets,) of int
        Index into ``alphas`` of the chosen penalty per target.
    """
    ops = _Ops() if ops is None else ops
    alphas64 = ops.asarray(_check_alphas(alphas), ops.f64)
    solver = _FoldSolver(ops, ops.asarray(X_train), ops.asarray(X_test), alphas64,
                         splits, alpha_selection)
    n_targets = Y_train.shape[1]
    preds = np.empty((X_test.shape[0], n_targets), dtype=ops.np_dtype)
    best_all = np.empty(n_targets, dtype=np.int64)
    for start in range(0, n_targets, target_batch_size):
        stop = min(n_targets, start + target_batch_size)
        p, best, _ = solver.solve(ops.asarray(Y_train[:, start:stop]))
        preds[:, start:stop] = ops.numpy(p)
        best_all[start:stop] = ops.numpy(best)
    return preds, best_all


def fit_ridge_cv(
    X: Any,
    Y: Any,
    *,
    alphas: np.ndarray,
    splits: list[tuple[np.ndarray, np.ndarray]] | None = None,
    alpha_selection: str = "inner-cv",
    target_batch_size: int = 4096,
    ops: _Ops | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Fit ridge coefficients with one alpha per target (no intercept).

    Parameters
    ----------
    X : array of shape (n_samples, n_features)
    Y : array of shape (n_samples, n_targets)
    alphas, splits, alpha_selection, target_batch_size, ops
        As in :func:`ridge_cv_predict`.

    Returns
    -------
    coef : ndarray of shape (n_features, n_targets)
        In the dtype of the backend (float32 by default).
    best : ndarray of shape (n_targets,) of int
    """
    ops = _Ops() if ops is None else ops
    alphas64 = ops.asarray(_check_alphas(alphas), ops.f64)
    solver = _FoldSolver(ops, ops.asarray(X), None, alphas64, splits, alpha_selection)
    n_targets = Y.shape[1]
    coef = np.empty((X.shape[1], n_targets), dtype=ops.np_dtype)
    best_all = np.empty(n_targets, dtype=np.int64)
    for start in range(0, n_targets, target_batch_size):
        stop = min(n_targets, start + target_batch_size)
        c, best, _ = solver.solve(ops.asarray(Y[:, start:stop]))
        coef[:, start:stop] = ops.numpy(c)
        best_all[start:stop] = ops.numpy(best)
    return coef, best_all
