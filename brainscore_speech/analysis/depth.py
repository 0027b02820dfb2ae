"""One hierarchy map across models of different depth, by relative layer depth.

A wav2vec2 BASE model has 12 transformer blocks and a LARGE one 24, so their best-
layer maps are not on one scale. Each layer has a stage (``conv`` / ``transformer``)
and a relative depth in [0, 1] within it (:mod:`brainscore_speech._layers`,
recorded in activation files and ``LayerScores.layer_info``; inferred from the
layer names in older files). This module puts every model's subject-level layer
profiles on one grid of (stage, relative depth) positions and computes the group
hierarchy map there (:func:`~brainscore_speech.analysis.hierarchy.compute_hierarchy`,
unchanged: subject-averaged argmax, significance, bootstrap stability).

The grid of a stage is the layer positions of the model with the *fewest* layers
in it (the coarsest common resolution); the other models' profiles are linearly
interpolated in relative depth onto it. When the deeper model's positions include
the grid's (12 vs 24 blocks, 4 vs 8), interpolation picks its layers exactly
(BASE ``transf5`` at 0.5 meets LARGE ``transf11``). The models' grid profiles
are averaged with equal weight per subject.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from .._layers import complete_layer_info
from ..containers import HierarchyMap, LayerScores
from .collect import SubjectStack, stack_layer_scores
from .hierarchy import compute_hierarchy

__all__ = ["LAYER_AXES", "depth_label", "layer_depths", "stack_by_depth",
           "compute_depth_hierarchy"]

LAYER_AXES = ("name", "depth")
AXIS_LABEL = "relative depth (conv | transformer blocks, 0-1 each)"
_STAGE_ORDER = ("conv", "transformer", "other")


def depth_label(stage: str, depth: float) -> str:
    """Category name of a grid position, e.g. ``"transformer@0.25"``."""
    return f"{stage}@{depth:.2f}"


def layer_depths(ls: LayerScores, layers: Sequence[str] | None = None
                 ) -> dict[str, dict[str, Any]]:
    """Stage and relative depth of each layer of a LayerScores.

    Parameters
    ----------
    ls : LayerScores
    layers : sequence of str, optional
        Default ``ls.layer_names``.

    Returns
    -------
    dict of str to dict
        ``{name: {"stage", "relative_depth", ...}}`` from ``ls.layer_info``,
        inferred from the names where a file predates it (``"inferred": True``;
        exact when every layer of the model was scored).
    """
    names = list(ls.layer_names)
    info = complete_layer_info(names, ls.layer_info)
    return {n: info[n] for n in (layers or names)}


def _grid(profiles: Mapping[str, dict[str, list[float]]],
          grid: Mapping[str, Sequence[float]] | None) -> list[tuple[str, float]]:
    stages = [s for s in _STAGE_ORDER if all(s in p for p in profiles.values())]
    if not stages:
        raise ValueError(
            "The models share no layer stage (conv / transformer) to align by depth: "
            + "; ".join(f"{m}: {sorted(p)}" for m, p in profiles.items()) + ".")
    out = []
    for stage in stages:
        if grid is not None and stage in grid:
            pts = sorted(float(d) for d in grid[stage])
            if any(not 0.0 <= d <= 1.0 for d in pts):
                raise ValueError(f"'grid[{stage!r}]' must lie in [0, 1], got {pts}.")
        else:
            pts = min((p[stage] for p in profiles.values()), key=len)
        out += [(stage, float(d)) for d in pts]
    return out


def stack_by_depth(by_model: Mapping[str, Sequence[LayerScores]], *,
                   layers: Sequence[str] | None = None,
                   grid: Mapping[str, Sequence[float]] | None = None) -> SubjectStack:
    """Every model's subject profiles on one (stage, relative depth) grid, averaged.

    Parameters
    ----------
    by_model : mapping of str to sequence of LayerScores
        Per model, one LayerScores per subject (same space and mesh).
    layers : sequence of str, optional
        Layers to use of every model that has them (default all).
    grid : mapping of stage to sequence of float, optional
        Relative depths per stage; default the coarsest model's positions.

    Returns
    -------
    SubjectStack
        ``data`` of shape (n_subjects, n_grid, n_targets), the mean over models
        of each model's interpolated profile; ``layer_names`` are
        :func:`depth_label` names; ``model_id`` joins the model ids with ``+``;
        ``model_meta`` (per subject) holds ``grid`` and ``sources``.

    Raises
    ------
    ValueError
        No model, no subject common to all models, or no shared stage.
    """
    if not by_model:
        raise ValueError("'by_model' is empty: no model to put on the depth axis.")
    stacks, profiles = {}, {}
    for m, lst in by_model.items():
        lst = list(lst)
        names = [n for n in (layers or lst[0].layer_names) if n in lst[0].layer_names]
        if not names:
            have = list(lst[0].layer_names)
            raise ValueError(f"Model {m!r} has none of the layers "
                             f"{list(layers or [])}; it has {have}.")
        stacks[m] = stack_layer_scores(lst, layers=names)
        info = layer_depths(lst[0], names)
        prof: dict[str, list[float]] = {}
        for n in names:
            prof.setdefault(info[n]["stage"], []).append(info[n]["relative_depth"])
        profiles[m] = {s: sorted(set(d)) for s, d in prof.items()}
        stacks[m] = (stacks[m], info)
    common = set.intersection(*(set(st.subjects) for st, _ in stacks.values()))
    if not common:
        raise ValueError("No subject was scored with every model: "
                         + "; ".join(f"{m}: {list(st.subjects)}"
                                     for m, (st, _) in stacks.items()) + ".")
    subjects = sorted(common)
    points = _grid(profiles, grid)
    ref = next(iter(stacks.values()))[0]
    data = np.zeros((len(subjects), len(points), ref.data.shape[2]))
    sources: dict[str, dict[str, list]] = {}
    for m, (st, info) in stacks.items():
        rows = [st.subjects.index(s) for s in subjects]
        x = st.data[rows]  # (n_sub, n_layers, n_targets)
        srcs = []
        for k, (stage, d) in enumerate(points):
            idx = [j for j, n in enumerate(st.layer_names) if info[n]["stage"] == stage]
            depths = np.array([info[st.layer_names[j]]["relative_depth"] for j in idx])
            order = np.argsort(depths, kind="stable")
            idx, depths = [idx[o] for o in order], depths[order]
            hi = int(np.searchsorted(depths, d, side="left"))
            if len(depths) == 1:  # a one-position stage (e.g. only encoder_input)
                hi = 0
            if hi < len(depths) and (len(depths) == 1 or np.isclose(depths[hi], d)):
                data[:, k] += x[:, idx[hi]]
                srcs.append([st.layer_names[idx[hi]]])
                continue
            hi = min(max(hi, 1), len(depths) - 1)
            lo = hi - 1
            w = (d - depths[lo]) / (depths[hi] - depths[lo])
            w = float(np.clip(w, 0.0, 1.0))
            data[:, k] += (1 - w) * x[:, idx[lo]] + w * x[:, idx[hi]]
            srcs.append([st.layer_names[idx[lo]], st.layer_names[idx[hi]], round(w, 6)])
        sources[m] = {depth_label(*p): s for p, s in zip(points, srcs)}
    data /= len(stacks)
    meta = {"layer_axis": "depth", "grid": [list(p) for p in points],
            "sources": sources, "models": list(stacks)}
    return SubjectStack(data=data, layer_names=tuple(depth_label(*p) for p in points),
                        subjects=tuple(subjects), model_id="+".join(stacks),
                        space=ref.space, hemi_sizes=ref.hemi_sizes,
                        model_meta=[meta] * len(subjects))


def compute_depth_hierarchy(by_model: Mapping[str, Sequence[LayerScores]], *,
                            layers: Sequence[str] | None = None,
                            grid: Mapping[str, Sequence[float]] | None = None,
                            alpha: float = 0.05, test: str = "wilcoxon",
                            n_bootstrap: int = 200,
                            random_state: int | np.random.Generator | None = 0
                            ) -> HierarchyMap:
    """One group hierarchy map of several models on the relative-depth axis.

    Parameters
    ----------
    by_model : mapping of str to sequence of LayerScores
    layers, grid
        See :func:`stack_by_depth`.
    alpha, test, n_bootstrap, random_state
        See :func:`~brainscore_speech.analysis.hierarchy.compute_hierarchy`.

    Returns
    -------
    HierarchyMap
        ``layer_names`` are grid positions (``"transformer@0.50"``);
        ``extra`` adds ``layer_axis`` ("depth"), ``layer_axis_label`` (for
        colour bars), ``layer_stage`` and ``layer_depth`` (per grid position),
        ``models`` and ``sources`` (which layers of each model, with the
        interpolation weight, make each position).
    """
    stack = stack_by_depth(by_model, layers=layers, grid=grid)
    hmap = compute_hierarchy(stack, alpha=alpha, test=test, n_bootstrap=n_bootstrap,
                             random_state=random_state)
    meta = stack.model_meta[0]
    return dataclasses.replace(hmap, extra={
        **hmap.extra, "layer_axis": "depth", "layer_axis_label": AXIS_LABEL,
        "layer_stage": [s for s, _ in meta["grid"]],
        "layer_depth": [d for _, d in meta["grid"]],
        "models": meta["models"], "sources": meta["sources"]})
