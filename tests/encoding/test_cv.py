"""Tests of brainscore_speech.encoding.cv (run-wise, contiguous splits)."""

from __future__ import annotations

import numpy as np
import pytest

from brainscore_speech.encoding import (
    describe_splits,
    group_splits,
    inner_splits,
    run_order,
    run_splits,
    stimulus_groups,
    trim_gap,
)


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
    (np.zeros(10), "leave-one-run-out", r"cv='leave-one-run-out' needs at least 2 "
                                        r"runs, got 1"),
    (np.repeat([0, 1], 5), 3, r"'cv'=3 folds need at least 3 runs, got 2"),
    (np.repeat([0, 1], 5), 1, r"'cv' must be an int >= 2"),
    (np.repeat([0, 1], 5), "kfold", r"'cv' must be 'leave-one-run-out' or an int"),
    (np.zeros(2), 3, r"Cannot make 3 contiguous blocks from a single run of 2 samples"),
])
def test_run_splits_errors(runs, cv, match):
    with pytest.raises(ValueError, match=match):
        run_splits(runs, cv)


# --------------------------------------------------------------------------- #
# Stimulus-grouped splits and gaps (issue 12, defects 3 and 4)
# --------------------------------------------------------------------------- #
def test_stimulus_groups_from_the_stimulus_not_the_run_label():
    runs = np.repeat(["run-1", "run-2", "run-3"], 4)
    groups = stimulus_groups(runs, {"run-1": "pieman", "run-2": "tunnel",
                                    "run-3": "pieman"})
    assert groups.tolist() == ["pieman"] * 4 + ["tunnel"] * 4 + ["pieman"] * 4
    with pytest.raises(ValueError, match=r"'stimuli' must name the stimulus of every "
                                         r"run; missing \['run-3'\]"):
        stimulus_groups(runs, {"run-1": "a", "run-2": "b"})


def test_run_splits_grouped_never_put_a_stimulus_on_both_sides():
    runs = np.repeat([1, 2, 3, 4, 5], 6)
    stim = {1: "a", 2: "b", 3: "a", 4: "c", 5: "b"}
    groups = stimulus_groups(runs, stim)
    for cv in ("leave-one-run-out", 2, 3):
        splits = run_splits(runs, cv, groups=groups)
        for tr, te in splits:
            assert not set(groups[tr]) & set(groups[te])
            assert len(tr) + len(te) == len(runs)
        assert sorted(np.concatenate([te for _, te in splits]).tolist()) == \
            list(range(len(runs)))
    loso = run_splits(runs, groups=groups)
    assert [sorted(set(runs[te])) for _, te in loso] == [[1, 3], [2, 5], [4]]
    desc = describe_splits(runs, loso, groups=groups)
    assert desc[0]["test_stimuli"] == ["a"] and desc[0]["n_train"] == 18
    # without groups the repeated story is on both sides (the leak being closed)
    naive = run_splits(runs)
    assert any(set(groups[tr]) & set(groups[te]) for tr, te in naive)
    # distinct stimuli everywhere: grouping changes nothing
    same = run_splits(runs, groups=stimulus_groups(runs, {r: str(r) for r in range(6)}))
    for (a, b), (c, d) in zip(same, naive):
        np.testing.assert_array_equal(a, c)
        np.testing.assert_array_equal(b, d)


def test_trim_gap_removes_neighbours_within_the_run_only():
    runs = np.repeat([0, 1], [20, 10])
    train = np.setdiff1d(np.arange(30), np.arange(8, 12))
    kept = trim_gap(train, np.arange(8, 12), runs, 3)
    assert set(np.arange(30)) - set(kept) - set(range(8, 12)) == {5, 6, 7, 12, 13, 14}
    # a held-out block at the end of run 0 does not trim the start of run 1
    kept = trim_gap(np.arange(10, 30), np.arange(16, 20), runs, 3)
    assert 20 in kept and 15 not in kept and 12 in kept
    np.testing.assert_array_equal(trim_gap(train, np.arange(8, 12), runs, 0), train)


def test_run_splits_single_run_with_gap_and_inner_splits():
    runs = np.zeros(50, dtype=int)
    splits = run_splits(runs, 5, gap=4)
    tr, te = splits[2]
    assert te.tolist() == list(range(20, 30))
    assert tr.tolist() == list(range(0, 16)) + list(range(34, 50))
    # first block: trimmed on one side only
    assert splits[0][0].tolist() == list(range(14, 50))
    # whole held-out runs: the gap changes nothing
    multi = np.repeat([0, 1, 2], 10)
    for (a, _), (b, _) in zip(run_splits(multi, gap=4), run_splits(multi)):
        np.testing.assert_array_equal(a, b)
    # inner splits index into the outer training set and keep the gap there too
    blocks = np.repeat(np.arange(5), 10)
    inner = inner_splits(tr, blocks, runs, None, gap=4)
    assert len(inner) == 4
    for itr, ite in inner:
        gap_ok = np.min(np.abs(tr[itr][:, None] - tr[ite][None, :]))
        assert gap_ok > 4
    assert [sorted(set(blocks[tr[ite]])) for _, ite in inner] == [[0], [1], [3], [4]]
    no_gap = inner_splits(tr, blocks, runs, None)
    assert sum(len(a) for a, _ in no_gap) > sum(len(a) for a, _ in inner)


@pytest.mark.parametrize(("kwargs", "match"), [
    ({"runs": np.repeat([0, 1], 5), "groups": np.array(["a"] * 10)},
     r"All 2 runs play the same stimulus 'a': no split keeps it out of training. "
     r"Keep one presentation \(score: repeated='first'\)"),
    ({"runs": np.repeat([0, 1], 5), "groups": np.array(["a"] * 9)},
     r"'groups' must have shape \(n_samples,\) = \(10,\) like 'runs', got \(9,\)"),
    ({"runs": np.repeat([0, 1], 5), "groups": np.array(["a"] * 7 + ["b"] * 3)},
     r"'groups' must give one stimulus per run; run 1 has 2: \['a', 'b'\]"),
    ({"runs": np.repeat([0, 1], 5), "gap": -1},
     r"'gap' must be a non-negative integer \(scans\), got -1"),
    ({"runs": np.zeros(10), "groups": np.array(["a"] * 10)},
     r"cv='leave-one-run-out' needs at least 2 runs, got 1"),
    ({"runs": np.repeat([0, 1, 2], 4), "groups": np.repeat(["a", "b", "a"], 4),
      "cv": 3}, r"'cv'=3 folds need at least 3 stimuli, got 2"),
])
def test_run_splits_grouped_errors(kwargs, match):
    with pytest.raises(ValueError, match=match):
        run_splits(**kwargs)


def _hrf_smooth(rng, n, k, phi=0.85):
    from scipy.signal import lfilter

    return lfilter([1.0], [1.0, -phi], rng.standard_normal((n, k)), axis=0)


@pytest.mark.filterwarnings("ignore:.*edge of the grid")
def test_repeated_stimulus_inflates_naive_splits_not_grouped_ones():
    # 4 runs of 60 scans; story "a" is played in runs 1 and 3 (same features);
    # the BOLD holds a response locked to each story that is NOT a linear
    # function of the features (an independent random series per story), plus
    # noise. Naive run-wise CV can "predict" run 3 from run 1's copy of that
    # response; grouped CV cannot.
    from brainscore_speech.encoding import score_layers

    rng = np.random.default_rng(0)
    n, p, t = 60, 80, 50
    stories = {s: (_hrf_smooth(rng, n, p), _hrf_smooth(rng, n, t)) for s in "abc"}
    order = ["a", "b", "a", "c"]
    X = np.concatenate([stories[s][0] for s in order])
    Y = np.concatenate([stories[s][1] + 0.5 * rng.standard_normal((n, t))
                        for s in order])
    runs = np.repeat(np.arange(4), n)
    groups = stimulus_groups(runs, dict(enumerate(order)))
    naive = score_layers({"x": X}, Y, runs, alphas=np.logspace(-2, 4, 7))
    grouped = score_layers({"x": X}, Y, runs, groups=groups,
                           alphas=np.logspace(-2, 4, 7))
    r_naive = naive.scores[0, [0, 2]].mean()  # folds holding out a presentation of "a"
    r_grouped = grouped.scores[0, 0].mean()   # the fold holding out both
    # measured: naive 0.70, grouped -0.02 (the response is not in the features)
    assert r_naive > 0.3
    assert abs(r_grouped) < 0.05
    assert abs(naive.scores[0, [1, 3]].mean()) < 0.05  # unrepeated stories: ~0
    assert grouped.cv["groups"] == "stimuli" and naive.cv["groups"] == "runs"
    assert grouped.cv["folds"][0]["test_stimuli"] == ["a"]
    assert grouped.scores.shape == (1, 3, t)


@pytest.mark.filterwarnings("ignore:.*edge of the grid")
def test_single_run_blocks_leak_through_autocorrelation_without_gap():
    # Null: smooth features and smooth BOLD independent of each other (AR(1)
    # 0.85 per scan, as HRF-filtered signals). Contiguous blocks without a gap
    # score above 0 (the edges of a test block are predicted from their
    # training neighbours); 20 removed scans on each side bring it back to 0.
    from brainscore_speech.encoding import score_layers

    means = {0: [], 20: []}
    for seed in range(6):
        rng = np.random.default_rng(seed)
        X, Y = _hrf_smooth(rng, 400, 60), _hrf_smooth(rng, 400, 100)
        for gap in means:
            ls = score_layers({"x": X}, Y, np.zeros(400, int), cv=8, gap=gap,
                              alphas=np.logspace(-2, 6, 9))
            means[gap].append(float(np.nanmean(ls.scores)))
            assert ls.cv["gap_scans"] == gap
    # measured: 0.049 without a gap, 0.003 with it; the spread of one seed's
    # mean is ~0.02 (targets share X), so the 6-seed mean has SE ~0.008
    assert np.mean(means[0]) > 0.03
    assert abs(np.mean(means[20])) < 0.02


def test_inner_splits_one_stimulus_in_several_runs_holds_out_the_same_stretch():
    # outer fold tests story "b" (run 1); training = runs 0 and 2, both story "a"
    runs = np.repeat([0, 1, 2], 10)
    groups = np.repeat(["a", "b", "a"], 10)
    train = np.r_[0:10, 20:30]
    inner = inner_splits(train, groups, runs, 5)
    assert len(inner) == 5
    for itr, ite in inner:
        held = train[ite]
        # the same within-run positions of both presentations, never in training
        assert sorted(held % 10) == sorted(np.r_[held[held < 10], held[held < 10]])
        assert not set(train[itr] % 10) & set(held % 10)
    assert [train[ite].tolist() for _, ite in inner][0] == [0, 1, 20, 21]
