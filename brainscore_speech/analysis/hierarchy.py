"""Hierarchy ("peak layer") maps: which layer predicts each vertex best.

Definition (METHODS.md sections 9 and 17.5): brain scores of independently fitted
layers are **averaged across subjects first**; the best layer of a vertex is the
argmax of that average, shown only where the best layer's score is significant
across subjects (second-level test, FDR within hemisphere).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from .._io import make_provenance
from .._validation import check_random_state
from ..containers import HierarchyMap, LayerScores
from .collect import SubjectStack, stack_layer_scores
from .selection import default_layers
from .stats import group_test
from .synthetic import SPEECH_ROI_ORDER

__all__ = ["compute_hierarchy", "preference_index", "best_layer_by_roi",
           "roi_order_correlation"]


def preference_index(mean_scores: np.ndarray) -> np.ndarray:
    """Score-weighted mean layer position, in [0, 1] (0 = first layer).

    Parameters
    ----------
    mean_scores : array of shape (n_layers, n_targets)
        Subject-averaged r. Negative scores get weight 0.

    Returns
    -------
    array of shape (n_targets,)
        ``sum_l w_l * l / (n_layers - 1) / sum_l w_l`` with ``w = max(r, 0)``;
        NaN where no layer has a positive score.
    """
    r = np.asarray(mean_scores, dtype=float)
    if r.ndim != 2:
        raise ValueError(f"'mean_scores' must have shape (n_layers, n_targets), got "
                         f"{r.shape}.")
    n_layers = r.shape[0]
    pos = np.arange(n_layers) / max(1, n_layers - 1)
    w = np.clip(np.nan_to_num(r), 0, None)
    total = w.sum(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(total > 0, (w * pos[:, None]).sum(axis=0) / total, np.nan)


def _argmax(mean: np.ndarray) -> np.ndarray:
    filled = np.where(np.isfinite(mean), mean, -np.inf)
    best = filled.argmax(axis=0)
    best[~np.isfinite(mean).any(axis=0)] = -1
    return best


def compute_hierarchy(scores: Sequence[LayerScores] | SubjectStack, *,
                      layers: Sequence[str] | None = None, alpha: float = 0.05,
                      test: str = "wilcoxon", n_bootstrap: int = 200,
                      random_state: int | np.random.Generator | None = 0
                      ) -> HierarchyMap:
    """Group hierarchy map of one model.

    Parameters
    ----------
    scores : sequence of LayerScores or SubjectStack
        One per subject (same model, space and mesh).
    layers : sequence of str, optional
        Layers entering the argmax. Default: every layer but ``encoder_input``
        (:func:`~brainscore_speech.analysis.default_layers`), i.e. the paper's
        Narratives set conv0-6 + transf0-11 for wav2vec 2.0 BASE; the LPP maps
        use conv4-6 + transformer layers (pass them here). Name
        ``encoder_input`` to include it. Ignored for a SubjectStack.
    alpha : float, default=0.05
        FDR level of the test of the best layer's score against 0.
    test : {"wilcoxon", "signflip", "ttest"}, default="wilcoxon"
    n_bootstrap : int, default=200
        Bootstrap resamples of subjects (with replacement) for ``stability``.
    random_state : int, Generator or None, default=0

    Returns
    -------
    HierarchyMap
        ``best_layer`` is -1 where the best layer is not significant; ``extra``
        holds ``best_layer_all`` (unmasked argmax), ``p_fdr`` and ``test``.
    """
    if not isinstance(scores, SubjectStack) and layers is None and len(scores):
        layers = default_layers(scores[0].layer_names)
    stack = scores if isinstance(scores, SubjectStack) else stack_layer_scores(
        scores, layers=layers)
    if test not in ("wilcoxon", "signflip", "ttest"):
        raise ValueError(f"'test' must be one of ['wilcoxon', 'signflip', 'ttest'] "
                         f"for the "
                         f"hierarchy map, got {test!r}.")
    rng = check_random_state(random_state)
    x = stack.data  # (n_sub, n_layers, n_targets)
    n_sub, _, n_targets = x.shape
    mean = x.mean(axis=0)
    best = _argmax(mean)
    cols = np.arange(n_targets)
    at_best = x[:, np.maximum(best, 0), cols]
    at_best[:, best < 0] = np.nan
    # the best layer was chosen on these same scores: correct for picking the
    # maximum of n_layers (Bonferroni), or ~20% of "significant" vertices are noise
    gm = group_test(at_best, test=test, hemi_sizes=stack.hemi_sizes, alpha=alpha,
                    random_state=rng, n_selected=x.shape[1])
    # the test is two-sided; a significantly *negative* best score is not a layer
    # preference, so only positive means count
    sig = gm.mask & (gm.statistic > 0)
    best_masked = np.where(sig, best, -1)
    same = np.zeros(n_targets)
    for _ in range(n_bootstrap):
        idx = rng.integers(0, n_sub, size=n_sub)
        same += _argmax(x[idx].mean(axis=0)) == best
    stability = same / n_bootstrap if n_bootstrap > 0 else np.full(n_targets, np.nan)
    return HierarchyMap(
        best_layer=best_masked.astype(int), preference_index=preference_index(mean),
        stability=stability, mean_scores=mean, layer_names=stack.layer_names,
        n_subjects=n_sub, model_id=stack.model_id, space=stack.space,
        hemi_sizes=stack.hemi_sizes,
        extra={"best_layer_all": best.tolist(), "p_fdr": gm.p_fdr.tolist(),
               "test": test, "alpha": alpha, "n_bootstrap": n_bootstrap,
               "subjects": list(stack.subjects)},
        provenance=make_provenance("compute_hierarchy", params={
            "layers": list(stack.layer_names), "alpha": alpha, "test": test,
            "n_bootstrap": n_bootstrap}))


def _check_rois(rois: Mapping[str, Any], n_targets: int) -> dict[str, np.ndarray]:
    out = {}
    for name, idx in rois.items():
        idx = np.asarray(idx)
        if idx.dtype == bool:
            if idx.shape != (n_targets,):
                raise ValueError(
                    f"ROI {name!r} mask has shape {idx.shape} but the map has "
                    f"{n_targets} targets: the atlas does not match the mesh.")
            idx = np.flatnonzero(idx)
        if idx.size and (idx.min() < 0 or idx.max() >= n_targets):
            raise ValueError(
                f"ROI {name!r} has vertex indices up to {idx.max()} but the map has "
                f"{n_targets} targets: the atlas does not match the mesh.")
        out[str(name)] = idx.astype(int)
    return out


def best_layer_by_roi(hmap: HierarchyMap, rois: Mapping[str, Any]):
    """Distribution of best layers within each ROI (Fig. 3C).

    Parameters
    ----------
    hmap : HierarchyMap
    rois : dict of str to array of int (indices) or bool (n_targets,)

    Returns
    -------
    pandas.DataFrame
        Columns ``roi, layer, layer_index, n_vertices, proportion, n_significant,
        n_roi_vertices``; proportions are over the ROI's significant vertices.
    """
    import pandas as pd

    rois = _check_rois(rois, hmap.best_layer.size)
    rows = []
    for name, idx in rois.items():
        b = hmap.best_layer[idx]
        b = b[b >= 0]
        for j, layer in enumerate(hmap.layer_names):
            n = int((b == j).sum())
            rows.append({"roi": name, "layer": layer, "layer_index": j,
                         "n_vertices": n,
                         "proportion": n / b.size if b.size else np.nan,
                         "n_significant": int(b.size), "n_roi_vertices": int(idx.size)})
    return pd.DataFrame(rows)


def roi_order_correlation(hmap: HierarchyMap, rois: Mapping[str, Any], *,
                          order: Sequence[str] = SPEECH_ROI_ORDER) -> dict[str, Any]:
    """Spearman correlation between ROI rank and mean best layer.

    Parameters
    ----------
    hmap : HierarchyMap
    rois : dict of str to array of int or bool
    order : sequence of str, default=("A1", "belt", "STG", "STS", "IFG")
        ROIs along the auditory -> language hierarchy; those absent from ``rois``
        or without significant vertices are skipped (and listed).

    Returns
    -------
    dict
        ``rho``, ``p_value`` (two-sided exact permutation p over every ordering
        of the ROIs up to 8 ROIs, so 5 ROIs cannot go below 1/60; None when the
        ROIs' means are all equal), ``p_method``, ``n_rois``, ``mean_best_layer``
        (ROI -> mean best layer index over its significant vertices),
        ``skipped``.
    """
    from scipy import stats

    rois = _check_rois(rois, hmap.best_layer.size)
    means, skipped = {}, []
    for name in order:
        if name not in rois:
            skipped.append(name)
            continue
        b = hmap.best_layer[rois[name]]
        b = b[b >= 0]
        if b.size == 0:
            skipped.append(name)
            continue
        means[name] = float(b.mean())
    names = list(means)
    if len(names) < 3:
        raise ValueError(
            f"roi_order_correlation needs at least 3 ROIs with significant vertices; "
            f"got {names} (skipped {skipped}).")
    ranks = [list(order).index(n) for n in names]
    values = [means[n] for n in names]
    rho = float(stats.spearmanr(ranks, values).statistic)
    p_value, method = _exact_spearman_p(ranks, values, rho)
    return {"rho": rho, "p_value": p_value, "p_method": method,
            "n_rois": len(names), "mean_best_layer": means, "skipped": skipped}


#: Up to this many ROIs the Spearman p-value is an exact permutation p (8! = 40320).
_EXACT_MAX_ROIS = 8


def _exact_spearman_p(ranks: Sequence[int], values: Sequence[float], rho: float
                      ) -> tuple[float | None, str]:
    """Two-sided exact permutation p of Spearman's rho (None when undefined).

    With few ROIs the t approximation of :func:`scipy.stats.spearmanr` is wrong
    (with 3 ROIs rho = 1 gets p = 0); every ordering of the values is enumerated
    instead (as :func:`scipy.stats.permutation_test` does when it can), so the
    smallest attainable p is ``2 / n!`` (5 ROIs: 1/60).
    """
    from itertools import permutations

    from scipy import stats

    if not np.isfinite(rho):
        return None, "undefined (constant values)"
    n = len(values)
    if n > _EXACT_MAX_ROIS:
        return float(stats.spearmanr(ranks, values).pvalue), "t approximation"
    rx = stats.rankdata(ranks)
    ry = stats.rankdata(values)
    rx, ry = rx - rx.mean(), ry - ry.mean()
    den = np.sqrt((rx ** 2).sum() * (ry ** 2).sum())
    perms = np.array(list(permutations(range(n))))
    null = (ry[perms] @ rx) / den
    p = float(np.mean(np.abs(null) >= abs(rho) - 1e-12))
    return p, f"exact permutation ({len(perms)} orderings)"
