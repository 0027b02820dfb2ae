"""Every declared runtime dependency is imported by the package, and the optional
ones stay optional."""

from __future__ import annotations

import re
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
# distribution name -> import name, where they differ
IMPORT_NAMES = {"scikit-learn": "sklearn", "pyyaml": "yaml"}


def _pyproject() -> dict:
    if sys.version_info < (3, 11):
        pytest.skip("tomllib needs Python >= 3.11")
    import tomllib

    return tomllib.loads((ROOT / "pyproject.toml").read_text())


def _dist_name(requirement: str) -> str:
    return re.split(r"[<>=!~;\[ ]", requirement, maxsplit=1)[0].strip().lower()


def test_every_runtime_dependency_is_imported():
    files = (ROOT / "brainscore_speech").rglob("*.py")
    source = "\n".join(p.read_text() for p in files)
    unused = []
    for req in _pyproject()["project"]["dependencies"]:
        name = _dist_name(req)
        module = IMPORT_NAMES.get(name, name.replace("-", "_"))
        if not re.search(rf"^\s*(import|from) {re.escape(module)}\b", source, re.M):
            unused.append(name)
    assert not unused, f"declared but never imported by brainscore_speech: {unused}"


def test_optional_peers_are_extras():
    project = _pyproject()["project"]
    core = {_dist_name(r) for r in project["dependencies"]}
    assert not {"himalaya", "jinja2", "packaging"} & core
    extras = project["optional-dependencies"]
    assert any(_dist_name(r) == "himalaya" for r in extras["bench"])
    assert any(_dist_name(r) == "himalaya" for r in extras["dev"])  # test reference


def test_benchmark_says_how_to_install_its_peer(monkeypatch):
    import importlib.util

    sys.path.insert(0, str(ROOT / "benchmarks"))
    try:
        import bench_encoding
    finally:
        sys.path.remove(str(ROOT / "benchmarks"))
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name == "himalaya" else real(name, *a))
    with pytest.raises(SystemExit, match=r"pip install 'brainscore-speech\[bench\]'"):
        bench_encoding.check_peer()
