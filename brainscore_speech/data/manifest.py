"""The dataset manifest: which external datasets exist, their sources and files.

``data_manifest.yaml`` (shipped in this package; the repository root holds a
byte-identical copy) lists, for each dataset, a description, source URLs, version,
licence and citation, and, where the files can be fetched one by one, a download URL
template and every file's relative path, size in bytes and MD5 and/or SHA-256.

:func:`load_manifest` validates that schema (unknown keys, types, checksum formats,
paths that could escape the dataset root). :func:`verify_dataset` checks a local copy
file by file; :func:`fetch_dataset` downloads the missing or corrupt files with
resume (HTTP ``Range``), a checksum check and an atomic rename.
"""

from __future__ import annotations

import http.client
import ipaddress
import os
import re
import string
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from fnmatch import fnmatch
from importlib import resources
from pathlib import Path
from typing import Any

from .._io import TMP_MARK, check_output_dir, file_hash, safe_join
from .._logging import logger, progress, use_log_level
from .._validation import check_path, check_unknown_keys, suggest
from ..exceptions import ManifestError

__all__ = [
    "DatasetSpec",
    "FileSpec",
    "Manifest",
    "default_manifest_path",
    "load_manifest",
    "list_datasets",
    "get_dataset",
    "verify_dataset",
    "fetch_dataset",
]

MANIFEST_NAME = "data_manifest.yaml"
# partial downloads are "<file>.tmp-part" (every reader skips ".tmp-" names)
PART_SUFFIX = TMP_MARK + "part"

_REQUIRED_KEYS = ("description", "source", "version", "licence", "citation")
_OPTIONAL_KEYS = ("kind", "url_template", "files", "languages", "tr_s", "n_runs",
                  "n_subjects", "subsets", "labels", "notes")
_FILE_KEYS = ("path", "size", "md5", "sha256")
_KINDS = ("fmri", "corpus")
_HEX = {"md5": re.compile(r"^[0-9a-f]{32}$"), "sha256": re.compile(r"^[0-9a-f]{64}$")}
_TEMPLATE_FIELDS = ("path", "version", "name")
_VERIFY_COLUMNS = ["path", "status", "expected_size", "found_size", "algorithm",
                   "expected_checksum", "found_checksum"]


@dataclass(frozen=True)
class FileSpec:
    """One file of a dataset.

    Attributes
    ----------
    path : str
        POSIX path relative to the dataset root (validated: not absolute, no ``..``).
    size : int
        Size in bytes.
    md5, sha256 : str or None
        Lower-case hex digests; at least one is set.
    """

    path: str
    size: int
    md5: str | None = None
    sha256: str | None = None

    @property
    def checksums(self) -> dict[str, str]:
        """``{algorithm: hex digest}`` of the digests given (sha256 first)."""
        return {k: v for k, v in (("sha256", self.sha256), ("md5", self.md5)) if v}


@dataclass(frozen=True)
class DatasetSpec:
    """One dataset of the manifest (see the module docstring for the schema).

    Attributes
    ----------
    name, description, version, licence, citation : str
    source : tuple of str
        Landing pages / repositories.
    kind : str
        ``"fmri"`` or ``"corpus"``.
    url_template : str or None
        Download URL of one file, with ``{path}`` (and optionally ``{version}``,
        ``{name}``) placeholders.
    files : tuple of FileSpec
        Per-file entries (empty for corpora that are not fetched file by file).
    extra : dict
        The optional facts (``languages``, ``tr_s``, ``n_runs``, ``labels``, ...).
    """

    name: str
    description: str
    source: tuple[str, ...]
    version: str
    licence: str
    citation: str
    kind: str = "corpus"
    url_template: str | None = None
    files: tuple[FileSpec, ...] = ()
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def total_size(self) -> int:
        """Sum of the listed files' sizes, in bytes."""
        return sum(f.size for f in self.files)

    def __repr__(self) -> str:
        return (f"<DatasetSpec {self.name!r} {self.version} ({self.kind}), "
                f"{len(self.files)} files, {self.total_size} bytes>")


@dataclass(frozen=True)
class Manifest:
    """A validated manifest: ``datasets`` maps a name to its :class:`DatasetSpec`."""

    path: Path
    datasets: dict[str, DatasetSpec]

    def __getitem__(self, name: str) -> DatasetSpec:
        if name not in self.datasets:
            raise ValueError(
                f"Dataset {name!r} is not in the manifest {self.path}; available: "
                f"{sorted(self.datasets)}." + suggest(name, self.datasets)
            )
        return self.datasets[name]

    def __repr__(self) -> str:
        return f"<Manifest {len(self.datasets)} datasets from {self.path}>"


def default_manifest_path() -> Path:
    """Path of the manifest shipped with the package (``brainscore_speech/data/``)."""
    return Path(str(resources.files("brainscore_speech.data") / MANIFEST_NAME))


def _fail(path: Path, where: str, msg: str) -> ManifestError:
    return ManifestError(f"Invalid manifest {path}: {where}: {msg}")


def _check_str(path: Path, where: str, value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise _fail(path, where, f"expected a non-empty string, got {value!r}.")
    return value.strip()


def _check_url(path: Path, where: str, value: Any) -> str:
    value = _check_str(path, where, value)
    if urllib.parse.urlsplit(value).scheme not in ("http", "https"):
        raise _fail(path, where, f"expected an http(s) URL, got {value!r}.")
    return value


def _parse_file(mpath: Path, where: str, entry: Any) -> FileSpec:
    if not isinstance(entry, Mapping):
        raise _fail(mpath, where, f"expected a mapping with keys {list(_FILE_KEYS)}, "
                    f"got {type(entry).__name__}.")
    try:
        check_unknown_keys(where, entry, _FILE_KEYS)
    except ValueError as err:
        raise _fail(mpath, where, str(err)) from None
    rel = _check_str(mpath, f"{where}.path", entry.get("path"))
    try:  # the root is a placeholder: this checks absolute paths and '..' components
        safe_join(Path(os.sep) / "manifest-root", rel, what=f"{where}.path")
    except ValueError as err:
        raise ManifestError(f"Invalid manifest {mpath}: {err}") from None
    if "\\" in rel:
        raise _fail(mpath, f"{where}.path", f"use '/' as separator, got {rel!r}.")
    size = entry.get("size")
    if isinstance(size, bool) or not isinstance(size, int) or size < 0:
        raise _fail(mpath, f"{where}.size",
                    f"expected a non-negative integer (bytes), got {size!r}.")
    digests = {}
    for algo, pattern in _HEX.items():
        value = entry.get(algo)
        if value is None:
            continue
        if not isinstance(value, str) or not pattern.match(value):
            n = 32 if algo == "md5" else 64
            raise _fail(mpath, f"{where}.{algo}",
                        f"expected {n} lower-case hex digits, got {value!r}.")
        digests[algo] = value
    if not digests:
        raise _fail(mpath, where,
                    f"file {rel!r} needs an 'md5' or a 'sha256' checksum.")
    return FileSpec(path=rel, size=size, **digests)


def _parse_dataset(mpath: Path, name: str, spec: Any) -> DatasetSpec:
    where = f"dataset {name!r}"
    if not isinstance(spec, Mapping):
        raise _fail(mpath, where, f"expected a mapping, got {type(spec).__name__}.")
    try:
        check_unknown_keys(where, spec, _REQUIRED_KEYS + _OPTIONAL_KEYS)
    except ValueError as err:
        raise _fail(mpath, where, str(err)) from None
    missing = [k for k in _REQUIRED_KEYS if k not in spec]
    if missing:
        raise _fail(mpath, where, f"missing required key(s) {missing}; every dataset "
                    f"needs {list(_REQUIRED_KEYS)}.")
    source = spec["source"]
    source = [source] if isinstance(source, str) else source
    if not isinstance(source, list) or not source:
        raise _fail(mpath, f"{where}.source",
                    f"expected a URL or a non-empty list of URLs, got {source!r}.")
    source = tuple(_check_url(mpath, f"{where}.source", s) for s in source)
    kind = spec.get("kind", "corpus")
    if kind not in _KINDS:
        raise _fail(mpath, f"{where}.kind", f"expected one of {list(_KINDS)}, got "
                    f"{kind!r}." + suggest(kind, _KINDS))
    template = spec.get("url_template")
    if template is not None:
        template = _check_url(mpath, f"{where}.url_template", template)
        fields = [f for _, f, _, _ in string.Formatter().parse(template)
                  if f is not None]
        bad = [f for f in fields if f not in _TEMPLATE_FIELDS]
        if bad or "path" not in fields:
            raise _fail(mpath, f"{where}.url_template",
                        f"expected a '{{path}}' placeholder and only "
                        f"{list(_TEMPLATE_FIELDS)}, got fields {fields}.")
    files_raw = spec.get("files") or []
    if not isinstance(files_raw, list):
        raise _fail(mpath, f"{where}.files",
                    f"expected a list of file entries, got {type(files_raw).__name__}.")
    files = tuple(_parse_file(mpath, f"{where}.files[{i}]", e)
                  for i, e in enumerate(files_raw))
    seen: set[str] = set()
    for f in files:
        key = Path(f.path).as_posix()
        if key in seen:
            raise _fail(mpath, f"{where}.files", f"path {f.path!r} is listed twice.")
        seen.add(key)
    extra = {k: spec[k] for k in _OPTIONAL_KEYS
             if k in spec and k not in ("kind", "url_template", "files")}
    return DatasetSpec(
        name=name,
        description=" ".join(_check_str(mpath, f"{where}.description",
                                        spec["description"]).split()),
        source=source,
        version=_check_str(mpath, f"{where}.version", str(spec["version"])),
        licence=_check_str(mpath, f"{where}.licence", spec["licence"]),
        citation=" ".join(_check_str(mpath, f"{where}.citation",
                                     spec["citation"]).split()),
        kind=kind,
        url_template=template,
        files=files,
        extra=extra,
    )


def load_manifest(path: str | os.PathLike | None = None) -> Manifest:
    """Read and validate a dataset manifest.

    Parameters
    ----------
    path : path-like, optional
        A ``data_manifest.yaml``; default: the one shipped with the package.

    Returns
    -------
    Manifest

    Raises
    ------
    FileNotFoundError
        When ``path`` does not exist.
    ManifestError
        When the YAML is malformed or does not follow the schema (the message names
        the file, the dataset / file entry and what was expected).
    """
    import yaml

    mpath = Path(path) if path is not None else default_manifest_path()
    mpath = check_path(mpath, "manifest", what="Dataset manifest")
    try:
        raw = yaml.safe_load(mpath.read_text(encoding="utf-8"))
    except yaml.YAMLError as err:
        raise ManifestError(f"Malformed YAML in manifest {mpath}: {err}") from None
    if not isinstance(raw, Mapping) or not isinstance(raw.get("datasets"), Mapping):
        raise _fail(mpath, "top level", "expected a mapping with a 'datasets' mapping.")
    try:
        check_unknown_keys("the manifest's top level", raw,
                           ("manifest_version", "datasets"))
    except ValueError as err:
        raise _fail(mpath, "top level", str(err)) from None
    datasets = {str(n): _parse_dataset(mpath, str(n), s)
                for n, s in raw["datasets"].items()}
    if not datasets:
        raise _fail(mpath, "datasets", "no dataset is listed.")
    return Manifest(path=mpath, datasets=datasets)


def _manifest(manifest: Manifest | str | os.PathLike | None) -> Manifest:
    return manifest if isinstance(manifest, Manifest) else load_manifest(manifest)


def list_datasets(*, manifest: Manifest | str | os.PathLike | None = None) -> list[str]:
    """Names of the datasets in the manifest, in file order.

    Parameters
    ----------
    manifest : Manifest or path-like, optional
        Default: the package's manifest.
    """
    return list(_manifest(manifest).datasets)


def get_dataset(name: str, *,
                manifest: Manifest | str | os.PathLike | None = None) -> DatasetSpec:
    """The :class:`DatasetSpec` called ``name``.

    Raises
    ------
    ValueError
        Unknown name; the message lists the datasets and suggests the closest.
    """
    return _manifest(manifest)[name]


def _select(spec: DatasetSpec, include: Sequence[str] | None) -> list[FileSpec]:
    if include is None:
        return list(spec.files)
    if isinstance(include, str):
        include = [include]
    chosen = [f for f in spec.files if any(fnmatch(f.path, pat) for pat in include)]
    if not chosen:
        raise ValueError(
            f"'include' patterns {list(include)} match none of the {len(spec.files)} "
            f"files of dataset {spec.name!r} (e.g. {spec.files[0].path!r})."
            if spec.files else
            f"Dataset {spec.name!r} lists no files, so 'include' cannot match any."
        )
    return chosen


def _check_file(fspec: FileSpec, full: Path) -> dict[str, Any]:
    """Size + checksum check of one local file; a row of the verify table."""
    row = {"path": fspec.path, "status": "missing", "expected_size": fspec.size,
           "found_size": None, "algorithm": next(iter(fspec.checksums)),
           "expected_checksum": next(iter(fspec.checksums.values())),
           "found_checksum": None}
    if not full.is_file():
        return row
    row["found_size"] = full.stat().st_size
    row["status"] = "ok"
    for algo, expected in fspec.checksums.items():
        found = file_hash(full, algo)
        if found != expected or row["found_size"] != fspec.size:
            row.update(status="corrupt", algorithm=algo, expected_checksum=expected,
                       found_checksum=found)
            break
        row.update(algorithm=algo, expected_checksum=expected, found_checksum=found)
    return row


def verify_dataset(name: str, root: str | os.PathLike, *,
                   include: Sequence[str] | None = None,
                   manifest: Manifest | str | os.PathLike | None = None,
                   verbose: bool | int | str | None = None):
    """Check the size and checksum of every file of a dataset under ``root``.

    Parameters
    ----------
    name : str
        Dataset name in the manifest (e.g. ``"lpp"``).
    root : path-like
        The dataset's local root folder (files sit at their manifest paths under it).
    include : sequence of str, optional
        Shell-style patterns (``fnmatch``) of the manifest paths to check, e.g.
        ``["annotation/EN/*"]``; default: every file.
    manifest : Manifest or path-like, optional
        Default: the package's manifest.
    verbose : bool | int | str | None
        Log level for this call.

    Returns
    -------
    table : pandas.DataFrame, one row per file
        Columns ``path``, ``status`` (``"ok"``, ``"missing"`` or ``"corrupt"``),
        ``expected_size`` and ``found_size`` (bytes), ``algorithm`` (``"sha256"`` or
        ``"md5"``), ``expected_checksum``, ``found_checksum`` (None when missing).
        A file is corrupt when its size or any listed checksum differs.

    Raises
    ------
    ValueError
        Unknown dataset name.
    NotADirectoryError
        ``root`` is not a directory.
    ValueError
        A manifest path escapes ``root`` (e.g. through a symlink), or ``include``
        matches nothing.
    """
    import pandas as pd

    spec = get_dataset(name, manifest=manifest)
    root = Path(root)
    if not root.is_dir():
        raise NotADirectoryError(
            f"Dataset root for {name!r} is not a directory: {root}")
    rows = []
    with use_log_level(verbose):
        for fspec in progress(_select(spec, include), desc=f"verify {name}"):
            full = safe_join(root, fspec.path, what=f"manifest path of {name!r}")
            rows.append(_check_file(fspec, full))
        table = pd.DataFrame(rows, columns=_VERIFY_COLUMNS)
        table["found_size"] = table["found_size"].astype("Int64")
        counts = table["status"].value_counts()
        logger.info("Verified %s under %s: %d ok, %d missing, %d corrupt.", name, root,
                    counts.get("ok", 0), counts.get("missing", 0),
                    counts.get("corrupt", 0))
    return table


def _file_url(spec: DatasetSpec, fspec: FileSpec, base_url: str | None) -> str:
    quoted = urllib.parse.quote(fspec.path, safe="/")
    if base_url is not None:
        if urllib.parse.urlsplit(base_url).scheme not in ("http", "https"):
            raise ValueError(f"'base_url' must be an http(s) URL, got {base_url!r}.")
        return base_url.rstrip("/") + "/" + quoted
    if spec.url_template is None:
        raise ValueError(
            f"Dataset {spec.name!r} has no 'url_template' in the manifest, so its "
            f"files cannot be fetched automatically; get it from {spec.source[0]} "
            "or pass 'base_url'."
        )
    return spec.url_template.format(path=quoted, version=spec.version, name=spec.name)


class _HTTPStatusError(OSError):
    """The server answered with an HTTP error status (not retried)."""


def _is_loopback(url: str) -> bool:
    host = urllib.parse.urlsplit(url).hostname or ""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _open(url: str, offset: int, timeout_s: float):
    request = urllib.request.Request(url, headers={"User-Agent": "brainscore-speech"})
    if offset:
        request.add_header("Range", f"bytes={offset}-")
    # A proxy must never see loopback requests (tests, local mirrors).
    handlers = [urllib.request.ProxyHandler({})] if _is_loopback(url) else []
    return urllib.request.build_opener(*handlers).open(request, timeout=timeout_s)


def _download(url: str, part: Path, expected_size: int, timeout_s: float,
              chunk_size: int = 1 << 20) -> None:
    """Download ``url`` into ``part``, resuming from its current size when possible."""
    offset = part.stat().st_size if part.exists() else 0
    if offset > expected_size:  # a stale, over-long partial file: start again
        part.unlink()
        offset = 0
    if offset == expected_size and offset > 0:
        return
    try:
        response = _open(url, offset, timeout_s)
    except urllib.error.HTTPError as err:
        if err.code == 416 and offset:  # range not satisfiable: restart from zero
            part.unlink()
            return _download(url, part, expected_size, timeout_s, chunk_size)
        raise _HTTPStatusError(f"HTTP {err.code} {err.reason}") from None
    with response:
        status = getattr(response, "status", 200)
        resumed = False
        if offset and status == 206:
            crange = response.headers.get("Content-Range", "")
            match = re.match(r"bytes (\d+)-", crange)
            resumed = bool(match) and int(match.group(1)) == offset
        mode = "ab" if resumed else "wb"
        if offset and not resumed:
            logger.debug("Server ignored the Range request for %s; restarting.", url)
        elif resumed:
            logger.info("Resuming %s at byte %d.", url, offset)
        with open(part, mode) as f:
            for block in iter(lambda: response.read(chunk_size), b""):
                f.write(block)
    got = part.stat().st_size
    if got < expected_size:  # connection closed early: retried, resuming from here
        raise OSError(f"transfer ended after {got} of {expected_size} bytes")


def fetch_dataset(name: str, root: str | os.PathLike, *, base_url: str | None = None,
                  include: Sequence[str] | None = None,
                  manifest: Manifest | str | os.PathLike | None = None,
                  retries: int = 3, timeout_s: float = 60.0,
                  verbose: bool | int | str | None = None) -> list[Path]:
    """Download the files of a dataset that are missing or corrupt under ``root``.

    Each file is downloaded to ``<file>.tmp-part`` next to its destination; an
    interrupted download resumes from the partial file with an HTTP ``Range``
    request (or restarts when the server ignores it). The size and every listed
    checksum are checked before the partial file is renamed onto its destination
    (atomic), so a file under its final name is always complete and verified. Files
    that already verify are skipped, so running it again resumes the dataset.

    Parameters
    ----------
    name : str
        Dataset name in the manifest.
    root : path-like
        Local root folder (created if needed).
    base_url : str, optional
        Mirror to download from instead of the manifest's ``url_template``: a file's
        URL is ``base_url + "/" + path``.
    include : sequence of str, optional
        Shell-style patterns of the manifest paths to fetch; default: every file.
    manifest : Manifest or path-like, optional
        Default: the package's manifest.
    retries : int, default=3
        Extra attempts per file after a network error (each resumes the partial file).
    timeout_s : float, default=60.0
        Socket timeout in seconds.
    verbose : bool | int | str | None
        Log level for this call.

    Returns
    -------
    paths : list of Path
        The local path of every selected file (downloaded or already present).

    Raises
    ------
    ManifestError
        A downloaded file's size or checksum differs from the manifest (the partial
        file is deleted; nothing is written under the final name).
    OSError
        The download failed after ``retries`` extra attempts (HTTP error, network).
    ValueError
        The dataset has no URL template and no ``base_url`` was given, a path
        escapes ``root``, or ``include`` matches nothing.
    """
    spec = get_dataset(name, manifest=manifest)
    if isinstance(retries, bool) or not isinstance(retries, int) or retries < 0:
        raise ValueError(f"'retries' must be a non-negative integer, got {retries!r}.")
    files = _select(spec, include)
    if not files:
        raise ValueError(f"Dataset {name!r} lists no files to fetch; get it from "
                         f"{spec.source[0]}.")
    root = check_output_dir(root, what="--root")
    root.mkdir(parents=True, exist_ok=True)
    out, n_new = [], 0
    with use_log_level(verbose):
        for fspec in progress(files, desc=f"fetch {name}"):
            dest = safe_join(root, fspec.path, what=f"manifest path of {name!r}")
            out.append(dest)
            if dest.is_file() and _check_file(fspec, dest)["status"] == "ok":
                continue
            url = _file_url(spec, fspec, base_url)
            dest.parent.mkdir(parents=True, exist_ok=True)
            part = dest.with_name(dest.name + PART_SUFFIX)
            for attempt in range(retries + 1):
                try:
                    _download(url, part, fspec.size, timeout_s)
                    break
                except (OSError, http.client.HTTPException) as err:  # URLError, resets,
                    # timeouts, truncated bodies (IncompleteRead): retry and resume
                    if attempt == retries or isinstance(err, _HTTPStatusError):
                        raise OSError(f"Could not download {fspec.path!r} of {name!r} "
                                      f"from {url}: {err}") from None
                    logger.warning("Download of %s interrupted (%s); retrying.", url,
                                   err)
                    time.sleep(min(2.0 ** attempt, 10.0) * 0.1)
            row = _check_file(fspec, part)
            if row["status"] != "ok":
                part.unlink(missing_ok=True)
                raise ManifestError(
                    f"Downloaded file {fspec.path!r} of {name!r} from {url} fails its "
                    f"check: expected {fspec.size} bytes, {row['algorithm']} "
                    f"{row['expected_checksum']}; found {row['found_size']} bytes, "
                    f"{row['found_checksum']}."
                )
            os.replace(part, dest)
            n_new += 1
        logger.info("Fetched %s into %s: %d downloaded, %d already present.", name,
                    root, n_new, len(files) - n_new)
    return out
