"""Stack per-subject LayerScores into group arrays, checking they are comparable."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from .._validation import suggest
from ..containers import LayerScores

__all__ = ["SubjectStack", "stack_layer_scores"]


@dataclass(frozen=True)
class SubjectStack:
    """Subject-by-layer-by-target brain scores of one model.

    Parameters
    ----------
    data : array of shape (n_subjects, n_layers, n_targets)
        Fold-averaged Pearson r.
    layer_names : tuple of str
    subjects : tuple of str
    model_id : str or None
    space : str or None
    hemi_sizes : dict of str to int or None
    model_meta : list of dict
        Each subject's ``LayerScores.model_meta``.
    """

    data: np.ndarray
    layer_names: tuple[str, ...]
    subjects: tuple[str, ...]
    model_id: str | None
    space: str | None
    hemi_sizes: dict[str, int] | None
    model_meta: list[dict[str, Any]]

    @property
    def n_subjects(self) -> int:
        return int(self.data.shape[0])


def _who(ls: LayerScores, i: int) -> str:
    return f"sub-{ls.subject}" if ls.subject else f"subject #{i}"


def stack_layer_scores(scores: Sequence[LayerScores], *,
                       layers: Sequence[str] | None = None) -> SubjectStack:
    """Stack the fold-averaged scores of one model across subjects.

    Parameters
    ----------
    scores : sequence of LayerScores
        One per subject, same model, same space and mesh.
    layers : sequence of str, optional
        Layers to keep, in this order (default: the first subject's layers).

    Returns
    -------
    SubjectStack

    Raises
    ------
    ValueError
        When subjects do not share a space, a mesh (``hemi_sizes`` / number of
        targets) or a model, or a requested layer is missing from a subject.
    """
    scores = list(scores)
    if not scores:
        raise ValueError("'scores' is empty: no subject to stack.")
    for i, ls in enumerate(scores):
        if not isinstance(ls, LayerScores):
            raise TypeError(f"'scores[{i}]' must be a LayerScores, got "
                            f"{type(ls).__name__}.")
    ref = scores[0]
    for i, ls in enumerate(scores[1:], start=1):
        if ls.space != ref.space:
            raise ValueError(
                f"Subjects do not share a space: {_who(ref, 0)} is in {ref.space!r} "
                f"but {_who(ls, i)} is in {ls.space!r}. Resample them to one space.")
        if ls.n_targets != ref.n_targets or ls.hemi_sizes != ref.hemi_sizes:
            raise ValueError(
                f"Subjects do not share a mesh: {_who(ref, 0)} has {ref.n_targets} "
                f"targets (hemi_sizes {ref.hemi_sizes}) but {_who(ls, i)} has "
                f"{ls.n_targets} (hemi_sizes {ls.hemi_sizes}).")
        if ls.model_id != ref.model_id:
            raise ValueError(
                f"Subjects were scored with different models: {_who(ref, 0)} has "
                f"model {ref.model_id!r} but {_who(ls, i)} has {ls.model_id!r}.")
    subjects = [ls.subject or f"{i:02d}" for i, ls in enumerate(scores)]
    if len(set(subjects)) != len(subjects):
        raise ValueError(f"Duplicate subjects in 'scores': {subjects}.")
    layers = tuple(ref.layer_names if layers is None else layers)
    data = np.empty((len(scores), len(layers), ref.n_targets))
    for i, ls in enumerate(scores):
        mean = ls.mean_scores
        for j, name in enumerate(layers):
            if name not in ls.layer_names:
                raise ValueError(
                    f"Layer {name!r} is missing from {_who(ls, i)} (model "
                    f"{ls.model_id!r}); it has {list(ls.layer_names)}."
                    + suggest(name, ls.layer_names))
            data[i, j] = mean[ls.layer_names.index(name)]
    return SubjectStack(data=data, layer_names=layers, subjects=tuple(subjects),
                        model_id=ref.model_id, space=ref.space,
                        hemi_sizes=ref.hemi_sizes,
                        model_meta=[dict(ls.model_meta) for ls in scores])
