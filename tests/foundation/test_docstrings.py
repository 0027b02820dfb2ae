"""Numpydoc docstrings for the public API: every function and class exported by
``brainscore_speech`` and its subpackages (their ``__all__``) has a docstring, a
Parameters section naming exactly its parameters, and a Returns section when it
returns something (numpydoc.validate checks GL08, PR01, PR02, RT01)."""

from __future__ import annotations

import importlib
import inspect

import pytest

validate = pytest.importorskip("numpydoc.validate", reason="numpydoc is in the dev "
                               "extra").validate

MODULES = ["brainscore_speech", "brainscore_speech.align", "brainscore_speech.analysis",
           "brainscore_speech.behaviour", "brainscore_speech.data",
           "brainscore_speech.encoding", "brainscore_speech.features",
           "brainscore_speech.plotting", "brainscore_speech.training",
           "brainscore_speech.workflows", "brainscore_speech.containers",
           "brainscore_speech.exceptions", "brainscore_speech.integrity"]
CHECKS = {"GL08", "PR01", "PR02", "RT01"}


def _public_api():
    names = []
    for mod_name in MODULES:
        mod = importlib.import_module(mod_name)
        for name in getattr(mod, "__all__", []):
            obj = getattr(mod, name)
            if inspect.isfunction(obj) or inspect.isclass(obj):
                names.append(f"{mod_name}.{name}")
    return names


def test_public_api_is_not_empty():
    assert len(_public_api()) > 100


def test_public_docstrings_follow_numpydoc():
    problems = []
    for qual in _public_api():
        errors = [f"{qual}: {code} {msg}" for code, msg in validate(qual)["errors"]
                  if code in CHECKS]
        problems += errors
    assert not problems, "\n".join(problems)


def test_the_check_catches_a_gap(tmp_path, monkeypatch):
    (tmp_path / "i16a_undocumented.py").write_text(
        "def f(x, y):\n    '''Summary line.\n\n    Parameters\n    ----------\n"
        "    x : int\n    '''\n    return x + y\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    codes = {code for code, _ in validate("i16a_undocumented.f")["errors"]}
    assert {"PR01", "RT01"} <= codes
