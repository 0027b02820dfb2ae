"""One layer axis across models: each layer's stage and relative depth (pure Python).

Models of different depth (wav2vec2 BASE with 12 transformer blocks, LARGE with 24)
share no layer names beyond the conv blocks, but they share a *relative depth*. It
is defined per stage, separately, on [0, 1]:

=================  ===============  ============================================
layer              stage            relative depth
=================  ===============  ============================================
``conv{i}``        ``conv``         ``i / (n_conv - 1)`` (conv0 = 0, last = 1)
``encoder_input``  ``transformer``  0 (the transformer's input, no block yet)
``transf{i}``      ``transformer``  ``(i + 1) / n_transformer`` (last block = 1)
other names        ``other``        position in the list, ``k / (n - 1)``
=================  ===============  ============================================

so ``transf5`` of a 12-block model and ``transf11`` of a 24-block model both sit at
0.5. The counts come from the model (recorded in each activation file's
``layer_info``); for older files without it they are inferred from the names,
which is exact when every layer of the model was extracted.

This module is imported by ``features`` (which records the values) and by
``analysis`` (which reads them), so it depends on nothing but the standard library.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

__all__ = ["STAGES", "layer_stage", "relative_depths", "complete_layer_info"]

STAGES = ("conv", "transformer", "other")
_CONV = re.compile(r"^conv(\d+)$")
_TRANSF = re.compile(r"^transf(\d+)$")


def layer_stage(name: str) -> tuple[str, int | None]:
    """Stage of a layer name and its index within the stage.

    Returns
    -------
    stage : {"conv", "transformer", "other"}
    index : int or None
        Block index for conv (``conv3`` -> 3); for the transformer, the position
        counting ``encoder_input`` as 0 (``transf0`` -> 1); None for "other".
    """
    m = _CONV.match(name)
    if m:
        return "conv", int(m.group(1))
    if name == "encoder_input":
        return "transformer", 0
    m = _TRANSF.match(name)
    if m:
        return "transformer", int(m.group(1)) + 1
    return "other", None


def relative_depths(names: Sequence[str], *, n_conv: int | None = None,
                    n_transformer: int | None = None) -> dict[str, dict[str, Any]]:
    """Stage and relative depth (0-1, per stage) of every layer name.

    Parameters
    ----------
    names : sequence of str
        Layer names in hierarchy order.
    n_conv : int, optional
        Number of conv blocks of the model (default: inferred from the largest
        ``conv{i}`` in ``names``).
    n_transformer : int, optional
        Number of transformer blocks ``L`` (default: inferred from the largest
        ``transf{i}``).

    Returns
    -------
    dict of str to dict
        ``{name: {"stage", "index", "relative_depth"}}``; ``relative_depth`` is
        a float in [0, 1] (0.0 when a stage has a single position).

    Raises
    ------
    ValueError
        When a layer's index exceeds the given block count.

    Examples
    --------
    >>> relative_depths(["conv0", "conv6", "encoder_input", "transf5"],
    ...                 n_conv=7, n_transformer=12)["transf5"]["relative_depth"]
    0.5
    """
    names = list(names)
    parsed = {n: layer_stage(n) for n in names}
    conv_idx = [i for s, i in parsed.values() if s == "conv"]
    tr_idx = [i for s, i in parsed.values() if s == "transformer"]
    nc = int(n_conv) if n_conv is not None else (max(conv_idx) + 1 if conv_idx else 0)
    nt = int(n_transformer) if n_transformer is not None else (
        max(tr_idx) if tr_idx else 0)
    others = [n for n in names if parsed[n][0] == "other"]
    out: dict[str, dict[str, Any]] = {}
    for name in names:
        stage, idx = parsed[name]
        if stage == "conv":
            if idx >= nc:
                raise ValueError(f"Layer {name!r} needs at least {idx + 1} conv "
                                 f"blocks; 'n_conv' is {nc}.")
            depth = idx / (nc - 1) if nc > 1 else 0.0
        elif stage == "transformer":
            if idx > nt:
                raise ValueError(f"Layer {name!r} needs at least {idx} transformer "
                                 f"blocks; 'n_transformer' is {nt}.")
            depth = idx / nt if nt > 0 else 0.0
        else:
            idx = others.index(name)
            depth = idx / (len(others) - 1) if len(others) > 1 else 0.0
        out[name] = {"stage": stage, "index": idx, "relative_depth": float(depth)}
    return out


def complete_layer_info(names: Sequence[str],
                        layer_info: Mapping[str, Mapping[str, Any]] | None
                        ) -> dict[str, dict[str, Any]]:
    """``layer_info`` for ``names``, filling what an older file lacks from the names.

    Parameters
    ----------
    names : sequence of str
    layer_info : mapping or None
        As recorded in an activation file or LayerScores (may be empty).

    Returns
    -------
    dict of str to dict
        Every name with at least ``stage``, ``index`` and ``relative_depth``
        (``"inferred": True`` where they were derived from the names alone).
    """
    recorded = {k: dict(v) for k, v in (layer_info or {}).items()}
    inferred = relative_depths(names)
    out = {}
    for name in names:
        info = recorded.get(name, {})
        if "relative_depth" not in info:
            info = {**inferred[name], **info, "inferred": True}
        out[name] = info
    return out
