"""Atomic file writes, content hashes, provenance records and safe relative paths."""

from __future__ import annotations

import contextlib
import datetime as _dt
import hashlib
import json
import os
import platform
import subprocess
import tempfile
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

import numpy as np

__all__ = [
    "atomic_path",
    "write_json",
    "read_json",
    "file_hash",
    "array_hash",
    "params_hash",
    "make_provenance",
    "safe_join",
    "to_jsonable",
    "remove_stale_temps",
]

TMP_MARK = ".tmp-"


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path next to ``path``; rename it onto ``path`` on success.

    Nothing is left behind when the body raises (or the process is killed before
    the rename: the temp file carries ``.tmp-`` in its name and is ignored by
    every reader). The suffix of ``path`` is kept so libraries that dispatch on
    it (nibabel, h5py, numpy) still work.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    suffix = "".join(path.suffixes)
    fd, tmp = tempfile.mkstemp(prefix=path.name.split(".")[0] + TMP_MARK,
                               suffix=suffix, dir=path.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        os.replace(tmp_path, path)
    finally:
        if tmp_path.exists():
            tmp_path.unlink()


def to_jsonable(obj: Any) -> Any:
    """Convert numpy scalars/arrays, paths, tuples and sets into JSON types."""
    if isinstance(obj, Mapping):
        return {str(k): to_jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple, set, frozenset)):
        return [to_jsonable(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, Path):
        return str(obj)
    if isinstance(obj, float) and not np.isfinite(obj):
        return None
    return obj


def write_json(path: str | os.PathLike, data: Any) -> Path:
    """Write ``data`` as indented JSON, atomically."""
    path = Path(path)
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(to_jsonable(data), indent=2, sort_keys=False) + "\n")
    return path


def read_json(path: str | os.PathLike) -> Any:
    """Read a JSON file, naming the file when it is missing or malformed."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"JSON file not found: {path}")
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError as err:
        from .exceptions import DataError

        raise DataError(f"Malformed JSON in {path}: {err}") from None


def file_hash(path: str | os.PathLike, algorithm: str = "sha256",
              chunk_size: int = 1 << 20) -> str:
    """Hex digest of a file's bytes (sha256 by default, md5 for OpenNeuro keys)."""
    h = hashlib.new(algorithm)
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(chunk_size), b""):
            h.update(block)
    return h.hexdigest()


def array_hash(array: np.ndarray) -> str:
    """sha256 of an array's dtype, shape and bytes (first 16 hex digits)."""
    arr = np.ascontiguousarray(array)
    h = hashlib.sha256()
    h.update(str(arr.dtype).encode())
    h.update(str(arr.shape).encode())
    h.update(arr.tobytes())
    return h.hexdigest()[:16]


def params_hash(params: Mapping[str, Any]) -> str:
    """Stable sha256 (first 16 hex digits) of a JSON-able parameter mapping."""
    blob = json.dumps(to_jsonable(params), sort_keys=True).encode()
    return hashlib.sha256(blob).hexdigest()[:16]


def _git_sha() -> str | None:
    here = Path(__file__).resolve().parent
    try:
        out = subprocess.run(["git", "-C", str(here), "rev-parse", "HEAD"],
                             capture_output=True, text=True, timeout=5)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None if out.returncode == 0 else None


def _versions() -> dict[str, str]:
    from importlib import metadata

    out = {}
    for name in ("numpy", "scipy", "torch", "transformers", "nilearn", "nibabel",
                 "scikit-learn", "himalaya", "mne"):
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return out


def make_provenance(step: str, *, params: Mapping[str, Any] | None = None,
                    inputs: Mapping[str, Any] | None = None,
                    seed: int | None = None) -> dict[str, Any]:
    """A provenance record: what ran, on what, with which parameters and versions.

    Parameters
    ----------
    step : str
        Name of the stage, e.g. ``"score"``.
    params : mapping, optional
        Resolved parameters (JSON-able).
    inputs : mapping, optional
        Input name -> path (hashed here when it is a file) or a precomputed hash.
    seed : int, optional
        Random seed used.
    """
    from . import __version__

    hashed = {}
    for key, value in (inputs or {}).items():
        if isinstance(value, (str, os.PathLike)) and Path(value).is_file():
            hashed[key] = {"path": str(value), "sha256": file_hash(value)}
        else:
            hashed[key] = to_jsonable(value)
    return {
        "step": step,
        "brainscore_speech_version": __version__,
        "git_sha": _git_sha(),
        "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "versions": _versions(),
        "params": to_jsonable(dict(params or {})),
        "inputs": hashed,
        "seed": seed,
    }


def safe_join(root: str | os.PathLike, relative: str, *, what: str = "path") -> Path:
    """Join ``relative`` under ``root``, refusing anything that escapes ``root``.

    Raises
    ------
    ValueError
        For absolute paths, ``..`` components or symlink escapes.
    """
    rel = Path(relative)
    if rel.is_absolute() or relative.startswith(("/", "\\")):
        raise ValueError(
            f"{what} {relative!r} must be relative to the root, got an absolute path."
        )
    if ".." in rel.parts:
        raise ValueError(
            f"{what} {relative!r} must stay inside the root; '..' is not allowed."
        )
    root_r = Path(root).resolve()
    full = (root_r / rel).resolve()
    if root_r != full and root_r not in full.parents:
        raise ValueError(f"{what} {relative!r} resolves outside the root {root_r}.")
    return root_r / rel


def remove_stale_temps(folder: str | os.PathLike, *,
                       names: Iterable[str] | None = None) -> list[Path]:
    """Delete the temp files that killed writers (:func:`atomic_path`) left behind.

    :func:`atomic_path` removes its temp file when the body raises, but a process
    killed while writing (SIGKILL, Ctrl-C during a C call, power loss) leaves
    ``<stem>.tmp-XXXX<suffix>``. Every resumable step calls this on its output
    folder before writing, so a successful re-run leaves no such file.

    Parameters
    ----------
    folder : path
        Only this folder (not its subfolders).
    names : iterable of str, optional
        Final file names (or stems) whose temps to remove; default every temp
        file in ``folder``.

    Returns
    -------
    list of Path
        The files removed.
    """
    folder = Path(folder)
    if not folder.is_dir():
        return []
    stems = None if names is None else {str(n).split(".")[0] for n in names}
    removed = []
    for p in folder.glob(f"*{TMP_MARK}*"):
        if not p.is_file() or (stems is not None
                               and p.name.split(TMP_MARK)[0] not in stems):
            continue
        p.unlink(missing_ok=True)
        removed.append(p)
    return removed
