"""Synthetic per-subject layer scores with a planted answer (tests, notebooks, demos).

The generator works at the level of :class:`~brainscore_speech.containers.LayerScores`
(cross-validated r per layer, fold and vertex), so the group analysis can be
tested and demonstrated without running the simulator, the features or the ridge.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Literal

import numpy as np

from .._io import make_provenance
from .._validation import check_int, check_option, check_random_state
from ..containers import LayerScores
from ..spaces import FSAVERAGE5_N_VERTICES

__all__ = ["make_synthetic_layer_scores", "make_synthetic_mesh", "SPEECH_ROI_ORDER",
           "FSAVERAGE5_N_VERTICES"]

#: ROIs along the auditory -> language hierarchy (METHODS.md section 9).
SPEECH_ROI_ORDER = ("A1", "belt", "STG", "STS", "IFG")
#: Vertices per hemisphere of fsaverage5.
_DEFAULT_LAYERS = ("stage1", "stage2", "stage3", "stage4", "stage5")


def _default_rois(n_per_hemi: int, hemis: Sequence[str], fraction: float
                  ) -> dict[str, np.ndarray]:
    """Five contiguous ROI blocks covering ``fraction`` of each hemisphere."""
    n_roi = max(1, int(n_per_hemi * fraction) // len(SPEECH_ROI_ORDER))
    rois: dict[str, list[np.ndarray]] = {name: [] for name in SPEECH_ROI_ORDER}
    for h, _ in enumerate(hemis):
        offset = h * n_per_hemi
        for k, name in enumerate(SPEECH_ROI_ORDER):
            rois[name].append(offset + k * n_roi + np.arange(n_roi))
    return {k: np.concatenate(v) for k, v in rois.items()}


def make_synthetic_layer_scores(
    n_subjects: int = 10, *, effect: Literal["hierarchy", "effect",
                                             "null"] = "hierarchy",
    n_vertices_per_hemi: int = FSAVERAGE5_N_VERTICES, hemis: Sequence[str] = ("L", "R"),
    layer_names: Sequence[str] = _DEFAULT_LAYERS, n_folds: int = 4,
    peak_r: float = 0.15, noise_sd: float = 0.05, layer_width: float = 0.7,
    rois: Mapping[str, np.ndarray] | None = None,
    roi_order: Sequence[str] = SPEECH_ROI_ORDER,
    effect_vertices: np.ndarray | None = None,
    roi_fraction: float = 0.5, model_id: str = "stages", space: str = "fsaverage5",
    model_meta: Mapping[str, Any] | None = None, subjects: Sequence[str] | None = None,
    random_state: int | np.random.Generator | None = 0,
) -> tuple[list[LayerScores], dict[str, Any]]:
    """Simulate cross-validated layer scores of several subjects with a known truth.

    The true score of layer ``l`` at vertex ``v`` is
    ``peak_r * exp(-(l - planted_v) ** 2 / (2 * layer_width ** 2))`` for vertices
    with a planted layer, and 0 elsewhere. Each subject adds independent Gaussian
    noise (``noise_sd``) per layer and vertex, and each fold adds noise of the same
    size that averages out over folds (so ``LayerScores.mean_scores`` of a subject is
    truth + subject noise).

    Parameters
    ----------
    n_subjects : int, default=10
    effect : {"hierarchy", "effect", "null"}, default="hierarchy"
        ``"hierarchy"``: the ROIs in ``roi_order`` are tuned to increasingly deep
        layers (first ROI -> first layer, last ROI -> last layer);
        ``"effect"``: the vertices ``effect_vertices`` (default: every ROI vertex)
        have score ``peak_r`` at every layer; ``"null"``: all true scores are 0.
    n_vertices_per_hemi : int, default=10242 (fsaverage5)
    hemis : sequence of str, default=("L", "R")
    layer_names : sequence of str, default=("stage1", ..., "stage5")
    n_folds : int, default=4
    peak_r : float, default=0.15
        True Pearson r at the planted layer.
    noise_sd : float, default=0.05
        Between-subject standard deviation of each subject's r.
    layer_width : float, default=0.7
        Tuning width around the planted layer, in layers.
    rois : dict of str to array of int, optional
        Vertex indices (into the concatenated L-then-R target axis) of each ROI,
        e.g. from :func:`~brainscore_speech.analysis.speech_rois`. Default: five
        contiguous blocks named after ``SPEECH_ROI_ORDER`` covering ``roi_fraction``
        of each hemisphere.
    roi_order : sequence of str, default=("A1", "belt", "STG", "STS", "IFG")
    effect_vertices : array of int, optional
    roi_fraction : float, default=0.5
    model_id, space : str
    model_meta : dict, optional
        Default ``{"regime": "speech", "language": "en",
        "participant_language": "en"}``.
    subjects : sequence of str, optional
        Default ``"01"``, ``"02"``...
    random_state : int, Generator or None, default=0

    Returns
    -------
    scores : list of LayerScores
        One per subject; ``scores`` of shape (n_layers, n_folds, n_targets).
    truth : dict
        ``planted_layer`` (n_targets,) int, -1 where nothing is planted;
        ``true_r`` (n_layers, n_targets); ``rois``; ``roi_order``; ``effect_mask``.

    Examples
    --------
    >>> scores, truth = make_synthetic_layer_scores(4, n_vertices_per_hemi=50)
    >>> scores[0].scores.shape
    (5, 4, 100)
    """
    check_option("effect", effect, ("hierarchy", "effect", "null"))
    check_int("n_subjects", n_subjects, low=1, expected=">= 1")
    check_int("n_folds", n_folds, low=1, expected=">= 1")
    rng = check_random_state(random_state)
    layer_names = tuple(layer_names)
    n_layers = len(layer_names)
    n_targets = n_vertices_per_hemi * len(hemis)
    if rois is None:
        rois = _default_rois(n_vertices_per_hemi, hemis, roi_fraction)
    rois = {k: np.asarray(v, dtype=int) for k, v in rois.items()}
    missing = [r for r in roi_order if r not in rois]
    if effect == "hierarchy" and missing:
        raise ValueError(f"'roi_order' names ROIs {missing} that are not in 'rois' "
                         f"{list(rois)}.")
    planted = np.full(n_targets, -1)
    true_r = np.zeros((n_layers, n_targets))
    layer_pos = np.arange(n_layers)[:, None]
    if effect == "hierarchy":
        k_roi = len(roi_order)
        for k, name in enumerate(roi_order):
            planted[rois[name]] = int(round(k * (n_layers - 1) / max(1, k_roi - 1)))
        has = planted >= 0
        true_r[:, has] = peak_r * np.exp(
            -((layer_pos - planted[None, has]) ** 2) / (2 * layer_width ** 2))
    elif effect == "effect":
        if effect_vertices is None:
            effect_vertices = np.concatenate([rois[k] for k in rois])
        true_r[:, np.asarray(effect_vertices, dtype=int)] = peak_r
    effect_mask = np.any(true_r != 0, axis=0)
    subjects = ([f"{i + 1:02d}" for i in range(n_subjects)] if subjects is None
                else [str(s) for s in subjects])
    if len(subjects) != n_subjects:
        raise ValueError(f"'subjects' has {len(subjects)} labels for n_subjects="
                         f"{n_subjects}.")
    meta = dict(model_meta) if model_meta is not None else {
        "regime": "speech", "language": "en", "participant_language": "en"}
    hemi_sizes = {h: n_vertices_per_hemi for h in hemis}
    params = {"effect": effect, "peak_r": peak_r, "noise_sd": noise_sd,
              "layer_width": layer_width, "n_folds": n_folds}
    out = []
    for sub in subjects:
        subj = true_r + rng.normal(0, noise_sd, size=true_r.shape)
        fold = rng.normal(0, noise_sd, size=(n_layers, n_folds, n_targets))
        fold -= fold.mean(axis=1, keepdims=True)
        scores = (subj[:, None, :] + fold).astype(np.float32)
        alphas = np.full(scores.shape, 1e3, dtype=np.float32)
        # validation on each fold's training runs: the true scores with noise of
        # their own (independent of the held-out folds and of the subject's
        # deviation, so a layer chosen on them is not biased under the null)
        inner = (true_r[:, None, :] + rng.normal(0, noise_sd, size=scores.shape)
                 / np.sqrt(max(n_folds - 1, 1))).astype(np.float32)
        out.append(LayerScores(
            scores=scores, best_alphas=alphas, inner_scores=inner,
            layer_names=layer_names,
            cv={"scheme": "synthetic", "n_folds": n_folds}, subject=sub,
            model_id=model_id, space=space, model_meta=meta, hemi_sizes=hemi_sizes,
            provenance=make_provenance("make_synthetic_layer_scores", params=params)))
    truth = {"planted_layer": planted, "true_r": true_r, "rois": rois,
             "roi_order": tuple(roi_order), "effect_mask": effect_mask,
             "hemi_sizes": hemi_sizes}
    return out, truth


def make_synthetic_mesh(n_side: int = 20) -> tuple[np.ndarray, np.ndarray]:
    """A flat triangulated grid: a small mesh for fast cluster tests.

    Parameters
    ----------
    n_side : int, default=20
        Vertices per side (``n_side ** 2`` vertices, 1 mm apart).

    Returns
    -------
    coords : array of shape (n_side ** 2, 3), mm
    faces : array of shape (2 * (n_side - 1) ** 2, 3) of int
    """
    check_int("n_side", n_side, low=2, expected=">= 2")
    ii, jj = np.meshgrid(np.arange(n_side), np.arange(n_side), indexing="ij")
    coords = np.stack([ii.ravel(), jj.ravel(), np.zeros(n_side ** 2)], axis=1)
    idx = np.arange(n_side ** 2).reshape(n_side, n_side)
    a, b = idx[:-1, :-1].ravel(), idx[1:, :-1].ravel()
    c, d = idx[:-1, 1:].ravel(), idx[1:, 1:].ravel()
    faces = np.concatenate([np.stack([a, b, c], 1), np.stack([b, d, c], 1)])
    return coords.astype(float), faces.astype(int)
