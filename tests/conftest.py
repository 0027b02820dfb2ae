"""Shared fixtures: no network, offline hubs, Agg plots, real data when present."""

from __future__ import annotations

import os
import socket
from pathlib import Path

import numpy as np
import pytest

os.environ.setdefault("MPLBACKEND", "Agg")
os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["TRANSFORMERS_OFFLINE"] = "1"
os.environ.setdefault("BRAINSCORE_SPEECH_PROGRESS", "off")

SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"

_real_connect = socket.socket.connect
_real_connect_ex = socket.socket.connect_ex


def _is_local(address) -> bool:
    if isinstance(address, (str, bytes)):  # AF_UNIX
        return True
    host = str(address[0])
    return host in ("localhost", "::1") or host.startswith("127.")


def _guarded_connect(self, address):
    if not _is_local(address):
        raise OSError(f"Network access is disabled in tests (tried {address!r}).")
    return _real_connect(self, address)


def _guarded_connect_ex(self, address):
    if not _is_local(address):
        raise OSError(f"Network access is disabled in tests (tried {address!r}).")
    return _real_connect_ex(self, address)


@pytest.fixture(autouse=True)
def _no_network(monkeypatch, tmp_path_factory):
    """Sockets may only reach loopback; hubs are offline; nilearn data is private."""
    monkeypatch.setattr(socket.socket, "connect", _guarded_connect)
    monkeypatch.setattr(socket.socket, "connect_ex", _guarded_connect_ex)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("TRANSFORMERS_OFFLINE", "1")
    monkeypatch.setenv("NILEARN_DATA", str(tmp_path_factory.mktemp("nilearn_data")))
    yield


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    import sys

    if "matplotlib.pyplot" in sys.modules:
        import matplotlib.pyplot as plt

        plt.close("all")


@pytest.fixture(autouse=True)
def _restore_log_level():
    """An in-process CLI run (``run_cli(["-q", ...])``) sets the package's log
    level for the process; put it back so that no test sees another's level
    (under pytest-xdist a worker runs files in an order serial runs never do)."""
    from brainscore_speech import _logging

    level = _logging.logger.level
    yield
    if _logging.logger.level != level:
        _logging.logger.setLevel(level)
        _logging.sync_third_party_progress()


@pytest.fixture
def rng():
    return np.random.default_rng(42)


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """``../shared/data`` beside the checkout, or skip with the reason."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"real third-party data not found at {SHARED_DATA} "
                    "(only present beside the project's checkout and in CI)")
    return SHARED_DATA


def run_cli(args: list[str]) -> tuple[int, str, str]:
    """Run the CLI's ``main`` in-process; return (exit code, stdout, stderr)."""
    import contextlib
    import io

    from brainscore_speech.cli import main

    out, err = io.StringIO(), io.StringIO()
    code = 0
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            main([str(a) for a in args])
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code,
                                          int) else (0 if exc.code is None else 1)
    return code, out.getvalue(), err.getvalue()


def assert_same_score_outputs(want: dict, got: dict, *, alphas: bool = False) -> None:
    """Two score-output trees (relative path -> file) hold the same results.

    LayerScores ``.npz`` scores (and, with ``alphas``, chosen penalties) and GIFTI
    maps agree to float32 round-off; every other file is byte-identical, except
    the ``*_checksums.json`` records of ``verify`` (they hash timestamped files).
    """
    import nibabel as nib

    assert set(got) == set(want)
    for rel, p in want.items():
        if p.name.endswith("_checksums.json"):
            continue  # hashes of files that embed provenance timestamps
        if p.name.endswith(".npz"):
            a, b = np.load(p), np.load(got[rel])
            np.testing.assert_allclose(a["scores"], b["scores"], rtol=1e-6, atol=1e-7)
            if alphas:
                np.testing.assert_allclose(a["alphas"], b["alphas"], rtol=1e-6)
        elif p.name.endswith(".gii"):
            np.testing.assert_allclose(nib.load(p).darrays[0].data,
                                       nib.load(got[rel]).darrays[0].data,
                                       rtol=1e-6, atol=1e-7)
        else:
            assert p.read_bytes() == got[rel].read_bytes(), rel
