"""Run-wise cross-validation splits (contiguous, never shuffled).

fMRI samples are autocorrelated through the HRF, so held-out data must be whole
runs (or contiguous blocks when there is a single run); shuffled folds inflate
scores (METHODS.md section 17.2). Two further leaks are closed here:

- **Repeated stimuli.** When the same stimulus is played in several runs (a
  story presented twice), splits are made over *stimuli* (``groups``): every
  presentation of a stimulus is on the same side of every split, so a response
  locked to the stimulus but not explained by the features cannot be "predicted"
  from its other presentation.
- **Contiguous blocks of one run.** Scans next to a held-out block share its
  slow (HRF, drift, AR) fluctuations; ``gap`` scans on each side of every
  held-out block are removed from training ("trimmed" or "buffered" CV).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

__all__ = ["run_order", "run_splits", "group_splits", "describe_splits", "trim_gap",
           "inner_splits", "stimulus_groups"]

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
        raise ValueError(f"'cv' must be an int >= 2 (number of contiguous folds), got "
                         f"{cv}.")


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


def stimulus_groups(runs: np.ndarray, stimuli: Mapping[Any, str]) -> np.ndarray:
    """Stimulus label of each sample, for stimulus-grouped cross-validation.

    Parameters
    ----------
    runs : array of shape (n_samples,)
        Run label of each sample.
    stimuli : mapping of run label to str
        Stimulus played in each run (e.g. ``BoldRuns.stimuli``, from the events'
        ``stim_file``), so repeated presentations are detected from the stimulus,
        not from the run label.

    Returns
    -------
    groups : ndarray of shape (n_samples,), dtype object
        ``stimuli[runs[i]]`` for every sample.

    Raises
    ------
    ValueError
        A run of ``runs`` is missing from ``stimuli``.
    """
    runs = np.asarray(runs)
    labels = run_order(runs)
    missing = [lab for lab in labels if lab not in stimuli]
    if missing:
        raise ValueError(
            f"'stimuli' must name the stimulus of every run; missing {missing} "
            f"(it has {sorted(map(str, stimuli))}).")
    out = np.empty(runs.shape[0], dtype=object)
    for lab in labels:
        out[runs == lab] = str(stimuli[lab])
    return out


def _check_groups(runs: np.ndarray, groups: Any) -> np.ndarray:
    groups = np.asarray(groups)
    if groups.shape != runs.shape:
        raise ValueError(
            f"'groups' must have shape (n_samples,) = {runs.shape} like 'runs', got "
            f"{groups.shape}.")
    for lab in run_order(runs):
        inside = run_order(groups[runs == lab])
        if len(inside) != 1:
            raise ValueError(
                f"'groups' must give one stimulus per run; run {lab!r} has "
                f"{len(inside)}: {inside}.")
    return groups


def _check_gap(gap: Any) -> int:
    if isinstance(gap, (bool, np.bool_)) or int(gap) != gap or gap < 0:
        raise ValueError(f"'gap' must be a non-negative integer (scans), got {gap!r}.")
    return int(gap)


def trim_gap(train: np.ndarray, test: np.ndarray, runs: np.ndarray, gap: int
             ) -> np.ndarray:
    """Remove from ``train`` the samples within ``gap`` scans of a test sample.

    Only samples of the same run count as neighbours (runs are separate
    acquisitions); within a run, samples are in acquisition order.

    Parameters
    ----------
    train, test : arrays of int
        Sample indices.
    runs : array of shape (n_samples,)
        Run label of each sample.
    gap : int
        Scans removed on each side of every contiguous block of test samples.

    Returns
    -------
    train : ndarray of int
        The training indices kept (in their original order).
    """
    gap = _check_gap(gap)
    train = np.asarray(train)
    if gap == 0 or len(test) == 0:
        return train
    runs = np.asarray(runs)
    is_test = np.zeros(runs.shape[0], dtype=bool)
    is_test[np.asarray(test)] = True
    near = np.zeros(runs.shape[0], dtype=bool)
    window = np.ones(2 * gap + 1)
    for lab in run_order(runs[np.asarray(test)]):
        idx = np.flatnonzero(runs == lab)
        hit = np.convolve(is_test[idx].astype(np.float64), window, mode="same") > 0.5
        near[idx[hit]] = True
    return train[~near[train]]


def _single_stimulus_error(runs: np.ndarray, groups: np.ndarray) -> ValueError:
    return ValueError(
        f"All {len(run_order(runs))} runs play the same stimulus "
        f"{run_order(groups)[0]!r}: no split keeps it out of training. Keep one "
        "presentation (score: repeated='first') to split that run into blocks.")


def run_splits(runs: np.ndarray, cv: str | int = "leave-one-run-out", *,
               groups: np.ndarray | None = None, gap: int = 0
               ) -> list[tuple[np.ndarray, np.ndarray]]:
    """Outer cross-validation splits over whole runs (or whole stimuli).

    Parameters
    ----------
    runs : array of shape (n_samples,)
        Run label of each sample (BOLD scan).
    cv : "leave-one-run-out" or int, default="leave-one-run-out"
        Leave each run out in turn, or K contiguous groups of runs. With a
        single run, an int K makes K contiguous blocks of scans.
    groups : array of shape (n_samples,), optional
        Stimulus of each sample (:func:`stimulus_groups`). When given, splits
        are made over stimuli instead of runs: ``"leave-one-run-out"`` leaves
        out every presentation of one stimulus at a time, K folds are K
        contiguous groups of stimuli, and no stimulus is ever on both sides of
        a split. Each run must play one stimulus.
    gap : int, default=0
        Scans removed from training on each side of every held-out block of
        the same run (no effect when whole runs are held out).

    Returns
    -------
    splits : list of (train_indices, test_indices)

    Raises
    ------
    ValueError
        Fewer than 2 runs (or stimuli) for leave-one-run-out, more folds than
        runs (or stimuli), several runs all playing one stimulus, or bad
        ``groups``/``gap``.
    """
    _check_cv(cv)
    gap = _check_gap(gap)
    runs = np.asarray(runs)
    labels = run_order(runs)
    if groups is None:
        if cv == "leave-one-run-out":
            if len(labels) < 2:
                raise ValueError(
                    f"cv='leave-one-run-out' needs at least 2 runs, got {len(labels)} "
                    f"({labels}); pass cv=K (an int) to use K contiguous blocks of one "
                    "run.")
            splits = group_splits(runs, None)
        else:
            splits = group_splits(runs, int(cv))
    else:
        groups = _check_groups(runs, groups)
        stims = run_order(groups)
        if len(stims) == 1 and len(labels) > 1:
            raise _single_stimulus_error(runs, groups)
        if len(stims) == 1:  # one run: contiguous blocks
            if cv == "leave-one-run-out":
                raise ValueError(
                    f"cv='leave-one-run-out' needs at least 2 runs, got 1 ({labels}); "
                    "pass cv=K (an int) to use K contiguous blocks of one run.")
            splits = group_splits(runs, int(cv))
        else:
            splits = group_splits(groups, None if cv == "leave-one-run-out"
                                  else int(cv), what="stimuli")
    return [(trim_gap(tr, te, runs, gap), te) for tr, te in splits]


def inner_splits(train: np.ndarray, groups: np.ndarray, runs: np.ndarray,
                 inner_cv: int | None = None, *, gap: int = 0
                 ) -> list[tuple[np.ndarray, np.ndarray]]:
    """Inner (alpha-selection) splits of an outer training set.

    Parameters
    ----------
    train : array of int
        Outer training indices.
    groups : array of shape (n_samples,)
        CV group of each sample (run, stimulus, or outer block of a single
        run).
    runs : array of shape (n_samples,)
        Run label of each sample (for the gap).
    inner_cv : int or None, default=None
        As ``n_splits`` of :func:`group_splits`.
    gap : int, default=0
        As in :func:`run_splits`, applied in the original sample order.

    Returns
    -------
    splits : list of (train_positions, test_positions)
        Positions into ``train`` (what the fold solver indexes).

    Notes
    -----
    When every training sample plays one stimulus presented in several runs
    (the other stimulus is held out), the folds are K blocks of the position
    within the stimulus, each held out in all its presentations at once (K = 5
    when ``inner_cv`` is None), so no stretch of the stimulus is on both sides.
    """
    train = np.asarray(train)
    runs = np.asarray(runs)
    inner_groups = np.asarray(groups)[train]
    train_runs = runs[train]
    if len(run_order(inner_groups)) == 1 and len(run_order(train_runs)) > 1:
        # one stimulus presented in several runs: hold out the same stretch of
        # the stimulus in every presentation (blocks of within-run position)
        k = 5 if inner_cv is None else int(inner_cv)
        inner_groups = np.empty(train.size, dtype=np.int64)
        for lab in run_order(train_runs):
            where = np.flatnonzero(train_runs == lab)
            inner_groups[where] = np.minimum(
                np.arange(where.size) * k // where.size, k - 1)
        inner_cv = None
    splits = group_splits(inner_groups, inner_cv, what="training runs")
    if not gap:
        return splits
    out = []
    for tr, te in splits:
        keep = trim_gap(train[tr], train[te], runs, gap)
        out.append((tr[np.isin(train[tr], keep)], te))
    return out


def describe_splits(runs: np.ndarray, splits: list[tuple[np.ndarray, np.ndarray]],
                    *, groups: np.ndarray | None = None) -> list[dict[str, Any]]:
    """JSON-able description of each fold: held-out runs and sample ranges.

    With ``groups`` (stimuli), each fold also lists its held-out stimuli and the
    number of training samples (smaller than the complement under a gap).

    Parameters
    ----------
    runs : ndarray of shape (n_samples,)
        Run label of each sample.
    splits : list of (train, test) index arrays
        The folds.
    groups : ndarray of shape (n_samples,), optional
        Stimulus of each sample.

    Returns
    -------
    list of dict
        One JSON-able record per fold.
    """
    runs = np.asarray(runs)
    out = []
    for train, test in splits:
        fold = {
            "test_runs": [str(r) for r in run_order(runs[test])],
            "n_test": int(len(test)),
            "test_start": int(test.min()),
            "test_stop": int(test.max()) + 1,
        }
        if groups is not None:
            fold["test_stimuli"] = [str(g) for g in run_order(np.asarray(groups)[test])]
            fold["n_train"] = int(len(train))
        out.append(fold)
    return out
