"""Interrupt extract, score and group at seeded random commit points; re-run.

In process and fast: the k-th atomic commit (``os.replace``, the moment a file
becomes visible) raises, for k drawn at random from an uninterrupted run's
commits (plus the very last one, the manifest/checksums edge). The re-run's
outputs must equal the uninterrupted run's, every piece finished before the stop
must be kept (same inode and mtime: not recomputed), and the skip decisions must
go through the one resume helper, :func:`brainscore_speech.layout.cached`. The
SIGKILL version (real processes, timed kills) is ``test_faults.py``.
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path

import numpy as np
import pytest

from brainscore_speech import layout

from .conftest import World, write_wav
from .test_faults import compare_trees

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")

N_POINTS = int(os.environ.get("BSS_RESUME_POINTS", "3"))


class _Stopped(BaseException):
    """The job stopped at a commit (not an Exception: nothing may catch it)."""


def _run(fn, *, stop_at: int | None = None) -> tuple[int, bool]:
    """Run ``fn``; with ``stop_at``, stop it at that atomic commit.

    Returns (number of commits, stopped).
    """
    real, n = os.replace, {"n": 0}

    def replace(src, dst, *a, **k):
        n["n"] += 1
        if stop_at is not None and n["n"] == stop_at:
            raise _Stopped()
        return real(src, dst, *a, **k)

    with pytest.MonkeyPatch.context() as mp, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        mp.setattr(os, "replace", replace)
        try:
            fn()
        except _Stopped:
            return n["n"], True
    return n["n"], False


def _fingerprint(paths) -> dict:
    return {str(p): (p.stat().st_ino, p.stat().st_mtime_ns) for p in paths}


def _spy_cached(mp) -> list[tuple[str, bool]]:
    calls: list[tuple[str, bool]] = []
    real = layout.Cached.fresh

    def fresh(self, outputs=()):
        res = real(self, outputs)
        calls.append((self.step, res))
        return res

    mp.setattr(layout.Cached, "fresh", fresh)
    return calls


def _interrupt_and_resume(job, tmp_path: Path, *, finished, skip=(), seed=0):
    ref = tmp_path / "ref"
    n_commits, _ = _run(lambda: job(ref))
    assert n_commits >= 2
    rng = np.random.default_rng(seed)
    points = sorted(set(rng.integers(1, n_commits, size=N_POINTS).tolist())
                    | {n_commits})
    kept = 0
    for k in points:
        out = tmp_path / f"k{k}"
        _, stopped = _run(lambda out=out: job(out), stop_at=k)
        assert stopped, k
        before = _fingerprint(finished(out))
        with pytest.MonkeyPatch.context() as mp:
            calls = _spy_cached(mp)
            _run(lambda out=out: job(out))
        assert calls, f"{job.__name__}: the re-run never asked layout.cached"
        after = _fingerprint(finished(out))
        assert {p: after.get(p) for p in before} == before, \
            f"stopped at commit {k}: finished pieces were recomputed"
        kept += len(before)
        compare_trees(ref, out, skip=skip)
        leftovers = [p for p in out.rglob("*") if ".tmp-" in p.name]
        assert not leftovers, leftovers
    return points, kept


def test_extract_resumes_through_cached(world: World, tmp_path):
    from brainscore_speech.features import extract_stimuli

    stim = tmp_path / "stim"
    for i in range(3):
        write_wav(stim / f"s{i}.wav", 2.0, seed=i)

    def extract(out):
        extract_stimuli(world.ckpt, stim, out, layers=["conv6", "transf0"],
                        window_s=2.0, stride_s=1.0)

    points, kept = _interrupt_and_resume(
        extract, tmp_path, seed=1,
        finished=lambda out: [p for p in out.glob("*.h5") if ".tmp-" not in p.name])
    assert kept >= 1, points  # some stop left a finished activation file to keep


def test_score_resumes_through_cached(world: World, tmp_path):
    from brainscore_speech.workflows.score import score_subject

    def score(out):
        score_subject(world.bids, "01", world.stages, out,
                      layers=["stage1", "stage2", "stage3"])

    points, kept = _interrupt_and_resume(
        score, tmp_path, seed=2, skip=(".cache",),
        finished=lambda out: [p for p in out.glob("sub-01/.cache/*.npz")
                              if ".tmp-" not in p.name])
    assert kept >= 1, points  # some stop left a finished layer fit to keep


def test_group_resumes_through_cached(world: World, tmp_path):
    from brainscore_speech.analysis import run_group

    def group(out):
        run_group(world.deriv, out, n_permutations=16, n_bootstrap=2)

    def finished(out):
        done = (out / layout.GROUP_PROVENANCE).is_file() and \
            (out / layout.GROUP_CHECKSUMS).is_file()
        return [p for p in out.rglob("*") if p.is_file()] if done else []

    _interrupt_and_resume(group, tmp_path, seed=3, finished=finished)


def test_a_finished_group_is_skipped_by_cached(world: World, tmp_path):
    from brainscore_speech.analysis import run_group

    out = tmp_path / "g"
    _run(lambda: run_group(world.deriv, out, n_permutations=16, n_bootstrap=2))
    files = [p for p in out.rglob("*") if p.is_file()]
    before = _fingerprint(files)
    with pytest.MonkeyPatch.context() as mp:
        calls = _spy_cached(mp)
        n, _ = _run(lambda: run_group(world.deriv, out, n_permutations=16,
                                      n_bootstrap=2))
    assert calls == [("group", True)] and n == 0
    assert _fingerprint(files) == before
