"""Inter-subject noise ceiling (no repeated stimuli needed).

The ceiling of a subject at a target is the correlation a perfect model (one that
predicts the stimulus-driven signal shared by every subject exactly) would reach
with that subject's BOLD. Two estimators (``method``):

- ``"pairwise"`` (default): with ``y_s = c_s * signal + noise_s`` (independent
  noise, any per-subject signal-to-noise ratio), the covariance of two subjects is
  ``c_s * c_t`` (for unit-variance BOLD), so
  ``c_s = mean_t cov(y_s, y_t) / (sd(y_s) * sqrt(mean_{t != u} cov(y_t, y_u)))``
  over the other subjects. Nothing is fitted; it does not depend on the number of
  subjects (unbiased at 10 as at 40), only on the signal being shared. Needs at
  least 3 subjects; NaN where the others share no positive covariance.
- ``"isc"`` (METHODS.md section 8, the LPP code's idea): each subject's BOLD is
  predicted from the mean BOLD of the others with a cross-validated linear fit per
  target (``y = a + b * mean_others``) on contiguous folds (or leave-one-run-out);
  the Pearson r per fold averaged over folds. The mean of the others is itself
  noisy, so this is biased low where the signal-to-noise ratio is low or the group
  small: a perfect model can score 1.5-2x this "ceiling". Kept for comparison.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from ..containers import BoldRuns

__all__ = ["compute_noise_ceiling", "normalize_scores"]


def _pearson_cols(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    a = a - a.mean(axis=0)
    b = b - b.mean(axis=0)
    den = np.sqrt((a ** 2).sum(axis=0) * (b ** 2).sum(axis=0))
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(den > 0, (a * b).sum(axis=0) / den, np.nan)


def _as_arrays(bold: Mapping[str, Any] | Sequence[BoldRuns]
               ) -> tuple[dict[str, np.ndarray], np.ndarray | None]:
    if isinstance(bold, Mapping):
        arrays = {str(k): np.asarray(v, dtype=float) for k, v in bold.items()}
        return arrays, None
    arrays, groups, ref_runs = {}, None, None
    for br in bold:
        if not isinstance(br, BoldRuns):
            raise TypeError(f"'bold' must be a dict of arrays or a sequence of "
                            f"BoldRuns, got an item of type {type(br).__name__}.")
        runs = list(br.runs)
        if ref_runs is None:
            ref_runs = runs
        elif runs != ref_runs:
            raise ValueError(f"sub-{br.subject} has runs {runs} but the first subject "
                             f"has {ref_runs}; the noise ceiling needs the same runs.")
        arrays[br.subject] = np.concatenate([br.runs[r] for r in runs]).astype(float)
        groups = np.concatenate([np.full(len(br.runs[r]), i)
                                 for i, r in enumerate(runs)])
    return arrays, groups


def compute_noise_ceiling(bold: Mapping[str, np.ndarray] | Sequence[BoldRuns], *,
                          n_folds: int = 10, runs: np.ndarray | None = None,
                          method: str = "pairwise") -> dict[str, np.ndarray]:
    """Inter-subject noise ceiling per subject and target (see the module docstring).

    Parameters
    ----------
    bold : dict of str to array of shape (n_samples, n_targets), or sequence of BoldRuns
        Time-aligned BOLD of subjects who heard the same stimuli (same samples).
        With BoldRuns the runs are concatenated and used as folds.
    n_folds : int, default=10
        ``method="isc"``: contiguous folds (``KFold(shuffle=False)``) when no runs
        are given.
    runs : array of shape (n_samples,), optional
        Run label per sample: leave-one-run-out folds (``"isc"``); every run is
        centred on its own mean (``"pairwise"``).
    method : {"pairwise", "isc"}, default="pairwise"
        ``"pairwise"``: unbiased estimate of the correlation a perfect model would
        reach; ``"isc"``: cross-validated prediction from the others' mean (biased
        low at low SNR; the earlier default).

    Returns
    -------
    dict of str to array of shape (n_targets,)
        Subject -> ceiling r (NaN for constant targets, or where it cannot be
        estimated).
    """
    from .._validation import check_option

    check_option("method", method, ("pairwise", "isc"))
    arrays, groups = _as_arrays(bold)
    if runs is not None:
        groups = np.asarray(runs)
    if len(arrays) < 2:
        raise ValueError(f"The noise ceiling needs at least 2 subjects, got "
                         f"{len(arrays)}.")
    shapes = {k: v.shape for k, v in arrays.items()}
    if len(set(shapes.values())) != 1 or next(iter(shapes.values()))[0] < 4:
        raise ValueError(f"Every subject's BOLD must have the same shape "
                         f"(n_samples >= 4, n_targets); got {shapes}.")
    n = next(iter(shapes.values()))[0]
    if method == "pairwise":
        if groups is not None and np.shape(groups) != (n,):
            raise ValueError(f"'runs' must have shape ({n},), got {np.shape(groups)}.")
        return _pairwise_ceiling(arrays, groups)
    if groups is None:
        if not 2 <= n_folds <= n // 2:
            raise ValueError(f"'n_folds' must be between 2 and n_samples // 2 = "
                             f"{n // 2}, got {n_folds}.")
        groups = np.repeat(np.arange(n_folds), np.diff(
            np.linspace(0, n, n_folds + 1).astype(int)))
    if groups.shape != (n,):
        raise ValueError(f"'runs' must have shape ({n},), got {groups.shape}.")
    folds = np.unique(groups)
    if folds.size < 2:
        raise ValueError("The noise ceiling needs at least 2 folds (runs).")
    total = sum(arrays.values())
    n_sub = len(arrays)
    out = {}
    for sub, y in arrays.items():
        x = (total - y) / (n_sub - 1)  # mean of the others
        rs = []
        for f in folds:
            test = groups == f
            tr = ~test
            xm, ym = x[tr].mean(0), y[tr].mean(0)
            xc = x[tr] - xm
            with np.errstate(invalid="ignore", divide="ignore"):
                slope = (xc * (y[tr] - ym)).sum(0) / (xc ** 2).sum(0)
            pred = ym + slope * (x[test] - xm)
            rs.append(_pearson_cols(pred, y[test]))
        with np.errstate(invalid="ignore"):
            stacked = np.stack(rs)
            ok = np.isfinite(stacked)
            out[sub] = np.where(ok.any(0), np.where(ok, stacked, 0).sum(0)
                                / np.maximum(ok.sum(0), 1), np.nan)
    return out


def _pairwise_ceiling(arrays: dict[str, np.ndarray], groups: np.ndarray | None,
                      n_blocks: int = 10) -> dict[str, np.ndarray]:
    """Pairwise-covariance ceiling, jackknife bias-corrected over time blocks.

    The ratio ``a / sqrt(b)`` of noisy covariances is biased by O(1 / n_samples)
    (about +3 % with 10 subjects, 600 autocorrelated samples and r ~ 0.25); the
    delete-one-block jackknife over ``n_blocks`` contiguous blocks removes that
    first-order bias.
    """
    n_sub = len(arrays)
    if n_sub < 3:
        raise ValueError(f"method='pairwise' needs at least 3 subjects (the others' "
                         f"covariance), got {n_sub}; use method='isc'.")
    full = _pairwise_core(arrays, groups)
    n = next(iter(arrays.values())).shape[0]
    if n_blocks < 2 or n < 4 * n_blocks:
        return full
    block = np.repeat(np.arange(n_blocks), np.diff(
        np.linspace(0, n, n_blocks + 1).astype(int)))
    loo = [_pairwise_core({k: v[block != b] for k, v in arrays.items()},
                          None if groups is None else groups[block != b])
           for b in range(n_blocks)]
    out = {}
    for sub, c in full.items():
        with np.errstate(invalid="ignore"), warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            mean_loo = np.nanmean(np.stack([lo[sub] for lo in loo]), axis=0)
        out[sub] = np.where(np.isfinite(c) & np.isfinite(mean_loo),
                            n_blocks * c - (n_blocks - 1) * mean_loo, np.nan)
    return out


def _pairwise_core(arrays: dict[str, np.ndarray], groups: np.ndarray | None
                   ) -> dict[str, np.ndarray]:
    """Ceiling from the subjects' pairwise covariances (one-factor model)."""
    n_sub = len(arrays)
    centred = {}
    for sub, y in arrays.items():
        if groups is None:
            centred[sub] = y - y.mean(axis=0)
        else:
            c = np.empty_like(y)
            for g in np.unique(groups):
                sel = groups == g
                c[sel] = y[sel] - y[sel].mean(axis=0)
            centred[sub] = c
    n = next(iter(centred.values())).shape[0]
    total = sum(centred.values())
    var = {s: (y ** 2).sum(axis=0) / n for s, y in centred.items()}
    # sum over ordered pairs t != u of cov(y_t, y_u)
    all_pairs = (total ** 2).sum(axis=0) / n - sum(var.values())
    out = {}
    for sub, y in centred.items():
        cross = (y * (total - y)).sum(axis=0) / n  # sum_t cov(y_s, y_t)
        others = (all_pairs - 2 * cross) / ((n_sub - 1) * (n_sub - 2))
        with np.errstate(invalid="ignore", divide="ignore"):
            c = (cross / (n_sub - 1)) / np.sqrt(var[sub] * others)
        out[sub] = np.where((others > 0) & (var[sub] > 0), c, np.nan)
    return out


def normalize_scores(r: np.ndarray, ceiling: np.ndarray, *,
                     min_ceiling: float = 0.05) -> tuple[np.ndarray, dict[str, Any]]:
    """Brain scores divided by the noise ceiling, never clipped.

    Parameters
    ----------
    r : array of shape (..., n_targets)
        Brain scores.
    ceiling : array of shape (n_targets,) or broadcastable to ``r``
        Noise-ceiling r.
    min_ceiling : float, default=0.05
        Targets whose ceiling is below this (unreliable, or negative) get NaN
        rather than an exploding ratio.

    Returns
    -------
    normalized : array like ``r``
        ``r / ceiling``; values above 1 are kept (they mean the model beats the
        inter-subject prediction, usually from noise in the ceiling).
    info : dict
        ``fraction_above_1`` (over finite normalised values), ``n_valid``,
        ``n_low_ceiling``.
    """
    r = np.asarray(r, dtype=float)
    c = np.broadcast_to(np.asarray(ceiling, dtype=float), r.shape)
    low = ~(c >= min_ceiling)
    with np.errstate(invalid="ignore", divide="ignore"):
        norm = np.where(low, np.nan, r / np.where(low, 1.0, c))
    fin = np.isfinite(norm)
    info = {"fraction_above_1": float((norm[fin] > 1).mean()) if fin.any() else 0.0,
            "n_valid": int(fin.sum()), "n_low_ceiling": int(low.sum()),
            "min_ceiling": min_ceiling}
    return norm, info
