"""Thread pools sized from the CPUs this process may use, set in one place.

Oversubscription is what turns a 2x slowdown under load into a 10-50x one: torch's
intra-op pool, OpenBLAS and oneDNN each start one spinning thread per *machine*
core by default (``os.cpu_count()``), even when the process is confined to fewer
CPUs by its affinity mask (``taskset``, SLURM, Snakemake) or a cgroup CPU quota
(Docker ``--cpus``, Kubernetes limits). :func:`set_threads` sizes every pool from
:func:`available_cpus` (or ``--threads`` / ``OMP_NUM_THREADS``) once, for the
process and its children:

- ``OMP_NUM_THREADS``, ``OPENBLAS_NUM_THREADS``, ``MKL_NUM_THREADS`` (libraries
  loaded later, subprocesses) and ``OMP_WAIT_POLICY=PASSIVE`` (no spin-waiting
  OpenMP workers) when not already set;
- BLAS/OpenMP pools already loaded, through ``threadpoolctl``;
- ``torch.set_num_threads`` when torch is already imported (a later import reads
  ``OMP_NUM_THREADS``).
"""

from __future__ import annotations

import math
import os
import sys
from pathlib import Path

__all__ = ["available_cpus", "cgroup_cpu_quota", "resolve_threads", "set_threads"]

_ENV_POOLS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")
_LIMITER = []  # keeps the threadpoolctl limiter alive (it holds no global state)


def cgroup_cpu_quota(root: str | os.PathLike = "/sys/fs/cgroup") -> float | None:
    """CPUs granted by the cgroup CPU quota (v2 ``cpu.max`` or v1 CFS), or None.

    Parameters
    ----------
    root : path-like, default="/sys/fs/cgroup"
        Mount point of the cgroup file system (a parameter for tests).

    Returns
    -------
    float or None
        ``quota / period`` (e.g. 1.5 for ``docker --cpus 1.5``); None when there
        is no limit or no cgroup information.
    """
    root = Path(root)
    try:
        text = (root / "cpu.max").read_text().split()
        if len(text) >= 2 and text[0] != "max":
            return float(text[0]) / float(text[1])
        if text:
            return None
    except (OSError, ValueError, ZeroDivisionError):
        pass
    for sub in ("cpu", "cpu,cpuacct", "."):
        try:
            quota = int((root / sub / "cpu.cfs_quota_us").read_text())
            period = int((root / sub / "cpu.cfs_period_us").read_text())
        except (OSError, ValueError):
            continue
        if quota > 0 and period > 0:
            return quota / period
        return None
    return None


def available_cpus(*, cgroup_root: str | os.PathLike = "/sys/fs/cgroup") -> int:
    """CPUs this process may use: its affinity mask, capped by the cgroup quota.

    Returns
    -------
    int
        At least 1. A fractional quota is rounded down (1.5 CPUs -> 1 thread), so
        the pools never ask for more CPU time than the quota grants.
    """
    try:
        n = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # pragma: no cover - macOS / Windows
        n = os.cpu_count() or 1
    quota = cgroup_cpu_quota(cgroup_root)
    if quota is not None:
        n = min(n, max(1, math.floor(quota)))
    return max(1, n)


def resolve_threads(threads: int | None = None) -> int:
    """Thread count to use: ``threads``, else ``OMP_NUM_THREADS``, else the CPUs.

    Raises
    ------
    UsageError
        When ``threads`` (or ``OMP_NUM_THREADS``) is not a positive integer.
    """
    from ._validation import check_number

    if threads is not None:
        return int(check_number("--threads", threads, low=1, integer=True))
    env = os.environ.get("OMP_NUM_THREADS", "").strip()
    if env:
        try:
            value = int(env)
        except ValueError:
            value = None
        if value is None or value < 1:
            from .exceptions import UsageError

            raise UsageError(
                f"OMP_NUM_THREADS must be a positive integer, got {env!r}.")
        return value
    return available_cpus()


def set_threads(threads: int | None = None) -> int:
    """Size every thread pool of this process (and its children) to ``threads``.

    Parameters
    ----------
    threads : int, optional
        Default :func:`resolve_threads` (``OMP_NUM_THREADS`` or the available CPUs).

    Returns
    -------
    int
        The thread count applied.
    """
    n = resolve_threads(threads)
    for name in _ENV_POOLS:
        if threads is not None or not os.environ.get(name):
            os.environ[name] = str(n)
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    try:
        from threadpoolctl import threadpool_limits

        _LIMITER[:] = [threadpool_limits(limits=n)]
    except ImportError:  # pragma: no cover - a dependency of scikit-learn
        pass
    torch = sys.modules.get("torch")
    if torch is not None:
        torch.set_num_threads(n)
    return n
