"""Regime contrasts: trained vs random, speech vs sound, native vs non-native.

Each model is summarised per subject and vertex by one score (``reduce``, see
:mod:`~brainscore_speech.analysis.selection`): by default the best layer chosen by
cross-validation inside the subject (each fold's layer chosen on its training runs),
so that models whose layers are more or less alike are compared without selection
bias; or the mean over layers, a named layer, or (biased, warns) the maximum over
layers. Contrasts are paired differences across the subjects that have both sides,
tested with :func:`~.stats.group_test`.

"Native" is defined per participant (METHODS.md 17.5): a speech model is native
for a subject when ``model_meta["language"] == model_meta["participant_language"]``
(both carried by each subject's LayerScores).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from ..containers import GroupMap, LayerScores
from .selection import check_reduce, reduce_layer_scores, resolve_test
from .stats import group_test

__all__ = ["summarize_model", "compare_models", "regime_of", "regime_contrasts",
           "best_regime_map", "REGIME_LABELS"]

#: Labels of the "which regime predicts best" map (Fig. 4D: acoustic / speech /
#: language), in this order.
REGIME_LABELS = ("sound", "nonnative", "native")
_TRAINED = ("sound", "speech", "pretrained")


def summarize_model(scores: Sequence[LayerScores], *, reduce: str = "cv",
                    layers: Sequence[str] | None = None) -> dict[str, np.ndarray]:
    """One score per subject and target for a model.

    Parameters
    ----------
    scores : sequence of LayerScores
        One per subject, same model.
    reduce : {"cv", "mean", "max"} or str, default="cv"
        ``"cv"``: best layer chosen on each fold's training runs (inner CV),
        scored on its held-out run (unbiased); ``"mean"``: mean over layers; a
        layer name; ``"max"``: each subject's best layer on the same data
        (biased upwards by an amount that depends on how correlated the layers
        are; warns). See
        :func:`~brainscore_speech.analysis.reduce_layer_scores`.
    layers : sequence of str, optional
        Candidate layers (default every layer but ``encoder_input``).

    Returns
    -------
    dict of str to array of shape (n_targets,)
        Subject label -> score.
    """
    return reduce_layer_scores(scores, reduce=check_reduce(reduce), layers=layers,
                               warn=False)


def _paired(a: Mapping[str, np.ndarray], b: Mapping[str, np.ndarray], what: str
            ) -> tuple[np.ndarray, list[str]]:
    common = sorted(set(a) & set(b))
    if len(common) < 2:
        raise ValueError(
            f"{what}: needs at least 2 subjects scored with both sides; got "
            f"{sorted(a)} vs {sorted(b)} (common: {common}).")
    shapes = {np.shape(a[common[0]]), np.shape(b[common[0]])}
    if len(shapes) != 1:
        raise ValueError(f"{what}: the two sides do not share a mesh; target shapes "
                         f"{sorted(shapes)}.")
    return np.stack([a[s] - b[s] for s in common]), common


def compare_models(a: Sequence[LayerScores], b: Sequence[LayerScores], *,
                   reduce: str = "cv", test: str = "auto", alpha: float = 0.05,
                   name: str | None = None, layers: Sequence[str] | None = None,
                   **kwargs: Any) -> GroupMap:
    """Paired group test of model A minus model B, per target.

    Parameters
    ----------
    a, b : sequence of LayerScores
        Per-subject scores of the two models (paired by subject label).
    reduce : str, default="cv"
        See :func:`summarize_model`.
    test : {"auto", "wilcoxon", "signflip", "ttest", "cluster"}, default="auto"
        ``"auto"``: the t-test for selected scores (``reduce="cv"``/``"max"``,
        skewed under the null), Wilcoxon otherwise; see
        :func:`~brainscore_speech.analysis.selection.resolve_test`.
    alpha : float, default=0.05
    name : str, optional
    layers : sequence of str, optional
        Candidate layers of both models (default: each model's layers but
        ``encoder_input``).
    **kwargs
        Passed to :func:`~.stats.group_test` (``adjacency``, ``n_permutations``...).

    Returns
    -------
    GroupMap
        ``statistic`` = mean paired difference; ``extra["subjects"]`` lists the
        paired subjects.
    """
    a, b = list(a), list(b)
    check_reduce(reduce)
    sa = reduce_layer_scores(a, reduce=reduce, layers=layers, warn=False)
    sb = reduce_layer_scores(b, reduce=reduce, layers=layers, warn=False)
    label = name or f"{a[0].model_id} - {b[0].model_id}"
    if a[0].space != b[0].space:
        raise ValueError(f"{label}: the models' scores are in different spaces "
                         f"({a[0].space!r} vs {b[0].space!r}).")
    diff, common = _paired(sa, sb, label)
    return group_test(diff, test=resolve_test(test, reduce),
                      hemi_sizes=a[0].hemi_sizes, alpha=alpha,
                      name=label, space=a[0].space,
                      extra={"subjects": common, "reduce": reduce}, **kwargs)


def regime_of(ls: LayerScores) -> str:
    """Regime of a subject's model: random, sound, native, nonnative or pretrained.

    Speech models become ``native`` / ``nonnative`` by comparing
    ``model_meta["language"]`` with ``model_meta["participant_language"]``; a speech
    model without both is ``speech``.

    Parameters
    ----------
    ls : LayerScores
        One subject's scores (its ``model_meta``).

    Returns
    -------
    str
        ``random``, ``sound``, ``native``, ``nonnative``, ``speech`` or ``pretrained``.
    """
    meta = ls.model_meta or {}
    regime = str(meta.get("regime", "unknown"))
    if regime == "speech":
        lang, plang = meta.get("language"), meta.get("participant_language")
        if lang and plang:
            return "native" if str(lang) == str(plang) else "nonnative"
    return regime


def _by_regime(models: Mapping[str, Sequence[LayerScores]], reduce: str,
               layers: Sequence[str] | None = None
               ) -> dict[str, dict[str, list[np.ndarray]]]:
    """regime -> subject -> list of per-model summaries."""
    out: dict[str, dict[str, list[np.ndarray]]] = {}
    for model_scores in models.values():
        summ = reduce_layer_scores(model_scores, reduce=reduce, layers=layers,
                                   warn=False)
        for ls in model_scores:
            sub = ls.subject or ""
            reg = regime_of(ls)
            out.setdefault(reg, {}).setdefault(sub, []).append(summ[sub])
            if reg in ("native", "nonnative"):
                out.setdefault("speech", {}).setdefault(sub, []).append(summ[sub])
            if reg in _TRAINED or reg in ("native", "nonnative"):
                out.setdefault("trained", {}).setdefault(sub, []).append(summ[sub])
    return out


def _avg(d: Mapping[str, list[np.ndarray]]) -> dict[str, np.ndarray]:
    return {s: np.mean(v, axis=0) for s, v in d.items()}


def regime_contrasts(models: Mapping[str, Sequence[LayerScores]], *,
                     reduce: str = "cv", test: str = "auto", alpha: float = 0.05,
                     layers: Sequence[str] | None = None,
                     **kwargs: Any) -> dict[str, GroupMap]:
    """Paired regime contrasts available among the given models.

    Parameters
    ----------
    models : dict of str to sequence of LayerScores
        Model id -> per-subject scores (regime and languages in ``model_meta``).
    reduce, test, alpha, layers
        See :func:`compare_models` (default ``reduce="cv"``: unbiased whatever
        the models' layer correlations).
    **kwargs
        Passed to :func:`~.stats.group_test`.

    Returns
    -------
    dict of str to GroupMap
        Keys among ``"trained-random"``, ``"speech-sound"``,
        ``"native-nonnative"``; a contrast is computed when both sides exist for
        at least 2 subjects (several models of one regime are averaged per subject).
    """
    check_reduce(reduce)
    return _regime_contrasts(models, _by_regime(models, reduce, layers), reduce=reduce,
                             test=test, alpha=alpha, **kwargs)


def _regime_contrasts(models, reg, *, reduce, test, alpha, **kwargs):
    pairs = {"trained-random": ("trained", "random"),
             "speech-sound": ("speech", "sound"),
             "native-nonnative": ("native", "nonnative")}
    first = next(iter(models.values()))[0]
    out = {}
    for key, (pos, neg) in pairs.items():
        if pos not in reg or neg not in reg:
            continue
        a, b = _avg(reg[pos]), _avg(reg[neg])
        if len(set(a) & set(b)) < 2:
            continue
        diff, common = _paired(a, b, key)
        out[key] = group_test(diff, test=resolve_test(test, reduce),
                              hemi_sizes=first.hemi_sizes,
                              alpha=alpha, name=key, space=first.space,
                              extra={"subjects": common, "reduce": reduce}, **kwargs)
    return out


def best_regime_map(models: Mapping[str, Sequence[LayerScores]], *,
                    reduce: str = "cv", alpha: float = 0.05,
                    labels: Sequence[str] = REGIME_LABELS, test: str = "auto",
                    layers: Sequence[str] | None = None,
                    **kwargs: Any) -> GroupMap:
    """Per target, the regime with the highest group-mean score (Fig. 4D).

    Restricted to targets where trained models beat the random model
    (``"trained-random"`` significantly positive).

    Parameters
    ----------
    models : dict of str to sequence of LayerScores
    reduce : str, default="cv"
        See :func:`summarize_model`; the same reduction gives the trained-random
        test and the regimes' group means.
    alpha : float, default=0.05
    labels : sequence of str, default=("sound", "nonnative", "native")
        Regimes competing for each target (those present are used).
    test : str, default="auto"
    layers : sequence of str, optional
        Candidate layers (default each model's layers but ``encoder_input``).
    **kwargs
        Passed to :func:`~.stats.group_test`.

    Returns
    -------
    GroupMap
        ``statistic`` = index into ``extra["labels"]`` of the best regime (float;
        NaN outside the mask), ``mask`` = trained significantly better than random,
        ``p_values`` / ``p_fdr`` those of the trained-random test;
        ``extra["group_means"]`` the group-mean score of each label.
    """
    check_reduce(reduce)
    reg = _by_regime(models, reduce, layers)
    if "random" not in reg or "trained" not in reg:
        raise ValueError(
            "best_regime_map needs a random model and at least one trained model; "
            f"got regimes {sorted(reg)}.")
    present = [lab for lab in labels if lab in reg]
    if not present:
        raise ValueError(f"None of the regimes {list(labels)} is among the models "
                         f"(regimes found: {sorted(reg)}).")
    tr = _regime_contrasts(models, reg, reduce=reduce, test=test, alpha=alpha,
                           **kwargs)
    if "trained-random" not in tr:
        raise ValueError("best_regime_map: fewer than 2 subjects have both a trained "
                         "and a random model.")
    gm = tr["trained-random"]
    means = np.stack([np.mean(list(_avg(reg[lab]).values()), axis=0)
                      for lab in present])
    mask = gm.mask & (gm.statistic > 0)
    best = np.where(mask, means.argmax(axis=0), np.nan).astype(float)
    return GroupMap(statistic=best, p_values=gm.p_values, p_fdr=gm.p_fdr, mask=mask,
                    n_subjects=gm.n_subjects, test=gm.test, name="best regime",
                    alpha=alpha, space=gm.space, hemi_sizes=gm.hemi_sizes,
                    extra={"labels": present, "group_means": means.tolist(),
                           "restricted_to": "trained > random", "reduce": reduce,
                           "subjects": gm.extra.get("subjects")})
