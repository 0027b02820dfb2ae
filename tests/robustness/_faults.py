"""Fault-injection harness: run a CLI job in a forked child, SIGKILL it, re-run.

The child comes from a fork server that has imported the CLI (not from the test
process itself, whose thread pools make a plain fork deadlock), so a kill point
is a moment of real work rather than of Python start-up. Kill times
are drawn from a seeded generator as fractions of the job's uninterrupted
duration, measured the same way in the same run.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import signal
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np


def _child(argv: Sequence[str], log: str, env: dict) -> None:  # pragma: no cover
    import sys

    fd = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    os.dup2(fd, 1)
    os.dup2(fd, 2)
    sys.stdout = sys.stderr = open(fd, "w", buffering=1)  # not pytest's capture
    os.environ.update(env)
    from brainscore_speech.cli import main

    code = 0
    try:
        main([str(a) for a in argv])
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else 0
    finally:
        sys.stdout.flush()
    os._exit(code)


def run_job(argv: Sequence[str], log: Path, *, kill_after_s: float | None = None,
            env: dict | None = None, timeout_s: float = 600.0
            ) -> tuple[int | None, float]:
    """Run the CLI in a forked child; SIGKILL it after ``kill_after_s`` seconds.

    Returns
    -------
    (exit code or None when killed, seconds it ran)
    """
    # forkserver, not fork: a child forked from a test process whose OpenMP /
    # torch thread pools have already run deadlocks in its first parallel op
    # (seen here: a reference train job idle in weight_norm for 10 min). The
    # server imports the CLI once, so children still start in real work.
    ctx = mp.get_context("forkserver")
    ctx.set_forkserver_preload(["brainscore_speech.cli", "tests.robustness._faults"])
    proc = ctx.Process(target=_child, args=(list(argv), str(log), dict(env or {})))
    t0 = time.perf_counter()
    proc.start()
    proc.join(timeout_s if kill_after_s is None else kill_after_s)
    if proc.is_alive():
        os.kill(proc.pid, signal.SIGKILL)
        proc.join()
        return None, time.perf_counter() - t0
    return proc.exitcode, time.perf_counter() - t0


def _read(log: Path) -> str:
    return log.read_text() if log.is_file() else ""


@dataclass
class KillReport:
    """What happened at each kill point."""

    job: str
    full_s: float
    points_s: list[float] = field(default_factory=list)
    killed: list[bool] = field(default_factory=list)
    reused: list[int] = field(default_factory=list)  # finished pieces not redone

    @property
    def n_killed(self) -> int:
        return int(sum(self.killed))


def temp_leftovers(root: Path) -> list[Path]:
    """Temp files/folders of our atomic writes (``.tmp-``, ``.old-tmp``)."""
    return [p for p in root.rglob("*") if ".tmp-" in p.name or p.name.endswith(
        ".old-tmp")]


def kill_and_resume(job: str, argv_for: Callable[[Path], list],
                    fresh: Callable[[], Path], *, n_points: int, seed: int,
                    full_s: float,
                    finished: Callable[[Path], dict],
                    check: Callable[[Path, dict, str], None],
                    resume_argv_for: Callable[[Path], list] | None = None,
                    low: float = 0.05, high: float = 0.95) -> KillReport:
    """Kill a fresh run at ``n_points`` seeded random moments; re-run; check each.

    Parameters
    ----------
    job : str
        Name (for messages).
    argv_for, resume_argv_for : callable
        Output folder -> CLI arguments (first run / re-run; default the same).
    fresh : callable
        Returns a new, empty output location.
    n_points : int
    seed : int
    full_s : float
        Uninterrupted duration; kill times are uniform in ``[low, high] * full_s``.
    finished : callable
        Output folder -> {piece: fingerprint} of the work finished so far (e.g.
        activation files -> (inode, mtime)); every piece finished at the kill must
        keep its fingerprint through the re-run (not redone). Keys starting with
        ``_`` are facts for ``check`` (e.g. the checkpoint step), not compared.
    check : callable
        ``(output folder, finished-before-re-run, re-run log) -> None``; asserts the
        re-run's outputs equal the reference (and, e.g., where training resumed).
    """
    rng = np.random.default_rng(seed)
    report = KillReport(job, full_s)
    resume_argv_for = resume_argv_for or argv_for
    for i in range(n_points):
        out = fresh()
        t_kill = float(rng.uniform(low, high) * full_s)
        log = out.parent / f"{out.name}.log"
        code, _ = run_job(argv_for(out), log, kill_after_s=t_kill)
        report.points_s.append(round(t_kill, 3))
        report.killed.append(code is None)
        if code not in (None, 0):
            raise AssertionError(f"{job}: run {i} failed with {code}: "
                                 f"{_read(log)[-2000:]}")
        before = finished(out)
        code, _ = run_job(resume_argv_for(out), log)
        rerun_log = _read(log)
        assert code == 0, f"{job}: re-run {i} failed: {rerun_log[-2000:]}"
        after = finished(out)
        redone = [k for k, v in before.items()
                  if not k.startswith("_") and after.get(k) != v]
        assert not redone, f"{job}: re-run {i} redid finished work {redone}"
        report.reused.append(sum(not k.startswith("_") for k in before))
        left = temp_leftovers(out)
        assert not left, f"{job}: temp files left after re-run {i}: {left}"
        check(out, before, rerun_log)
    return report
