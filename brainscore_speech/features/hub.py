"""Where a model comes from: a local directory, a hub repo id, or a registry name.

``--model`` (``extract``, ``simulate --from-model``, the Python API) accepts

- a local HF-format directory (``config.json`` + weights), used as it is;
- a Hugging Face repo id with an optional revision, ``org/name`` or
  ``org/name@REV`` (branch, tag or commit hash);
- a name of the built-in registry of public speech SSL checkpoints
  (``registry.yaml``: ``wav2vec2-base``, ``hubert-large-ll60k``, ...;
  ``NAME@REV`` overrides its revision). ``brainscore-speech models`` lists them.

Hub models are resolved the ecosystem's way, with ``huggingface_hub``: the cache
is ``HF_HUB_CACHE`` (default ``$HF_HOME/hub``, ``~/.cache/huggingface/hub``);
online, ``snapshot_download`` fetches the config, the preprocessor config and the
weights once (safetensors when the repo has them, else ``pytorch_model.bin``);
with ``HF_HUB_OFFLINE=1`` only the cache is used and a missing model is a
one-line error naming the repo, the cache and how to get it. The commit actually
used is recorded (:meth:`ModelSource.to_dict`) in every output's provenance.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from .. import layout
from .._logging import logger
from .._validation import suggest

__all__ = ["ModelSource", "hub_cache_dir", "hub_offline", "list_cached_models",
           "load_registry", "parse_model_spec", "resolve_model"]

_REPO_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")
_COMMIT = re.compile(r"^[0-9a-f]{40}$")
# what extraction needs from a repo (tokenizers, flax/tf weights are not fetched)
_META_PATTERNS = [layout.HF_CONFIG, layout.HF_PREPROCESSOR, layout.CHECKPOINT_META]
_SAFETENSORS_PATTERNS = [layout.HF_WEIGHTS, "model.safetensors.index.json",
                         "model-*.safetensors"]
_BIN_PATTERNS = ["pytorch_model.bin", "pytorch_model.bin.index.json",
                 "pytorch_model-*.bin"]
_REGISTRY_FIELDS = ("repo_id", "revision", "architecture", "size", "n_layers",
                    "hidden_size", "training_data", "training_hours", "language",
                    "licence", "citation", "notes", "n_languages")


@dataclass(frozen=True)
class ModelSource:
    """A resolved model: the local directory to load and where it came from.

    Parameters
    ----------
    path : Path
        Directory with ``config.json`` and the weights (for a hub model, the
        snapshot folder in the HF cache).
    kind : {"local", "hub"}
    spec : str
        What the user gave.
    repo_id : str or None
        Hugging Face repo id (hub models).
    revision : str or None
        Revision asked for (branch, tag or commit; ``"main"`` by default).
    commit : str or None
        Commit hash the revision resolved to (the snapshot's name).
    registry_name : str or None
        Registry entry used, if any.
    """

    path: Path
    kind: str
    spec: str
    repo_id: str | None = None
    revision: str | None = None
    commit: str | None = None
    registry_name: str | None = None

    @property
    def default_model_id(self) -> str:
        """Name for output files: registry name, repo name, or directory name."""
        if self.registry_name:
            return self.registry_name
        if self.repo_id:
            return self.repo_id.split("/", 1)[1]
        return self.path.resolve().name

    def to_dict(self) -> dict[str, Any]:
        """JSON-able description recorded in provenance and ``model_meta``."""
        return {"kind": self.kind, "spec": self.spec, "repo_id": self.repo_id,
                "revision": self.revision, "commit": self.commit,
                "registry_name": self.registry_name}


@lru_cache(maxsize=1)
def _registry_cached() -> dict[str, dict[str, Any]]:
    import yaml

    path = Path(__file__).with_name("registry.yaml")
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    out = {}
    for name, entry in data.items():
        unknown = set(entry) - set(_REGISTRY_FIELDS)
        assert not unknown, (name, unknown)  # the shipped file is tested
        out[str(name)] = {"name": str(name), **entry}
    return out


def load_registry() -> dict[str, dict[str, Any]]:
    """The built-in registry of public checkpoints (``features/registry.yaml``).

    Returns
    -------
    dict of str to dict
        Name -> ``repo_id``, ``revision``, ``architecture``, ``size``,
        ``n_layers`` (transformer blocks), ``hidden_size``, ``training_data``,
        ``training_hours``, ``language`` (ISO 639 code; ``mul`` = multilingual),
        ``licence``, ``citation``, ``notes``.
    """
    return {k: dict(v) for k, v in _registry_cached().items()}


def _truthy(value: str | None) -> bool:
    return str(value).strip().upper() in ("1", "ON", "YES", "TRUE")


def hub_offline() -> bool:
    """Whether ``HF_HUB_OFFLINE`` is set (read at call time, not import time)."""
    from huggingface_hub import constants

    env = os.environ.get("HF_HUB_OFFLINE")
    return _truthy(env) if env is not None else bool(constants.HF_HUB_OFFLINE)


def hub_cache_dir() -> Path:
    """The Hugging Face hub cache: ``HF_HUB_CACHE``, else ``$HF_HOME/hub``.

    Read from the environment at call time (``huggingface_hub`` reads it once at
    import), falling back to ``huggingface_hub.constants.HF_HUB_CACHE``.
    """
    from huggingface_hub import constants

    if os.environ.get("HF_HUB_CACHE"):
        return Path(os.environ["HF_HUB_CACHE"]).expanduser()
    if os.environ.get("HF_HOME"):
        return Path(os.environ["HF_HOME"]).expanduser() / "hub"
    return Path(constants.HF_HUB_CACHE)


def parse_model_spec(spec: str | os.PathLike) -> dict[str, Any]:
    """Classify a ``--model`` value without touching the network or the cache.

    Parameters
    ----------
    spec : str or path-like
        A local directory, ``org/name[@REV]`` or ``REGISTRY_NAME[@REV]``.

    Returns
    -------
    dict
        ``kind`` ("local", "hub" or "registry"), ``path`` (local), ``repo_id``,
        ``revision`` and ``registry_name`` (hub / registry).

    Raises
    ------
    FileNotFoundError
        When ``spec`` is none of these (the message lists the registry names).
    """
    if isinstance(spec, os.PathLike):
        return {"kind": "local", "path": Path(spec)}
    if not isinstance(spec, str) or not spec.strip():
        raise TypeError(f"'model' must be a path or a string, got {spec!r}.")
    text = spec.strip()
    if os.path.exists(os.path.expanduser(text)) or text.startswith(("/", ".", "~")):
        return {"kind": "local", "path": Path(text).expanduser()}
    base, _, rev = text.partition("@")
    if "@" in text and not rev:
        raise ValueError(f"'model' {text!r} ends with '@' but names no revision; use "
                         "NAME@REVISION (a branch, tag or commit hash).")
    registry = _registry_cached()
    if base in registry:
        entry = registry[base]
        return {"kind": "registry", "repo_id": entry["repo_id"],
                "revision": rev or entry.get("revision") or "main",
                "registry_name": base}
    if _REPO_ID.match(base):
        return {"kind": "hub", "repo_id": base, "revision": rev or "main",
                "registry_name": None}
    raise FileNotFoundError(
        f"Checkpoint directory not found: {text}; --model takes a local directory, "
        f"a Hugging Face repo id (org/name[@revision]) or a registry name "
        f"({', '.join(sorted(registry))})." + suggest(base, list(registry)))


def _how_to_get(repo_id: str, revision: str) -> str:
    rev = "" if revision == "main" else f" --revision {revision}"
    return (f"download it once with network access (`hf download {repo_id}{rev}`, or "
            "run this command online without HF_HUB_OFFLINE), or pass a local "
            "directory")


def _snapshot(repo_id: str, revision: str, cache: Path, patterns: list[str], *,
              offline: bool) -> Path:
    from huggingface_hub import snapshot_download

    return Path(snapshot_download(repo_id, revision=revision, cache_dir=cache,
                                  allow_patterns=patterns, local_files_only=offline))


def _has_weights(path: Path, patterns: list[str]) -> bool:
    return any(any(path.glob(p)) for p in patterns)


def resolve_model(spec: str | os.PathLike, *,
                  cache_dir: str | os.PathLike | None = None,
                  offline: bool | None = None) -> ModelSource:
    """Resolve a ``--model`` value to a local directory (downloading once if needed).

    Parameters
    ----------
    spec : str or path-like
        See :func:`parse_model_spec`.
    cache_dir : path-like, optional
        Hub cache; default :func:`hub_cache_dir`.
    offline : bool, optional
        Use only the cache; default :func:`hub_offline` (``HF_HUB_OFFLINE``).

    Returns
    -------
    ModelSource

    Raises
    ------
    FileNotFoundError
        A hub model missing from the cache when offline (one line: repo, revision,
        cache path and how to get it), or a repo / revision that does not exist.
    OSError
        A download that failed online.
    """
    parsed = parse_model_spec(spec)
    if parsed["kind"] == "local":
        return ModelSource(path=parsed["path"], kind="local", spec=str(spec))
    from huggingface_hub.errors import (
        EntryNotFoundError,
        LocalEntryNotFoundError,
        RepositoryNotFoundError,
        RevisionNotFoundError,
    )

    repo_id, revision = parsed["repo_id"], parsed["revision"]
    cache = Path(cache_dir) if cache_dir is not None else hub_cache_dir()
    offline = hub_offline() if offline is None else bool(offline)
    where = f"{repo_id}@{revision}"
    try:
        path = _snapshot(repo_id, revision, cache,
                         _META_PATTERNS + _SAFETENSORS_PATTERNS, offline=offline)
        if not _has_weights(path, _SAFETENSORS_PATTERNS):
            # no safetensors in the repo (or in the cache): the pickle weights,
            # which load_speech_model reads with weights_only=True
            path = _snapshot(repo_id, revision, cache, _BIN_PATTERNS, offline=offline)
    except LocalEntryNotFoundError:
        state = "HF_HUB_OFFLINE=1" if offline else "offline"
        local = "" if parsed["kind"] == "registry" else \
            f" (and there is no local directory {str(spec)!r})"
        raise FileNotFoundError(
            f"Model {where} is not in the Hugging Face cache {cache} ({state}){local}: "
            f"{_how_to_get(repo_id, revision)}.") from None
    except RevisionNotFoundError:
        raise FileNotFoundError(f"Revision {revision!r} not found in Hugging Face repo "
                                f"{repo_id!r}.") from None
    except RepositoryNotFoundError:
        raise FileNotFoundError(
            f"Hugging Face repo {repo_id!r} not found (or private: log in with "
            "`hf auth login`).") from None
    except EntryNotFoundError as err:  # pragma: no cover - depends on the hub
        raise FileNotFoundError(f"{where}: {err}") from None
    has_config = (path / layout.HF_CONFIG).is_file()
    if not has_config or not _has_weights(path, _SAFETENSORS_PATTERNS + _BIN_PATTERNS):
        missing = layout.HF_CONFIG if not has_config else "weights"
        raise FileNotFoundError(
            f"Model {where} in the Hugging Face cache {cache} has no {missing} "
            f"(snapshot {path}): {_how_to_get(repo_id, revision)}.")
    commit = path.name if _COMMIT.match(path.name) else None
    logger.debug("Model %s resolved to %s", where, path)
    return ModelSource(path=path, kind="hub", spec=str(spec), repo_id=repo_id,
                       revision=revision, commit=commit,
                       registry_name=parsed.get("registry_name"))


def list_cached_models(cache_dir: str | os.PathLike | None = None
                       ) -> list[dict[str, Any]]:
    """Model repos in the local Hugging Face cache (``huggingface_hub.scan_cache_dir``).

    Parameters
    ----------
    cache_dir : path-like, optional
        Default :func:`hub_cache_dir`.

    Returns
    -------
    list of dict
        One per cached revision: ``repo_id``, ``commit``, ``refs`` (branch / tag
        names), ``size_bytes``, ``files``, ``path`` and ``registry_name`` (the
        registry entry with that repo id, if any). Empty when there is no cache.
    """
    from huggingface_hub import scan_cache_dir
    from huggingface_hub.errors import CacheNotFound

    cache = Path(cache_dir) if cache_dir is not None else hub_cache_dir()
    try:
        info = scan_cache_dir(cache)
    except CacheNotFound:
        return []
    by_repo = {e["repo_id"]: name for name, e in _registry_cached().items()}
    rows = []
    for repo in sorted(info.repos, key=lambda r: r.repo_id):
        if repo.repo_type != "model":
            continue
        for rev in sorted(repo.revisions, key=lambda r: r.commit_hash):
            rows.append({"repo_id": repo.repo_id, "commit": rev.commit_hash,
                         "refs": sorted(rev.refs), "size_bytes": int(rev.size_on_disk),
                         "files": sorted(f.file_name for f in rev.files),
                         "path": str(rev.snapshot_path),
                         "registry_name": by_repo.get(repo.repo_id)})
    return rows
