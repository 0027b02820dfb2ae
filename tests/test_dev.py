"""dev.py: the two-command set-up's test runner spreads files over the CPUs."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def dev(monkeypatch):
    spec = importlib.util.spec_from_file_location("dev", ROOT / "dev.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    monkeypatch.setattr(module, "PY", Path(__import__("sys").executable))
    return module


def test_parallel_workers_one_per_cpu_and_one_thread_each(dev, monkeypatch):
    pytest.importorskip("xdist")
    monkeypatch.setattr(dev, "_usable_cpus", lambda: 2)
    env = {}
    assert dev._parallel(["-x", "-q"], env) == ["-n", "2", "--dist", "loadfile"]
    assert env == {"OMP_NUM_THREADS": "1"}
    env = {"OMP_NUM_THREADS": "3"}  # the caller's choice is kept
    dev._parallel([], env)
    assert env == {"OMP_NUM_THREADS": "3"}
    monkeypatch.setattr(dev, "_usable_cpus", lambda: 16)
    assert dev._parallel([], {})[:2] == ["-n", "4"]


@pytest.mark.parametrize("args", [["-n", "0"], ["-n=3"], ["--numprocesses", "2"],
                                  ["-p", "no:xdist"]])
def test_parallel_leaves_the_callers_choice(dev, monkeypatch, args):
    monkeypatch.setattr(dev, "_usable_cpus", lambda: 2)
    env = {}
    assert dev._parallel(args, env) == [] and env == {}


def test_parallel_serial_on_one_cpu_or_without_xdist(dev, monkeypatch):
    monkeypatch.setattr(dev, "_usable_cpus", lambda: 1)
    assert dev._parallel([], {}) == []
    monkeypatch.setattr(dev, "_usable_cpus", lambda: 2)
    monkeypatch.setattr(dev.subprocess, "call", lambda *a, **k: 1)  # no xdist
    assert dev._parallel([], {}) == []
