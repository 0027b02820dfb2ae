"""Tests of brainscore_speech.encoding.cv (run-wise, contiguous splits)."""

from __future__ import annotations

import numpy as np
import pytest

from brainscore_speech.encoding import describe_splits, group_splits, run_order, run_splits


def test_run_splits_leave_one_run_out_holds_out_whole_runs():
    runs = np.repeat(["b", "a", "c"], [3, 4, 5])
    splits = run_splits(runs)
    assert run_order(runs) == ["b", "a", "c"]
    assert [sorted(set(runs[te])) for _, te in splits] == [["b"], ["a"], ["c"]]
    for tr, te in splits:
        assert not set(tr) & set(te) and len(tr) + len(te) == len(runs)


def test_run_splits_k_contiguous_groups_and_single_run_blocks():
    runs = np.repeat(np.arange(5), 10)
    splits = run_splits(runs, 2)
    assert [sorted(set(runs[te])) for _, te in splits] == [[0, 1, 2], [3, 4]]
    single = run_splits(np.zeros(10, dtype=int), 3)
    assert [te.tolist() for _, te in single] == [[0, 1, 2, 3], [4, 5, 6], [7, 8, 9]]
    desc = describe_splits(runs, splits)
    assert desc[1] == {"test_runs": ["3", "4"], "n_test": 20, "test_start": 30,
                       "test_stop": 50}


def test_group_splits_inner_defaults():
    assert len(group_splits(np.repeat([1, 2, 3], 4))) == 3
    assert len(group_splits(np.zeros(20))) == 5  # one run -> 5 contiguous blocks


@pytest.mark.parametrize(("runs", "cv", "match"), [
    (np.zeros(10), "leave-one-run-out", r"cv='leave-one-run-out' needs at least 2 runs, got 1"),
    (np.repeat([0, 1], 5), 3, r"'cv'=3 folds need at least 3 runs, got 2"),
    (np.repeat([0, 1], 5), 1, r"'cv' must be an int >= 2"),
    (np.repeat([0, 1], 5), "kfold", r"'cv' must be 'leave-one-run-out' or an int"),
    (np.zeros(2), 3, r"Cannot make 3 contiguous blocks from a single run of 2 samples"),
])
def test_run_splits_errors(runs, cv, match):
    with pytest.raises(ValueError, match=match):
        run_splits(runs, cv)
