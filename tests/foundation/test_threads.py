"""_threads: pools sized from affinity and cgroup quota, set in one place."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from brainscore_speech import _threads
from brainscore_speech._threads import (
    available_cpus,
    cgroup_cpu_quota,
    resolve_threads,
    set_threads,
)
from brainscore_speech.exceptions import UsageError
from tests.conftest import run_cli


@pytest.mark.parametrize("files,want", [
    ({"cpu.max": "max 100000\n"}, None),
    ({"cpu.max": "150000 100000\n"}, 1.5),
    ({"cpu.max": "400000 100000\n"}, 4.0),
    ({"cpu/cpu.cfs_quota_us": "200000\n", "cpu/cpu.cfs_period_us": "100000\n"}, 2.0),
    ({"cpu/cpu.cfs_quota_us": "-1\n", "cpu/cpu.cfs_period_us": "100000\n"}, None),
    ({}, None),
])
def test_cgroup_cpu_quota(tmp_path, files, want):
    for name, text in files.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text)
    assert cgroup_cpu_quota(tmp_path) == want


def test_available_cpus_affinity_and_quota(tmp_path, monkeypatch):
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0, 1, 2, 3, 4, 5})
    monkeypatch.setattr(os, "cpu_count", lambda: 64)  # never what the pools use
    assert available_cpus(cgroup_root=tmp_path) == 6
    (tmp_path / "cpu.max").write_text("250000 100000\n")
    assert available_cpus(cgroup_root=tmp_path) == 2  # 2.5 CPUs -> 2 threads
    (tmp_path / "cpu.max").write_text("50000 100000\n")
    assert available_cpus(cgroup_root=tmp_path) == 1  # never 0


def test_resolve_threads(monkeypatch):
    monkeypatch.setattr(_threads, "available_cpus", lambda **k: 3)
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    assert resolve_threads() == 3
    monkeypatch.setenv("OMP_NUM_THREADS", "2")
    assert resolve_threads() == 2
    assert resolve_threads(5) == 5  # --threads wins over the environment
    for bad in ("0", "x", "-1"):
        monkeypatch.setenv("OMP_NUM_THREADS", bad)
        with pytest.raises(UsageError, match="OMP_NUM_THREADS must be a positive "
                                             f"integer, got '{bad}'"):
            resolve_threads()
    with pytest.raises(UsageError, match=r"'--threads' must be >= 1, got 0"):
        resolve_threads(0)
    with pytest.raises(UsageError, match=r"'--threads' must be an integer, got 1.5"):
        resolve_threads(1.5)


def test_set_threads_in_a_fresh_process():
    """One call sizes torch, BLAS (threadpoolctl) and the env of child processes."""
    code = (
        "import os, numpy\n"
        "from brainscore_speech._threads import set_threads\n"
        "n = set_threads(1)\n"
        "import torch\n"
        "from threadpoolctl import threadpool_info\n"
        "print(n, torch.get_num_threads(), os.environ['OPENBLAS_NUM_THREADS'],\n"
        "      os.environ['OMP_WAIT_POLICY'],\n"
        "      sorted({i['num_threads'] for i in threadpool_info()}))\n"
    )
    env = {k: v for k, v in os.environ.items()
           if k not in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS",
                        "OMP_WAIT_POLICY")}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         env=env, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["1", "1", "1", "PASSIVE", "[1]"]


def test_set_threads_keeps_user_env(monkeypatch):
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    monkeypatch.setenv("OPENBLAS_NUM_THREADS", "1")
    assert set_threads() == 1
    assert os.environ["OPENBLAS_NUM_THREADS"] == "1"


def test_cli_threads_option():
    code, _, err = run_cli(["--threads", "0", "verify", "."])
    assert code == 2 and "'--threads' must be >= 1, got 0" in err
    code, out, _ = run_cli(["--help"])
    assert "--threads" in out
