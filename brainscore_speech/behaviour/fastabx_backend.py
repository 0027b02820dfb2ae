"""Optional fastabx backend (bootphon; Python >= 3.12, torch, polars).

fastabx is the reference ABX implementation (ZeroSpeech convention: angular
distance, DTW normalised by path length). It cannot be installed beside this
package's Python 3.11 torch, so two routes are offered:

- :func:`fastabx_score`: in-process, when ``import fastabx`` works;
- :func:`fastabx_score_subprocess`: through another interpreter that has fastabx
  (e.g. a Python 3.12 virtual environment), on features written to ``.npy``
  files by :func:`write_fastabx_inputs` (the exact frame times are passed, so
  fastabx slices the same frames as
  :func:`~brainscore_speech.behaviour.abx.slice_frames`).

Both return fastabx's error collapsed over ``across``, then ``by``, then the
contrasts, the order :func:`~brainscore_speech.behaviour.abx.abx_error` uses.
"""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

__all__ = ["fastabx_available", "fastabx_score", "write_fastabx_inputs",
           "fastabx_score_subprocess"]

_WORKER = Path(__file__).with_name("_fastabx_worker.py")


def fastabx_available() -> bool:
    """Whether fastabx can be imported in this interpreter."""
    try:
        import fastabx  # noqa: F401
    except ImportError:
        return False
    return True


def write_fastabx_inputs(features: Mapping[str, np.ndarray],
                         times_s: Mapping[str, np.ndarray], folder: str | os.PathLike
                         ) -> tuple[Path, Path]:
    """Write per-file features and frame times as ``.npy`` for fastabx.

    Parameters
    ----------
    features : dict of str to array of shape (n_frames, n_units)
        Keyed by file stem (the item file's ``#file``).
    times_s : dict of str to array of shape (n_frames,)
    folder : path-like

    Returns
    -------
    features_dir, times_dir : Path
    """
    folder = Path(folder)
    fdir, tdir = folder / "features", folder / "times"
    fdir.mkdir(parents=True, exist_ok=True)
    tdir.mkdir(parents=True, exist_ok=True)
    for name, data in features.items():
        np.save(fdir / f"{name}.npy", np.asarray(data, dtype=np.float32))
        np.save(tdir / f"{name}.npy", np.asarray(times_s[name], dtype=np.float64))
    return fdir, tdir


def _args(item, features_dir, times_dir, on, by, across, distance) -> dict:
    by = [by] if isinstance(by, str) else list(by or [])
    across = [across] if isinstance(across, str) else list(across or [])
    return {"item": str(item), "features": str(features_dir), "times": str(times_dir),
            "on": on, "by": by, "across": across,
            "distance": distance}


def fastabx_score(item: str | os.PathLike, features_dir: str | os.PathLike,
                  times_dir: str | os.PathLike, *, on: str = "#phone",
                  by: Sequence[str] | str | None = ("prev-phone", "next-phone"),
                  across: Sequence[str] | str | None = ("speaker",),
                  distance: str = "angular") -> float:
    """ABX error computed by fastabx in this interpreter.

    Parameters
    ----------
    item : path-like
        ZeroSpeech item file (fastabx column names, e.g. ``#phone``).
    features_dir, times_dir : path-like
        From :func:`write_fastabx_inputs`.
    on, by, across : str or sequence of str
        fastabx task conditions.
    distance : str, default="angular"

    Returns
    -------
    error : float

    Raises
    ------
    ImportError
        fastabx is not installed here (use :func:`fastabx_score_subprocess`).
    """
    if not fastabx_available():
        raise ImportError("fastabx is not importable in this interpreter (it needs "
                          "Python >= 3.12); use fastabx_score_subprocess with a "
                          "Python that has it.")
    from ._fastabx_worker import score

    args = _args(item, features_dir, times_dir, on, by, across, distance)
    return float(score(args)["error"])


def fastabx_score_subprocess(python: str | os.PathLike, item: str | os.PathLike,
                             features_dir: str | os.PathLike,
                             times_dir: str | os.PathLike, *, on: str = "#phone",
                             by: Sequence[str] | str | None = ("prev-phone",
                                                              "next-phone"),
                             across: Sequence[str] | str | None = ("speaker",),
                             distance: str = "angular", timeout_s: float = 600.0
                             ) -> dict:
    """ABX error computed by fastabx in another interpreter.

    Parameters
    ----------
    python : path-like
        An interpreter where ``import fastabx`` works.
    item, features_dir, times_dir, on, by, across, distance
        See :func:`fastabx_score`.
    timeout_s : float, default=600

    Returns
    -------
    result : dict
        ``{"error": float, "n_cells": int, "seconds": float}`` (seconds of the
        task construction and scoring, without interpreter start-up and loading).

    Raises
    ------
    RuntimeError
        fastabx failed (its last error line is quoted).
    """
    args = json.dumps(_args(item, features_dir, times_dir, on, by, across, distance))
    env = {**os.environ, "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "1")}
    proc = subprocess.run([str(python), str(_WORKER), args], capture_output=True,
                          text=True, timeout=timeout_s, env=env, check=False)
    if proc.returncode != 0:
        last = (proc.stderr.strip().splitlines() or ["no output"])[-1]
        raise RuntimeError(f"fastabx ({python}) failed: {last}")
    return json.loads(proc.stdout.strip().splitlines()[-1])
