"""Checks of ``group`` run before any subject is read (one line in ``run_group``)."""

from __future__ import annotations

import os

from .._io import check_output_dir
from .._validation import check_number

__all__ = ["check_group_params", "check_group_layers"]


def check_group_params(out_dir: str | os.PathLike, *, alpha: float,
                       n_permutations: int, n_bootstrap: int) -> None:
    """Refuse parameters that would give empty or meaningless statistics.

    Parameters
    ----------
    out_dir : path-like
        Must be (or become) a writable folder.
    alpha : float
        In (0, 1).
    n_permutations : int
        >= 1: 0 permutations leave no null distribution (every p-value 1 or NaN).
    n_bootstrap : int
        >= 0 (0 skips the hierarchy stability).

    Raises
    ------
    UsageError
        A value out of range, or ``out_dir`` is a file.
    """
    check_number("alpha", alpha, low=0, high=1, low_open=True, high_open=True)
    check_number("n_permutations", n_permutations, low=1, integer=True)
    check_number("n_bootstrap", n_bootstrap, low=0, integer=True)
    check_output_dir(out_dir, what="--out")


def check_group_layers(by_model, layers) -> None:
    """Every requested layer exists for every subject of every model (before writing).

    Raises
    ------
    UsageError
        ``Layer 'stage9' is missing from sub-01 (model 'stages'); it has
        ['stage1', 'stage2']. Did you mean ...``
    """
    from .._validation import suggest
    from ..exceptions import UsageError

    for model, scores in by_model.items():
        for ls in scores:
            have = list(ls.layer_names)
            for name in layers or ():
                if name not in have:
                    raise UsageError(
                        f"Layer {name!r} is missing from sub-{ls.subject} (model "
                        f"{model!r}); it has {have}." + suggest(name, have))
