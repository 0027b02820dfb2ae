"""One score per subject and target from a model's layers, without selection bias.

Every group map that summarises a model by "its best layer" must choose that
layer on data independent of the scores it then tests; otherwise the maximum of
several noisy layers is biased upwards by an amount that grows with the number of
layers and shrinks as their errors correlate, so it differs between models (an
untrained network's layers are far more alike than a trained one's) and a pure
null looks like an effect (``trained > random`` on every vertex).

Reductions (``reduce``):

- ``"cv"`` (default): cross-validated selection inside each subject. For each
  outer fold ``k`` of a subject's :class:`~brainscore_speech.containers.LayerScores`,
  the layer with the best *inner-CV validation score* of that fold
  (``LayerScores.inner_scores``: computed on fold ``k``'s training runs only) is
  chosen per target, and fold ``k``'s held-out score at that layer is kept; the
  kept scores are averaged over folds. The choice is a function of the training
  runs and the tested score of the held-out run only, so under a null where the
  held-out BOLD is independent of the training runs the kept score is centred
  on 0 whatever the layers' correlation.

  Choosing on the *other folds' held-out scores* instead (what files without
  ``inner_scores`` fall back to, with a warning) is not independent in the real
  pipeline: with leave-one-run-out, fold ``j``'s model was trained on run ``k``
  and fold ``k``'s on run ``j``, so the two folds' test scores of a layer share
  a term (``y_j' X_j (X'X + a)^-1 X_k' y_k``) that differs between layers, and
  the best layer on folds ``j != k`` is also better than average on fold ``k``.
  Measured on the demo's null vertices: +0.045 mean selected r (per-layer mean
  +0.003). Needs at least 2 folds.
- ``"mean"``: the mean over layers (linear, unbiased; dilutes a one-layer effect).
- a layer name: that layer only (chosen a priori).
- ``"max"``: each subject's maximum over layers on the same data. Biased (see
  above); kept only for comparison with earlier results and warns.

Layer sets (:func:`default_layers`): the paper's hierarchy uses the conv blocks and
the transformer blocks (Narratives: ``conv0-6 + transf0-11``, 19 layers,
METHODS.md section 9); ``encoder_input`` (HF ``hidden_states[0]``, not a
transformer block) enters only when asked for.
"""

from __future__ import annotations

import dataclasses
import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np

from ..containers import GroupMap, LayerScores
from ..exceptions import BrainscoreWarning, UsageError
from .collect import stack_layer_scores
from .stats import group_test

__all__ = ["cv_selected_scores", "reduce_layer_scores", "default_layers",
           "check_reduce", "brain_score_map", "resolve_test", "REDUCTIONS",
           "OPT_IN_LAYERS", "REDUCE_LABELS"]

#: Named reductions (any other string is a layer name).
REDUCTIONS = ("cv", "mean", "max")
#: Layers left out of the default layer set (used only when named explicitly).
OPT_IN_LAYERS = ("encoder_input",)

#: How each named reduction is described in the maps' ``extra["layer"]``.
REDUCE_LABELS = {
    "cv": "best layer chosen on each fold's training runs (inner CV), scored on "
          "its held-out run (cross-validated selection within subject)",
    "mean": "mean over layers",
    "max": "each subject's maximum over layers (biased by selection)"}

_MAX_WARNING = (
    "reduce='max' takes each subject's best layer on the same scores it then tests: "
    "its upward bias grows with the number of layers and falls as their errors "
    "correlate, so it differs between models and contrasts or maps made with it "
    "are not valid under the null. Use reduce='cv' (the default: layer chosen on "
    "the other folds) or 'mean'.")


def default_layers(layer_names: Sequence[str]) -> tuple[str, ...]:
    """The default layer set: every layer but ``encoder_input``.

    Parameters
    ----------
    layer_names : sequence of str
        A model's layers in hierarchy order.

    Returns
    -------
    tuple of str
        For a wav2vec 2.0 BASE model, ``conv0..conv6, transf0..transf11`` (the
        paper's 19 layers); other layer sets are returned unchanged.
    """
    kept = tuple(n for n in layer_names if n not in OPT_IN_LAYERS)
    return kept if kept else tuple(layer_names)


def resolve_test(test: str, reduce: str) -> str:
    """The vertex-wise test for maps of reduced scores (``test="auto"``).

    Selected scores (``reduce="cv"`` or ``"max"``) are centred on the true score
    under the null but skewed (a layer that is high in every fold is kept, one that
    is low is not: skewness ~0.3 with weakly correlated layers). The signed-rank
    test assumes symmetry, so its false-positive rate grows with the number of
    subjects (measured 1.2-1.3x nominal at 100 subjects); the t-test of the mean
    holds. ``"auto"`` is therefore ``"ttest"`` for those and ``"wilcoxon"`` for
    ``"mean"`` and single layers (symmetric under the null); other values are
    returned unchanged.
    """
    if test != "auto":
        return test
    return "ttest" if reduce in ("cv", "max") else "wilcoxon"


def check_reduce(reduce: str, *, warn: bool = True, stacklevel: int = 3) -> str:
    """Validate ``reduce`` (a named reduction or a layer name); warn for ``"max"``.

    Raises
    ------
    UsageError
        A ValueError (exit 2 on the command line) when ``reduce`` is not a
        non-empty string.
    """
    if not isinstance(reduce, str) or not reduce:
        raise UsageError(f"'reduce' must be one of {list(REDUCTIONS)} or a layer name, "
                         f"got {reduce!r}.")
    if reduce == "max" and warn:
        warnings.warn(_MAX_WARNING, BrainscoreWarning, stacklevel=stacklevel)
    return reduce


def cv_selected_scores(scores: np.ndarray, *, inner: np.ndarray | None = None,
                       return_layers: bool = False):
    """Cross-validated best-layer score of one subject (see the module docstring).

    Parameters
    ----------
    scores : array of shape (n_layers, n_folds, n_targets)
        Per-fold held-out Pearson r (``LayerScores.scores``); NaN where not scored.
    inner : array of shape (n_layers, n_folds, n_targets), optional
        Per-fold validation scores on the training runs
        (``LayerScores.inner_scores``): fold ``k``'s layer is their argmax. None:
        the argmax of the mean held-out score of the other folds (biased when
        folds share training data, see the module docstring).
    return_layers : bool, default=False
        Also return the layer chosen for each fold.

    Returns
    -------
    selected : array of shape (n_targets,)
        Mean over folds ``k`` of ``scores[l_k, k]`` (ties: the first layer); NaN
        where no fold could be scored.
    chosen : array of shape (n_folds, n_targets) of int
        Only with ``return_layers``; -1 where nothing could be chosen.

    Raises
    ------
    ValueError
        When ``scores`` is not 3-D, ``inner`` has another shape, or (without
        ``inner``) there are fewer than 2 folds.
    """
    s = np.asarray(scores, dtype=float)
    if s.ndim != 3:
        raise ValueError("'scores' must have shape (n_layers, n_folds, n_targets), got "
                         f"{s.shape}.")
    n_layers, n_folds, n_targets = s.shape
    if inner is not None:
        inner = np.asarray(inner, dtype=float)
        if inner.shape != s.shape:
            raise ValueError(f"'inner' must have the shape of 'scores' {s.shape}, got "
                             f"{inner.shape}.")
        criterion = np.where(np.isfinite(inner), inner, -np.inf)
    elif n_folds < 2:
        raise ValueError(
            f"reduce='cv' chooses each fold's layer on the other folds and needs at "
            f"least 2 folds, got {n_folds}; use reduce='mean' or a layer name.")
    else:
        criterion = _other_fold_means(s)
    acc, n_acc = np.zeros(n_targets), np.zeros(n_targets)
    chosen = np.full((n_folds, n_targets), -1)
    cols = np.arange(n_targets)
    for k in range(n_folds):
        crit = criterion[:, k]
        best = crit.argmax(axis=0)
        some = np.isfinite(crit).any(axis=0)
        val = s[best, k, cols]
        good = some & np.isfinite(val)
        acc += np.where(good, val, 0.0)
        n_acc += good
        chosen[k] = np.where(some, best, -1)
    with np.errstate(invalid="ignore", divide="ignore"):
        selected = np.where(n_acc > 0, acc / np.maximum(n_acc, 1), np.nan)
    return (selected, chosen) if return_layers else selected


def _other_fold_means(s: np.ndarray) -> np.ndarray:
    """(n_layers, n_folds, n_targets): mean of the other folds; -inf where none."""
    ok = np.isfinite(s)
    z = np.where(ok, s, 0.0)
    total, count = z.sum(axis=1, keepdims=True), ok.sum(axis=1, keepdims=True)
    n_other = count - ok
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(n_other > 0, (total - z) / np.maximum(n_other, 1), -np.inf)


_NO_INNER_WARNING = (
    "reduce='cv': {which} ha{s} no inner-CV validation scores (LayerScores written "
    "before they were stored, or built without 'inner_scores'); the layer of each "
    "fold is chosen on the other folds' held-out scores, which is biased upwards "
    "when folds share training runs (leave-one-run-out). Re-run 'score' to store "
    "them, or use reduce='mean' or a layer name.")


def _has_inner(ls: LayerScores) -> bool:
    return ls.inner_scores is not None and bool(np.isfinite(ls.inner_scores).any())


def _layer_indices(ls: LayerScores, layers: Sequence[str]) -> list[int]:
    return [ls.layer_names.index(name) for name in layers]


def reduce_layer_scores(scores: Sequence[LayerScores], *, reduce: str = "cv",
                        layers: Sequence[str] | None = None, warn: bool = True
                        ) -> dict[str, np.ndarray]:
    """One score per subject and target for one model.

    Parameters
    ----------
    scores : sequence of LayerScores
        One per subject, same model, space and mesh.
    reduce : {"cv", "mean", "max"} or str, default="cv"
        See the module docstring; any other string is a layer name.
    layers : sequence of str, optional
        Candidate layers for ``"cv"``, ``"mean"`` and ``"max"`` (default
        :func:`default_layers` of the first subject's layers).
    warn : bool, default=True
        Warn when ``reduce="max"``. ``"cv"`` on scores without ``inner_scores``
        always warns.

    Returns
    -------
    dict of str to array of shape (n_targets,)
        Subject label -> score.

    Raises
    ------
    ValueError
        Subjects that do not share a space, mesh or model; a missing layer; fewer
        than 2 folds with ``reduce="cv"``.
    """
    scores = list(scores)
    check_reduce(reduce, warn=warn, stacklevel=3)
    if reduce in REDUCTIONS:
        names = tuple(layers) if layers is not None else (
            default_layers(scores[0].layer_names) if scores else ())
    else:
        names = (reduce,)
    stack = stack_layer_scores(scores, layers=names)  # validates, names subjects
    if reduce == "cv":
        vals, lacking = [], []
        for ls in scores:
            idx = _layer_indices(ls, names)
            inner = np.asarray(ls.inner_scores)[idx] if _has_inner(ls) else None
            if inner is None:
                lacking.append(f"sub-{ls.subject}")
            try:
                vals.append(cv_selected_scores(np.asarray(ls.scores)[idx],
                                               inner=inner))
            except ValueError as err:
                raise ValueError(f"sub-{ls.subject}: {err}") from None
        vals = np.stack(vals)
        if lacking:  # whatever ``warn`` (which is about 'max')
            which = (", ".join(lacking) if len(lacking) <= 3
                     else f"{len(lacking)} subjects ({', '.join(lacking[:3])}...)")
            warnings.warn(_NO_INNER_WARNING.format(
                which=which, s="s" if len(lacking) == 1 else "ve"),
                BrainscoreWarning, stacklevel=3)
    elif reduce == "max":
        with np.errstate(invalid="ignore"), warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN targets
            vals = np.nanmax(stack.data, axis=1)
    elif reduce == "mean":
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            vals = np.nanmean(stack.data, axis=1)
    else:
        vals = stack.data[:, 0]
    return dict(zip(stack.subjects, vals))


def brain_score_map(scores: Sequence[LayerScores], *, reduce: str = "cv",
                    layers: Sequence[str] | None = None, test: str = "auto",
                    alpha: float = 0.05, n_permutations: int = 1000,
                    adjacency: Any = None, name: str | None = None,
                    random_state: int | np.random.Generator | None = 0,
                    extra: dict[str, Any] | None = None, warn: bool = True
                    ) -> GroupMap:
    """Group brain-score map of one model: is the model's score above 0 here?

    Parameters
    ----------
    scores : sequence of LayerScores
        One per subject (same model, space and mesh).
    reduce : {"cv", "mean", "max"} or str, default="cv"
        See :func:`reduce_layer_scores`; with ``"cv"`` the unthresholded map is
        the subject-mean of each subject's cross-validated best-layer score (not
        a maximum of means) and its test needs no selection correction.
    layers : sequence of str, optional
        Candidate layers (default :func:`default_layers`).
    test : {"auto", "wilcoxon", "signflip", "ttest", "cluster"}, default="auto"
        ``"auto"``: see :func:`resolve_test` (the t-test for ``"cv"``).
        Vertex-wise tests are FDR-corrected within hemisphere; ``"cluster"``
        (needs ``adjacency``) controls the family-wise error over both
        hemispheres together, and with ``reduce="cv"`` or ``"max"`` repeats the
        layer selection inside every permutation (each permutation negates some
        subjects' raw scores and reduces them again), so it is exact under the
        null that every layer scores 0.
    alpha : float, default=0.05
    n_permutations : int, default=1000
    adjacency : dict of str to sparse matrix, optional
    name : str, optional
    random_state : int, Generator or None, default=0
    extra : dict, optional
        Added to the map's ``extra``.
    warn : bool, default=True
        Warn when ``reduce="max"``.

    Returns
    -------
    GroupMap
        ``extra`` records ``reduce``, ``layer`` (what the values are),
        ``layers`` and ``subjects``.
    """
    scores = list(scores)
    red = reduce_layer_scores(scores, reduce=reduce, layers=layers, warn=warn)
    test = resolve_test(test, reduce)
    subjects = list(red)
    use = (list(layers) if layers is not None else list(default_layers(
        scores[0].layer_names))) if reduce in REDUCTIONS else [reduce]
    first = scores[0]
    info = {"model": first.model_id, "reduce": reduce,
            "layer": REDUCE_LABELS.get(reduce, reduce), "layers": use,
            **({"layer_selection": "inner-cv" if all(map(_has_inner, scores))
                else "other folds (biased)"} if reduce == "cv" else {}),
            "subjects": subjects, **(extra or {})}
    flipped = None
    if test == "cluster" and reduce in ("cv", "max"):
        # the null flips the sign of a subject's raw scores (all layers and folds);
        # the layer selection is then redone inside every permutation
        neg = [dataclasses.replace(ls, scores=-np.asarray(ls.scores)) for ls in scores]
        rn = reduce_layer_scores(neg, reduce=reduce, layers=layers, warn=False)
        flipped = np.stack([rn[s] for s in subjects])
    return group_test(np.stack([red[s] for s in subjects]), test=test,
                      hemi_sizes=first.hemi_sizes, alpha=alpha,
                      n_permutations=n_permutations, adjacency=adjacency,
                      name=name or f"brain score {first.model_id}",
                      space=first.space, random_state=random_state, extra=info,
                      flipped=flipped)
