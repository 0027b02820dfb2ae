"""Checksum records of every job's outputs and inputs, and their verification.

Each job that writes results (``extract``, ``score``, ``group``) finishes by
writing one record, ``<name>_checksums.json``, beside its outputs::

    {"step": "score", "created": "...", "record_version": 1,
     "outputs": {"sub-01/x.npz": {"sha256": "...", "size": 123}, ...},
     "inputs":  {"/abs/path/act.h5": {"sha256": "...", "size": 45,
                                       "rel": "../act/act.h5"}, ...}}

Output paths are relative to the record's folder; input paths are absolute (with
the path relative to the record as a fallback, so that a project tree moved as a
whole still verifies). The record is written last, atomically: a job killed before
it leaves no record, and ``verify`` then lists its files as untracked.

:func:`verify_outputs` re-hashes everything and reports each file as ``ok``,
``missing`` (an output is gone), ``corrupt`` (an output's bytes changed),
``stale`` (an input changed or is gone since the outputs were made) or
``untracked`` (a file under the folder that no record covers).
"""

from __future__ import annotations

import datetime as _dt
import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from ._io import TMP_MARK, file_hash, read_json, write_json
from ._validation import check_path
from .exceptions import DataError

__all__ = ["RECORD_SUFFIX", "record_outputs", "verify_outputs", "find_records"]

RECORD_SUFFIX = "_checksums.json"
_VERSION = 1
STATUSES = ("ok", "missing", "corrupt", "stale", "untracked")


def _entry(path: Path) -> dict[str, Any]:
    return {"sha256": file_hash(path), "size": path.stat().st_size}


def record_outputs(record: str | os.PathLike, *, step: str,
                   outputs: Iterable[str | os.PathLike],
                   inputs: Iterable[str | os.PathLike] = (),
                   merge: bool = False) -> Path:
    """Write the checksum record of a job (last, atomically).

    Parameters
    ----------
    record : path-like
        ``<folder>/<name>_checksums.json``; outputs must lie under ``<folder>``.
    step : str
        The job, e.g. ``"score"``.
    outputs : iterable of path-like
        Files the job wrote (or found up to date).
    inputs : iterable of path-like
        Files the outputs were computed from (non-files are skipped).
    merge : bool, default=False
        Keep the entries of an existing record whose files still exist (jobs that
        add files to a shared folder, such as ``extract``).

    Returns
    -------
    Path
        ``record``.
    """
    record = Path(record)
    if not record.name.endswith(RECORD_SUFFIX):
        raise ValueError(f"'record' must end with {RECORD_SUFFIX!r}, got "
                         f"{record.name!r}.")
    base = record.parent.resolve()
    outs: dict[str, Any] = {}
    ins: dict[str, Any] = {}
    if merge and record.is_file():
        try:
            old = read_json(record)
            outs.update({k: v for k, v in old.get("outputs", {}).items()
                         if (base / k).is_file()})
            ins.update({k: v for k, v in old.get("inputs", {}).items()
                        if Path(k).is_file()})
        except DataError:
            pass
    for p in outputs:
        p = Path(p).resolve()
        outs[p.relative_to(base).as_posix()] = _entry(p)
        side = p.with_suffix(".json")  # a container's JSON sidecar goes with it
        if p.suffix == ".npz" and side.is_file():
            outs[side.relative_to(base).as_posix()] = _entry(side)
    for p in inputs:
        p = Path(p)
        if p.is_file():
            p = p.resolve()
            ins[str(p)] = {**_entry(p), "rel": os.path.relpath(p, base)}
    return write_json(record, {
        "step": step, "record_version": _VERSION,
        "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "outputs": dict(sorted(outs.items())), "inputs": dict(sorted(ins.items()))})


def find_records(root: str | os.PathLike) -> list[Path]:
    """Every ``*_checksums.json`` under ``root`` (hidden folders excluded).

    Parameters
    ----------
    root : str or os.PathLike
        Folder searched recursively.

    Returns
    -------
    list of Path
    """
    root = Path(root)
    return sorted(p for p in root.rglob(f"*{RECORD_SUFFIX}")
                  if TMP_MARK not in p.name
                  and not any(part.startswith(".") for part in
                              p.relative_to(root).parts[:-1]))


def _check(path: Path, want: Mapping[str, Any]) -> str | None:
    """None when ``path`` holds ``want``; else why not."""
    if not path.is_file():
        return "missing"
    size = path.stat().st_size
    if want.get("size") is not None and size != want["size"]:
        return f"size {size} bytes, recorded {want['size']}"
    if file_hash(path) != want.get("sha256"):
        return "sha256 differs from the record"
    return None


def verify_outputs(root: str | os.PathLike):
    """Check every output and input of the records under ``root``.

    Parameters
    ----------
    root : path-like
        A derivatives, group or activation folder (searched recursively).

    Returns
    -------
    pandas.DataFrame
        One row per file: ``record``, ``file``, ``role`` (output|input|-),
        ``status`` (ok, missing, corrupt, stale, untracked), ``detail``.
        An output is ``stale`` when one of its record's inputs changed.

    Raises
    ------
    FileNotFoundError
        ``root`` is not a folder.
    DataError
        No record under ``root``, or a malformed record.
    """
    import pandas as pd

    root = check_path(root, "folder", kind="dir", what="Folder to verify")
    records = find_records(root)
    if not records:
        raise DataError(f"No checksum records (*{RECORD_SUFFIX}) under {root}: not an "
                        "output folder of extract, score or group (or written by an "
                        "older version; re-run the job to record them).")
    rows, covered = [], set()
    for rec in records:
        data = read_json(rec)
        if not isinstance(data, Mapping) or "outputs" not in data:
            raise DataError(f"Malformed checksum record {rec}: no 'outputs'.")
        base = rec.parent
        covered.add(rec.resolve())
        stale = []
        for name, want in data.get("inputs", {}).items():
            p = Path(name)
            if not p.is_file() and want.get("rel"):
                p = base / want["rel"]
            why = _check(p, want)
            status = "ok" if why is None else "stale"
            detail = "" if why is None else f"input {why}"
            if why is not None:
                stale.append(Path(name).name)
            rows.append({"record": str(rec.relative_to(root)), "file": name,
                         "role": "input", "status": status, "detail": detail})
        for name, want in data["outputs"].items():
            p = base / name
            covered.add(p.resolve())
            why = _check(p, want)
            if why == "missing":
                status, detail = "missing", ""
            elif why is not None:
                status, detail = "corrupt", why
            elif stale:
                status = "stale"
                detail = f"input(s) changed: {', '.join(stale[:3])}" + (
                    "..." if len(stale) > 3 else "")
            else:
                status, detail = "ok", ""
            rows.append({"record": str(rec.relative_to(root)),
                         "file": str(p.relative_to(root)), "role": "output",
                         "status": status, "detail": detail})
    for p in sorted(root.rglob("*")):
        rel = p.relative_to(root)
        if (p.is_file() and p.resolve() not in covered and TMP_MARK not in p.name
                and not any(part.startswith(".") for part in rel.parts)
                and p.name != "dataset_description.json"):
            rows.append({"record": "-", "file": str(rel), "role": "-",
                         "status": "untracked", "detail": "no record covers it"})
    return pd.DataFrame(rows, columns=["record", "file", "role", "status", "detail"])
