"""Run-wise cross-validation splits (contiguous, never shuffled).

fMRI samples are autocorrelated through the HRF, so held-out data must be whole
runs (or contiguous blocks when there is a single run); shuffled folds inflate
scores (METHODS.md section 17.2).
"""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["run_order", "run_splits", "group_splits", "describe_splits"]

CV_SCHEMES = ("leave-one-run-out",)


def run_order(runs: np.ndarray) -> list[Any]:
    """Distinct run labels in order of first appearance.

    Parameters
    ----------
    runs : array of shape (n_samples,)
        Run label of each sample.

    Returns
    -------
    labels : list
    """
    runs = np.asarray(runs)
    _, first = np.unique(runs, return_index=True)
    return [runs[i].item() if hasattr(runs[i], "item") else runs[i]
            for i in np.sort(first)]


def _check_cv(cv: Any) -> None:
    if isinstance(cv, (bool, np.bool_)) or not (
            cv in CV_SCHEMES or isinstance(cv, (int, np.integer))):
        raise ValueError(
            f"'cv' must be 'leave-one-run-out' or an int >= 2 (number of contiguous "
            f"folds), got {cv!r}.")
    if isinstance(cv, (int, np.integer)) and cv < 2:
        raise ValueError(f"'cv' must be an int >= 2 (number of contiguous folds), got {cv}.")


def group_splits(groups: np.ndarray, n_splits: int | None = None,
                 *, what: str = "runs") -> list[tuple[np.ndarray, np.ndarray]]:
    """Contiguous group-wise splits of samples.

    Parameters
    ----------
    groups : array of shape (n_samples,)
        Group (run) label of each sample.
    n_splits : int or None, default=None
        None: leave one group out. An int K: K contiguous groups of runs (in
        order of first appearance). With a single group, K contiguous blocks of
        samples (K = 5 when None).
    what : str
        Word used in error messages.

    Returns
    -------
    splits : list of (train_indices, test_indices)
        Test sets partition the samples.

    Raises
    ------
    ValueError
        When K exceeds the number of groups (or samples).
    """
    groups = np.asarray(groups)
    labels = run_order(groups)
    n = groups.shape[0]
    idx = np.arange(n)
    if len(labels) == 1:
        k = 5 if n_splits is None else int(n_splits)
        if k > n:
            raise ValueError(
                f"Cannot make {k} contiguous blocks from a single run of {n} samples.")
        blocks = np.array_split(idx, k)
        return [(np.setdiff1d(idx, b, assume_unique=True), b) for b in blocks]
    if n_splits is None:
        sets = [[lab] for lab in labels]
    else:
        k = int(n_splits)
        if k > len(labels):
            raise ValueError(
                f"'cv'={k} folds need at least {k} {what}, got {len(labels)}: "
                f"{labels}.")
        sets = [list(s) for s in np.array_split(np.array(labels, dtype=object), k)]
    out = []
    for s in sets:
        test = np.isin(groups, np.array(s, dtype=groups.dtype))
        out.append((idx[~test], idx[test]))
    return out


def run_splits(runs: np.ndarray, cv: str | int = "leave-one-run-out"
               ) -> list[tuple[np.ndarray, np.ndarray]]:
    """Outer cross-validation splits over whole runs.

    Parameters
    ----------
    runs : array of shape (n_samples,)
        Run label of each sample (BOLD scan).
    cv : "leave-one-run-out" or int, default="leave-one-run-out"
        Leave each run out in turn, or K contiguous groups of runs. With a
        single run, an int K makes K contiguous blocks of scans.

    Returns
    -------
    splits : list of (train_indices, test_indices)

    Raises
    ------
    ValueError
        Fewer than 2 runs for leave-one-run-out, or more folds than runs.
    """
    _check_cv(cv)
    runs = np.asarray(runs)
    labels = run_order(runs)
    if cv == "leave-one-run-out":
        if len(labels) < 2:
            raise ValueError(
                f"cv='leave-one-run-out' needs at least 2 runs, got {len(labels)} "
                f"({labels}); pass cv=K (an int) to use K contiguous blocks of one run.")
        return group_splits(runs, None)
    return group_splits(runs, int(cv))


def describe_splits(runs: np.ndarray, splits: list[tuple[np.ndarray, np.ndarray]]
                    ) -> list[dict[str, Any]]:
    """JSON-able description of each fold: held-out runs and sample ranges."""
    runs = np.asarray(runs)
    out = []
    for _, test in splits:
        out.append({
            "test_runs": [str(r) for r in run_order(runs[test])],
            "n_test": int(len(test)),
            "test_start": int(test.min()),
            "test_stop": int(test.max()) + 1,
        })
    return out
