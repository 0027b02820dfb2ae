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
    "umask_mode",
    "load_yaml",
    "read_npz",
    "open_h5",
    "load_image",
    "check_safetensors",
    "read_tsv",
    "check_output_dir",
    "check_output_file",
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
    try:  # mkstemp creates 0600; the final file gets what open() would give
        os.fchmod(fd, umask_mode())
    finally:
        os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        os.replace(tmp_path, path)
    finally:
        if tmp_path.exists():
            tmp_path.unlink()


def _current_umask() -> int:
    try:  # Linux >= 4.7: read it without changing it (thread-safe)
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    old = os.umask(0o022)
    os.umask(old)
    return old


def umask_mode(base: int = 0o666) -> int:
    """``base`` filtered by the process umask: the mode ``open()`` would give.

    ``0o644`` for files under the usual umask 022 (``0o755`` for ``base=0o777``).
    """
    return base & ~_current_umask()


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
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        from .exceptions import DataError

        raise DataError(f"Malformed JSON in {path}: {_one_line(err)}") from None


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
                       names: Iterable[str] | None = None,
                       recursive: bool = False) -> list[Path]:
    """Delete the temp files that killed writers (:func:`atomic_path`) left behind.

    :func:`atomic_path` removes its temp file when the body raises, but a process
    killed while writing (SIGKILL, Ctrl-C during a C call, power loss) leaves
    ``<stem>.tmp-XXXX<suffix>``. Every resumable step calls this on its output
    folder before writing, so a successful re-run leaves no such file.

    Parameters
    ----------
    folder : path
        The folder to clean (only this folder unless ``recursive``).
    names : iterable of str, optional
        Final file names (or stems) whose temps to remove; default every temp
        file in ``folder``.
    recursive : bool, default=False
        Also clean every subfolder: for a step that owns its whole output tree
        (the simulator, ``abx``, the demo), whose writers are spread over it.

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
    for p in (folder.rglob if recursive else folder.glob)(f"*{TMP_MARK}*"):
        if not p.is_file() or (stems is not None
                               and p.name.split(TMP_MARK)[0] not in stems):
            continue
        p.unlink(missing_ok=True)
        removed.append(p)
    return removed
# ----------------------------------------------------------------- file loaders
# Every file the toolkit reads goes through one of these (or ``read_json``): the
# library's own exception becomes a one-line DataError naming the file and what is
# wrong with it, so the CLI never prints a traceback for a bad file.


def _one_line(err: BaseException) -> str:
    text = " ".join(str(err).split())
    return text if text else type(err).__name__


def _data_error(path: Path, what: str, err: BaseException | str):
    from .exceptions import DataError

    detail = err if isinstance(err, str) else _one_line(err)
    return DataError(f"Cannot read {what} {path}: {detail}")


def _require_file(path: Path, what: str) -> None:
    if not path.is_file():
        if path.is_dir():
            raise IsADirectoryError(f"{what} {path} is a folder, expected a file.")
        raise FileNotFoundError(f"{what} not found: {path}")


def load_yaml(path: str | os.PathLike, *, what: str = "YAML file") -> Any:
    """``yaml.safe_load`` of a file; syntax errors and unsafe tags are DataErrors.

    Raises
    ------
    FileNotFoundError
        When ``path`` does not exist.
    DataError
        ``Malformed YAML in regime file x.yaml: line 3, column 5: ...``,
        also for tags such as ``!!python/object`` that ``safe_load`` refuses.
    """
    import yaml

    path = Path(path)
    _require_file(path, what)
    try:
        return yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
        problem = getattr(err, "problem", None) or _one_line(err)
        if "constructor for the tag" in str(problem):
            problem = f"{problem} (only plain YAML is accepted; no python tags)"
        from .exceptions import DataError

        raise DataError(f"Malformed YAML in {what} {path}: {where}{problem}") from None
    except UnicodeDecodeError as err:
        raise _data_error(path, what, f"not UTF-8 text ({err.reason})") from None


def read_npz(path: str | os.PathLike, *, what: str = ".npz file"
             ) -> dict[str, np.ndarray]:
    """Every array of an ``.npz`` (``allow_pickle=False``), read eagerly.

    Raises
    ------
    DataError
        For a truncated or corrupt archive (zip, zlib or array-header errors).
    """
    import zipfile
    import zlib

    path = Path(path)
    _require_file(path, what)
    try:
        z = np.load(path, allow_pickle=False)
        if not hasattr(z, "files"):
            raise ValueError("not an .npz archive (a single .npy array)")
        with z:
            return {k: z[k] for k in z.files}
    except (zipfile.BadZipFile, zlib.error, EOFError, ValueError, OSError,
            KeyError, UnicodeDecodeError) as err:
        detail = _one_line(err)
        if isinstance(err, (zipfile.BadZipFile, zlib.error, EOFError)):
            detail = f"truncated or corrupt archive ({detail})"
        raise _data_error(path, what, detail) from None


def open_h5(path: str | os.PathLike, mode: str = "r", *, what: str = "HDF5 file"):
    """``h5py.File(path, mode)``; an unreadable or truncated file is a DataError."""
    import h5py

    path = Path(path)
    if mode == "r":
        _require_file(path, what)
    try:
        return h5py.File(path, mode)
    except OSError as err:
        raise _data_error(path, what, err) from None


def load_image(path: str | os.PathLike, *, what: str = "image", load_data: bool = True):
    """``nibabel.load`` (NIfTI, GIFTI, ...), with the data read when ``load_data``.

    Raises
    ------
    DataError
        When nibabel cannot parse the header or the data are truncated.
    """
    import nibabel as nib

    path = Path(path)
    _require_file(path, what)
    try:
        img = nib.load(str(path))
        if load_data and hasattr(img, "dataobj"):
            np.asarray(img.dataobj)
        return img
    except Exception as err:  # nibabel raises many types (ImageFileError, EOF, xml)
        if isinstance(err, MemoryError):
            raise
        raise _data_error(path, what, err) from None


def check_safetensors(path: str | os.PathLike, *, what: str = "weights file") -> None:
    """Check that a ``.safetensors`` file is complete (header and data sizes).

    Raises
    ------
    DataError
        For a truncated file or a malformed header.
    """
    import struct

    path = Path(path)
    _require_file(path, what)
    size = path.stat().st_size
    try:
        with open(path, "rb") as f:
            head = f.read(8)
            if len(head) < 8:
                raise ValueError(f"file is {size} bytes, too short for a header")
            (n,) = struct.unpack("<Q", head)
            if n > size - 8:
                raise ValueError(f"header of {n} bytes does not fit in {size} bytes")
            header = json.loads(f.read(n))
        end = max((int(v["data_offsets"][1]) for k, v in header.items()
                   if k != "__metadata__"), default=0)
    except (ValueError, KeyError, TypeError, IndexError, UnicodeDecodeError) as err:
        raise _data_error(path, what, f"malformed safetensors file ({_one_line(err)})"
                          ) from None
    if 8 + n + end != size:
        raise _data_error(path, what, f"truncated safetensors file ({size} bytes, "
                          f"the header describes {8 + n + end})")


def read_tsv(path: str | os.PathLike, *, what: str = "TSV file", **kwargs):
    """``pandas.read_csv(path, sep="\\t", **kwargs)``; parse errors are DataErrors."""
    import pandas as pd

    path = Path(path)
    _require_file(path, what)
    try:
        return pd.read_csv(path, sep="\t", **kwargs)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError,
            ValueError) as err:
        raise _data_error(path, what, err) from None


# ------------------------------------------------------------- output locations
def _nearest_existing(path: Path) -> Path:
    p = path.absolute()
    while not p.exists() and p != p.parent:
        p = p.parent
    return p


def check_output_dir(path: str | os.PathLike, *, what: str = "--out") -> Path:
    """Check, before any work, that ``path`` can be (or is) a writable folder.

    Nothing is created. Raises a UsageError (exit code 2 on the command line) when
    ``path`` is a file, or sits under a file, and ``PermissionError`` when the
    folder (or its nearest existing parent) is not writable.
    """
    from .exceptions import UsageError

    path = Path(path)
    base = _nearest_existing(path)
    if not base.is_dir():
        where = "is" if base == path.absolute() else f"is under {base}, which is"
        raise UsageError(f"{what} {path} {where} a file, expected a folder.")
    if not os.access(base, os.W_OK | os.X_OK):
        raise PermissionError(f"{what} {path}: {base} is not writable.")
    return path


def check_output_file(path: str | os.PathLike, *, what: str = "--out") -> Path:
    """Check, before any work, that the file ``path`` can be written (not created)."""
    from .exceptions import UsageError

    path = Path(path)
    if path.is_dir():
        raise UsageError(f"{what} {path} is a folder, expected a file name.")
    check_output_dir(path.parent, what=f"{what} {path}: parent folder")
    if path.exists() and not os.access(path, os.W_OK):
        raise PermissionError(f"{what} {path} is not writable.")
    return path
