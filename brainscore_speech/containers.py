"""Typed containers exchanged between the stages.

Every container is a frozen dataclass validated in ``__post_init__``, with
``save(path)`` / ``load(path)``: arrays go to a ``.npz`` (one file, self-contained:
the metadata is also stored inside it) and a JSON sidecar next to it carries the
metadata and provenance for humans and other tools. Arrays are time-first,
``(n_samples, n_features)``, or ``(n_layers, n_folds, n_targets)`` for scores.

Containers are deep-frozen: array fields become read-only numpy arrays (views of
the inputs: ``container.scores[0] = 1`` raises), dict fields become
:class:`FrozenDict` (a read-only ``dict``, JSON-serialisable and picklable, nested
dicts included), and equality is identity (``eq=False``), so comparing two
containers never compares arrays. To change one, build a new one with
:func:`dataclasses.replace`.

Activations are the exception: they are stored in HDF5, one file per stimulus,
so that one layer can be read without loading the others (see
:func:`read_activation_layer`).
"""

from __future__ import annotations

import dataclasses
import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from ._io import atomic_path, open_h5, read_npz, to_jsonable, write_json
from .exceptions import DataError

__all__ = [
    "FrozenDict",
    "StimulusActivations",
    "BoldRuns",
    "LayerScores",
    "GroupMap",
    "HierarchyMap",
    "read_activation_layer",
    "list_activation_layers",
    "read_activation_meta",
]


class FrozenDict(dict):
    """A read-only ``dict``: the mapping fields of every container.

    A ``dict`` subclass, so ``json.dumps``, ``isinstance(x, dict)``, ``dict(x)`` and
    ``{**x}`` work as usual; every mutating method raises ``TypeError``. Pickling
    and ``copy.deepcopy`` give a FrozenDict again.
    """

    __slots__ = ()

    def _read_only(self, *args: Any, **kwargs: Any) -> Any:
        raise TypeError("This mapping of a brainscore_speech container is read-only; "
                        "build a new container with dataclasses.replace(...).")

    __setitem__ = __delitem__ = __ior__ = _read_only
    clear = pop = popitem = setdefault = update = _read_only

    def __reduce__(self):
        return (FrozenDict, (dict(self),))

    def __repr__(self) -> str:
        return f"FrozenDict({dict.__repr__(self)})"


def _frozen(value: Any) -> Any:
    """Deep read-only copy of a metadata value: dicts -> FrozenDict, arrays ->
    read-only views; lists and tuples are copied with their items frozen."""
    if isinstance(value, Mapping):
        return FrozenDict({k: _frozen(v) for k, v in value.items()})
    if isinstance(value, np.ndarray):
        return _frozen_array(value)
    if isinstance(value, list):
        return [_frozen(v) for v in value]
    if isinstance(value, tuple) and not hasattr(value, "_fields"):
        return tuple(_frozen(v) for v in value)
    return value


def _frozen_array(value: Any, dtype: Any = None) -> np.ndarray:
    """``np.asarray(value)`` as a read-only view (the caller's array stays writable)."""
    arr = np.asarray(value, dtype=dtype).view()
    arr.flags.writeable = False
    return arr


def _freeze_fields(obj: Any, arrays: tuple[str, ...] = (),
                   array_dicts: tuple[str, ...] = ()) -> None:
    """Freeze ``obj``'s fields in place (``__post_init__`` of a frozen dataclass)."""
    for f in dataclasses.fields(obj):
        value = getattr(obj, f.name)
        if value is None:
            continue
        if f.name in arrays:
            value = _frozen_array(value)
        elif f.name in array_dicts:
            value = FrozenDict({k: _frozen_array(v) for k, v in value.items()})
        elif isinstance(value, (Mapping, np.ndarray, list)):
            value = _frozen(value)
        object.__setattr__(obj, f.name, value)


def _sidecar(path: Path) -> Path:
    name = path.name
    for ext in (".npz", ".h5"):
        if name.endswith(ext):
            return path.with_name(name[: -len(ext)] + ".json")
    return path.with_name(name + ".json")


class _NpzContainer:
    """save/load for dataclasses whose fields are arrays, dicts of arrays or JSON."""

    _array_fields: ClassVar[tuple[str, ...]] = ()
    _dict_array_fields: ClassVar[tuple[str, ...]] = ()
    #: field name -> npz key where they differ (files keep old names)
    _npz_keys: ClassVar[dict[str, str]] = {}

    def _meta(self) -> dict[str, Any]:
        skip = set(self._array_fields) | set(self._dict_array_fields)
        return {f.name: to_jsonable(getattr(self, f.name))
                for f in dataclasses.fields(self) if f.name not in skip}

    def save(self, path: str | os.PathLike) -> Path:
        """Write ``path`` (.npz) and its JSON sidecar atomically; return ``path``."""
        path = Path(path)
        if not path.name.endswith(".npz"):
            raise ValueError(f"'path' must end with '.npz', got {str(path)!r}.")
        arrays: dict[str, np.ndarray] = {}
        for name in self._array_fields:
            value = getattr(self, name)
            if value is not None:
                arrays[self._npz_keys.get(name, name)] = np.asarray(value)
        for name in self._dict_array_fields:
            for key, value in getattr(self, name).items():
                arrays[f"{name}/{key}"] = np.asarray(value)
        meta = self._meta()
        meta["__dict_keys__"] = {name: list(getattr(self, name))
                                 for name in self._dict_array_fields}
        arrays["__meta__"] = np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8)
        with atomic_path(path) as tmp:
            with open(tmp, "wb") as f:
                np.savez(f, **arrays)
        side = dict(meta)
        side.pop("__dict_keys__")
        side["container"] = type(self).__name__
        side["arrays"] = {k: list(v.shape) for k, v in arrays.items()
                          if k != "__meta__"}
        write_json(_sidecar(path), side)
        return path

    @classmethod
    def load(cls, path: str | os.PathLike):
        """Read a container written by :meth:`save`."""
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"{cls.__name__} file not found: {path}")
        data = read_npz(path, what=f"{cls.__name__} file")
        if "__meta__" not in data:
            raise DataError(f"{path} is not a {cls.__name__} file (no metadata).")
        meta = json.loads(data.pop("__meta__").tobytes().decode())
        dict_keys = meta.pop("__dict_keys__", {})
        kwargs: dict[str, Any] = dict(meta)
        for name in cls._array_fields:
            key = cls._npz_keys.get(name, name)
            kwargs[name] = data.get(key, data.get(name))
        for name in cls._dict_array_fields:
            kwargs[name] = {key: data[f"{name}/{key}"]
                            for key in dict_keys.get(name, [])}
        return cls(**kwargs)


#: Hemisphere keys (in target order) the toolkit writes and reads.
HEMI_KEYS = (("L", "R"), ("L",), ("R",))


def _as_hemi_sizes(hemi_sizes: Mapping[str, int] | None, n_targets: int,
                   owner: str) -> dict[str, int] | None:
    if hemi_sizes is None:
        return None
    sizes = {str(k): int(v) for k, v in hemi_sizes.items()}
    if sum(sizes.values()) != n_targets:
        raise ValueError(
            f"{owner}: 'hemi_sizes' {sizes} must add up to the number of targets "
            f"({n_targets}), got {sum(sizes.values())}."
        )
    return sizes


# --------------------------------------------------------------------------- #
# Activations (HDF5, one file per stimulus)
# --------------------------------------------------------------------------- #
@dataclass(frozen=True, eq=False)
class StimulusActivations:
    """Every layer's activations to one stimulus, with exact frame times.

    Parameters
    ----------
    stimulus : str
        Stimulus identifier (the audio file's stem, e.g. ``"lpp_en_run-01"``).
    layers : dict of str to array of shape (n_frames, n_units)
        Activations per layer, in ``layer_order``.
    frame_times_s : dict of str to array of shape (n_frames,)
        Centre time of each frame in seconds from the audio onset, per layer.
    model_id : str
        Name of the model (used as ``model-<id>`` in output file names).
    layer_order : tuple of str
        Layer names from input to output (the hierarchy order).
    duration_s : float
        Duration of the audio in seconds.
    model_meta : dict
        Model description (``regime``, ``language``, ``preset``, ``seed``...).
    provenance : dict
        See :func:`brainscore_speech._io.make_provenance`.
    layer_info : dict of str to dict, optional
        Per layer: ``stage`` (conv | transformer | other), ``relative_depth``
        (0-1 within the stage, see :mod:`brainscore_speech._layers`), ``rate_hz``
        (stored frame rate)... Empty in files written before it existed.
    """

    stimulus: str
    layers: dict[str, np.ndarray]
    frame_times_s: dict[str, np.ndarray]
    model_id: str
    layer_order: tuple[str, ...] = ()
    duration_s: float = float("nan")
    model_meta: dict[str, Any] = field(default_factory=dict)
    provenance: dict[str, Any] = field(default_factory=dict)
    layer_info: dict[str, dict[str, Any]] = field(default_factory=dict)

    def __post_init__(self):
        if not self.layers:
            raise ValueError(f"StimulusActivations {self.stimulus!r} has no layers.")
        order = tuple(self.layer_order) or tuple(self.layers)
        object.__setattr__(self, "layer_order", order)
        if set(order) != set(self.layers):
            raise ValueError(
                f"'layer_order' {list(order)} must list exactly the layers "
                f"{list(self.layers)}."
            )
        for name in order:
            arr = np.asarray(self.layers[name])
            if arr.ndim != 2:
                raise ValueError(
                    f"Layer {name!r} of {self.stimulus!r} must be 2-D "
                    f"(n_frames, n_units), got shape {arr.shape}."
                )
            if name not in self.frame_times_s:
                raise ValueError(f"Layer {name!r} has no entry in 'frame_times_s'.")
            t = np.asarray(self.frame_times_s[name])
            if t.shape != (arr.shape[0],):
                raise ValueError(
                    f"'frame_times_s[{name!r}]' must have shape ({arr.shape[0]},), "
                    f"got {t.shape}."
                )
            if t.size > 1 and np.any(np.diff(t) <= 0):
                raise ValueError(f"'frame_times_s[{name!r}]' must increase strictly.")
        _freeze_fields(self, array_dicts=("layers", "frame_times_s"))

    def __repr__(self) -> str:
        return (f"<StimulusActivations {self.stimulus!r}, model {self.model_id!r}, "
                f"{len(self.layer_order)} layers, {self.duration_s:.1f} s>")

    def save(self, path: str | os.PathLike, *, dtype: str = "float32") -> Path:
        """Write an HDF5 file (atomically); ``dtype='float16'`` halves its size."""
        import h5py

        path = Path(path)
        with atomic_path(path) as tmp:
            with h5py.File(tmp, "w") as f:  # the layout: layout.write_activation_attrs
                from .layout import add_activation_layer, write_activation_attrs

                write_activation_attrs(
                    f, stimulus=self.stimulus, model_id=self.model_id,
                    layer_order=self.layer_order, duration_s=float(self.duration_s),
                    model_meta=self.model_meta, provenance=self.provenance,
                    layer_info=self.layer_info or None)
                grp = f.create_group("layers")
                for name in self.layer_order:
                    add_activation_layer(grp, name, self.frame_times_s[name],
                                         data=self.layers[name], dtype=dtype)
        return path

    @classmethod
    def load(cls, path: str | os.PathLike, layers: list[str] | None = None
             ) -> StimulusActivations:
        """Read a file written by :meth:`save` (optionally only some layers)."""
        meta = read_activation_meta(path)
        names = list(meta["layer_order"]) if layers is None else list(layers)
        data, times = {}, {}
        for name in names:
            data[name], times[name] = read_activation_layer(path, name)
        return cls(stimulus=meta["stimulus"], layers=data, frame_times_s=times,
                   model_id=meta["model_id"], layer_order=tuple(names),
                   duration_s=meta["duration_s"], model_meta=meta["model_meta"],
                   provenance=meta["provenance"],
                   layer_info={n: meta["layer_info"][n] for n in names
                               if n in meta["layer_info"]})


def _open_h5(path: str | os.PathLike):
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"Activation file not found: {path}")
    return open_h5(path, "r", what="activation file")


def read_activation_meta(path: str | os.PathLike) -> dict[str, Any]:
    """Metadata of an activation file without reading any layer.

    Parameters
    ----------
    path : str or os.PathLike
        An activation file.

    Returns
    -------
    dict
        ``stimulus``, ``model_id``, ``layer_order``, ``duration_s``, ``model_meta``,
        ``provenance``, ``layer_info``.
    """
    with _open_h5(path) as f:
        try:
            return {
                "stimulus": str(f.attrs["stimulus"]),
                "model_id": str(f.attrs["model_id"]),
                "layer_order": json.loads(f.attrs["layer_order"]),
                "duration_s": float(f.attrs["duration_s"]),
                "model_meta": json.loads(f.attrs["model_meta"]),
                "provenance": json.loads(f.attrs["provenance"]),
                # optional (absent from files written before it existed)
                "layer_info": json.loads(f.attrs.get("layer_info", "{}")),
            }
        except KeyError as err:
            raise DataError(
                f"{path} is not a brainscore_speech activation file (missing {err})."
            ) from None


def list_activation_layers(path: str | os.PathLike) -> list[str]:
    """Layer names stored in an activation file, in hierarchy order.

    Parameters
    ----------
    path : str or os.PathLike
        An activation file.

    Returns
    -------
    list of str
    """
    return list(read_activation_meta(path)["layer_order"])


def read_activation_layer(path: str | os.PathLike, layer: str
                          ) -> tuple[np.ndarray, np.ndarray]:
    """Read one layer: ``(data (n_frames, n_units) float32, times_s (n_frames,))``.

    Parameters
    ----------
    path : str or os.PathLike
        An activation file.
    layer : str
        Layer name.

    Returns
    -------
    data : ndarray of shape (n_frames, n_units), float32
    times_s : ndarray of shape (n_frames,)
        Frame times (s).
    """
    with _open_h5(path) as f:
        if "layers" not in f or layer not in f["layers"]:
            valid = json.loads(f.attrs.get("layer_order", "[]"))
            from ._validation import suggest

            raise ValueError(
                f"Unknown layer {layer!r} in {path}; valid layers are {valid}."
                + suggest(layer, valid)
            )
        g = f["layers"][layer]
        return np.asarray(g["data"], dtype=np.float32), np.asarray(g["times"])


# --------------------------------------------------------------------------- #
# BOLD
# --------------------------------------------------------------------------- #
@dataclass(frozen=True, eq=False)
class BoldRuns(_NpzContainer):
    """A subject's cleaned BOLD, one array per run.

    Parameters
    ----------
    subject : str
        BIDS label without ``sub-`` (e.g. ``"01"``).
    runs : dict of str to array of shape (n_scans, n_targets)
        Cleaned, per-run z-scored BOLD, keyed by run label, in presentation order.
    tr_s : float
        Repetition time in seconds.
    space : str
        ``fsaverage5``, ``fsaverage6``, ``fsaverage`` or a volume space name.
    stimuli : dict of str to str
        Stimulus identifier played in each run.
    onsets_s : dict of str to float
        Audio onset relative to the first kept scan, per run (seconds).
    hemi_sizes : dict of str to int, optional
        ``{"L": n_left, "R": n_right}`` for surface data (targets are L then R).
    valid : array of shape (n_targets,) of bool, optional
        False for targets that are constant or non-finite in some run.
    provenance : dict
    task : str, optional
        BIDS task label.
    """

    subject: str
    runs: dict[str, np.ndarray]
    tr_s: float
    space: str
    stimuli: dict[str, str] = field(default_factory=dict)
    onsets_s: dict[str, float] = field(default_factory=dict)
    hemi_sizes: dict[str, int] | None = None
    valid: np.ndarray | None = None
    task: str | None = None
    provenance: dict[str, Any] = field(default_factory=dict)

    _array_fields: ClassVar[tuple[str, ...]] = ("valid",)
    _dict_array_fields: ClassVar[tuple[str, ...]] = ("runs",)

    def __post_init__(self):
        if not self.runs:
            raise ValueError(f"BoldRuns for sub-{self.subject} has no runs.")
        widths = {k: np.shape(v)[1] if np.ndim(v) == 2 else None
                  for k, v in self.runs.items()}
        if None in widths.values() or len(set(widths.values())) != 1:
            raise ValueError(
                f"Every run of sub-{self.subject} must be 2-D (n_scans, n_targets) "
                f"with the same n_targets; got shapes "
                f"{ {k: np.shape(v) for k, v in self.runs.items()} }."
            )
        from ._validation import check_scalar

        check_scalar("tr_s", self.tr_s, low=0, inclusive="neither", expected="positive")
        n_targets = next(iter(widths.values()))
        object.__setattr__(self, "hemi_sizes",
                           _as_hemi_sizes(self.hemi_sizes, n_targets, "BoldRuns"))
        if self.valid is not None and np.shape(self.valid) != (n_targets,):
            raise ValueError(
                f"'valid' must have shape ({n_targets},), got {np.shape(self.valid)}."
            )
        _freeze_fields(self, arrays=self._array_fields,
                       array_dicts=self._dict_array_fields)

    @property
    def n_targets(self) -> int:
        return int(np.shape(next(iter(self.runs.values())))[1])

    def __repr__(self) -> str:
        return (f"<BoldRuns sub-{self.subject}, {len(self.runs)} runs, "
                f"{self.n_targets} targets, {self.space}, TR {self.tr_s} s>")


# --------------------------------------------------------------------------- #
# Encoding scores
# --------------------------------------------------------------------------- #
@dataclass(frozen=True, eq=False)
class LayerScores(_NpzContainer):
    """Cross-validated brain scores of every layer of one model for one subject.

    Parameters
    ----------
    scores : array of shape (n_layers, n_folds, n_targets)
        Pearson r between held-out BOLD and the ridge prediction, per fold.
        NaN for targets that cannot be scored (constant in training data).
    best_alphas : array of shape (n_layers, n_folds, n_targets)
        Ridge penalty chosen for each target in each outer fold (stored under
        the npz key ``alphas``, as before the rename).
    layer_names : tuple of str
        Names of the layers, in hierarchy order.
    cv : dict
        Description of the cross-validation (scheme, folds, runs per fold...).
    subject, model_id, space : str, optional
    model_meta : dict
        ``regime``, ``language``... of the model, copied from the activations.
    hemi_sizes : dict of str to int, optional
    provenance : dict
    layer_info : dict of str to dict, optional
        Per layer ``stage``, ``relative_depth`` (0-1 within the stage) and
        ``rate_hz``, copied from the activations (empty in older files).
    inner_scores : array of shape (n_layers, n_folds, n_targets), optional
        Validation score of each layer on the *training* runs of each outer fold
        (inner-CV R^2 at the chosen alpha, ``1 - MSE / mean(y^2)``); it never
        saw the fold's held-out run, so the cross-validated layer selection
        (``reduce="cv"``) chooses on it. None in files written before it existed.
    """

    scores: np.ndarray
    best_alphas: np.ndarray
    layer_names: tuple[str, ...]
    cv: dict[str, Any] = field(default_factory=dict)
    subject: str | None = None
    model_id: str | None = None
    space: str | None = None
    model_meta: dict[str, Any] = field(default_factory=dict)
    hemi_sizes: dict[str, int] | None = None
    provenance: dict[str, Any] = field(default_factory=dict)
    layer_info: dict[str, dict[str, Any]] = field(default_factory=dict)
    inner_scores: np.ndarray | None = None

    _array_fields: ClassVar[tuple[str, ...]] = ("scores", "best_alphas",
                                                "inner_scores")
    _npz_keys: ClassVar[dict[str, str]] = {"best_alphas": "alphas"}

    def __post_init__(self):
        scores = np.asarray(self.scores)
        if scores.ndim != 3:
            raise ValueError(
                "'scores' must have shape (n_layers, n_folds, n_targets), got "
                f"{scores.shape}."
            )
        if np.shape(self.best_alphas) != scores.shape:
            raise ValueError(
                f"'best_alphas' must have the shape of 'scores' {scores.shape}, got "
                f"{np.shape(self.best_alphas)}."
            )
        inner = self.inner_scores
        if inner is not None and np.shape(inner) != scores.shape:
            raise ValueError(
                f"'inner_scores' must be None or have the shape of 'scores' "
                f"{scores.shape}, got {np.shape(self.inner_scores)}.")
        names = tuple(self.layer_names)
        if len(names) != scores.shape[0]:
            raise ValueError(
                f"'layer_names' has {len(names)} names for {scores.shape[0]} layers."
            )
        object.__setattr__(self, "layer_names", names)
        if self.hemi_sizes is not None and tuple(self.hemi_sizes) not in HEMI_KEYS:
            raise ValueError(
                f"LayerScores: 'hemi_sizes' keys must be 'L' and/or 'R' (left then "
                f"right, as everywhere in brainscore_speech), got "
                f"{list(self.hemi_sizes)}.")
        object.__setattr__(self, "hemi_sizes",
                           _as_hemi_sizes(self.hemi_sizes, scores.shape[2],
                                          "LayerScores"))
        _freeze_fields(self, arrays=self._array_fields)

    @property
    def mean_scores(self) -> np.ndarray:
        """Scores averaged over folds, shape (n_layers, n_targets)."""
        s = np.asarray(self.scores)
        with np.errstate(invalid="ignore"):
            ok = np.isfinite(s)
            n = ok.sum(axis=1)
            total = np.where(ok, s, 0).sum(axis=1)
            return np.where(n > 0, total / np.maximum(n, 1), np.nan)

    @property
    def n_targets(self) -> int:
        return int(np.shape(self.scores)[2])

    def __repr__(self) -> str:
        n_l, f, t = np.shape(self.scores)
        who = f"sub-{self.subject}, " if self.subject else ""
        return (f"<LayerScores {who}model {self.model_id!r}, {n_l} layers x {f} folds "
                f"x {t} targets>")


# --------------------------------------------------------------------------- #
# Group-level maps
# --------------------------------------------------------------------------- #
@dataclass(frozen=True, eq=False)
class GroupMap(_NpzContainer):
    """A second-level (across-subjects) statistical map.

    Parameters
    ----------
    statistic : array of shape (n_targets,)
        Effect per target (e.g. mean r across subjects, or mean paired difference).
    p_values : array of shape (n_targets,)
        Uncorrected p-values.
    p_fdr : array of shape (n_targets,)
        Benjamini-Hochberg corrected p-values (within hemisphere).
    mask : array of shape (n_targets,) of bool
        Significant targets after correction.
    n_subjects : int
    test : str
        Name of the test (``"wilcoxon"``, ``"signflip"``, ``"cluster"``...).
    name : str
        What the map shows (e.g. ``"native - nonnative, transf3"``).
    alpha : float, default=0.05
        Significance level of ``mask``.
    space : str, optional
    hemi_sizes : dict of str to int, optional
    extra : dict
        Test-specific details (volume maps: ``mask_img``).
    provenance : dict
    """

    statistic: np.ndarray
    p_values: np.ndarray
    p_fdr: np.ndarray
    mask: np.ndarray
    n_subjects: int
    test: str
    name: str = ""
    alpha: float = 0.05
    space: str | None = None
    hemi_sizes: dict[str, int] | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    provenance: dict[str, Any] = field(default_factory=dict)

    _array_fields: ClassVar[tuple[str, ...]] = ("statistic", "p_values", "p_fdr",
                                                "mask")

    def __post_init__(self):
        n = np.shape(self.statistic)
        for name in ("p_values", "p_fdr", "mask"):
            if np.shape(getattr(self, name)) != n:
                raise ValueError(
                    f"GroupMap {name!r} must have the shape of 'statistic' {n}, got "
                    f"{np.shape(getattr(self, name))}."
                )
        object.__setattr__(self, "mask", np.asarray(self.mask, dtype=bool))
        object.__setattr__(self, "hemi_sizes",
                           _as_hemi_sizes(self.hemi_sizes, n[0], "GroupMap"))
        _freeze_fields(self, arrays=self._array_fields)

    def __repr__(self) -> str:
        return (f"<GroupMap {self.name!r} ({self.test}), {int(self.mask.sum())}/"
                f"{self.mask.size} significant, n_subjects={self.n_subjects}>")


@dataclass(frozen=True, eq=False)
class HierarchyMap(_NpzContainer):
    """Which layer predicts each target best, across subjects.

    Parameters
    ----------
    best_layer : array of shape (n_targets,) of int
        Index into ``layer_names`` of the best subject-averaged layer; -1 where
        the best layer is not significant.
    preference_index : array of shape (n_targets,)
        Score-weighted mean layer position in [0, 1] (0 = first layer).
    stability : array of shape (n_targets,)
        Fraction of bootstrap resamples of subjects giving the same best layer.
    mean_scores : array of shape (n_layers, n_targets)
        Subject-averaged brain scores.
    layer_names : tuple of str
    n_subjects : int
    model_id, space : str, optional
    hemi_sizes : dict of str to int, optional
    extra : dict
        Details (``layer_axis``...).
    provenance : dict
    """

    best_layer: np.ndarray
    preference_index: np.ndarray
    stability: np.ndarray
    mean_scores: np.ndarray
    layer_names: tuple[str, ...]
    n_subjects: int
    model_id: str | None = None
    space: str | None = None
    hemi_sizes: dict[str, int] | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    provenance: dict[str, Any] = field(default_factory=dict)

    _array_fields: ClassVar[tuple[str, ...]] = (
        "best_layer", "preference_index", "stability", "mean_scores")

    def __post_init__(self):
        n = np.shape(self.best_layer)
        if np.shape(self.mean_scores) != (len(self.layer_names),) + tuple(n):
            raise ValueError(
                f"'mean_scores' must have shape ({len(self.layer_names)}, {n[0]}), "
                f"got {np.shape(self.mean_scores)}."
            )
        for name in ("preference_index", "stability"):
            if np.shape(getattr(self, name)) != n:
                raise ValueError(
                    f"HierarchyMap {name!r} must have shape {n}, got "
                    f"{np.shape(getattr(self, name))}."
                )
        object.__setattr__(self, "layer_names", tuple(self.layer_names))
        object.__setattr__(self, "hemi_sizes",
                           _as_hemi_sizes(self.hemi_sizes, n[0], "HierarchyMap"))
        _freeze_fields(self, arrays=self._array_fields)

    def __repr__(self) -> str:
        shown = int((np.asarray(self.best_layer) >= 0).sum())
        return (f"<HierarchyMap model {self.model_id!r}, {len(self.layer_names)} "
                f"layers, {shown}/{np.size(self.best_layer)} targets significant>")
